"""The host link on the host: the board's side (userland/gateway/link.py's
LinkServer) behind a fake UART, tools/hostlink.Link (the HSM driver's
client) in front of it. Replays refused however far the session has gone,
a lost answer asked for again and answered from the board's kept answer
(the request not run twice), a partial frame surviving a pause, a
restarted gateway answering `not logged in` at once, the session ending
before its sequence numbers wrap; and the files and sockets that hold or
give access to the link key created the owner's alone."""
import os
import re
import socket
import stat
import subprocess
import time

import pytest

from drivers.hsm import frame as F
from tools import hostlink, qemu
from userland.gateway import link

KEY = bytes(range(32))


class Board:
    """The board's UART2 and its LinkServer, with a clock the test moves."""

    def __init__(self, key=KEY):
        self.to_board, self.to_host = b"", b""
        self.clock = [0]
        self.ran = []                    # every message submit() ran
        self.counter = [0]
        self.start(key)

    def start(self, key=KEY):
        """A (re)started gateway: a new LinkServer, no session."""
        def fresh():
            self.counter[0] += 1
            return bytes(12) + self.counter[0].to_bytes(4, "little")
        self.server = link.LinkServer(self, key, hostlink._crc, hostlink._hmac, fresh,
                                      now_ms=lambda: self.clock[0], stats=lambda: '{"n": %d}' % len(self.ran))

    def submit(self, kind, message):
        self.ran.append((kind, message))
        return "answer %d to %s" % (len(self.ran), message.decode())

    # the UART, as LinkServer sees it
    def write(self, data):
        self.to_host += data

    def read(self):
        out, self.to_board = self.to_board, b""
        return out

    def poll(self):
        return self.server.poll(self.submit)


class HostSocket:
    """What tools/hostlink.Link needs of a socket; each send runs the board.
    lose: how many of the next answers vanish on the way to the host."""

    def __init__(self, board):
        self.board = board
        self.lose = 0
        self.sent = []

    def sendall(self, data):
        self.sent.append(data)
        self.board.to_board += data
        self.board.poll()
        if self.lose and self.board.to_host:
            self.lose -= 1
            self.board.to_host = b""

    def recv(self, n):
        out, self.board.to_host = self.board.to_host, b""
        if not out:
            raise BlockingIOError()
        return out

    def setblocking(self, flag):
        pass

    def close(self):
        pass


@pytest.fixture
def pair():
    board = Board()
    sock = HostSocket(board)
    client = hostlink.Link(None, KEY, timeout=2, sock=sock)
    return board, sock, client


def raw(board, frame):
    """(status, body, mac) of the board's answer to one frame sent as it is."""
    board.to_board += frame
    board.poll()
    out, board.to_host = board.to_host, b""
    frames = F.Reader(hostlink._crc).feed(out)
    assert len(frames) == 1, out
    payload = F.parse(frames[0])[2]
    return payload[0], payload[1:], F.frame_mac(frames[0])


def session(client):
    c = F.Codec(hostlink._crc, hostlink._hmac)
    c.key = client.client.codec.key
    return c


def test_a_captured_frame_is_refused_however_far_the_session_has_gone(pair):
    board, sock, client = pair
    assert client.submit("FIX", b"rules v1").startswith("answer 1")
    captured = sock.sent[-1]
    sc, seq = session(client), client.client.seq
    for ahead in range(1, 0x8002):          # the old rule took it again 32,768 frames on
        seq += 1
        status, body, mac = raw(board, sc.encode(link.STATS, seq, b""))
        assert status == F.OK
        if ahead in (1, 2, 0x7FFF, 0x8000, 0x8001):
            status, why, mac = raw(board, captured)
            assert status == F.BAD_SEQ and b"sequence number" in why, ahead
    assert len(board.ran) == 1


