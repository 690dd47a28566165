"""Issue 12, "One message stops the gateway": every malformed input the
fuzzers found gets its protocol's refusal (FIX Reject or
BusinessMessageReject, pacs.002 RJCT, an MT103 error line, a link error)
and the gateway goes on; a defect met on one message refuses that message
alone, audited and told on the console."""
import json
import math
import os
import xml.etree.ElementTree as ET

import pytest

from tests.fix_messages import fixmsg, parse_fix
from userland.compliance import engine as engine_mod
from userland.compliance.engine import Engine, RulesError
from userland.compliance.risk import Risk
from userland.gateway import fix, fix_session, iso20022, link, mt103, service
from userland.ledger.state import Account, Ledger, Transfer
from userland.lib import xmlmini

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES = json.load(open(os.path.join(ROOT, "userland", "compliance", "rules.json")))
VEC = os.path.join(ROOT, "tests", "vectors", "gateway")
PACS = open(os.path.join(VEC, "pacs008.xml")).read()
ONE = PACS.replace("<NbOfTxs>2</NbOfTxs>", "<NbOfTxs>1</NbOfTxs>")
ONE = ONE[:ONE.index("    <CdtTrfTxInf>\n      <PmtId><EndToEndId>E2E-0002")] + "  </FIToFICstmrCdtTrf>\n</Document>\n"
MT = open(os.path.join(VEC, "mt103.txt")).read()
NS = {"p": iso20022.PACS002}
ORDER = [(11, "O1"), (55, "QNX"), (54, "1"), (38, "100"), (40, "2"), (44, "101.00"), (60, "20261126-10:00:00")]


@pytest.fixture
def gw():
    L = Ledger()
    L.create_accounts([Account(i, 1, 1) for i in (1, 2, 3)])
    audit, alarms = [], []

    def post(tid, dr, cr, amount, ledger):
        return L.create_transfers([Transfer(tid, dr, cr, amount, ledger, 1)])[0]
    g = service.Gateway(Engine(RULES), Risk(RULES["risk"]), post, audit.append, RULES["ledgers"],
                        lambda: 0, lambda: 1795687200000, alarm=alarms.append)
    g.alarms = alarms
    return g, L, audit



def fix_conn(app=None):
    """A FIX connection logged on as counterparty C (fix_session), its clock fixed."""
    table = fix_session.parse_table({"our_id": "QENEX", "sessions": [{"counterparty": "C", "heartbeat_s": 30}]})
    acc = fix_session.Acceptor(table, fix_session.MemoryStore(), lambda: 0, lambda: "20261126-10:00:00.000",
                               app or (lambda t, d: []))
    c = acc.open()
    assert fix.msg_type(c.receive(fix.encode([("35", "A"), ("49", "C"), ("56", "QENEX"), ("34", "1"),
                                              ("108", "30")]))[0]) == "A"
    return c

def logon(g):
    assert [m.get(35) for m in parse_fix(g.submit("FIX", fixmsg(1, "A", (98, "0"), (108, "30"))))] == [b"A"]


def statuses(doc):
    root = ET.fromstring(doc)
    return (root.find("p:FIToFIPmtStsRpt/p:OrgnlGrpInfAndSts/p:GrpSts", NS).text,
            [(t.find("p:TxSts", NS).text, t.find("p:StsRsnInf/p:Rsn/p:Cd", NS).text
              if t.find("p:StsRsnInf", NS) is not None else None)
             for t in root.findall("p:FIToFIPmtStsRpt/p:TxInfAndSts", NS)])


# --- FIX ---------------------------------------------------------------------------------
def test_a_limit_order_with_price_abc_gets_a_business_reject_naming_tag_44(gw):
    g, L, audit = gw
    logon(g)
    out = parse_fix(g.submit("FIX", fixmsg(2, "D", *[(t, "abc" if t == 44 else v) for t, v in ORDER])))
    assert [m.get(35) for m in out] == [b"j"] and b"tag 44" in out[0].get(58) and out[0].get(45) == b"2"
    out = parse_fix(g.submit("FIX", fixmsg(3, "D", *ORDER)))          # the session goes on
    assert out[0].get(35) == b"8" and out[0].get(150) == b"0"
    assert g.errors == 0


