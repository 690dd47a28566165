"""The FIX 4.4 session layer (userland/gateway/fix_session.py): the table,
Logon checks, ResetSeqNumFlag, sequence numbers, gaps, resends with the
real messages, heartbeats and test requests, one session per
counterparty, resumption from the store. The counterparty's messages are
made with the project's framing and read back with simplefix; the whole
scripted session runs under MicroPython too and must give the same bytes.
tests/host/test_fix_quickfix.py runs QuickFIX against it over TCP."""
import re

import pytest

from tests.host import fix_world as FW, upy
from tests.fix_messages import parse_fix
from userland.gateway import fix_session as S

UTC = re.compile(rb"\d{8}-\d\d:\d\d:\d\d\.\d{3}")


def one(out):
    assert len(out) == 1, out
    return parse_fix(out[0])[0]


def test_a_logon_is_answered_with_a_logon_in_utc():
    w = FW.World()
    c = w.acc.open()
    m = one(c.receive(FW.logon(1)))
    assert (m.get(35), m.get(49), m.get(56), m.get(34), m.get(98), m.get(108)) == \
        (b"A", b"QENEX", b"HOST", b"1", b"0", b"30")
    assert UTC.fullmatch(m.get(52)) and m.get(52) == b"20261126-10:00:00.000"
    assert not c.closed and c.session.next_in == 2


@pytest.mark.parametrize("logon,says", [
    (FW.logon(1, target="NOTUS"), b"TargetCompID must be QENEX"),
    (FW.logon(1, sender="STRANGER"), b"no session for SenderCompID STRANGER"),
    (FW.logon(1, hb="10"), b"HeartBtInt (108) must be 30 for HOST"),
    (FW.order(1, "X"), b"the first message must be a Logon"),
    (FW.logon(2, reset=True), b"ResetSeqNumFlag (141=Y) has MsgSeqNum 1"),
])
def test_a_wrong_logon_gets_a_logout_saying_why_and_the_connection_closes(logon, says):
    w = FW.World()
    c = w.acc.open()
    m = one(c.receive(logon))
    assert m.get(35) == b"5" and says in m.get(58), m.get(58)
    assert c.closed and c.receive(FW.logon(1)) == []
    assert w.acc.sessions["HOST"].conn is None


def test_no_logon_while_the_clock_is_unset():
    w = FW.World(clock_set=False)
    c = w.acc.open()
    assert c.receive(FW.logon(1)) == [] and c.closed            # no SendingTime without a date: no answer
    assert c.refused == "Logon from HOST refused: the board's clock is not set"
    assert w.acc.sessions["HOST"].next_out == 1


def test_a_resend_request_above_a_gap_is_answered_at_once_and_once():
    w = FW.World()
    c = w.acc.open()
    c.receive(FW.logon(1))
    c.receive(FW.order(2, "A1"))
    out = [parse_fix(m)[0] for m in c.receive(FW.msg(5, "2", [("7", "1"), ("16", "0")]))]
    assert [m.get(35) for m in out] == [b"4", b"8", b"2"]           # our resend, then our ResendRequest
    out = c.receive(FW.msg(3, "4", [("123", "Y"), ("36", "5")], poss_dup=True, orig="x"))
    assert out == [] and c.session.next_in == 6                     # 5 applied from the queue, not answered twice


def test_one_session_per_counterparty_and_each_counterparty_its_own():
    w = FW.World()
    a = w.acc.open()
    a.receive(FW.logon(1))
    b = w.acc.open()
    m = one(b.receive(FW.logon(2)))
    assert m.get(35) == b"5" and b"already logged on" in m.get(58) and b.closed and not a.closed
    o = w.acc.open()
    m = one(o.receive(FW.logon(1, hb="10", sender="OTHER")))
    assert (m.get(35), m.get(56), m.get(34)) == (b"A", b"OTHER", b"1")


def test_a_message_from_another_compid_after_logon_is_rejected_and_ends_the_session():
    w = FW.World()
    c = w.acc.open()
    c.receive(FW.logon(1))
    out = [parse_fix(m)[0] for m in c.receive(FW.msg(2, "0", sender="OTHER"))]
    assert [m.get(35) for m in out] == [b"3", b"5"] and out[0].get(373) == b"9" and c.closed


