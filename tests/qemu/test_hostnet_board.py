"""The host link over TCP in QEMU (production image): the hostnet task
listens on board port 4700 through net, reached from the host through
QEMU's forward; tools/hostlink's client (what `qenex send --tcp` uses)
logs in with the link key, sets the board's clock and submits a payment,
answered by the gateway as over UART2. A hostnet killed with its
connection open loses its sockets (net closes them: the host sees the
connection end, `net` lists only the new incarnation's listener), and the
restarted task serves the next connection."""
import os
import re
import socket
import subprocess
import sys
import time

import pytest

from qemu_console import PRODUCTION_FLASH
from tools import hostlink, qemu
from tools.layout import ROOT

pytestmark = pytest.mark.timeout(240)
VEC = os.path.join(ROOT, "tests", "vectors", "gateway")


@pytest.fixture
def board(boot, tmp_path):
    storage = qemu.ensure_storage(str(tmp_path / "storage.bin"), 16 * 1024 * 1024)
    key_file = str(tmp_path / "hostlink.key")
    key = hostlink.provision(storage, "mps2-an385", key_file)
    dev = boot(PRODUCTION_FLASH, storage=storage, hostlink=str(tmp_path / "link.sock"), net=True)
    dev.wait_prompt()
    dev.wait_line(r"hostnet: host link on TCP port 4700", since=0, timeout=60)
    dev.key, dev.key_file = key, key_file
    dev.tcp_port = dev.ports[("tcp", 4700)]
    return dev


def connect(dev, timeout=30):
    s = socket.create_connection(("127.0.0.1", dev.tcp_port), timeout=timeout)
    return hostlink.Link(None, dev.key, timeout=timeout, sock=s)


def sockets(dev):
    """`net`'s socket rows: [task id, socket, kind, port, state, in, out]."""
    return [r.split() for r in dev.cmd("net").split("\n") if re.match(r"\d+ +\d+ +(listen|open)\b", r)]


def test_the_host_link_over_tcp(board):
    link = connect(board)
    try:
        st = link.stats()
        assert "heap" in st and "audit" in st, st
        for acct in (1, 2):
            assert board.cmd("ledger account new %d 1 10" % acct) == "ok\n"
        mt = open(os.path.join(VEC, "mt103.txt")).read()
        assert link.submit("MT103", mt.encode()) == "MT103 QXREF0001 ACSC"
        rows = sockets(board)
        hostnet = board.ps()["hostnet"]["ID"]
        rows = [r for r in rows if r[0] == hostnet]            # fixnet's listener is the other one
        assert sorted(r[2] for r in rows) == ["listen", "open"], rows
    finally:
        link.close()
    # the command line over TCP: `qenex time set --tcp`
    r = subprocess.run([sys.executable, "-m", "tools.qenex", "time", "set", "--tcp",
                        "127.0.0.1:%d" % board.tcp_port, "--key", board.key_file],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and re.fullmatch(r"clock: \S+ \(set by the host\)\n", r.stdout), r.stdout + r.stderr
    assert "set by host" in board.cmd("date")


def test_a_killed_hostnet_frees_its_sockets_and_the_next_one_serves(board):
    link = connect(board)
    assert "heap" in link.stats()
    old = board.ps()["hostnet"]["ID"]
    assert len([r for r in sockets(board) if r[0] == old]) == 2
    out = board.cmd("restart %s" % old)
    assert out.startswith("restarted"), out
    link.sock.settimeout(30)
    link.sock.setblocking(True)
    try:
        ended = link.sock.recv(1) == b""         # FIN or RST: the connection is gone
    except ConnectionResetError:
        ended = True
    assert ended
    link.close()
    board.wait_line(r"hostnet: host link on TCP port 4700", timeout=60)
    deadline = time.monotonic() + 10
    while True:                                   # net notices the end by its sweep (SWEEP_MS)
        rows = [r for r in sockets(board) if r[3] not in ("9878", "80")]     # but fixnet's and httpnet's listeners
        if len(rows) == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert [r[2:5] for r in rows] == [["listen", "4700", "listen"]], rows
    assert rows[0][0] == old                      # the same task id: a new incarnation (ids carry a generation)
    again = connect(board)
    try:
        assert "heap" in again.stats()
    finally:
        again.close()
