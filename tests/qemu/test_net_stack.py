"""lwIP on the LAN9118 (drivers/net/, kernel/port/modnet.c), in QEMU: the dev
image's netecho task echoes TCP and UDP on port 7, reached from the host
through QEMU's user network and its 127.0.0.1 forwards (tools/qemu.py). Bulk
echo both ways with every byte checked, many connections one after the
other, UDP datagrams, and the isolation of the net task's state: a task
without the grants that touches the LAN9118 or lwIP's region (device
net_ram, by calling `_net`) faults MemManage.

NET_ECHO_BYTES (default 1 MiB) and NET_CONNECTIONS (default 1,000) scale the
bulk and the connection tests; the issue's figures are NET_ECHO_BYTES=104857600
NET_CONNECTIONS=10000 (see the module's test timings in the report)."""
import os
import re
import socket
import time

import pytest

import sys

from qemu_console import DEV_FLASH, Device, norm
from test_isolation import FAULT_WAIT, fault_re, start

ECHO_BYTES = int(os.environ.get("NET_ECHO_BYTES", 1 << 20))
CONNECTIONS = int(os.environ.get("NET_CONNECTIONS", 1000))
UP_WAIT = 30            # seconds for the echo service to answer after the prompt
IO_TIMEOUT = 20         # seconds any one socket operation may take


@pytest.fixture
def dev():
    """The dev image booted with the board's services forwarded (dev.ports)."""
    if not os.path.isfile(DEV_FLASH):
        pytest.fail("%s does not exist: run `make build` first" % DEV_FLASH, pytrace=False)
    d = Device(DEV_FLASH, net=True)
    try:
        d.boot_output = d.wait_prompt()
        d.wait_line(r"netecho: address 10\.0\.2\.15, echo on tcp and udp port 7", timeout=UP_WAIT)
        yield d
    finally:
        d.terminate()
        sys.stdout.write("---- console of %s ----\n%s\n" % (os.path.basename(d.flash), norm(d.text)))


def connect(dev):
    """A TCP connection to the board's port 7 through the forward; retried
    while slirp's forward is not yet answered by the board."""
    port = dev.ports[("tcp", 7)]
    deadline = time.monotonic() + UP_WAIT
    while True:
        s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            s.sendall(b"?")
            if s.recv(1) == b"?":
                return s
        except OSError:
            pass
        s.close()
        assert time.monotonic() < deadline, "no echo on the board's port 7"
        time.sleep(0.2)


def pattern(n, seed=0):
    """n bytes no two 64 KiB windows of which are equal (a lost or doubled
    segment shows)."""
    block = bytes((i * 7 + seed + (i >> 8)) & 0xff for i in range(65536 + 251))
    out = bytearray()
    k = 0
    while len(out) < n:
        out += block[k % 251:k % 251 + 65536]
        k += 1
    return bytes(out[:n])


def test_echo_bulk_both_ways_nothing_lost(dev):
    s = connect(dev)
    data = pattern(ECHO_BYTES)
    got = bytearray()
    sent = 0
    s.setblocking(False)
    deadline = time.monotonic() + IO_TIMEOUT + ECHO_BYTES / 100000
    import select
    while len(got) < len(data):
        assert time.monotonic() < deadline, "echoed %d of %d bytes" % (len(got), len(data))
        want_w = [s] if sent < len(data) else []
        r, w, _ = select.select([s], want_w, [], 1.0)
        if w:
            sent += s.send(data[sent:sent + 65536])
        if r:
            chunk = s.recv(65536)
            assert chunk, "the board closed after %d bytes" % len(got)
            got += chunk
    assert bytes(got) == data
    s.setblocking(True)
    s.shutdown(socket.SHUT_WR)
    s.settimeout(IO_TIMEOUT)
    assert s.recv(1) == b""                  # the board closes once all went back
    s.close()


def test_net_errors_hold_on_the_board(dev):
    """netecho's self-check at start (stale ids, ports in use, a second
    init) printed its verdict before the address line."""
    assert "netecho: self-check ok" in dev.text, norm(dev.text)


def test_sequential_connections(dev):
    port = dev.ports[("tcp", 7)]
    connect(dev).close()
    t0 = time.monotonic()
    for i in range(CONNECTIONS):
        s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        msg = b"connection %d\n" % i
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            chunk = s.recv(100)
            assert chunk, "connection %d closed after %r" % (i, got)
            got += chunk
        assert got == msg
        s.close()
    print("%d connections in %.1f s" % (CONNECTIONS, time.monotonic() - t0))
    # The board still answers and holds no connection of those.
    connect(dev).close()


