"""Risk limits (userland/compliance/risk.py): payment exposure per account
and counterparty, FIX pre-trade quantity, notional and price band."""
from userland.compliance.risk import Risk, RiskError
from userland.gateway.payment import Payment
from userland.lib.money import Money
import pytest

LIMITS = {"account_exposure": "50000.00 USD", "counterparty_exposure": "80000.00 USD", "max_order_qty": 10000,
          "max_notional": "1000000.00 USD", "price_band_pct": "5", "reference_prices": {"QNX": "100.00"}}


def pay(amount, acct="1", agent="QNXBGB2L"):
    return Payment("pacs.008", "M", "E", Money.parse(amount), "SHAR", "A", "QNXBUS33", "B", agent, acct)


def test_exposure_limits_per_account_and_counterparty():
    r = Risk(LIMITS)
    for _ in range(2):
        assert r.check_payment(pay("25000.00 USD")) is None
        r.take(pay("25000.00 USD"))
    assert r.check_payment(pay("0.01 USD"))[0] == "R-RISK-ACCOUNT"
    assert r.check_payment(pay("30000.00 USD", acct="2")) is None             # exactly at the limit
    assert r.check_payment(pay("30000.01 USD", acct="2"))[0] == "R-RISK-COUNTERPARTY"
    assert r.check_payment(pay("30000.00 USD", acct="2", agent="QNXBDEFF")) is None
    assert r.check_payment(pay("1.00 EUR"))[0] == "R-RISK-CCY"


@pytest.mark.parametrize("symbol,qty,price,rule", [
    ("QNX", 100, "100.00", None), ("QNX", 100, None, None), ("QNX", 0, "100", "R-RISK-QTY"),
    ("QNX", 10001, "100", "R-RISK-QTY"), ("XYZ", 1, "1", "R-RISK-SYMBOL"), ("QNX", 1, "105.00", None),
    ("QNX", 1, "105.01", "R-RISK-BAND"), ("QNX", 1, "94.99", "R-RISK-BAND"), ("QNX", 1, "0", "R-RISK-PRICE"),
    ("QNX", 10000, "100.00", None), ("QNX", 10000, "100.01", "R-RISK-NOTIONAL"),
])
def test_pre_trade_checks(symbol, qty, price, rule):
    got = Risk(LIMITS).check_order(symbol, qty, price)
    assert (got[1] if got else None) == rule, got


def test_bad_limits_are_refused():
    with pytest.raises(RiskError):
        Risk(dict(LIMITS, max_notional="lots"))
