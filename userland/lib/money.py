"""Exact money: an amount is an integer count of the currency's minor units
(ISO 4217, userland/lib/currencies.py), never a float. Runs under
MicroPython and CPython alike (tests hold it against CPython's decimal).

    Money.parse("1234.50 USD")       -> Money(123450, "USD")
    str(m)                           -> "1234.50 USD"
    a + b, a - b, -a, comparisons    (same currency, else MoneyError)
    m.multiply("1.0825", "HALF_UP")  a decimal rate, rounded to minor units
    m.allocate(3) / m.allocate([1, 2, 2])   parts that add up exactly

Errors are MoneyError with a code: malformed, unknown_currency,
too_many_decimals, currency_mismatch, overflow, bad_rounding, bad_ratio.
Amounts are signed 128-bit: |minor units| <= 2**127 - 1.
"""
from userland.lib.currencies import MINOR_UNITS

LIMIT = (1 << 127) - 1
LIMIT_DIGITS = 39               # LIMIT has 39 digits: more significant digits are refused before int()
ROUNDING = ("HALF_EVEN", "HALF_UP", "DOWN", "UP", "FLOOR", "CEILING")
_DIGITS = "0123456789"
_SMALL = 0x3FFFFFFF             # MicroPython's small ints on a 32-bit board: within, no big-int temporaries


class MoneyError(ValueError):
    def __init__(self, code, message):
        super().__init__("%s: %s" % (code, message))
        self.code = code


def minor_units(currency):
    d = MINOR_UNITS.get(currency)
    if d is None:
        raise MoneyError("unknown_currency", "%r is not an ISO 4217 currency code" % (currency,))
    return d


def _checked(n):
    if -_SMALL <= n <= _SMALL:          # (a small int on the board: no compare with the big LIMIT)
        return n
    if n > LIMIT or n < -LIMIT:
        raise MoneyError("overflow", "amount beyond 128 bits")
    return n


def round_div(n, d, mode="HALF_EVEN"):
    """n / d (d > 0) rounded to an integer by `mode`."""
    if mode not in ROUNDING:
        raise MoneyError("bad_rounding", "%r is not one of %s" % (mode, ", ".join(ROUNDING)))
    q, r = divmod(n, d)                 # floor division: 0 <= r < d
    if r == 0:
        return q
    if mode == "FLOOR":
        return q
    if mode == "CEILING":
        return q + 1
    if mode == "DOWN":                  # toward zero
        return q + 1 if n < 0 else q
    if mode == "UP":                    # away from zero
        return q if n < 0 else q + 1
    twice = 2 * r
    if twice < d:
        return q
    if twice > d:
        return q + 1
    if mode == "HALF_UP":               # ties away from zero
        return q if n < 0 else q + 1
    return q if q % 2 == 0 else q + 1   # HALF_EVEN


def parse_decimal(text, most=LIMIT_DIGITS):
    """"-12.345" -> (-12345, 3): an exact decimal as (integer, scale).
    ASCII digits 0-9 only; at most `most` significant digits and at most
    `most` decimals (checked on the text, before any conversion), else
    MoneyError "overflow"."""
    s = text.strip() if isinstance(text, str) else None
    if not s:
        raise MoneyError("malformed", "not a decimal number: %r" % (text,))
    sign = 1
    if s[0] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    whole, dot, frac = s.partition(".")
    if (dot and not frac) or not whole or (whole + frac).strip(_DIGITS):
        raise MoneyError("malformed", "not a decimal number: %r" % (text[:48],))
    digits = (whole + frac).lstrip("0")
    if len(digits) > most or len(frac) > most:
        raise MoneyError("overflow", "more than %d digits: %r..." % (most, text[:48]))
    return sign * int(digits or "0"), len(frac)


