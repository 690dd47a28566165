"""FIX over TCP in QEMU (production image): QuickFIX, a real FIX engine,
connects as the initiator to the board's port 9878 (fixnet -> the gateway's
acceptor) through QEMU's forward, validating everything against FIX 4.4's
data dictionary. Until the board's clock is set its Logon is refused (no
answer: a SendingTime without a date is none; the console says why); with the clock set: logon, a new order, a replace, a status
request, a cancel, a gap QuickFIX leaves (the board asks for a resend and
QuickFIX fills it), logout and logon again resuming the numbers, a
gateway restarted mid-session (the session resumes from its flash store
and a ResendRequest gets the real messages), and a logon with
ResetSeqNumFlag."""
import re
import time

import pytest

from qemu_console import PRODUCTION_FLASH
from tools import hostlink, qemu

pytest.importorskip("quickfix", reason="tools/deps/fetch.sh builds QuickFIX (make build)")
from tests.quickfix_peer import Peer  # noqa: E402

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def board(boot, tmp_path):
    storage = qemu.ensure_storage(str(tmp_path / "storage.bin"), 16 * 1024 * 1024)
    key = hostlink.provision(storage, "mps2-an385", str(tmp_path / "hostlink.key"))
    link_sock = str(tmp_path / "link.sock")
    dev = boot(PRODUCTION_FLASH, storage=storage, hostlink=link_sock, net=True)
    dev.wait_prompt()
    dev.wait_line(r"fixnet: FIX on TCP port 9878", since=0, timeout=60)
    dev.fix_port = dev.ports[("tcp", 9878)]
    dev.link_sock, dev.key = link_sock, key
    return dev


def set_clock(dev):
    from drivers.hsm import frame as F
    link = hostlink.Link(dev.link_sock, dev.key)
    try:
        assert link.control(0x44, F.fields(str(int(time.time() * 1000)))).startswith("clock: ")
    finally:
        link.close()


def order(peer, clid, price="100.50"):
    peer.send("D", (11, clid), (55, "QNX"), (54, "1"), (38, "100"), (40, "2"), (44, price), (60, peer.now()))


def test_quickfix_against_the_board(board, tmp_path):
    peer = Peer(board.fix_port, str(tmp_path / "qf"))
    peer.start()
    try:
        # no date, no SendingTime: the connection is closed unanswered, the reason on the console
        board.wait_line(r"gateway: FIX Logon from HOST refused: the board's clock is not set", since=0, timeout=60)
        assert "logon" not in peer.events and "|49=QENEX|" not in peer.wire()
        set_clock(board)
        peer.wait_event("logon", timeout=60)                    # QuickFIX's reconnect, now with a date
        order(peer, "ORD1")
        new = peer.app_of("8", _11="ORD1", _150="0")
        assert len(new[52]) == 21 and new[60][:8] == time.strftime("%Y%m%d", time.gmtime())
        peer.send("G", (41, "ORD1"), (11, "ORD1b"), (55, "QNX"), (54, "1"), (38, "200"), (40, "2"), (44, "101.00"),
                  (60, peer.now()))
        rep = peer.app_of("8", _11="ORD1b", _150="5")
        assert rep[37] == new[37] and rep[17] != new[17]
        peer.send("H", (11, "ORD1b"), (55, "QNX"), (54, "1"))
        assert peer.app_of("8", _11="ORD1b", _150="I")[38] == "200"
        peer.send("F", (41, "ORD1b"), (11, "C1"), (55, "QNX"), (54, "1"), (60, peer.now()))
        peer.app_of("8", _11="C1", _150="4")
        # a gap QuickFIX leaves: the board asks for it again and QuickFIX gap-fills it
        qf = peer.session()
        qf.setNextSenderMsgSeqNum(qf.getExpectedSenderNum() + 3)
        order(peer, "ORD2")
        peer.wait(lambda w, f: f.get(35) == "2", what="the board's ResendRequest")
        peer.app_of("8", _11="ORD2", _150="0")
        # logout and logon again: the numbers go on
        n = peer.events.count("logout")
        qf.logout()
        peer.wait_event("logout", n + 1, timeout=30)
        qf.logon()
        peer.wait_event("logon", 2, timeout=60)
        order(peer, "ORD3")
        assert int(peer.app_of("8", _11="ORD3", _150="0")[34]) > 8
        last = int(peer.app_of("8", _11="ORD3", _150="0")[34])
        # the gateway restarted mid-session: QuickFIX reconnects, and the session resumes from
        # the numbers and messages the gateway kept in flash (no reset)
        n = peer.events.count("logout")
        board.cmd("restart gateway")
        peer.wait_event("logout", n + 1, timeout=60)
        peer.wait_event("logon", 3, timeout=90)
        order(peer, "ORD4")
        assert int(peer.app_of("8", _11="ORD4", _150="0")[34]) > last
        peer.send("2", (7, "1"), (16, "0"))                      # everything again: the real messages
        end = time.monotonic() + 30                              # (QuickFIX drops the duplicates it has:
        while time.monotonic() < end and not re.search(          #  they are on its wire log)
                r"35=8\|49=QENEX\|56=HOST\|34=\d+\|43=Y\|52=[^|]+\|122=[^|]+\|37=[^|]+\|11=ORD1\|", peer.wire()):
            time.sleep(0.2)
        assert re.search(r"35=8\|49=QENEX\|56=HOST\|34=\d+\|43=Y\|52=[^|]+\|122=[^|]+\|37=[^|]+\|11=ORD1\|",
                         peer.wire()), "ORD1's report not resent"
        # logout, then a logon with ResetSeqNumFlag: both sides from 1
        n = peer.events.count("logout")
        qf.logout()
        peer.wait_event("logout", n + 1, timeout=30)
        qf.setResetOnLogon(True)
        qf.logon()
        peer.wait_event("logon", 4, timeout=60)
        order(peer, "ORD5")
        assert peer.app_of("8", _11="ORD5", _150="0")[34] == "2"
        rejects = [f for _, f in peer.received + peer.sent if f.get(35) == "3"]
        assert not rejects, rejects
        n = peer.events.count("logout")
        qf.logout()
        peer.wait_event("logout", n + 1, timeout=30)
    finally:
        peer.stop()
