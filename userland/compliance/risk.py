"""Risk limits: exposure per debtor account and per counterparty for
payments, per currency, and pre-trade checks for FIX orders (maximum order
size, maximum notional, a price band around a reference price). Integers
and decimal text only.

Exposure is kept per currency, each against that currency's own limits (no
conversion: a rate is the compliance rules' business, not risk's). A payment
in a currency with no limits is held for review (R-RISK-CCY), or refused
where the rules say `"other_currencies": "reject"`.

check_payment returns None (within limits) or (rule id, reason, action),
action "hold" or "reject"; check_order None or (tag, rule id, reason)."""
from userland.lib.asciinum import is_int
from userland.lib.money import Money, MoneyError, parse_decimal, round_div

MAX_EXPOSURES = 128         # debtor accounts (and, apart, counterparties) whose exposure is tracked: a
                            # payment that would need one more is rejected (R-RISK-TABLE), never forgotten
PRICE_DIGITS = 18


class RiskError(ValueError):
    pass


def show(v):
    """A value for an error message (never a huge int's repr: CPython refuses those)."""
    if is_int(v) and not -10 ** 18 < v < 10 ** 18:
        return "a number beyond 18 digits"
    return repr(v)[:48]


def _need(cond, what):
    if not cond:
        raise RiskError("bad limits: %s" % what)


def _amount(limits, key):
    v = limits.get(key)
    _need(isinstance(v, str), "%s must be text \"AMOUNT CCY\", not %s" % (key, show(v)))
    m = Money.parse(v)
    _need(m.minor > 0, "%s must be above zero" % key)
    return m


OTHER = ("hold", "reject")


def _exposure(limits):
    """{currency: (account limit, counterparty limit)} from "exposure"
    ({"CCY": {"account": "AMOUNT", "counterparty": "AMOUNT"}}) and the pair
    "account_exposure"/"counterparty_exposure" ("AMOUNT CCY" each: one more
    currency)."""
    out = {}
    if "account_exposure" in limits or "counterparty_exposure" in limits:
        a, c = _amount(limits, "account_exposure"), _amount(limits, "counterparty_exposure")
        _need(a.currency == c.currency, "account and counterparty exposure limits must be in one currency")
        out[a.currency] = (a, c)
    per = limits.get("exposure", {})
    _need(isinstance(per, dict), "exposure must be an object {\"CCY\": {\"account\": .., \"counterparty\": ..}}")
    for ccy, pair in per.items():
        _need(isinstance(pair, dict) and sorted(pair) == ["account", "counterparty"],
              "exposure.%s must be {\"account\": \"AMOUNT\", \"counterparty\": \"AMOUNT\"}" % ccy[:16])
        _need(ccy not in out, "exposure.%s is given twice" % ccy)
        got = []
        for side in ("account", "counterparty"):
            v = pair[side]
            _need(isinstance(v, str), "exposure.%s.%s must be decimal text, not %s" % (ccy, side, show(v)))
            m = Money.parse(v, ccy)
            _need(m.minor > 0, "exposure.%s.%s must be above zero" % (ccy, side))
            got.append(m)
        out[ccy] = (got[0], got[1])
    _need(out, "no exposure limits: give \"exposure\" or account_exposure and counterparty_exposure")
    return out


def parse_limits(limits):
    """The limits as Risk uses them, checked (RiskError naming the fault):
    {"exposure": {"CCY": {"account": "AMOUNT", "counterparty": "AMOUNT"}},
    "account_exposure": "AMOUNT CCY", "counterparty_exposure": "AMOUNT CCY",
    "other_currencies": "hold" | "reject", "max_order_qty": int,
    "max_notional": "AMOUNT CCY", "price_band_pct": "5",
    "reference_prices": {"SYMBOL": "PRICE"}}"""
    _need(isinstance(limits, dict), "the risk limits must be an object")
    try:
        out = {"exposure": _exposure(limits), "notional": _amount(limits, "max_notional")}
        other = limits.get("other_currencies", "hold")
        _need(other in OTHER, "other_currencies must be \"hold\" or \"reject\", not %s" % show(other))
        out["other"] = other
        q = limits.get("max_order_qty")
        _need(is_int(q) and 0 < q < 10 ** 9, "max_order_qty must be a whole number in 1..999999999, not %s" % show(q))
        out["qty"] = q
        band = limits.get("price_band_pct")
        _need(isinstance(band, str), "price_band_pct must be decimal text, not %s" % show(band))
        out["band"] = parse_decimal(band, PRICE_DIGITS)
        _need(out["band"][0] >= 0, "price_band_pct must not be negative")
        refs = limits.get("reference_prices", {})
        _need(isinstance(refs, dict), "reference_prices must be an object")
        out["reference"] = {}
        for sym, price in refs.items():
            _need(isinstance(price, str), "reference_prices.%s must be decimal text, not %s" % (sym, show(price)))
            p = parse_decimal(price, PRICE_DIGITS)
            _need(p[0] > 0, "reference_prices.%s must be above zero" % sym)
            out["reference"][sym] = p
    except MoneyError as e:
        raise RiskError("bad limits: %s" % e)
    return out


