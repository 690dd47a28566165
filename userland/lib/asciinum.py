"""Whole numbers in text, ASCII only: the one parser the gateway, FIX,
ISO 20022, MT103, compliance and risk read integers with. Plain Python
(MicroPython and CPython alike).

Only the characters 0-9 are digits here. str.isdigit() is not used: on
CPython it takes Unicode digits ("²", "٣") that int() then refuses, on
MicroPython it is ASCII-only, so the two would disagree. Every number has a
length bound checked before int() converts it: CPython refuses more than
4,300 digits with ValueError, MicroPython builds a bigint of any size.

    is_digits("0042")                -> True     ("", "4²", " 4", "+4", "4_2" -> False)
    parse_uint("0042", 9)            -> 42       NumberError otherwise
    parse_range("17", 1, 100)        -> 17       NumberError outside 1..100
"""

DIGITS = "0123456789"
DIGITS_B = b"0123456789"
MAX_DIGITS = 39                 # 2**128 - 1 has 39 digits


class NumberError(ValueError):
    pass


def is_digits(text, most=MAX_DIGITS):
    """True if `text` (str or bytes) is 1..most characters, each 0-9."""
    if isinstance(text, str):
        digits = DIGITS
    elif isinstance(text, bytes):
        digits = DIGITS_B
    else:
        return False
    return 0 < len(text) <= most and not text.strip(digits)


def parse_uint(text, most=MAX_DIGITS, what="number"):
    """The value of 1..most ASCII digits (str or bytes); NumberError else."""
    if not is_digits(text, most):
        raise NumberError("%s: %r is not 1 to %d digits 0-9" % (what, text[:most + 8], most))
    return int(text if isinstance(text, str) else text.decode())


def parse_range(text, lo, hi, what="number"):
    """parse_uint(text) within lo..hi (hi >= 0), leading zeros allowed up to
    the length of hi plus 8; NumberError otherwise."""
    n = parse_uint(text, len(str(hi)) + 8, what)
    if not lo <= n <= hi:
        raise NumberError("%s: %d is not in %d..%d" % (what, n, lo, hi))
    return n


def is_int(value):
    """True if value is an int and not a bool (JSON's numbers, checked)."""
    return isinstance(value, int) and not isinstance(value, bool)