def test_reconnect_resumes_the_numbers_and_gets_a_logon_answer():
    w = FW.World()
    c = w.acc.open()
    c.receive(FW.logon(1))
    c.receive(FW.order(2, "A1"))
    c.drop()
    c2 = w.acc.open()
    m = one(c2.receive(FW.logon(3)))
    assert (m.get(35), m.get(34)) == (b"A", b"3")            # ours: Logon 1, ExecutionReport 2, Logon 3
    c2.drop()
    c3 = w.acc.open()
    m = one(c3.receive(FW.logon(2)))
    assert m.get(35) == b"5" and m.get(58) == b"MsgSeqNum too low, expecting 4 but received 2"


def test_reset_seq_num_flag_starts_both_sides_at_one():
    w = FW.World()
    c = w.acc.open()
    c.receive(FW.logon(1))
    for i in range(2, 6):
        c.receive(FW.order(i, "A%d" % i))
    c.drop()
    c2 = w.acc.open()
    m = one(c2.receive(FW.logon(1, reset=True)))
    assert (m.get(35), m.get(34), m.get(141)) == (b"A", b"1", b"Y")
    m = one(c2.receive(FW.order(2, "B1")))
    assert (m.get(35), m.get(34)) == (b"8", b"2")
    assert w.store.kept("HOST", 3) is None                     # the old session's messages are gone


def test_a_gap_is_asked_for_once_and_filled_in_order():
    w = FW.World()
    c = w.acc.open()
    c.receive(FW.logon(1))
    m = one(c.receive(FW.order(4, "A4")))
    assert (m.get(35), m.get(7), m.get(16)) == (b"2", b"2", b"0")
    assert c.receive(FW.order(5, "A5")) == []                   # asked already
    c.receive(FW.order(2, "A2"))
    out = [parse_fix(m)[0] for m in c.receive(FW.order(3, "A3"))]
    assert [m.get(11) for m in out] == [b"A3", b"A4", b"A5"] and c.session.next_in == 6


def test_a_logon_above_the_expected_number_is_answered_then_resent_for():
    w = FW.World()
    c = w.acc.open()
    c.receive(FW.logon(1))
    c.drop()
    out = [parse_fix(m)[0] for m in w.acc.open().receive(FW.logon(5))]
    assert [m.get(35) for m in out] == [b"A", b"2"] and out[1].get(7) == b"2"


def test_a_resend_request_gets_the_real_messages_and_gap_fills_for_session_ones():
    w = FW.World()
    c = w.acc.open()
    c.receive(FW.logon(1))                                       # ours 1: Logon
    c.receive(FW.order(2, "A1"))                                 # ours 2: ExecutionReport
    w.now[0] += 30000
    c.tick()                                                     # ours 3: Heartbeat
    c.receive(FW.order(3, "A2"))                                 # ours 4: ExecutionReport
    w.now[0] += 1000
    out = [parse_fix(m)[0] for m in c.receive(FW.msg(4, "2", [("7", "1"), ("16", "0")]))]
    assert [(m.get(35), m.get(34)) for m in out] == [(b"4", b"1"), (b"8", b"2"), (b"4", b"3"), (b"8", b"4")]
    assert (out[0].get(123), out[0].get(36), out[0].get(43)) == (b"Y", b"2", b"Y")
    assert (out[1].get(43), out[1].get(11), out[1].get(122)) == (b"Y", b"A1", b"20261126-10:00:00.000")
    assert out[1].get(52) == b"20261126-10:00:31.000"            # sent again now, first sent at 10:00:00
    assert c.session.next_out == 5                               # a resend uses no new numbers