class Risk:
    def __init__(self, limits):
        """limits: see parse_limits."""
        self.set(parse_limits(limits))
        self.account_used = {}          # (account, currency) -> minor units taken, MAX_EXPOSURES of them
        self.counterparty_used = {}     # (agent BIC, currency) -> minor units taken, as many

    def set(self, r):
        """New limits, as parse_limits returned them (the exposure taken so
        far stays)."""
        self.exposure, self.other = r["exposure"], r["other"]
        self.max_qty, self.max_notional = r["qty"], r["notional"]
        self.band, self.reference = r["band"], r["reference"]

    def check_payment(self, p):
        """Exposure after this payment against its currency's limits."""
        ccy = p.amount.currency
        limits = self.exposure.get(ccy)
        if limits is None:
            return "R-RISK-CCY", "no exposure limits for %s (limits in %s)" % (
                ccy, ", ".join(sorted(self.exposure))), self.other
        account_limit, counterparty_limit = limits
        k, g = (p.debtor_account or p.debtor, ccy), (p.creditor_agent, ccy)
        if (k not in self.account_used and len(self.account_used) >= MAX_EXPOSURES) or \
                (g not in self.counterparty_used and len(self.counterparty_used) >= MAX_EXPOSURES):
            return "R-RISK-TABLE", "exposure is tracked for %d accounts and counterparties at most" % \
                MAX_EXPOSURES, "reject"
        a = self.account_used.get(k, 0) + p.amount.minor
        if a > account_limit.minor:
            return "R-RISK-ACCOUNT", "account %s exposure %s above its limit %s" % (
                k[0], Money(a, ccy), account_limit), "reject"
        c = self.counterparty_used.get(g, 0) + p.amount.minor
        if c > counterparty_limit.minor:
            return "R-RISK-COUNTERPARTY", "counterparty %s exposure %s above its limit %s" % (
                p.creditor_agent, Money(c, ccy), counterparty_limit), "reject"
        return None

    def take(self, p):
        """Record an accepted payment's exposure."""
        ccy = p.amount.currency
        k, g = (p.debtor_account or p.debtor, ccy), (p.creditor_agent, ccy)
        self.account_used[k] = self.account_used.get(k, 0) + p.amount.minor
        self.counterparty_used[g] = self.counterparty_used.get(g, 0) + p.amount.minor

    def check_order(self, symbol, qty, price=None):
        """Pre-trade: (tag, rule id, reason) for FIX or None. qty an int,
        price decimal text (None for a market order: the reference price)."""
        if qty <= 0 or qty > self.max_qty:
            return "38", "R-RISK-QTY", "order quantity %d outside 1..%d" % (qty, self.max_qty)
        ref = self.reference.get(symbol)
        if ref is None:
            return "55", "R-RISK-SYMBOL", "no reference price for %s" % symbol
        try:
            n, scale = parse_decimal(price, PRICE_DIGITS) if price is not None else ref
        except MoneyError:
            return "44", "R-RISK-PRICE", "price is not a decimal number of at most %d digits" % PRICE_DIGITS
        if n <= 0:
            return "44", "R-RISK-PRICE", "price must be above zero"
        # |price - ref| / ref * 100 > band, in integers: compare at a common scale
        common = max(scale, ref[1])
        p = n * 10 ** (common - scale)
        r = ref[0] * 10 ** (common - ref[1])
        band_n, band_scale = self.band
        if abs(p - r) * 100 * 10 ** band_scale > band_n * r:
            return "44", "R-RISK-BAND", "price %s is more than %s%% from the reference" % (price, _text(self.band))
        digits = 2                                     # notional in the limit's currency, HALF_EVEN
        notional = round_div(qty * n * 10 ** digits, 10 ** scale)
        if notional > self.max_notional.minor:
            return "38", "R-RISK-NOTIONAL", "notional %s above the limit %s" % (
                Money(notional, self.max_notional.currency), self.max_notional)
        return None


def _text(dec):
    n, scale = dec
    s = str(n)
    return s if not scale else s[:-scale] + "." + s[-scale:]
