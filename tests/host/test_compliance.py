"""The compliance engine (userland/compliance): the rules table, each rule
firing with its id and action, the strongest action winning, name matching,
rules reload refusing a bad file."""
import json
import os

import pytest

from userland.compliance import engine, names
from userland.gateway.payment import Payment
from userland.lib.money import Money

RULES = json.load(open(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
                                    "userland", "compliance", "rules.json")))


def pay(amount, debtor="Alice Example", creditor="Bob Example", dc="US", cc="GB"):
    return Payment("pacs.008", "M", "E", Money.parse(amount), "SHAR", debtor, "QNXBUS33", creditor, "QNXBGB2L",
                   debtor_country=dc, creditor_country=cc)


def test_an_ordinary_payment_is_accepted_with_no_rule_fired():
    d = engine.Engine(RULES).check(pay("250.00 USD"), 0)
    assert (d.action, d.rules, d.report) == ("accept", [], False)


def test_the_reporting_threshold_in_usd_equivalent():
    e = engine.Engine(RULES)
    assert e.check(pay("9999.99 USD"), 0).rules == []
    d = e.check(pay("10000.00 USD"), 0)
    assert (d.action, d.rules, d.report) == ("accept", ["R-THRESHOLD"], True)
    assert e.usd(Money.parse("9259.26 EUR")) == Money.parse("10000.00 USD")     # 9259.26 * 1.08 = 10000.0008
    assert e.check(pay("9259.26 EUR"), 0).report and not e.check(pay("9259.25 EUR"), 0).report
    assert e.usd(Money.parse("1515152 JPY")) == Money.parse("10000.00 USD")
    assert e.check(pay("10.00 SGD"), 0).rules == ["R-NO-RATE"] and e.check(pay("10.00 SGD"), 0).action == "hold"


def test_structuring_just_under_the_threshold_is_held():
    e = engine.Engine(RULES)
    for t, expect in ((0, []), (3600, []), (7200, ["R-STRUCTURING"])):
        d = e.check(pay("9500.00 USD", debtor="Eve Splitter"), t)
        assert d.rules == expect and d.action == ("hold" if expect else "accept")
    # outside the window the count starts again; small payments do not count
    e2 = engine.Engine(RULES)
    for t in (0, 90000, 180000):
        assert e2.check(pay("9500.00 USD", debtor="Eve Splitter"), t).rules == []
    e3 = engine.Engine(RULES)
    for t in range(5):
        assert e3.check(pay("500.00 USD", debtor="Eve Splitter"), t).rules == []


@pytest.mark.parametrize("name,hit", [
    ("Ivan Sanctionov", True), ("IVAN SANCTIONOV", True), ("Sanctionov, Ivan", True), ("Ivan Sanctionoff", True),
    ("Blocked Trading Company Ltd", True), ("The Oceanic Shell Holdings, Inc.", True),
    ("Ivan Petrov", False), ("Bob Example", False), ("Oceanic Airlines", False)])
def test_sanctions_screening_matches_fuzzily(name, hit):
    d = engine.Engine(RULES).check(pay("10.00 USD", creditor=name), 0)
    assert ("R-SANCTIONS" in d.rules) == hit, d.reasons
    assert d.action == ("reject" if hit else "accept")


def test_blocked_jurisdictions_and_the_strongest_action_wins():
    d = engine.Engine(RULES).check(pay("9500.00 USD", dc="KP", creditor="Ivan Sanctionov"), 0)
    assert d.action == "reject" and d.rules == ["R-JURISDICTION", "R-SANCTIONS"]


def test_a_bad_rules_file_is_refused_and_the_old_rules_stay():
    e = engine.Engine(RULES)
    for bad in ({}, dict(RULES, report_threshold="10000 EUR"), dict(RULES, usd_rates={"EUR": "one"}),
                dict(RULES, report_threshold="ten")):
        with pytest.raises(engine.RulesError):
            e.load(bad)
    assert e.threshold == Money.parse("10000.00 USD")
    e.load(dict(RULES, report_threshold="5000.00 USD"))
    assert e.check(pay("6000.00 USD"), 0).report


def test_jaro_winkler_known_values():
    # the classic examples (Winkler 1990)
    assert names.jaro_winkler("MARTHA", "MARHTA") == 961
    assert names.jaro_winkler("DWAYNE", "DUANE") == 840
    assert names.jaro_winkler("DIXON", "DICKSONX") == 813
    assert names.jaro_winkler("SAME", "SAME") == 1000 and names.jaro_winkler("ABC", "XYZ") == 0
    assert names.normalise("The Acme Co., Ltd.") == "ACME" and names.normalise("Müller & Söhne GmbH") == "MULLER SOHNE"
