"""Risk limits: exposure per debtor account and per counterparty for
payments, and pre-trade checks for FIX orders (maximum order size, maximum
notional, a price band around a reference price). Integers and decimal
text only. check_* return None (within limits) or (rule id, reason)."""
from userland.lib.money import Money, parse_decimal, round_div


class RiskError(ValueError):
    pass


class Risk:
    def __init__(self, limits):
        """limits: {"account_exposure": "AMOUNT CCY", "counterparty_exposure": "AMOUNT CCY",
        "max_order_qty": int, "max_notional": "AMOUNT CCY", "price_band_pct": "5",
        "reference_prices": {"SYMBOL": "PRICE"}}"""
        try:
            self.account_limit = Money.parse(limits["account_exposure"])
            self.counterparty_limit = Money.parse(limits["counterparty_exposure"])
            self.max_qty = int(limits["max_order_qty"])
            self.max_notional = Money.parse(limits["max_notional"])
            self.band = parse_decimal(limits["price_band_pct"])
            self.reference = {}
            for sym, price in limits.get("reference_prices", {}).items():
                self.reference[sym] = parse_decimal(price)
        except (KeyError, ValueError, TypeError) as e:
            raise RiskError("bad limits: %s" % e)
        self.account_used = {}          # (account, currency) -> minor units taken
        self.counterparty_used = {}

    def check_payment(self, p):
        """Exposure after this payment, against the limits (same currency
        as the limit; another currency is held for review: R-RISK-CCY)."""
        if p.amount.currency != self.account_limit.currency:
            return "R-RISK-CCY", "exposure limits are in %s, not %s" % (self.account_limit.currency,
                                                                        p.amount.currency)
        a = self.account_used.get(p.debtor_account or p.debtor, 0) + p.amount.minor
        if a > self.account_limit.minor:
            return "R-RISK-ACCOUNT", "account %s exposure %s above its limit %s" % (
                p.debtor_account or p.debtor, Money(a, p.amount.currency), self.account_limit)
        c = self.counterparty_used.get(p.creditor_agent, 0) + p.amount.minor
        if c > self.counterparty_limit.minor:
            return "R-RISK-COUNTERPARTY", "counterparty %s exposure %s above its limit %s" % (
                p.creditor_agent, Money(c, p.amount.currency), self.counterparty_limit)
        return None

    def take(self, p):
        """Record an accepted payment's exposure."""
        k = p.debtor_account or p.debtor
        self.account_used[k] = self.account_used.get(k, 0) + p.amount.minor
        self.counterparty_used[p.creditor_agent] = self.counterparty_used.get(p.creditor_agent, 0) + p.amount.minor

    def check_order(self, symbol, qty, price=None):
        """Pre-trade: (tag, rule id, reason) for FIX or None. qty an int,
        price decimal text (None for a market order: the reference price)."""
        if qty <= 0 or qty > self.max_qty:
            return "38", "R-RISK-QTY", "order quantity %d outside 1..%d" % (qty, self.max_qty)
        ref = self.reference.get(symbol)
        if ref is None:
            return "55", "R-RISK-SYMBOL", "no reference price for %s" % symbol
        n, scale = parse_decimal(price) if price is not None else ref
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
