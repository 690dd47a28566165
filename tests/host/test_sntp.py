"""userland/lib/sntp.py: NTP timestamps in integer ms, the answer's checks,
the offset and delay, the poll schedule -- under CPython and MicroPython,
and against a real NTP server (Debian's chronyd on 127.0.0.1)."""
import inspect
import json
import random
import socket
import time

import pytest

from tests.host import upy
from tools.ntpserver import NtpServer
from userland.lib import sntp

ERA1_START_MS = 2085978496000           # 2036-02-07T06:28:16Z: NTP seconds wrap to 0
Y2026_12_02 = 1796169600000             # 2026-12-02T00:00:00Z


def _ts(ms):
    s, f = sntp.from_ms(ms)
    return s.to_bytes(4, "big") + f.to_bytes(4, "big")


def reply(nonce, t2, t3, li=0, vn=4, mode=4, stratum=2, refid=b"GPS\0"):
    """A server's answer to request(nonce), received at UTC ms t2, sent at t3."""
    p = bytearray(48)
    p[0] = (li << 6) | (vn << 3) | mode
    p[1] = stratum
    p[12:16] = refid
    p[16:24] = _ts(t2)
    p[24:32] = nonce.to_bytes(8, "big")
    p[32:40] = _ts(t2)
    p[40:48] = _ts(t3)
    return bytes(p)


def test_timestamps_round_trip_across_the_era_boundary():
    for ms in (0, Y2026_12_02, Y2026_12_02 + 999, ERA1_START_MS - 1, ERA1_START_MS, ERA1_START_MS + 1234,
               4102444800000):       # 2100-01-01
        s, f = sntp.from_ms(ms)
        assert 0 <= s < 1 << 32 and 0 <= f < 1 << 32
        assert sntp.to_ms(s, f) == ms, ms
    assert sntp.from_ms(ERA1_START_MS) == (0, 0)
    assert sntp.to_ms(0xFFFFFFFF, 0xFFFFFFFF) == ERA1_START_MS - 1
    # 2026-12-02 in NTP seconds since 1900
    assert sntp.from_ms(Y2026_12_02)[0] == 1796169600 + 2208988800


def test_request_carries_the_nonce_and_client_mode():
    p = sntp.request(0x0123456789ABCDEF)
    assert len(p) == 48 and p[0] == 0x23 and p[40:48] == bytes.fromhex("0123456789abcdef")
    assert p[1:40] == bytes(39)
    with pytest.raises(ValueError):
        sntp.request(1 << 64)
    with pytest.raises(ValueError):
        sntp.request(-1)


def test_offset_and_delay_from_the_four_timestamps():
    # board ms 5,000 at send, 5,040 at receipt; the server took 10 ms and
    # its clock is UTC 2026-12-02T00:00:00.015Z when the request arrived
    t1, t4 = 5000, 5040
    t2, t3 = Y2026_12_02 + 15, Y2026_12_02 + 25
    offset, delay, stratum = sntp.answer(reply(77, t2, t3), 77, t1, t4)
    assert delay == 30 and stratum == 2
    # midpoint on each side: board 5,020 <-> UTC ...020
    assert offset == Y2026_12_02 + 20 - 5020


@pytest.mark.parametrize("packet, why", [
    (bytes(47), "at least 48"),
    (reply(5, Y2026_12_02, Y2026_12_02, mode=3), "mode 3"),
    (reply(5, Y2026_12_02, Y2026_12_02, stratum=0, refid=b"RATE"), "kiss-o'-death b'RATE'"),
    (reply(5, Y2026_12_02, Y2026_12_02, stratum=16), "stratum 16"),
    (reply(5, Y2026_12_02, Y2026_12_02, li=3), "leap indicator 3"),
    (reply(6, Y2026_12_02, Y2026_12_02), "not to our request"),
    (reply(5, Y2026_12_02, Y2026_12_02, vn=0), "version 0"),
    (reply(5, Y2026_12_02 + 5, Y2026_12_02), "before it received"),
])
def test_answers_not_to_set_a_clock_by_are_refused(packet, why):
    with pytest.raises(sntp.SntpError, match=why.replace("(", r"\(")):
        sntp.answer(packet, 5, 100, 120)


def test_zero_transmit_timestamp_and_time_running_backwards_are_refused():
    p = bytearray(reply(5, Y2026_12_02, Y2026_12_02))
    p[40:48] = bytes(8)
    with pytest.raises(sntp.SntpError, match="transmit timestamp is zero"):
        sntp.answer(bytes(p), 5, 100, 120)
    with pytest.raises(sntp.SntpError, match="received before it was sent"):
        sntp.answer(reply(5, Y2026_12_02, Y2026_12_02), 5, 120, 100)


