"""Name matching for sanctions screening: normalisation and Jaro-Winkler
similarity, in plain Python (runs on the device)."""

# Folding by code point, never str.upper(): MicroPython's changes ASCII
# letters only, so a table keyed by capitals let "Iván Sanctiónov" through on
# the board while the host rejected it. Each code point of Latin-1
# Supplement (U+00C0..U+00FF) and Latin Extended-A (U+0100..U+017F) maps to
# the ASCII capitals a sanctions list spells it with ("-": a separator, for
# the signs), upper and lower case alike; ASCII lower case is shifted by
# arithmetic; anything else is a separator.
_L1 = ("A A A A A A AE C E E E E I I I I D N O O O O O - O U U U U Y TH SS "     # U+00C0..U+00DF
       "A A A A A A AE C E E E E I I I I D N O O O O O - O U U U U Y TH Y").split()  # U+00E0..U+00FF
_LA = ("A A A A A A C C C C C C C C D D D D E E E E E E E E E E G G G G G G G G H H H H "
       "I I I I I I I I I I IJ IJ J J K K K L L L L L L L L L L N N N N N N N N N "
       "O O O O O O OE OE R R R R R R S S S S S S S S T T T T T T U U U U U U U U U U U U "
       "W W Y Y Y Z Z Z Z Z Z S").split()                                          # U+0100..U+017F


def fold(c):
    """One character as ASCII capitals or digits, or " " (a separator)."""
    o = ord(c)
    if 97 <= o <= 122:
        return chr(o - 32)
    if 65 <= o <= 90 or 48 <= o <= 57:
        return c
    if 0xC0 <= o <= 0xFF:
        f = _L1[o - 0xC0]
    elif 0x100 <= o <= 0x17F:
        f = _LA[o - 0x100]
    else:
        return " "
    return " " if f == "-" else f


# fold() of every ASCII character, looked up (normalise's common case: a call a character is most of its cost)
_ASCII = {}
for _o in range(128):
    _ASCII[chr(_o)] = fold(chr(_o))
_FOLD = bytes(ord(_ASCII[chr(_o)]) for _o in range(128))     # the same as byte values
_ONE = [bytes((_o,)) for _o in range(128)]                      # b"A" for 65...: find() takes bytes
del _o
_KEPT = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "

LEGAL_FORMS = (b"LTD", b"LIMITED", b"LLC", b"INC", b"CORP", b"CO", b"COMPANY", b"GMBH", b"AG", b"SA", b"SAS",
               b"SPA", b"BV", b"NV", b"PLC", b"KK", b"OY", b"AB", b"AS", b"LLP", b"THE", b"AND")


def key(name):
    """normalise(name) as bytes (ASCII), what screening compares. Bytes, not
    str: on MicroPython every str a loop makes (a character, a join) is
    looked up among the interned strings, most of screening's cost."""
    nb = name.encode()
    if len(nb) == len(name):                    # ASCII: case by bytes.upper (ASCII only, on both)
        up = nb.upper()
        if up.strip(_KEPT):                     # (empty iff every byte is kept as it is)
            out = bytearray(up)
            for i in range(len(out)):
                out[i] = _FOLD[out[i]]
            up = bytes(out)
    else:
        up = "".join([_ASCII.get(c) or fold(c) for c in name]).encode()
    tokens = [t for t in up.split() if t not in LEGAL_FORMS]
    tokens.sort()
    return b" ".join(tokens)


def normalise(name):
    """Case and accents folded (fold()), punctuation to spaces, legal forms
    and filler words dropped, tokens sorted: "The Acme Co., Ltd." -> "ACME"."""
    return key(name).decode()


def _jaro_parts(a, b):
    """Jaro similarity as an exact fraction (numerator, denominator) of two
    keys (bytes, or ASCII str). Each character of a takes the first unused
    equal character of b within reach, found by find() in a copy of b whose
    used characters are overwritten with 0 (a key holds none): one call a
    character and two small buffers, not a loop over the window and a list
    of flags (on the board an allocation costs more than the arithmetic)."""
    if a == b:
        return (1, 1) if a else (0, 1)
    if isinstance(a, str):
        a, b = a.encode(), b.encode()
    la, lb = len(a), len(b)
    if not la or not lb:
        return 0, 1
    reach = max(la, lb) // 2 - 1
    if reach < 0:
        reach = 0
    free = bytearray(b)     # b with each matched character overwritten by 0
    got = bytearray(la)     # a's matched characters, in a's order
    m = 0
    one = _ONE
    for i in range(la):
        x = a[i]
        j = free.find(one[x] if x < 128 else a[i:i + 1], i - reach if i > reach else 0, i + reach + 1)
        if j >= 0:
            free[j] = 0
            got[m] = x
            m += 1
    if not m:
        return 0, 1
    # a transposition: the k-th match in a's order is not the k-th in b's
    t = k = 0
    for j in range(lb):
        if not free[j]:
            if b[j] != got[k]:
                t += 1
            k += 1
    t //= 2
    # (m/la + m/lb + (m - t)/m) / 3 over one denominator
    return m * lb * m + m * la * m + (m - t) * la * lb, 3 * la * lb * m


def jaro_winkler(a, b):
    """Jaro-Winkler similarity (prefix scale 0.1, prefix up to 4) in
    thousandths, 0..1000, with integers only (the device has no floats):
    round(1000 * (j + l * 0.1 * (1 - j)))."""
    num, den = _jaro_parts(a, b)
    n = min(4, len(a), len(b))
    prefix = 0
    while prefix < n and a[prefix] == b[prefix]:
        prefix += 1
    top = 1000 * (num * (10 - prefix) + prefix * den)
    return (2 * top + 10 * den) // (20 * den)          # round half up


def best_match(name, listed):
    """(score in thousandths, listed name) of the closest entry of `listed`
    (already normalised) to `name`."""
    score, entry = closest(key(name), [x.encode() for x in listed])
    return score, None if entry is None else entry.decode()


def closest(n, listed):
    """(score, entry) of the closest of `listed` (keys) to the key n."""
    best = (0, None)
    for entry in listed:
        s = jaro_winkler(n, entry)
        if s > best[0]:
            best = (s, entry)
    return best
