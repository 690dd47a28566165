"""QuickFIX, a real FIX engine, as the initiator against the gateway's FIX
acceptor (userland/gateway/fix_session.py and the gateway's order book,
service.py) on the host, over TCP on 127.0.0.1: logon, a new order, a
replace, a status request, a cancel, a cancel of an unknown order, a gap
the board leaves in its numbers (QuickFIX asks for a resend and gets a gap
fill), heartbeats and test requests at a short interval, logout and a
reconnect that resumes the numbers, a reconnect with ResetSeqNumFlag, and
a gateway restarted mid-session from its store. QuickFIX validates every
message against FIX 4.4's data dictionary: a field it refuses is a Reject
the test sees. tests/qemu/test_fix_tcp.py runs the same against the board."""
import json
import os
import socket
import threading
import time

import pytest

pytest.importorskip("quickfix", reason="tools/deps/fetch.sh builds QuickFIX (make build)")
from tests.quickfix_peer import Peer  # noqa: E402
from userland.compliance.engine import Engine  # noqa: E402
from userland.compliance.risk import Risk  # noqa: E402
from userland.gateway import fix, fix_session, service  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES = json.load(open(os.path.join(ROOT, "userland", "compliance", "rules.json")))
pytestmark = pytest.mark.timeout(120)


class Board:
    """The gateway's FIX acceptor behind a TCP listener, as the board's
    transport runs it: a Reader per connection, receive() for each whole
    message, tick() between reads; one lock (the board is one task)."""

    def __init__(self, store, heartbeat_s, port=0):
        self.store = store
        table = fix_session.parse_table({"our_id": "QENEX", "sessions": [{"counterparty": "HOST",
                                                                           "heartbeat_s": heartbeat_s}]})
        self.gw = service.Gateway(Engine(RULES), Risk(RULES["risk"]), lambda *a: "ok", lambda t: None,
                                  RULES["ledgers"], lambda: 0, lambda: int(time.time() * 1000),
                                  ticks=lambda: int(time.monotonic() * 1000), fix_table=table, fix_store=store)
        self.lock = threading.Lock()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", port))
        self.srv.listen(4)
        self.port = self.srv.getsockname()[1]
        self.conns = []
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while self.running:
            try:
                s, _ = self.srv.accept()
            except OSError:
                return
            self.conns.append(s)
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s):
        with self.lock:
            conn = self.gw.fix.open()
        reader = fix.Reader()
        s.settimeout(0.05)
        try:
            while self.running and not conn.closed:
                try:
                    data = s.recv(4096)
                    if not data:
                        break
                except socket.timeout:
                    data = b""
                with self.lock:
                    out = []
                    for m in reader.feed(data):
                        out += conn.receive(m)
                    out += conn.tick()
                if out:
                    s.sendall("".join(out).encode("latin-1"))
        except OSError:
            pass
        finally:
            with self.lock:
                conn.drop()
            s.close()

    def stop(self):
        self.running = False
        try:
            self.srv.shutdown(socket.SHUT_RDWR)      # wakes the accept() that holds the port
        except OSError:
            pass
        self.srv.close()
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        time.sleep(0.1)


ORDER = [(11, "ORD1"), (55, "QNX"), (54, "1"), (38, "100"), (40, "2"), (44, "100.50")]


def order(peer, clid, *extra):
    peer.send("D", *([(t, clid if t == 11 else v) for t, v in ORDER] + [(60, peer.now())] + list(extra)))