def test_poller_backs_off_while_unanswered_and_settles_once_answered():
    p = sntp.Poller(interval_ms=64000, retry_ms=2000, timeout_ms=1000)
    assert p.due(0)
    p.sent(0, 1)
    assert not p.due(0) and not p.expired(999)
    assert p.expired(1000) and p.failures == 1 and p.next_at == 3000
    assert not p.due(2999) and p.due(3000)
    p.sent(3000, 2)
    p.failed(3100, "refused")
    assert p.next_at == 3100 + 4000 and p.last_error == "refused"
    for _ in range(10):
        p.failed(p.next_at, "x")
    assert p.backoff == 64000
    p.sent(p.next_at, 3)
    p.took(500000)
    assert p.next_at == 564000 and p.backoff == 2000 and p.last_error is None and p.answers == 1


def _run_calls(m, calls):
    """[[ok, result or (error, text)], ...]: packets (bytes) pass as lists."""
    out = []
    for name, args in calls:
        args = [bytes(a) if isinstance(a, list) else a for a in args]
        try:
            r = getattr(m, name)(*args)
            out.append([True, list(r) if isinstance(r, (tuple, bytes)) else r])
        except Exception as e:
            out.append([False, [type(e).__name__, str(e)]])
    return out


def test_micropython_computes_what_cpython_does():
    calls = [["to_ms", [s, f]] for s, f in ((0, 0), (0xFFFFFFFF, 0xFFFFFFFF), (3987158400, 1 << 31))]
    calls += [["from_ms", [ms]] for ms in (0, Y2026_12_02 + 1, ERA1_START_MS + 999)]
    calls += [["request", [n]] for n in (0, (1 << 64) - 1, 1 << 64)]
    rnd = random.Random(4330)
    for _ in range(20):
        t2 = Y2026_12_02 + rnd.randrange(10 ** 9)
        t1 = rnd.randrange(10 ** 7)
        calls.append(["answer", [list(reply(9, t2, t2 + rnd.randrange(50))), 9, t1, t1 + rnd.randrange(200)]])
    calls.append(["answer", [list(reply(9, Y2026_12_02, Y2026_12_02, stratum=0)), 9, 0, 1]])
    calls.append(["answer", [list(reply(8, Y2026_12_02, Y2026_12_02)), 9, 0, 1]])
    src = inspect.getsource(_run_calls)
    mpy = upy.run("import json\nfrom userland.lib import sntp\n%s\n"
                  "print(json.dumps(_run_calls(sntp, json.loads(sys.stdin.read()))))" % src, stdin=json.dumps(calls))
    assert json.loads(mpy) == _run_calls(sntp, calls)


def _exchange(port, now_ms):
    """One SNTP exchange with 127.0.0.1:port from CPython, board ms = now_ms()."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    try:
        nonce = random.getrandbits(64)
        t1 = now_ms()
        s.sendto(sntp.request(nonce), ("127.0.0.1", port))
        data, _ = s.recvfrom(512)
        return sntp.answer(data, nonce, t1, now_ms())
    finally:
        s.close()


def test_real_chronyd_gives_the_hosts_time():
    with NtpServer() as ntp:
        # The board's ms clock stands in as the host's monotonic clock; the
        # offset then is UTC minus it, which time.time() tells independently.
        offset, delay, stratum = _exchange(ntp.port, lambda: time.monotonic_ns() // 1000000)
        utc_now = time.time_ns() // 1000000
        assert abs(time.monotonic_ns() // 1000000 + offset - utc_now) < 50
        assert 0 <= delay < 200 and stratum >= 1
        # the same exchange, computed by MicroPython (its socket module, its ints)
        out = upy.run("""