@pytest.mark.parametrize("tag,value", [(38, "0x10"), (38, "1" * 40), (38, "-5"), (40, "9"), (44, "1e3"),
                                       (44, "1" * 5000), (44, "NaN"), (11, "X" * 65), (55, "S" * 17),
                                       (54, "12")])
def test_an_order_field_the_business_cannot_take_gets_a_business_reject(gw, tag, value):
    g, L, audit = gw
    logon(g)
    out = parse_fix(g.submit("FIX", fixmsg(2, "D", *[(t, value if t == tag else v) for t, v in ORDER])))
    assert [m.get(35) for m in out] == [b"j"] and (b"tag %d" % tag) in out[0].get(58), out[0]


def test_a_byte_that_is_not_ascii_gets_a_session_reject_naming_its_tag(gw):
    g, L, audit = gw
    logon(g)
    out = parse_fix(g.submit("FIX", fixmsg(2, "1", (112, "T1"), (58, b"caf\xe9"))))
    assert [(m.get(35), m.get(371), m.get(373), m.get(45)) for m in out] == [(b"3", b"58", b"6", b"2")]
    out = parse_fix(g.submit("FIX", fixmsg(3, "D", *[(t, "caf\u00e9" if t == 11 else v) for t, v in ORDER])))
    assert [(m.get(35), m.get(371)) for m in out] == [(b"3", b"11")]
    out = parse_fix(g.submit("FIX", fixmsg(4, "1", (112, "T2"))))      # both numbers were used up
    assert [(m.get(35), m.get(112)) for m in out] == [(b"0", b"T2")]
    assert g.errors == 0


@pytest.mark.parametrize("field", [(9, None), (10, None), (34, None), (7, "2"), (36, "4")])
def test_unicode_digits_in_numeric_fields_are_refused_not_raised(field):
    tag, mtype = field
    s = fix_conn()
    if tag in (9, 10):
        good = fix.encode([("35", "0"), ("49", "C"), ("56", "QENEX"), ("34", "2")])
        bad = good.replace("\x019=", "\x019=\u00b2", 1) if tag == 9 else good[:-4] + "\u00b2\u00b2\u00b2\x01"
        r = fix.Reader()
        assert r.feed(bad.encode("utf-8")) == [] and r.garbled >= 1
        return
    if tag == 34:
        msg = fix.encode([("35", "0"), ("49", "C"), ("56", "QENEX"), ("34", "2\u00b2")])
    else:
        extra = [("7", "\u00b2"), ("16", "0")] if tag == 7 else [("36", "1\u00b2"), ("123", "Y")]
        msg = fix.encode([("35", mtype), ("49", "C"), ("56", "QENEX"), ("34", "2")] + extra)
    out = [parse_fix(m)[0] for m in s.receive(msg)]
    assert [(m.get(35), m.get(371)) for m in out] == [(b"3", str(tag).encode())]


def test_a_5000_digit_body_length_or_sequence_number_is_garbled_or_rejected():
    r = fix.Reader()
    assert r.feed(b"8=FIX.4.4\x019=" + b"9" * 5000 + b"\x0135=0\x01") == [] and r.garbled >= 1
    out = fix_conn().acc.open().receive(fix.encode([("35", "A"), ("49", "C"), ("56", "QENEX"), ("34", "1" * 5000)]))
    m = parse_fix(out[0])[0]
    assert m.get(35) == b"5" and b"MsgSeqNum (34)" in m.get(58)                  # before a Logon: a Logout
    s = fix_conn()
    m = parse_fix(s.receive(fix.encode([("35", "0"), ("49", "C"), ("56", "QENEX"), ("34", "1" * 5000)]))[0])[0]
    assert (m.get(35), m.get(371)) == (b"3", b"34")