def test_a_lost_answer_is_asked_for_again_and_the_board_answers_from_the_one_it_kept(pair):
    board, sock, client = pair
    sock.lose = 1
    assert client.submit("pacs.008", b"pay 1") == "answer 1 to pay 1"
    assert len(board.ran) == 1 and board.server.retries == 1 and client.client.stats["retries"] == 1
    sock.lose = 2
    assert client.submit("pacs.008", b"pay 2") == "answer 2 to pay 2"
    assert len(board.ran) == 2 and board.server.retries == 3


def test_a_retry_is_answered_from_the_kept_answer_only_with_the_right_mac_and_request(pair):
    board, sock, client = pair
    client.submit("pacs.008", b"pay 1")
    sent = sock.sent[-1]
    sc, seq = session(client), client.client.seq
    first = raw(board, sent)
    assert first[0] == F.OK and len(board.ran) == 1                          # the same answer, not run again
    forged = F.Codec(hostlink._crc, hostlink._hmac)
    forged.key = b"not the session key"
    assert raw(board, forged.encode(link.SUBMIT, seq, F.fields("pacs.008", "pay 1")))[0] == F.BAD_MAC
    assert raw(board, sc.encode(link.SUBMIT, seq, F.fields("pacs.008", "pay 9")))[0] == F.BAD_SEQ
    assert raw(board, sc.encode(link.SUBMIT, seq + 2, F.fields("pacs.008", "pay 9")))[0] == F.BAD_SEQ
    assert len(board.ran) == 1
    assert client.submit("pacs.008", b"pay 2") == "answer 2 to pay 2"      # and the session goes on


def test_a_lost_login_answer_is_asked_for_again_and_costs_no_try():
    board = Board()
    sock = HostSocket(board)
    client = hostlink.Link(None, KEY, timeout=2, sock=sock, login=False)
    real = sock.sendall

    def lose_login(data):
        real(data)
        if F.parse(data)[0] == F.LOGIN and sock.sent.count(data) == 1:
            board.to_host = b""
    sock.sendall = lose_login
    client.login()
    assert board.server.tries == 0 and client.submit("MT103", b"m") == "answer 1 to m"


def test_a_gateway_restart_is_answered_at_once_and_the_client_logs_in_again(pair):
    board, sock, client = pair
    client.submit("pacs.008", b"pay 1")
    board.start()                                                 # the gateway task restarted
    sc, seq = session(client), client.client.seq
    status, why, mac = raw(board, sc.encode(link.SUBMIT, seq + 1, F.fields("pacs.008", "x")))
    assert status == F.NOT_LOGGED_IN and b"log in again" in why and mac == bytes(F.MAC_LEN)
    board.start()
    t = time.monotonic()
    assert client.submit("pacs.008", b"pay 2") == "answer 2 to pay 2"
    assert time.monotonic() - t < 0.5 and client.client.stats["relogins"] == 1
    assert client.client.stats["timeouts"] == 0 and len(board.ran) == 2


def test_a_client_that_cannot_log_in_again_reports_the_session_gone(pair):
    board, sock, client = pair
    client.client.pkey = None                                    # no key to log in with again
    board.start()
    with pytest.raises(ConnectionError, match="not logged in: no session"):
        client.submit("pacs.008", b"pay")


def test_the_session_ends_before_its_sequence_numbers_wrap(pair):
    board, sock, client = pair
    board.server.seqs.last = client.client.seq = F.SEQ_LAST - 2   # as if 65,000 frames had gone by
    client.submit("FIX", b"a")
    client.submit("FIX", b"b")
    assert board.server.seqs.last == F.SEQ_LAST and client.client.stats["relogins"] == 0
    status, why, mac = raw(board, session(client).encode(link.SUBMIT, 0, F.fields("FIX", "wrapped")))
    assert (status, why) == (F.NOT_LOGGED_IN, b"session ended: log in again")
    assert client.submit("FIX", b"c") == "answer 3 to c"                   # logged in again first
    assert client.client.stats["relogins"] == 1 and client.client.seq < 10 and len(board.ran) == 3