import socket, time, random
from userland.lib import sntp
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
addr = socket.getaddrinfo("127.0.0.1", %d)[0][-1]
nonce = 0x5151515151515151
t1 = time.time_ns() // 1000000
s.sendto(sntp.request(nonce), addr)
data = s.recv(512)
print(sntp.answer(data, nonce, t1, time.time_ns() // 1000000)[0])
""" % ntp.port, timeout=30)
        # board ms here are UTC ms already (time.time_ns): the offset is ~0
        assert abs(int(out.strip())) < 50


SLIRP_HOST = 0x0A000202     # 10.0.2.2: the host, as the board sees it under QEMU's user network


class RelayStack:
    """The UDP half of the `_net` interface (drivers/net/STACK.md) over the
    host's sockets, the way QEMU's user network carries the board's UDP:
    10.0.2.2 is 127.0.0.1."""

    def __init__(self):
        self.socks = {}

    def udp_open(self, port):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", port))
        s.setblocking(False)
        uid = len(self.socks) + 7
        self.socks[uid] = s
        return uid

    def udp_sendto(self, uid, ip, port, data):
        assert ip == SLIRP_HOST
        return self.socks[uid].sendto(data, ("127.0.0.1", port))

    def events(self):
        out = []
        for uid, s in self.socks.items():
            try:
                data, (host, port) = s.recvfrom(2048)
            except BlockingIOError:
                continue
            out.append(("udp", uid, SLIRP_HOST if host == "127.0.0.1" else 0, port, data))
        return out

    def close(self):
        for s in self.socks.values():
            s.close()


def test_the_client_sets_the_clock_from_chronyd_through_the_stack_interface():
    set_to = []
    stack = RelayStack()
    board_ms = lambda: time.monotonic_ns() // 1000000            # noqa: E731 -- the board's ms clock
    try:
        with NtpServer() as ntp:
            c = sntp.Client(stack, SLIRP_HOST, ntp.port, set_to.append, lambda: random.getrandbits(64),
                            sntp.Poller(interval_ms=60000, retry_ms=500, timeout_ms=1000))
            deadline = time.monotonic() + 10
            while not set_to and time.monotonic() < deadline:
                c.poll(board_ms())
                for ev in stack.events():
                    assert ev[0] == "udp" and c.udp(*ev[1:], board_ms())
                time.sleep(0.005)
            assert set_to, c.poller.last_error
            assert abs(set_to[0] - time.time_ns() // 1000000) < 100
            assert c.poller.answers == 1 and c.last[1] < 200 and not c.poller.due(board_ms())
    finally:
        stack.close()


class ScriptedStack:
    """A server that answers as told: what the client sent, what it gets back."""

    def __init__(self):
        self.sent = []

    def udp_open(self, port):
        return 3

    def udp_sendto(self, uid, ip, port, data):
        self.sent.append((uid, ip, port, bytes(data)))
        return len(data)


def test_the_client_refuses_what_is_not_the_answer_it_waits_for():
    set_to = []
    st = ScriptedStack()
    c = sntp.Client(st, SLIRP_HOST, 123, set_to.append, lambda: 0xABCDEF, sntp.Poller(retry_ms=1000, timeout_ms=500))
    c.poll(1000)
    assert len(st.sent) == 1 and st.sent[0][3][40:48] == (0xABCDEF).to_bytes(8, "big")
    good = reply(0xABCDEF, Y2026_12_02, Y2026_12_02 + 1)
    assert not c.udp(4, SLIRP_HOST, 123, good, 1010)            # another socket: not ours
    assert c.udp(3, 0x0A000203, 123, good, 1010) and not set_to  # another host: dropped
    assert c.udp(3, SLIRP_HOST, 124, good, 1010) and not set_to  # another port: dropped
    assert c.udp(3, SLIRP_HOST, 123, reply(5, Y2026_12_02, Y2026_12_02), 1010) and not set_to
    assert "not to our request" in c.poller.last_error
    c.poll(1010)
    assert len(st.sent) == 1                                    # refused: retry after 1 s, not at once
    c.poll(2010)
    assert len(st.sent) == 2
    c.nonce = lambda: 77
    c.poll(5000)                                                # the 2nd went unanswered: lost at 2,510
    assert c.poller.failures == 2 and "no answer" in c.poller.last_error
    c.poll(4600)
    c.poller.next_at = 0
    c.poll(6000)
    assert c.poller.pending[0] == 77
    assert c.udp(3, SLIRP_HOST, 123, reply(77, Y2026_12_02, Y2026_12_02 + 2), 9000) and not set_to
    assert "round trip" in c.poller.last_error                 # 3 s on the wire: no time to set by
    c.poller.next_at = 0
    c.poll(10000)
    # sent at 10,000, back at 10,030, 2 ms in the server: UTC at arrival = its send + half of 28
    assert c.udp(3, SLIRP_HOST, 123, reply(77, Y2026_12_02 + 10, Y2026_12_02 + 12), 10030)
    assert set_to == [Y2026_12_02 + 12 + 28 // 2] and c.last == (set_to[0] - 10030, 28, 2)


def _client_story(sntp, replies):
    """A client's life against a scripted server, as a list of what it did;
    replies: {nonce: reply packet} (the packets built by the caller)."""
    log = []

    class Stack:
        def udp_open(self, port):
            return 3

        def udp_sendto(self, uid, ip, port, data):
            log.append(["sent", uid, ip, port, data[40:48].hex()])
            return len(data)
    nonces = [11, 22, 33]
    c = sntp.Client(Stack(), 0x0A000202, 123, lambda ms: log.append(["set", ms]), lambda: nonces.pop(0),
                    sntp.Poller(interval_ms=64000, retry_ms=1000, timeout_ms=500))
    now = 1000
    for step in range(12):
        c.poll(now)
        if c.poller.pending is not None and c.poller.pending[0] in replies:
            c.udp(3, 0x0A000202, 123, bytes(replies[c.poller.pending[0]]), now + 20)
        log.append(["state", c.poller.answers, c.poller.failures, c.poller.last_error, c.poller.next_at])
        now += 700
    return log


def test_the_client_under_micropython_does_what_it_does_under_cpython():
    replies = {11: list(reply(11, Y2026_12_02, Y2026_12_02, li=3)),        # refused: unsynchronised
               33: list(reply(33, Y2026_12_02 + 5, Y2026_12_02 + 6))}      # 22: never answered
    want = _client_story(sntp, replies)
    assert ["set", Y2026_12_02 + 6 + 19 // 2] in [x for x in want if x[0] == "set"]
    src = inspect.getsource(_client_story)
    got = upy.run("import json\nfrom userland.lib import sntp\n%s\nr = {int(k): v for k, v in "
                  "json.loads(sys.stdin.read()).items()}\nprint(json.dumps(_client_story(sntp, r)))" % src,
                  stdin=json.dumps(replies))
    assert json.loads(got) == json.loads(json.dumps(want))