def test_a_defect_in_the_order_handler_refuses_that_message_and_the_session_goes_on(gw):
    g, L, audit = gw
    logon(g)
    real = g.risk.check_order
    g.risk.check_order = lambda *a: 1 // 0
    out = parse_fix(g.submit("FIX", fixmsg(2, "D", *ORDER)))
    assert [(m.get(35), m.get(373)) for m in out] == [(b"3", b"99")] and b"internal error" in out[0].get(58)
    assert g.errors == 1 and "ZeroDivisionError" in g.alarms[0] and any("error FIX" in a for a in audit)
    g.risk.check_order = real
    out = parse_fix(g.submit("FIX", fixmsg(3, "D", *[(t, "O3" if t == 11 else v) for t, v in ORDER])))
    assert out[0].get(35) == b"8" and out[0].get(150) == b"0"


# --- ISO 20022, MT103 and the link -----------------------------------------------------------
@pytest.mark.parametrize("old,new,code", [
    ("<NbOfTxs>1</NbOfTxs>", "<NbOfTxs>\u00b9</NbOfTxs>", "AM18"),
    ("<NbOfTxs>1</NbOfTxs>", "<NbOfTxs>%s</NbOfTxs>" % ("1" * 5000), "AM18"),
    (">1250.50<", ">%s<" % ("9" * 5000), "AM02"),
    (">1250.50<", ">1250.5\u00b2<", "AM02"),
    ("<Id>1</Id>", "<Id>\u00b9</Id>", "AC02"),
    ("<Id>1</Id>", "<Id>%s</Id>" % ("1" * 40), "FF01"),       # Othr/Id is Max34Text: refused as it is read
    ("<Id>1</Id>", "<Id>0</Id>", "AC02"),
    ("<BICFI>QNXBGB2L</BICFI>", "<BICFI>QNXBGB\u00b2L</BICFI>", "RC01"),
])
def test_unicode_digits_and_huge_numbers_in_iso20022_are_rjct(gw, old, new, code):
    g, L, audit = gw
    assert old in ONE
    grp, txs = statuses(g.submit("pacs.008", ONE.replace(old, new, 1).encode()))
    assert grp == "RJCT" and txs[0] == ("RJCT", code), txs
    assert L.accounts[1].debits_posted == 0 and g.errors == 0


def test_character_references_are_ascii_digits_only():
    for ref in ("&#\u00b2;", "&#1_0;", "&#x_41;", "&# 65;", "&#+65;", "&#x4G;"):
        with pytest.raises(xmlmini.XmlError):
            xmlmini.parse("<a>%s</a>" % ref)
    assert xmlmini.parse("<a>&#65;&#x42;&#x" + "0" * 9 + "43;</a>").text == "ABC"     # (leading zeros: XML's CharRef)


def test_mt103_with_unicode_digits_is_an_error_line():
    for old, new in ((":32A:261126", ":32A:2611\u00b26"), ("1250,50", "1250,5\u00b2"), ("USD", "\u00dcSD")):
        assert old in MT
        with pytest.raises(mt103.MtError):
            mt103.parse(MT.replace(old, new, 1))


def test_a_defect_on_one_payment_refuses_it_alone_audited_and_told(gw):
    g, L, audit = gw
    real = g.engine.check
    g.engine.check = lambda p, now: (_ for _ in ()).throw(RuntimeError("boom")) if p.end_to_end_id == "E2E-0002" \
        else real(p, now)
    grp, txs = statuses(g.submit("pacs.008", PACS.encode()))
    assert txs[1] == ("RJCT", "NARR") and g.errors == 1 and "RuntimeError boom" in g.alarms[0]
    assert "error pacs.008 QX-20261126-0001 E2E-0002: RuntimeError boom" in audit[-1]


def test_a_defect_while_parsing_refuses_the_message_whole(gw, monkeypatch):
    g, L, audit = gw
    monkeypatch.setattr(iso20022, "parse", lambda text: [][1])
    grp, txs = statuses(g.submit("pacs.008", ONE.encode()))
    assert (grp, txs) == ("RJCT", [("RJCT", "NARR")]) and g.errors == 1
    monkeypatch.setattr(mt103, "parse", lambda text: {}["x"])
    assert g.submit("MT103", MT.encode()).startswith("MT103 rejected: NARR")


def test_an_unknown_or_undecodable_kind_is_refused(gw):
    g, L, audit = gw
    grp, txs = statuses(g.submit("\udcff", ONE.encode()))
    assert grp == "RJCT" and txs == [("RJCT", "FF01")]
    assert link.KINDS == (b"pacs.008", b"pain.001", b"MT103", b"FIX")