def test_a_partial_frame_waits_out_a_pause_and_a_dropped_one_is_recovered_by_the_retry(pair):
    board, sock, client = pair
    sc, seq = session(client), client.client.seq
    frame = sc.encode(link.SUBMIT, seq + 1, F.fields("FIX", "slow"))
    board.to_board += frame[:20]
    board.poll()
    board.clock[0] += link.STALE_MS // 2                 # a busy host pauses the sender
    board.poll()
    status, body, mac = raw(board, frame[20:])
    assert status == F.OK and board.ran[-1] == ("FIX", b"slow")
    board.to_board += frame[:20]                         # the same frame again, cut short for good
    board.poll()
    # Dropped as stale: each quiet spell drops one false start, and the frame's
    # random MAC and key bytes may hold more (a last 0xa5 is kept as a sync's start).
    for _ in range(20):
        board.clock[0] += link.STALE_MS
        board.poll()
        if not board.server.reader.buf:
            break
    assert board.server.reader.buf == b""
    assert raw(board, frame)[0] == F.OK and board.server.retries == 1 and len(board.ran) == 1


def test_time_spent_answering_is_not_taken_for_the_line_going_quiet(pair):
    board, sock, client = pair
    sc, seq = session(client), client.client.seq

    def slow_submit(kind, message):
        board.clock[0] += 10 * link.STALE_MS             # a long request (an audit check, say)
        return "done"
    board.submit = slow_submit
    first = sc.encode(link.SUBMIT, seq + 1, F.fields("FIX", "1"))
    second = sc.encode(link.SUBMIT, seq + 2, F.fields("FIX", "2"))
    board.to_board += first + second[:10]
    board.poll()
    board.poll()                                         # nothing new yet: the partial frame stays
    assert board.server.reader.buf == second[:10]
    board.to_host = b""
    assert raw(board, second[10:])[0] == F.OK


# --- secrets at rest ------------------------------------------------------------------------

def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_storage_and_the_key_file_are_created_the_owners_alone(tmp_path):
    storage = qemu.ensure_storage(str(tmp_path / "storage.bin"), 16 * 1024 * 1024)
    assert mode(storage) == 0o600
    key_path = str(tmp_path / "hostlink.key")
    hostlink.provision(storage, "mps2-an385", key_path)
    assert mode(key_path) == 0o600 and mode(storage) == 0o600


def test_older_world_readable_storage_and_key_files_are_made_the_owners_alone(tmp_path):
    storage = str(tmp_path / "storage.bin")
    with open(storage, "wb") as f:
        f.truncate(16 * 1024 * 1024)
    key_path = str(tmp_path / "hostlink.key")
    open(key_path, "wb").close()
    os.chmod(storage, 0o644)
    os.chmod(key_path, 0o644)
    hostlink.provision(qemu.ensure_storage(storage, 16 * 1024 * 1024), "mps2-an385", key_path)
    assert mode(key_path) == 0o600 and mode(storage) == 0o600


def test_qemu_binds_its_sockets_the_owners_alone(tmp_path):
    cmd = qemu.command(storage=str(tmp_path / "s.bin"), hostlink=str(tmp_path / "link.sock"),
                       serial="unix:%s,server=on,wait=off" % (tmp_path / "console.sock"))
    assert cmd[:len(qemu.UMASK)] == qemu.UMASK and cmd[len(qemu.UMASK)] == "qemu-system-arm"
    # The same prefix in front of a program that binds a socket as QEMU does.
    path = str(tmp_path / "probe.sock")
    prog = "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])"
    old = os.umask(0o022)
    try:
        subprocess.run(qemu.UMASK + ["python3", "-c", prog, path], check=True, timeout=30)
    finally:
        os.umask(old)
    assert mode(path) & 0o077 == 0