def test_udp_echo(dev):
    port = dev.ports[("udp", 7)]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    try:
        answered = 0
        for i in range(50):
            msg = b"datagram %d " % i + bytes(range(256)) * 4
            s.sendto(msg, ("127.0.0.1", port))
            try:
                got, _ = s.recvfrom(2048)
            except socket.timeout:
                continue
            assert got == msg
            answered += 1
        assert answered >= 45, answered     # UDP may lose a few, the echo none it got
    finally:
        s.close()


def test_info_counts_and_the_stack_survives_a_reset_connection(dev):
    s = connect(dev)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()                                # RST
    connect(dev).close()


@pytest.mark.parametrize("name", ["peek_eth", "net_rogue"])
def test_a_task_without_the_grant_faults_memmanage(dev, board, name):
    """peek_eth reads the LAN9118's ID register; net_rogue calls _net.info(),
    which reads lwIP's state in the net_ram region: neither is theirs."""
    mark = dev.mark()
    start(dev, name)
    f = dev.wait_line(fault_re(re.escape(name)), timeout=FAULT_WAIT, since=mark)
    assert f["reason"] == "MemManage", f.group(0)
    addr = int(f["addr"], 16)
    if name == "peek_eth":
        assert addr == board.ETH_BASE + 0x50
    else:
        assert board.NET_RAM_BASE <= addr < board.NET_RAM_BASE + board.NET_RAM_SIZE
    assert "isolation broken" not in dev.text
    connect(dev).close()                     # the echo service is untouched


def test_a_restarted_net_task_starts_from_a_clean_stack(dev):
    """`restart netecho`: the kernel scrubs the net region as the old task
    ends, the new one's _net.init() writes it from its load image. The old
    connection is gone from the board (its next segment is answered with a
    reset, or nothing: never an echo), a new one is served, and the new
    stack counts from zero."""
    old = connect(dev)
    old.sendall(b"before")
    assert old.recv(100) == b"before"
    mark = dev.mark()
    out = dev.cmd("restart netecho")
    assert "restarted" in out, out
    dev.wait_line(r"netecho: address 10\.0\.2\.15, echo on tcp and udp port 7", timeout=UP_WAIT, since=mark)
    new = connect(dev)
    new.sendall(b"after")
    assert new.recv(100) == b"after"
    old.settimeout(5)
    try:
        old.sendall(b"lost?")
        got = old.recv(100)
    except (ConnectionResetError, BrokenPipeError, socket.timeout):
        got = b""
    assert got == b"", "the old incarnation's connection still echoes: %r" % got
    old.close()
    new.close()


def test_dhcp_from_slirp(dev):
    """netecho stopped, netdhcp asks slirp for an address (`_net.init` with
    ip 0) and is given the first of its pool; netecho, restarted, serves
    again (its region written anew: netdhcp's stack does not survive)."""
    out = dev.cmd("kill netecho")
    mark = dev.mark()
    start(dev, "netdhcp")
    m = dev.wait_line(r"netdhcp: address (\S+) mask (\S+) gw (\S+) dhcp (\w+)", timeout=UP_WAIT, since=mark)
    assert m.groups() == ("10.0.2.15", "255.255.255.0", "10.0.2.2", "True"), m.group(0)
    mark = dev.mark()
    dev.cmd("restart netecho")
    dev.wait_line(r"netecho: self-check ok", timeout=UP_WAIT, since=mark)
    s = connect(dev)
    s.close()


def control(dev, msg):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(2)
        s.sendto(msg, ("127.0.0.1", dev.ports[("udp", 8)]))
        return s.recvfrom(100)[0]
    finally:
        s.close()


def test_the_board_connects_out_and_is_refused_by_a_closed_port(dev):
    """tcp_connect to the host (10.0.2.2 is the host's 127.0.0.1 under
    slirp): "connected" and the echo on that connection; a port nobody
    listens on gives "error" ECONNREFUSED (111)."""
    connect(dev).close()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(IO_TIMEOUT)
    port = srv.getsockname()[1]
    mark = dev.mark()
    control(dev, b"connect %d" % port)
    c, _ = srv.accept()
    c.settimeout(IO_TIMEOUT)
    dev.wait_line(r"netecho: connect %d: connected" % port, timeout=IO_TIMEOUT, since=mark)
    c.sendall(b"from the host")
    assert c.recv(100) == b"from the host"
    c.close()
    srv.close()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    mark = dev.mark()
    control(dev, b"connect %d" % port)
    m = dev.wait_line(r"netecho: connect %d: (.*)" % port, timeout=IO_TIMEOUT, since=mark)
    assert m.group(1) == "error 111", m.group(0)