def test_a_submit_frame_whose_kind_is_ff_is_a_link_error():
    from test_gateway_service import connect
    g = service.Gateway(Engine(RULES), Risk(RULES["risk"]), lambda *a: "ok", lambda t: None, RULES["ledgers"],
                        lambda: 0, lambda: None)
    host, server = connect(b"k" * 32, b"k" * 32, g.submit)
    host.login()
    with pytest.raises(ConnectionError, match="unknown message kind"):
        host.control(link.SUBMIT, link.F.fields(b"\xff", b"x"))
    assert "<TxSts>" in host.submit("pacs.008", ONE.encode())        # the link goes on


# --- rules ---------------------------------------------------------------------------------
def bad_rules():
    r = RULES
    yield dict(r, usd_rates={"EUR": 1})
    yield dict(r, usd_rates={"EUR": 1.08})
    yield dict(r, usd_rates={"EUR": "-1.08"})
    yield dict(r, usd_rates={"EUR": "1." + "0" * 60})
    yield dict(r, usd_rates={"XXQ": "1.00"})
    yield dict(r, usd_rates=["EUR"])
    yield dict(r, report_threshold=10000)
    yield dict(r, report_threshold="0.00 USD")
    yield dict(r, structuring=dict(r["structuring"], count=math.inf))
    yield dict(r, structuring=dict(r["structuring"], count=float("nan")))
    yield dict(r, structuring=dict(r["structuring"], count=2.5))
    yield dict(r, structuring=dict(r["structuring"], count="3"))
    yield dict(r, structuring=dict(r["structuring"], count=True))
    yield dict(r, structuring=dict(r["structuring"], window_s=10 ** 5000))
    yield dict(r, structuring=dict(r["structuring"], floor_pct=101))
    yield dict(r, sanctions={"threshold": 0.92, "names": []})
    yield dict(r, sanctions={"threshold": "0.92", "names": [1]})
    yield dict(r, sanctions={"threshold": "0.92", "names": "Ivan"})
    yield dict(r, blocked_countries="KP")
    yield dict(r, blocked_countries=["K"])
    yield dict(r, ledgers={"EUR": "2"})
    yield dict(r, ledgers={"EUR": 0})
    yield dict(r, risk=dict(r["risk"], max_order_qty=1e4))
    yield dict(r, risk=dict(r["risk"], max_order_qty=math.inf))
    yield dict(r, risk=dict(r["risk"], price_band_pct=5))
    yield dict(r, risk=dict(r["risk"], reference_prices={"QNX": 100}))
    yield dict(r, risk=dict(r["risk"], max_notional="1.00"))
    yield [r]
    yield json.loads('{"report_threshold": "1.00 USD", "structuring": {"count": Infinity}}')
    yield json.loads('{"report_threshold": "1.00 USD", "sanctions": {"threshold": NaN}}')


@pytest.mark.parametrize("doc", list(bad_rules()))
def test_a_rules_document_the_engine_cannot_use_is_refused_and_changes_nothing(doc):
    e = Engine(RULES)
    before = (e.version, dict(e.rates), e.threshold, e.structuring, list(e.sanctions), e.score_min, e.ledgers)
    with pytest.raises(RulesError):
        e.load(doc)
    assert (e.version, dict(e.rates), e.threshold, e.structuring, list(e.sanctions), e.score_min,
            e.ledgers) == before


def test_every_rules_document_it_takes_it_can_use():
    """What load() accepts, check() and the risk limits run with: the sample, and the
    sample with each number at the ends of its range."""
    from userland.gateway.payment import Payment
    from userland.lib.money import Money
    st = RULES["structuring"]
    for doc in (RULES, dict(RULES, structuring=dict(st, count=1, window_s=1, floor_pct=0)),
                dict(RULES, structuring=dict(st, count=50, floor_pct=100), usd_rates={"EUR": "0.000001"})):
        e = Engine(doc)
        r = Risk(doc["risk"])
        for amount in ("0.01 EUR", "9999999.99 EUR", "170141183460469231731687303715884105.72 USD", "1 JPY"):
            p = Payment("pacs.008", "M", "E", Money.parse(amount), "SHAR", "A", "QNXBUS33", "B", "QNXBGB2L", "1")
            e.check(p, 0)
            r.check_payment(p)