def test_qenex_run_sets_up_storage_key_and_sockets_the_owners_alone(tmp_path, monkeypatch, capsys):
    """`qenex run`'s set-up, with QEMU replaced by a program that binds the
    sockets QEMU would (the HSM emulator is the real one), and the network
    forwards it prints."""
    from tools import qenex
    d = tmp_path / "build"
    d.mkdir()
    monkeypatch.setattr(qenex, "hsm_paths", lambda b: (str(d / "hsm.sock"), str(d / "hsm-state.json")))
    monkeypatch.setattr(qenex, "hostlink_paths", lambda b: (str(d / "hostlink.sock"), str(d / "hostlink.key")))
    monkeypatch.setattr(qemu, "storage_path", lambda b: str(d / "storage.bin"))
    seen = {}

    def fake_qemu(cmd):
        assert cmd[:len(qemu.UMASK)] == qemu.UMASK
        link_sock = [a for a in cmd if a.startswith("socket,id=hostlink")][0].split("path=")[1].split(",")[0]
        prog = "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])"
        subprocess.run(qemu.UMASK + ["python3", "-c", prog, link_sock], check=True, timeout=30)
        for name in ("storage.bin", "hostlink.key", "hostlink.sock", "hsm.sock", "hsm-state.json",
                     "hsm-state.json.master"):
            seen[name] = mode(str(d / name))
        seen["nic"] = cmd[cmd.index("-nic") + 1]
        return 0
    monkeypatch.setattr(subprocess, "call", fake_qemu)
    qenex.main(["run", "--no-time"])                 # QEMU's status 0: run returns
    nic = seen.pop("nic")
    assert seen == {name: 0o600 for name in seen} and len(seen) == 6, seen
    # the forwards it printed are the ones QEMU was given, one per service
    out = capsys.readouterr().out
    printed = re.findall(r"^qenex: net (tcp|udp) 127\.0\.0\.1:(\d+) -> board 10\.0\.2\.15:(\d+), ", out, re.M)
    assert sorted((p, int(b)) for p, h, b in printed) == sorted((p, b) for p, b, w in qemu.SERVICES), out
    for proto, host, board in printed:
        assert "hostfwd=%s:127.0.0.1:%s-10.0.2.15:%s" % (proto, host, board) in nic, nic
    assert ("tcp", 4700) in [(p, int(b)) for p, h, b in printed]      # the host link over TCP


def test_time_reaches_the_board_only_logged_in_and_well_formed():
    """TIME: the host's UTC ms, checked by link.host_time, goes to the
    board's control() (the gateway sets its clock from it); a malformed one
    is refused with what is wrong, and outside a session nothing reaches
    the board."""
    from kernel.clock import Clock
    from tools.qenex import time_payload
    board = Board()
    clock = Clock(lambda: board.clock[0], floor_ms=1700000000000)

    def control(cmd, payload):
        assert cmd == link.TIME
        try:
            clock.set(link.host_time(payload), "host")
        except ValueError as e:
            return False, "time: %s" % e
        return True, "clock %d" % clock.utc_ms()
    board.server.control = control
    sock = HostSocket(board)
    client = hostlink.Link(None, KEY, timeout=2, sock=sock, login=False)
    with pytest.raises(ConnectionError, match="not logged in"):
        client.control(link.TIME, F.fields(b"1796169600000"))
    assert clock.utc_ms() is None
    client.login()
    before = __import__("time").time_ns() // 1000000
    answer = client.control(link.TIME, time_payload())
    assert abs(int(answer.split()[1]) - before) < 5000 and clock.source == "host"
    for bad in (b"", b"12a", b"-5", b"1" * 16, b" 1796169600000"):
        with pytest.raises(ConnectionError, match="1 to 15 ASCII digits"):
            client.control(link.TIME, F.fields(bad))
    with pytest.raises(ConnectionError, match="not a plausible time"):
        client.control(link.TIME, F.fields(b"1000"))
    assert clock.sets == 1


def test_host_time_under_micropython():
    from tests.host import upy
    cases = [b"1796169600000", b"", b"12a", b"1" * 16, b"0"]
    script = """
from drivers.hsm import frame as F
from userland.gateway import link
for t in %r:
    try:
        print(link.host_time(F.fields(t)))
    except F.FrameError as e:
        print("FrameError", e)
""" % (cases,)
    want = []
    for t in cases:
        try:
            want.append(str(link.host_time(F.fields(t))))
        except F.FrameError as e:
            want.append("FrameError %s" % e)
    assert upy.run(script).splitlines() == want
