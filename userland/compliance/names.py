"""Name matching for sanctions screening: normalisation and Jaro-Winkler
similarity, in plain Python (runs on the device)."""

_FOLD = {"À": "A", "Á": "A", "Â": "A", "Ã": "A", "Ä": "A", "Å": "A", "Ç": "C", "È": "E", "É": "E", "Ê": "E",
         "Ë": "E", "Ì": "I", "Í": "I", "Î": "I", "Ï": "I", "Ñ": "N", "Ò": "O", "Ó": "O", "Ô": "O", "Õ": "O",
         "Ö": "O", "Ø": "O", "Ù": "U", "Ú": "U", "Û": "U", "Ü": "U", "Ý": "Y", "ß": "SS", "Æ": "AE", "Œ": "OE"}
LEGAL_FORMS = ("LTD", "LIMITED", "LLC", "INC", "CORP", "CO", "COMPANY", "GMBH", "AG", "SA", "SAS", "SPA", "BV",
               "NV", "PLC", "KK", "OY", "AB", "AS", "LLP", "THE", "AND")


def normalise(name):
    """Upper case, accents folded, punctuation to spaces, legal forms and
    filler words dropped, tokens sorted: "The Acme Co., Ltd." -> "ACME"."""
    out = []
    for c in name.upper():
        c = _FOLD.get(c, c)
        out.append(c if ("A" <= c <= "Z") or ("0" <= c <= "9") else " ")
    tokens = [t for t in "".join(out).split() if t not in LEGAL_FORMS]
    tokens.sort()
    return " ".join(tokens)


def _jaro_parts(a, b):
    """Jaro similarity as an exact fraction (numerator, denominator)."""
    if a == b:
        return (1, 1) if a else (0, 1)
    la, lb = len(a), len(b)
    if not la or not lb:
        return 0, 1
    reach = max(la, lb) // 2 - 1
    if reach < 0:
        reach = 0
    used = [False] * lb
    matches_a = []
    for i in range(la):
        lo, hi = max(0, i - reach), min(lb, i + reach + 1)
        for j in range(lo, hi):
            if not used[j] and a[i] == b[j]:
                used[j] = True
                matches_a.append(a[i])
                break
    m = len(matches_a)
    if not m:
        return 0, 1
    matches_b = [b[j] for j in range(lb) if used[j]]
    t = sum(1 for x, y in zip(matches_a, matches_b) if x != y) // 2
    # (m/la + m/lb + (m - t)/m) / 3 over one denominator
    return m * lb * m + m * la * m + (m - t) * la * lb, 3 * la * lb * m


def jaro_winkler(a, b):
    """Jaro-Winkler similarity (prefix scale 0.1, prefix up to 4) in
    thousandths, 0..1000, with integers only (the device has no floats):
    round(1000 * (j + l * 0.1 * (1 - j)))."""
    num, den = _jaro_parts(a, b)
    prefix = 0
    for x, y in zip(a[:4], b[:4]):
        if x != y:
            break
        prefix += 1
    top = 1000 * (num * (10 - prefix) + prefix * den)
    return (2 * top + 10 * den) // (20 * den)          # round half up


def best_match(name, listed):
    """(score in thousandths, listed name) of the closest entry of `listed`
    (already normalised) to `name`."""
    n = normalise(name)
    best = (0, None)
    for entry in listed:
        s = jaro_winkler(n, entry)
        if s > best[0]:
            best = (s, entry)
    return best
