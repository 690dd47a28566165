"""The one ASCII-only number parser (userland/lib/asciinum.py) and the rule
that the gateway's code reads numbers with it: digits are 0-9 only, whatever
str.isdigit() says on CPython (Unicode digits) or MicroPython (ASCII only),
and every number's length is bounded before int() (CPython refuses more
than 4,300 digits; MicroPython builds a bigint)."""
import os
import re

import pytest

from userland.lib import asciinum
from userland.lib.money import Money, MoneyError, parse_decimal

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNICODE_DIGITS = ["\u00b2", "\u0663", "\u096a", "\uff15", "\U0001d7ce", "\u2460"]   # ², ٣, ४, ５, 𝟎, ①


@pytest.mark.parametrize("text", ["", " 4", "4 ", "+4", "-4", "4_2", "0x1", "4.0", "1e3", "٣", "4²", "²"] +
                         UNICODE_DIGITS)
def test_only_ascii_digits_are_digits(text):
    assert not asciinum.is_digits(text)
    assert not asciinum.is_digits(text.encode("utf-8"))
    with pytest.raises(asciinum.NumberError):
        asciinum.parse_uint(text)


def test_the_characters_isdigit_takes_on_cpython_are_refused():
    # Every character CPython's isdigit() takes but that is not 0-9 (MicroPython's is ASCII only):
    # the parser agrees with MicroPython by construction.
    odd = [chr(c) for c in range(0x110000) if chr(c).isdigit() and chr(c) not in "0123456789"]
    assert len(odd) > 100
    assert not any(asciinum.is_digits("1" + c) for c in odd)


def test_lengths_are_bounded_before_conversion():
    assert asciinum.parse_uint("0" * 38 + "7") == 7
    assert asciinum.parse_uint("9" * 39) == 10 ** 39 - 1
    for text in ("9" * 40, "1" * 5000, "1" * 100000):
        with pytest.raises(asciinum.NumberError):
            asciinum.parse_uint(text)
    assert asciinum.parse_uint(b"123", 3) == 123
    assert asciinum.parse_range("0017", 1, 100) == 17
    with pytest.raises(asciinum.NumberError):
        asciinum.parse_range("101", 1, 100)
    assert asciinum.is_int(3) and not asciinum.is_int(True) and not asciinum.is_int(3.0)


@pytest.mark.parametrize("amount", ["9" * 5000 + ".00", "1" * 4301, "0." + "0" * 5000 + "1", "9" * 40,
                                    "1" * 39 + ".00"])
def test_money_refuses_amounts_beyond_128_bits_before_converting(amount):
    with pytest.raises(MoneyError) as e:
        Money.parse(amount + " USD")
    assert e.value.code == "overflow"


def test_money_takes_leading_zeros_and_the_largest_amount():
    assert Money.parse("0" * 60 + "12.50 USD").minor == 1250
    top = str((1 << 127) - 1)
    assert Money.parse(top[:-2] + "." + top[-2:] + " USD").minor == (1 << 127) - 1
    assert parse_decimal("0.0066") == (66, 4)
    for bad in ("1²", "²", "1.²", "١٢"):
        with pytest.raises(MoneyError):
            parse_decimal(bad)


def test_the_board_code_reads_no_number_with_isdigit_or_int_of_unchecked_text():
    """No str.isdigit()/isalpha()/isnumeric()/isdecimal() in the code that reads messages and rules
    (they are Unicode-aware on CPython and ASCII-only on MicroPython)."""
    dirs = ["userland/gateway", "userland/compliance", "userland/lib"]
    found = []
    for d in dirs:
        for name in sorted(os.listdir(os.path.join(ROOT, d))):
            if name.endswith(".py"):
                for n, line in enumerate(open(os.path.join(ROOT, d, name)), 1):
                    code = line.split("#")[0]
                    if re.search(r"\.(isdigit|isalpha|isnumeric|isdecimal|isalnum)\(", code) and '"""' not in line:
                        found.append("%s/%s:%d: %s" % (d, name, n, line.strip()))
    assert not [f for f in found if "asciinum.py" not in f], found
