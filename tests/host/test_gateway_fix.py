"""FIX 4.4 (userland/gateway/fix.py) against simplefix (PyPI) as the
counterparty's codec: framing both ways, garbled messages ignored, and a
session: logon, orders and execution reports, a tag missing, a business
reject, a sequence gap recovered by ResendRequest, a test request,
logout."""
from hypothesis import given, settings, strategies as st

from tests.fix_messages import fixmsg, parse_fix
from userland.gateway import fix

SOH = b"\x01"


def client_msg(seq, mtype, *pairs, poss_dup=False):
    return fixmsg(seq, mtype, *pairs, sender="CLIENT", sent="20261126-09:30:00.000", poss_dup=poss_dup)


def check_frame(raw):
    """BodyLength and CheckSum as the standard defines them."""
    raw = raw.encode("latin-1")
    head_end = raw.index(SOH, raw.index(b"9=")) + 1
    trailer = raw.rindex(b"10=")
    assert int(raw[raw.index(b"9=") + 2:head_end - 1]) == trailer - head_end
    assert int(raw[trailer + 3:trailer + 6]) == sum(raw[:trailer]) % 256


def test_our_framing_is_what_simplefix_reads_and_the_reverse():
    ours = fix.encode([("35", "0"), ("49", "A"), ("56", "B"), ("34", "7"), ("112", "x=y")])
    check_frame(ours)
    (m,) = parse_fix(ours.encode("latin-1"))
    assert m.get(35) == b"0" and m.get(112) == b"x=y"
    theirs = client_msg(3, "D", (11, "ORD1"), (55, "QNX"))
    r = fix.Reader()
    (got,) = r.feed(theirs)
    assert dict(fix.decode(got))["11"] == "ORD1"


def test_a_bad_length_or_checksum_is_ignored_and_the_next_message_gets_through():
    good = client_msg(1, "0")
    bad_sum = good[:-4] + (b"%03d" % ((int(good[-4:-1]) + 1) % 256)) + SOH
    bad_len = good.replace(b"9=", b"9=1", 1)
    r = fix.Reader()
    assert r.feed(bad_sum + bad_len + b"junk" + good) == [good.decode("latin-1")]
    assert r.garbled >= 2


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_the_reader_never_crashes_on_noise(junk):
    r = fix.Reader()
    for m in r.feed(junk):
        check_frame(m)
    good = client_msg(5, "0")
    assert good.decode("latin-1") in r.feed(good) + r.feed(client_msg(6, "0"))


def gateway():
    import json
    import os
    from userland.compliance.engine import Engine
    from userland.compliance.risk import Risk
    from userland.gateway import service
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    rules = json.load(open(os.path.join(root, "userland", "compliance", "rules.json")))
    return service.Gateway(Engine(rules), Risk(rules["risk"]), lambda *a: "ok", lambda t: None, rules["ledgers"],
                           lambda: 0, lambda: 1795687200000)


def run(g, *msgs):
    out = g.submit("FIX", b"".join(msgs))
    msgs = parse_fix(out)
    for m in msgs:
        check_frame(m.encode().decode("latin-1"))
    return msgs


def host(seq, mtype, *pairs, poss_dup=False):
    return fixmsg(seq, mtype, *pairs, sent="20261126-09:30:00.000", poss_dup=poss_dup)


ORDER = [(11, "ORD1"), (55, "QNX"), (54, "1"), (38, "100"), (40, "2"), (44, "100.50"), (60, "20261126-09:30:00")]


def test_an_order_s_life_through_the_gateway_new_replace_status_cancel():
    """NewOrderSingle, OrderCancelReplaceRequest (35=G), OrderStatusRequest
    (35=H) and OrderCancelRequest through the gateway's order book: OrderID
    kept across the replace, every ExecID different, TransactTime in UTC."""
    g = gateway()
    out = run(g, host(1, "A", (98, "0"), (108, "30")), host(2, "D", *ORDER))
    assert [m.get(35) for m in out] == [b"A", b"8"]
    new = out[1]
    assert (new.get(150), new.get(39), new.get(11), new.get(151)) == (b"0", b"0", b"ORD1", b"100")
    assert new.get(60) == b"20261126-10:00:00.000"
    rep = run(g, host(3, "G", (41, "ORD1"), (11, "ORD1b"), (55, "QNX"), (54, "1"), (38, "200"), (40, "2"),
                      (44, "101.00"), (60, "x")))[0]
    assert (rep.get(35), rep.get(150), rep.get(39), rep.get(41), rep.get(11), rep.get(38)) == \
        (b"8", b"5", b"0", b"ORD1", b"ORD1b", b"200")
    assert rep.get(37) == new.get(37) and rep.get(17) != new.get(17)
    st = run(g, host(4, "H", (11, "ORD1b"), (55, "QNX"), (54, "1"), (790, "S1")))[0]
    assert (st.get(150), st.get(39), st.get(37), st.get(790), st.get(38)) == (b"I", b"0", new.get(37), b"S1", b"200")
    gone = run(g, host(5, "H", (11, "ORD1"), (55, "QNX"), (54, "1")))[0]       # the old ClOrdID is no order now
    assert (gone.get(150), gone.get(39)) == (b"I", b"8")
    bad = run(g, host(6, "G", (41, "NOPE"), (11, "X2"), (55, "QNX"), (54, "1"), (38, "1"), (40, "1"), (60, "x")))[0]
    assert (bad.get(35), bad.get(434), bad.get(102)) == (b"9", b"2", b"1")
    far = run(g, host(7, "G", (41, "ORD1b"), (11, "X3"), (55, "QNX"), (54, "1"), (38, "1"), (40, "2"),
                      (44, "150.00"), (60, "x")))[0]                               # outside the price band
    assert far.get(35) == b"9" and b"R-RISK-BAND" in far.get(58) and "ORD1b" in g.orders
    cxl = run(g, host(8, "F", (41, "ORD1b"), (11, "C1"), (55, "QNX"), (54, "1"), (60, "x")))[0]
    assert (cxl.get(150), cxl.get(39), cxl.get(37)) == (b"4", b"4", new.get(37))
    ids = [m.get(17) for m in (new, rep, st, gone, cxl)]
    assert len(set(ids)) == len(ids)
    nxt = run(g, host(9, "D", *[(t, "ORD2" if t == 11 else v) for t, v in ORDER]))[0]
    assert nxt.get(37) != new.get(37)                                          # a new order, a new OrderID
    assert run(g, host(10, "5"))[0].get(35) == b"5"
