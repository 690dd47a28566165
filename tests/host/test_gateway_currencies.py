"""Payments in other currencies than USD, end to end through the gateway
(userland/gateway/service.py) with the real compliance engine, risk limits
and ledger: each currency posts on its own ledger (rules.json "ledgers") in
its own minor units (EUR 2 decimals, JPY 0, BHD 3), against its own exposure
limits; a currency without limits is held for review (PDNG), or refused
where the rules say so. tests/host/test_gateway_upy.py runs the same kinds of
payments under MicroPython (gateway_world's streams)."""
import copy
import json
import os
import xml.etree.ElementTree as ET

import pytest

from userland.compliance.engine import Engine
from userland.compliance.risk import Risk
from userland.gateway import iso20022, service
from userland.ledger.state import Account, Ledger, Transfer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES = json.load(open(os.path.join(ROOT, "userland", "compliance", "rules.json")))
PACS = open(os.path.join(ROOT, "tests", "vectors", "gateway", "pacs008.xml")).read()
NS = {"p": iso20022.PACS002}


def gateway(rules=RULES):
    L = Ledger()
    L.create_accounts([Account(l * 10 + j, l, 1) for l in rules["ledgers"].values() for j in (1, 2)])
    audit = []

    def post(tid, dr, cr, amount, ledger):
        return L.create_transfers([Transfer(tid, dr, cr, amount, ledger, 1)])[0]
    g = service.Gateway(Engine(rules), Risk(rules["risk"]), post, audit.append, rules["ledgers"],
                        lambda: 0, lambda: 1795687200000)
    return g, L, audit


def one(ccy, amount, msg_id="C-1"):
    """The vector's first transaction alone, in `ccy`, between that currency's ledger's accounts."""
    l = RULES["ledgers"].get(ccy, 1)
    doc = PACS.replace("<NbOfTxs>2</NbOfTxs>", "<NbOfTxs>1</NbOfTxs>")
    doc = doc[:doc.index("    <CdtTrfTxInf>\n      <PmtId><EndToEndId>E2E-0002")] + "  </FIToFICstmrCdtTrf>\n</Document>\n"
    doc = doc.replace('Ccy="USD">1250.50<', 'Ccy="%s">%s<' % (ccy, amount)).replace("QX-20261126-0001", msg_id)
    return doc.replace("<Id>1</Id>", "<Id>%d</Id>" % (l * 10 + 1)).replace("<Id>2</Id>", "<Id>%d</Id>" % (l * 10 + 2))


def status(answer):
    tx = ET.fromstring(answer).find("p:FIToFIPmtStsRpt/p:TxInfAndSts", NS)
    rsn = tx.find("p:StsRsnInf/p:Rsn/p:Cd", NS)
    return tx.find("p:TxSts", NS).text, None if rsn is None else rsn.text


@pytest.mark.parametrize("ccy,amount,minor", [("EUR", "1250.50", 125050), ("JPY", "125050", 125050),
                                              ("BHD", "1250.505", 1250505), ("USD", "0.01", 1)])
def test_each_currency_posts_on_its_own_ledger_in_its_own_minor_units(ccy, amount, minor):
    g, L, audit = gateway()
    assert status(g.submit("pacs.008", one(ccy, amount).encode())) == ("ACSC", None), audit
    l = RULES["ledgers"][ccy]
    assert L.accounts[l * 10 + 1].debits_posted == minor and L.accounts[l * 10 + 2].credits_posted == minor
    assert "accept pacs.008 C-1 E2E-0001 %s %s" % (amount, ccy) in audit[-1]


@pytest.mark.parametrize("ccy,amount", [("JPY", "1250.5"), ("EUR", "1.005"), ("BHD", "1.0005")])
def test_more_decimals_than_the_currency_has_is_ch20(ccy, amount):
    g, L, audit = gateway()
    assert status(g.submit("pacs.008", one(ccy, amount).encode())) == ("RJCT", "CH20")
    assert not any(a.debits_posted for a in L.accounts.values())


def test_a_currency_without_exposure_limits_is_held_for_review_not_rejected():
    g, L, audit = gateway()
    assert "GBP" in RULES["ledgers"] and "GBP" not in RULES["risk"]["exposure"]
    assert status(g.submit("pacs.008", one("GBP", "10.00").encode())) == ("PDNG", None)
    assert len(g.held) == 1 and g.held[0].amount.currency == "GBP"
    assert "R-RISK-CCY" in audit[-1] and audit[-1].split("\n", 1)[1].startswith("hold ")
    assert not any(a.debits_posted for a in L.accounts.values())


def test_the_rules_can_refuse_other_currencies_instead():
    rules = copy.deepcopy(RULES)
    rules["risk"]["other_currencies"] = "reject"
    g, L, audit = gateway(rules)
    assert status(g.submit("pacs.008", one("GBP", "10.00").encode())) == ("RJCT", "AM02")
    assert not g.held and "R-RISK-CCY" in audit[-1]


def test_exposure_is_counted_per_currency_against_that_currencys_limit():
    rules = copy.deepcopy(RULES)
    rules["risk"]["exposure"]["JPY"] = {"account": "100000", "counterparty": "900000"}
    rules["report_threshold"] = "1000000000.00 USD"          # no reporting noise in this test
    g, L, audit = gateway(rules)
    assert status(g.submit("pacs.008", one("JPY", "60000", "J-1").encode())) == ("ACSC", None)
    assert status(g.submit("pacs.008", one("USD", "900000.00", "U-1").encode())) == ("ACSC", None)
    assert status(g.submit("pacs.008", one("JPY", "40000", "J-2").encode())) == ("ACSC", None)   # at the limit
    assert status(g.submit("pacs.008", one("JPY", "1", "J-3").encode())) == ("RJCT", "AM02")
    assert "R-RISK-ACCOUNT" in audit[-1] and "100000 JPY" in audit[-1]
