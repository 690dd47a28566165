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


def orders():
    book = {}

    def on_order(d):
        if d["55"] == "BAD":
            raise fix.BusinessReject("55", "2", "unknown security BAD")
        book[d["11"]] = d
        return [("8", [("37", "Q" + d["11"]), ("11", d["11"]), ("17", "X" + d["11"]), ("150", "0"), ("39", "0"),
                       ("55", d["55"]), ("54", d["54"]), ("38", d["38"]), ("151", d["38"]), ("14", "0"),
                       ("6", "0")])]

    def on_cancel(d):
        if d["41"] not in book:
            return [("9", [("37", "NONE"), ("11", d["11"]), ("41", d["41"]), ("39", "8"), ("434", "1"),
                           ("102", "1")])]
        o = book.pop(d["41"])
        return [("8", [("37", "Q" + o["11"]), ("11", d["11"]), ("41", d["41"]), ("17", "C" + d["11"]),
                       ("150", "4"), ("39", "4"), ("55", o["55"]), ("54", o["54"]), ("151", "0"), ("14", "0"),
                       ("6", "0")])]
    return on_order, on_cancel


def run(session, *msgs):
    out = []
    r = fix.Reader()
    for m in msgs:
        for got in r.feed(m):
            out += session.receive(got)
    for m in out:
        check_frame(m)
    return [parse_fix(m.encode("latin-1"))[0] for m in out]


def test_a_whole_session_against_the_simplefix_counterparty():
    on_order, on_cancel = orders()
    s = fix.Session("QENEX", lambda: "20261126-09:30:01.000", on_order, on_cancel)
    order = [(11, "ORD1"), (55, "QNX"), (54, "1"), (38, "100"), (40, "2"), (44, "10.5"),
             (60, "20261126-09:30:00")]
    out = run(s, client_msg(1, "A", (98, "0"), (108, "30")), client_msg(2, "D", *order))
    assert [m.get(35) for m in out] == [b"A", b"8"]
    assert (out[1].get(150), out[1].get(11), out[1].get(56)) == (b"0", b"ORD1", b"CLIENT")
    # a required tag missing: a session Reject naming it
    out = run(s, client_msg(3, "D", (11, "ORD2"), (55, "QNX"), (54, "1"), (40, "1"), (60, "x")))
    assert [(m.get(35), m.get(371), m.get(373)) for m in out] == [(b"3", b"38", b"1")]
    # the business refuses a field: BusinessMessageReject with the tag
    out = run(s, client_msg(4, "D", (11, "ORD3"), (55, "BAD"), (54, "1"), (38, "1"), (40, "1"), (60, "x")))
    assert out[0].get(35) == b"j" and b"tag 55" in out[0].get(58) and out[0].get(380) == b"2"
    # a gap: 6 arrives before 5 -> ResendRequest for 5; 5 resent; both applied in order
    out = run(s, client_msg(6, "F", (41, "ORD1"), (11, "CXL1"), (55, "QNX"), (54, "1"), (60, "x")))
    assert [(m.get(35), m.get(7)) for m in out] == [(b"2", b"5")]
    out = run(s, client_msg(5, "1", (112, "PING")))
    assert [m.get(35) for m in out] == [b"0", b"8"] and out[0].get(112) == b"PING" and out[1].get(150) == b"4"
    # a duplicate resent with PossDupFlag is dropped silently
    assert run(s, client_msg(5, "1", (112, "PING"), poss_dup=True)) == []
    # their ResendRequest: a SequenceReset-GapFill
    out = run(s, client_msg(7, "2", (7, "1"), (16, "0")))
    assert out[0].get(35) == b"4" and out[0].get(123) == b"Y" and int(out[0].get(36)) == s.out_seq + 1
    # cancel of an unknown order
    out = run(s, client_msg(8, "F", (41, "NOPE"), (11, "CXL2"), (55, "QNX"), (54, "1"), (60, "x")))
    assert out[0].get(35) == b"9"
    out = run(s, client_msg(9, "5"))
    assert [m.get(35) for m in out] == [b"5"] and not s.logged_on


def test_a_message_before_logon_or_with_a_low_sequence_ends_the_session():
    s = fix.Session("QENEX", lambda: "t", *orders())
    assert [m.get(35) for m in run(s, client_msg(1, "D"))] == [b"5"]
    s = fix.Session("QENEX", lambda: "t", *orders())
    run(s, client_msg(1, "A", (98, "0"), (108, "30")), client_msg(2, "0"))
    out = run(s, client_msg(2, "0"))
    assert out[0].get(35) == b"5" and b"too low" in out[0].get(58)
