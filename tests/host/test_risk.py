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


PER_CCY = dict({k: v for k, v in LIMITS.items() if "exposure" not in k},
               exposure={"EUR": {"account": "100.00", "counterparty": "150.00"},
                         "JPY": {"account": "10000", "counterparty": "20000"}})


def test_exposure_per_currency_and_other_currencies_held_or_refused():
    r = Risk(PER_CCY)
    assert r.check_payment(pay("100.00 EUR")) is None
    r.take(pay("100.00 EUR"))
    assert r.check_payment(pay("10000 JPY")) is None             # JPY's own limit, untouched by EUR's use
    assert r.check_payment(pay("0.01 EUR"))[::2] == ("R-RISK-ACCOUNT", "reject")
    assert r.check_payment(pay("50.01 EUR", acct="2"))[::2] == ("R-RISK-COUNTERPARTY", "reject")
    assert r.check_payment(pay("1.00 USD")) == ("R-RISK-CCY", "no exposure limits for USD (limits in EUR, JPY)", "hold")
    assert Risk(dict(PER_CCY, other_currencies="reject")).check_payment(pay("1.00 USD"))[2] == "reject"


@pytest.mark.parametrize("change,says", [
    ({"exposure": {"EUR": {"account": "1.00"}}}, "exposure.EUR must be"),
    ({"exposure": {"JPY": {"account": "1.5", "counterparty": "2"}}}, "decimals"),
    ({"exposure": {"EUR": {"account": "0", "counterparty": "1"}}}, "exposure.EUR.account must be above zero"),
    ({"exposure": {"XYZ": {"account": "1", "counterparty": "1"}}}, "XYZ"),
    ({"exposure": []}, "exposure must be an object"),
    ({"exposure": {}}, "no exposure limits"),
    ({"other_currencies": "allow"}, "other_currencies must be"),
])
def test_bad_per_currency_limits_are_refused_with_what_is_wrong(change, says):
    with pytest.raises(RiskError) as e:
        Risk(dict(PER_CCY, **change))
    assert says in str(e.value)