class Money:
    __slots__ = ("minor", "currency")

    def __init__(self, minor, currency):
        if not isinstance(minor, int) or isinstance(minor, bool):
            raise MoneyError("malformed", "an amount is an integer of minor units, not %r" % (minor,))
        minor_units(currency)
        self.minor = _checked(minor)
        self.currency = currency

    @staticmethod
    def parse(text, currency=None):
        """"1234.50 USD", or "1234.50" with currency= given."""
        if not isinstance(text, str):
            raise MoneyError("malformed", "not text: %r" % (text,))
        parts = text.split()
        if currency is None:
            if len(parts) != 2:
                raise MoneyError("malformed", "expected AMOUNT CURRENCY, got %r" % (text,))
            amount, currency = parts
        else:
            if len(parts) != 1:
                raise MoneyError("malformed", "expected an amount, got %r" % (text,))
            amount = parts[0]
        digits = minor_units(currency)
        n, scale = parse_decimal(amount, LIMIT_DIGITS)       # 39 digits at most, before int()
        if scale > digits:
            raise MoneyError("too_many_decimals", "%s has %d decimals, %r has %d" % (currency, digits, amount, scale))
        return Money(_checked(n * 10 ** (digits - scale)), currency)

    def __str__(self):
        d = minor_units(self.currency)
        n = -self.minor if self.minor < 0 else self.minor
        text = str(n)
        if d:
            text = "0" * (d + 1 - len(text)) + text if len(text) <= d else text
            text = text[:-d] + "." + text[-d:]
        return "%s%s %s" % ("-" if self.minor < 0 else "", text, self.currency)

    def __repr__(self):
        return "Money(%r)" % str(self)

    def _same(self, other):
        if not isinstance(other, Money):
            raise MoneyError("malformed", "not money: %r" % (other,))
        if other.currency != self.currency:
            raise MoneyError("currency_mismatch", "%s and %s" % (self.currency, other.currency))

    def __add__(self, other):
        self._same(other)
        return Money(_checked(self.minor + other.minor), self.currency)

    def __sub__(self, other):
        self._same(other)
        return Money(_checked(self.minor - other.minor), self.currency)

    def __neg__(self):
        return Money(-self.minor, self.currency)

    def __eq__(self, other):
        return isinstance(other, Money) and other.currency == self.currency and other.minor == self.minor

    def __ne__(self, other):
        return not self.__eq__(other)

    def __lt__(self, other):
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other):
        self._same(other)
        return self.minor <= other.minor

    def __gt__(self, other):
        self._same(other)
        return self.minor > other.minor

    def __ge__(self, other):
        self._same(other)
        return self.minor >= other.minor

    def __hash__(self):
        return hash((self.minor, self.currency))

    def multiply(self, rate, rounding="HALF_EVEN"):
        """self * rate (decimal text, or an int), rounded to minor units."""
        if isinstance(rate, int) and not isinstance(rate, bool):
            n, scale = rate, 0
        else:
            n, scale = parse_decimal(rate)
        return Money(_checked(round_div(self.minor * n, 10 ** scale, rounding)), self.currency)

    def divide(self, divisor, rounding="HALF_EVEN"):
        """self / divisor (decimal text or int, not zero), rounded."""
        if isinstance(divisor, int) and not isinstance(divisor, bool):
            n, scale = divisor, 0
        else:
            n, scale = parse_decimal(divisor)
        if n == 0:
            raise MoneyError("malformed", "division by zero")
        num, den = self.minor * 10 ** scale, n
        if den < 0:
            num, den = -num, -den
        return Money(_checked(round_div(num, den, rounding)), self.currency)

    def allocate(self, ratios):
        """Split into parts proportional to `ratios` (a count, or a list of
        non-negative ints, not all zero) that add up to self exactly; the
        remainder goes a minor unit at a time to the parts with the largest
        remainders, the earlier first on a tie (100.00 three ways: 33.34 +
        33.33 + 33.33). Each part is within one minor unit of its share."""
        if isinstance(ratios, int) and not isinstance(ratios, bool):
            if ratios < 1:
                raise MoneyError("bad_ratio", "at least one part")
            ratios = [1] * ratios
        total = 0
        for r in ratios:
            if not isinstance(r, int) or isinstance(r, bool) or r < 0:
                raise MoneyError("bad_ratio", "ratios are non-negative integers, not %r" % (r,))
            total += r
        if not ratios or total == 0:
            raise MoneyError("bad_ratio", "ratios add up to zero")
        sign = -1 if self.minor < 0 else 1
        whole = sign * self.minor
        parts = [whole * r // total for r in ratios]
        left = whole - sum(parts)
        # Largest remainder first (ties: the earlier part), so every part is
        # less than one minor unit from its exact share.
        order = sorted(range(len(parts)), key=lambda i: (-(whole * ratios[i] % total), i))
        for i in order[:left]:
            parts[i] += 1
        return [Money(sign * p, self.currency) for p in parts]
