"""The production image's net task in QEMU: lwIP on the LAN9118 behind the
socket service (userland/net/), waiting on the controller's interrupt; the
shell's `net` shows its address, link, counters and sockets; SNTP keeps the
board's clock against a real NTP server (Debian's chronyd, started here on
127.0.0.1 at a free port, which the board reaches as 10.0.2.2 through QEMU's
user network), and only the operator names the server."""
import os
import re
import sys
import time

import pytest

from qemu_console import PRODUCTION_FLASH, Device, norm
from tools.ntpserver import NtpServer
from userland.lib import utc

SNTP_WAIT = 30          # seconds for the first answer to set the clock


@pytest.fixture
def board():
    if not os.path.isfile(PRODUCTION_FLASH):
        pytest.fail("%s does not exist: run `make build` first" % PRODUCTION_FLASH, pytrace=False)
    d = Device(PRODUCTION_FLASH, net=True)
    try:
        d.wait_prompt()
        for line in (r"hostnet: host link on TCP port 4700", r"fixnet: FIX on TCP port 9878",
                     r"httpnet: ISO 20022 and MT103 over HTTP on TCP port 80"):
            d.wait_line(line, since=0, timeout=30)          # the listeners are up
        yield d
    finally:
        d.terminate()
        sys.stdout.write("---- console ----\n%s\n" % norm(d.text))


def test_net_shows_the_stack_and_no_sockets(board):
    out = board.cmd("net")
    assert re.search(r"^address 10\.0\.2\.15/255\.255\.255\.0 gateway 10\.0\.2\.2, link up, mac 02:51:58:00:00:01$",
                     out, re.M), out
    m = re.search(r"^frames: (\d+) in, (\d+) out, 0 dropped; TCP: 0 connections, 3 listening; "
                  r"stack memory free (\d+)$", out, re.M)
    assert m and int(m.group(3)) > 0, out
    assert "sntp: off" in out, out
    ps = board.ps()                                # their listeners (the host link, FIX, HTTP), nobody else's
    rows = sorted([r.split() for r in out.split("\n") if re.match(r"\d+ +\d+ +listen", r)], key=lambda r: r[3])
    assert [[r[0]] + r[2:] for r in rows] == [[ps["hostnet"]["ID"], "listen", "4700", "listen", "0", "0"],
                                             [ps["httpnet"]["ID"], "listen", "80", "listen", "0", "0"],
                                             [ps["fixnet"]["ID"], "listen", "9878", "listen", "0", "0"]], out
    assert "net  " in board.cmd("ps")          # a live task of the production image
    assert "usage" in board.cmd("net sntp 10.0.2").lower()


def test_sntp_sets_the_clock_from_chronyd(board):
    assert board.cmd("date").startswith("date: not set")
    with NtpServer() as ntp:
        mark = board.mark()
        out = board.cmd("net sntp 10.0.2.2 %d" % ntp.port)
        assert out == "net: the clock is kept by SNTP against 10.0.2.2:%d\n" % ntp.port, out
        # the console says when the clock is set: waited for, so that it cannot land inside a command typed
        board.wait_line(r"clock: set by net \(sntp\)", since=mark, timeout=SNTP_WAIT)
        out = board.cmd("date")
        assert "set by sntp" in out, out + board.cmd("net")
        now = time.time_ns() // 1000000
        assert abs(utc.parse_iso(out.split()[0]) - now) < 5000, out
        st = board.cmd("net")
        m = re.search(r"^sntp: 10\.0\.2\.2:%d, (\d+) answers, \d+ refused or lost; last: offset [+-]\d+ ms, "
                      r"delay (\d+) ms, stratum (\d+)" % ntp.port, st, re.M)
        assert m and int(m.group(1)) >= 1 and int(m.group(3)) == 8, st   # chronyd serves its local stratum
    assert board.cmd("net sntp off") == "net: SNTP off\n"