def test_heartbeats_test_requests_and_a_silent_peer_logged_out():
    w = FW.World()
    c = w.acc.open()
    c.receive(FW.logon(1))
    w.now[0] += 29999
    assert c.tick() == []
    w.now[0] += 1
    assert one(c.tick()).get(35) == b"0"
    w.now[0] += 6000                                             # 36 s without a message from them
    m = one(c.tick())
    assert (m.get(35), m.get(112)) == (b"1", b"T1")
    m = one(c.receive(FW.msg(2, "1", [("112", "PING")])))
    assert (m.get(35), m.get(112)) == (b"0", b"PING")
    w.now[0] += 36000
    assert one(c.tick()).get(35) == b"1"
    w.now[0] += 29999
    assert c.tick() == [] and 0 < c.due_ms() <= 1
    w.now[0] += 1
    m = one(c.tick())
    assert m.get(35) == b"5" and b"no Heartbeat answered our TestRequest" in m.get(58) and c.closed


def test_a_connection_without_logon_is_closed():
    w = FW.World()
    c = w.acc.open()
    w.now[0] += S.LOGON_WAIT_MS
    assert c.tick() == [] and c.closed


def test_sequence_reset_gap_fill_and_reset_and_a_move_back_refused():
    w = FW.World()
    c = w.acc.open()
    c.receive(FW.logon(1))
    assert c.receive(FW.msg(2, "4", [("123", "Y"), ("36", "7")], poss_dup=True, orig="x")) == []
    assert c.session.next_in == 7
    m = one(c.receive(FW.msg(7, "4", [("123", "Y"), ("36", "5")])))
    assert (m.get(35), m.get(373)) == (b"3", b"5")
    assert c.receive(FW.msg(99, "4", [("36", "20")])) == [] and c.session.next_in == 20


def test_possdup_needs_orig_sending_time_and_an_old_possdup_is_ignored():
    w = FW.World()
    c = w.acc.open()
    c.receive(FW.logon(1))
    c.receive(FW.order(2, "A1"))
    assert c.receive(FW.order(2, "A1", poss_dup=True, orig="20261126-09:59:59.000")) == []
    m = one(c.receive(FW.order(3, "A2", poss_dup=True)))
    assert (m.get(35), m.get(371), m.get(373)) == (b"3", b"122", b"1")


def test_business_rejects_and_required_tags():
    w = FW.World()
    c = w.acc.open()
    c.receive(FW.logon(1))
    m = one(c.receive(FW.order(2, "A1", "BAD")))
    assert (m.get(35), m.get(380), m.get(379)) == (b"j", b"2", b"A1")
    m = one(c.receive(FW.msg(3, "D", [("11", "X")])))
    assert (m.get(35), m.get(371), m.get(373)) == (b"3", b"55", b"1")
    m = one(c.receive(FW.msg(4, "Z")))
    assert (m.get(35), m.get(380)) == (b"j", b"3")


@pytest.mark.parametrize("doc,says", [
    ({"our_id": "QENEX", "sessions": []}, "at least one"),
    ({"our_id": "QE=NEX", "sessions": [{"counterparty": "A", "heartbeat_s": 30}]}, "our_id"),
    ({"our_id": "QENEX", "sessions": [{"counterparty": "A", "heartbeat_s": 0}]}, "1..3600"),
    ({"our_id": "QENEX", "sessions": [{"counterparty": "A", "heartbeat_s": 30}] * 2}, "twice"),
    ({"our_id": "QENEX", "sessions": [{"counterparty": "A"}]}, "must be {"),
])
def test_a_bad_session_table_is_refused(doc, says):
    with pytest.raises(S.TableError) as e:
        S.parse_table(doc)
    assert says in str(e.value)


def test_the_scripted_session_gives_the_same_bytes_on_micropython():
    import json
    want = FW.script()
    got = json.loads(upy.run("import json\nfrom tests.host import fix_world\nprint(json.dumps(fix_world.script()))\n"))
    assert got == json.loads(json.dumps(want))
    steps = dict((name, msgs) for name, msgs in want)
    assert steps["reconnect"][0].startswith("8=FIX.4.4|9=*".replace("*", steps["reconnect"][0].split("|")[1][2:]))
    assert any("|35=1|" in m for m in steps["test request"])
    assert [m.split("|")[2] for m in steps["resend 1..0"]][:2] == ["35=4", "35=8"]