def test_quickfix_trades_with_the_acceptor_through_gaps_reconnects_resets_and_a_restart(tmp_path):
    store = fix_session.MemoryStore()
    board = Board(store, heartbeat_s=2)
    peer = Peer(board.port, str(tmp_path / "qf"), heartbeat_s=2)
    peer.start()
    try:
        peer.wait_event("logon")
        order(peer, "ORD1")
        new = peer.app_of("8", _11="ORD1", _150="0")
        assert new[39] == "0" and len(new[60]) == 21 and new[37].startswith("Q")
        peer.send("G", (41, "ORD1"), (11, "ORD1b"), (55, "QNX"), (54, "1"), (38, "200"), (40, "2"), (44, "101.00"),
                  (60, peer.now()))
        rep = peer.app_of("8", _11="ORD1b", _150="5")
        assert rep[37] == new[37] and rep[17] != new[17] and rep[38] == "200"
        peer.send("H", (11, "ORD1b"), (55, "QNX"), (54, "1"))
        assert peer.app_of("8", _11="ORD1b", _150="I")[39] == "0"
        peer.send("F", (41, "ORD1b"), (11, "C1"), (55, "QNX"), (54, "1"), (60, peer.now()))
        assert peer.app_of("8", _11="C1", _150="4")[37] == new[37]
        peer.send("F", (41, "NOPE"), (11, "C2"), (55, "QNX"), (54, "1"), (60, peer.now()))
        assert peer.app_of("9", _11="C2")[434] == "1"
        # heartbeats both ways at 2 s: QuickFIX's TestRequest answered, ours answered
        time.sleep(5)
        assert any(f.get(35) == "0" for _, f in peer.received)
        assert peer.events.count("logout") == 0
        # a gap in the board's numbers: QuickFIX asks for a resend and gets a gap fill
        with board.lock:
            store.seqs["HOST"] = (store.seqs["HOST"][0], store.seqs["HOST"][1] + 3)
            board.gw.fix.sessions["HOST"].next_out += 3
        order(peer, "ORD3")
        peer.app_of("8", _11="ORD3", _150="0")
        assert any(f.get(35) == "2" for _, f in peer.sent)                 # QuickFIX's ResendRequest
        peer.wait(lambda w, f: f.get(35) == "4" and f.get(123) == "Y", what="a gap fill")
        # logout, and a logon again that resumes the numbers (no reset)
        qf = peer.session()
        qf.logout()
        peer.wait_event("logout")
        in_before = board.gw.fix.sessions["HOST"].next_in
        assert in_before > 5
        qf.logon()
        peer.wait_event("logon", 2)
        assert board.gw.fix.sessions["HOST"].next_in == in_before + 1     # its Logon took the next number
        order(peer, "ORD4")
        peer.app_of("8", _11="ORD4", _150="0")
        # the board restarts mid-session: a new gateway on the same store and port; QuickFIX reconnects
        board.stop()
        peer.wait_event("logout", 2)
        board = Board(store, heartbeat_s=2, port=board.port)
        peer.wait_event("logon", 3)
        order(peer, "ORD5")
        ids = peer.app_of("8", _11="ORD5", _150="0")
        assert ids[34] == str(board.gw.fix.sessions["HOST"].next_out - 1)    # numbers resumed from the store
        assert int(ids[34]) > 10
        # a logon with ResetSeqNumFlag: both sides from 1
        qf.logout()
        peer.wait_event("logout", 3)
        qf.setResetOnLogon(True)
        qf.logon()
        peer.wait_event("logon", 4)
        assert [f for _, f in peer.received if f.get(35) == "A"][-1][141] == "Y"
        order(peer, "ORD6")
        assert peer.app_of("8", _11="ORD6", _150="0")[34] == "2"
        rejects = [f for _, f in peer.received if f.get(35) == "3"] + [f for _, f in peer.sent if f.get(35) == "3"]
        assert not rejects, rejects                                        # nothing either side refused
    finally:
        peer.stop()
        board.stop()


def test_quickfix_with_a_wrong_compid_is_logged_out_with_the_reason(tmp_path):
    board = Board(fix_session.MemoryStore(), heartbeat_s=30)
    peer = Peer(board.port, str(tmp_path / "qf"), sender="STRANGER")
    peer.start()
    try:
        m = peer.wait(lambda w, f: f.get(35) == "5", what="a Logout")
        assert "no session for SenderCompID STRANGER" in m.get(58, "")
        assert "logon" not in peer.events
    finally:
        peer.stop()
        board.stop()
