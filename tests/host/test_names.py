"""Sanctions-name folding (userland/compliance/names.py) means the same on
the board and the host: each code point of Latin-1 Supplement and Latin
Extended-A folds to what Unicode's decomposition gives (its base letter, in
capitals), or to the transliteration a sanctions list uses for the letters
that have none (ß, æ, ø, đ, ł...); case never matters; and MicroPython's
unix port (built from the firmware's tree) folds every one of them, and
scores the variants of a listed name, exactly as CPython does."""
import json
import unicodedata

from tests.host import upy
from userland.compliance import names

# the letters Unicode does not decompose to a base letter
TRANSLIT = {"Æ": "AE", "æ": "AE", "Ð": "D", "ð": "D", "Ø": "O", "ø": "O", "Þ": "TH", "þ": "TH", "ß": "SS",
            "Đ": "D", "đ": "D", "Ħ": "H", "ħ": "H", "ĸ": "K", "Ŀ": "L", "ŀ": "L", "Ł": "L", "ł": "L",
            "ŉ": "N", "Ŋ": "N", "ŋ": "N", "Œ": "OE", "œ": "OE", "Ŧ": "T", "ŧ": "T", "ı": "I",
            "×": " ", "÷": " "}
CODE_POINTS = list(range(0x20, 0x7F)) + list(range(0xC0, 0x180))
VARIANTS = ["Ivan Sanctionov", "IVAN SANCTIONOV", "ivan sanctionov", "Iván Sanctiónov", "IVÁN SANCTIÓNOV",
            "iván sanctiónov", "Ívàn Šänčtîõnøv", "Sanctionov, Ivan"]


def expected(c):
    if c in TRANSLIT:
        return TRANSLIT[c]
    if c.isascii():
        return c.upper() if c.isalnum() else " "
    base = "".join(x for x in unicodedata.normalize("NFKD", c) if not unicodedata.combining(x))
    assert base.isascii() and base.isalpha(), (hex(ord(c)), base)       # Ĳ ĳ: IJ
    return base.upper()


def test_every_code_point_folds_to_its_base_letter_or_transliteration():
    for cp in CODE_POINTS:
        c = chr(cp)
        assert names.fold(c) == expected(c), hex(cp)
    assert names.fold("Ж") == " " and names.fold("€") == " "       # outside the tables: a separator


def test_case_and_accents_do_not_change_a_score():
    listed = [names.normalise("Ivan Sanctionov")]
    assert {names.best_match(v, listed)[0] for v in VARIANTS} == {1000}
    assert names.normalise("Łukasz Große-Østergård") == "GROSSE LUKASZ OSTERGARD"


def test_micropython_folds_and_scores_the_same():
    script = """
import json
from userland.compliance import names
cps = json.loads(sys.stdin.readline())
variants = json.loads(sys.stdin.readline())
listed = [names.normalise("Ivan Sanctionov")]
print(json.dumps([names.fold(chr(cp)) for cp in cps]))
print(json.dumps([[names.normalise(v), names.best_match(v, listed)[0]] for v in variants]))
"""
    out = upy.run(script, json.dumps(CODE_POINTS) + "\n" + json.dumps(VARIANTS) + "\n").splitlines()
    listed = [names.normalise("Ivan Sanctionov")]
    assert json.loads(out[0]) == [names.fold(chr(cp)) for cp in CODE_POINTS]
    assert json.loads(out[1]) == [[names.normalise(v), names.best_match(v, listed)[0]] for v in VARIANTS]
    assert {s for n, s in json.loads(out[1])} == {1000}


def window_jaro(a, b):
    """Jaro as the textbook writes it: each character of a takes the first
    unused equal one of b within the window, scanned position by position."""
    if a == b:
        return (1, 1) if a else (0, 1)
    la, lb = len(a), len(b)
    if not la or not lb:
        return 0, 1
    reach = max(0, max(la, lb) // 2 - 1)
    used = [False] * lb
    ma = []
    for i in range(la):
        for j in range(max(0, i - reach), min(lb, i + reach + 1)):
            if not used[j] and a[i] == b[j]:
                used[j] = True
                ma.append(a[i])
                break
    m = len(ma)
    if not m:
        return 0, 1
    t = sum(1 for x, y in zip(ma, [b[j] for j in range(lb) if used[j]]) if x != y) // 2
    return m * lb * m + m * la * m + (m - t) * la * lb, 3 * la * lb * m


def pairs(n, seed=7):
    """n pairs of short strings over a small alphabet (many repeats, transpositions, empties)."""
    x = seed
    out = []
    for _ in range(n):
        s = []
        for _ in range(2):
            x = (x * 1103515245 + 12345) % (1 << 31)
            k = x % 13
            w = ""
            for _ in range(k):
                x = (x * 1103515245 + 12345) % (1 << 31)
                w += "ABC D"[x % 5]
            s.append(w)
        out.append(s)
    return out + [["MARTHA", "MARHTA"], ["DIXON", "DICKSONX"], ["", "A"], ["AB", "AB"]]


def test_jaro_is_the_window_definition_on_both_interpreters():
    cases = pairs(3000)
    want = [list(window_jaro(a, b)) for a, b in cases]
    assert [list(names._jaro_parts(a, b)) for a, b in cases] == want
    assert names._jaro_parts("MARTHA", "MARHTA") == window_jaro("MARTHA", "MARHTA") != (1, 1)
    got = upy.call_each("userland.compliance.names", [("_jaro_parts", c) for c in cases])
    assert [v for ok, v in got] == want and all(ok for ok, v in got)


def folded_by_character(name):
    """normalise as its docstring defines it, fold() a character at a time."""
    tokens = [t for t in "".join(names.fold(c) for c in name).split() if t.encode() not in names.LEGAL_FORMS]
    return " ".join(sorted(tokens))


NAMES = ["The Acme Co., Ltd.", "A&B-C/D", "  x  ", "", "o'Brien (UK) plc", "Dupont et Fils SARL", "1-2-3 Go!",
         "tab\there", "Ivan\x00Sanctionov", "~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./", "Łukasz Große-Østergård & Co"]


def test_the_ascii_path_folds_as_fold_does_on_both_interpreters():
    ascii_all = "".join(chr(i) for i in range(128))
    cases = NAMES + [ascii_all, ascii_all[::-1]]
    want = [folded_by_character(n) for n in cases]
    assert [names.normalise(n) for n in cases] == want
    assert [names.key(n) for n in cases] == [w.encode() for w in want]
    got = upy.call_each("userland.compliance.names", [("normalise", [n]) for n in cases])
    assert [v for ok, v in got] == want