def test_json_on_the_board_refuses_infinity_and_nan():
    """MicroPython's json has no Infinity or NaN (a syntax error, ValueError); CPython's
    makes floats of them, which parse_rules refuses where a number is due (above). Both
    end as a refusal: the gateway's reload catches ValueError."""
    src = open(os.path.join(ROOT, "build", "deps", "micropython-1.25.0", "extmod", "modjson.c")).read()
    assert "Infinity" not in src and "NaN" not in src
    assert issubclass(RulesError, ValueError) and issubclass(engine_mod.risk_limits.RiskError, ValueError)


def test_an_audit_write_that_fails_is_told_and_the_answer_stands():
    alarms = []

    def audit(text):
        raise OSError("storage gone")
    g = service.Gateway(Engine(RULES), Risk(RULES["risk"]), lambda *a: "ok", audit, RULES["ledgers"],
                        lambda: 0, lambda: None, alarm=alarms.append)
    assert statuses(g.submit("pacs.008", ONE.encode())) == ("ACSC", [("ACSC", None)])
    assert g.errors == 1 and "audit entry not written: OSError storage gone" in alarms[0]


@pytest.mark.parametrize("old,new", [
    ("<MsgId>QX-20261126-0001</MsgId>", "<MsgId>%s</MsgId>" % ("M" * 36)),
    ("<EndToEndId>E2E-0001</EndToEndId>", "<EndToEndId>%s</EndToEndId>" % ("E" * 36)),
    ("<MsgId>QX-20261126-0001</MsgId>", "<MsgId>%s</MsgId>" % ('"' * 1200)),
])
def test_identifiers_longer_than_max35text_are_rjct_and_the_answer_fits_the_link(gw, old, new):
    """ISO 20022 identifiers are Max35Text: a longer one is refused (FF01),
    and what the answer echoes stays within the host link's frame (a MsgId
    of 1,200 quotes, each echoed as &quot;, had overflowed it)."""
    g, L, audit = gw
    assert old in ONE
    out = g.submit("pacs.008", ONE.replace(old, new, 1).encode())
    grp, txs = statuses(out)
    assert grp == "RJCT" and txs[0] == ("RJCT", "FF01"), txs
    assert len(out.encode()) <= service.MAX_ANSWER and L.accounts[1].debits_posted == 0


def test_every_stamp_is_utc_in_its_format_s_syntax_and_a_marker_while_the_clock_is_unset():
    now = [1795687200123]                               # 2026-11-26T10:00:00.123Z
    g = service.Gateway(Engine(RULES), Risk(RULES["risk"]), lambda *a: "ok", lambda t: None, RULES["ledgers"],
                        lambda: 0, lambda: now[0], ticks=lambda: 4242)
    a = parse_fix(g.submit("FIX", fixmsg(1, "A", (98, "0"), (108, "30"))))[0]
    assert a.get(52) == b"20261126-10:00:00.123"        # FIX UTCTimestamp
    doc = ET.fromstring(g.submit("pacs.008", ONE.encode()))
    assert doc.find(".//p:GrpHdr/p:CreDtTm", NS).text == "2026-11-26T10:00:00.123Z"   # ISODateTime, UTC
    out = parse_fix(g.submit("FIX", fixmsg(2, "D", *ORDER)))
    assert out[0].get(60) == b"20261126-10:00:00.123"   # TransactTime, UTC
    now[0] = None                                       # a board whose clock nobody set
    g = service.Gateway(Engine(RULES), Risk(RULES["risk"]), lambda *a: "ok", lambda t: None, RULES["ledgers"],
                        lambda: 0, lambda: now[0], ticks=lambda: 4242)
    said = []
    g.alarm = said.append
    assert g.submit("FIX", fixmsg(1, "A", (98, "0"), (108, "30"))) == ""         # no Logon without a date
    assert said == ["FIX Logon from HOST refused: the board's clock is not set"]
    doc = ET.fromstring(g.submit("pacs.008", ONE.encode()))
    assert doc.find(".//p:GrpHdr/p:CreDtTm", NS).text == "T+4242ms"
