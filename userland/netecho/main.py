"""netecho: the board's network seen from the host, with nothing between lwIP
and the test: a task that drives `_net` (kernel/port/modnet.c, drivers/net/
STACK.md) itself and echoes every byte of every TCP connection to port 7 and
every UDP datagram to port 7 back to its sender, on the address QEMU's user
network expects (10.0.2.15/24, gateway 10.0.2.2; `dhcp = True` below asks
slirp instead). It holds no socket service for other tasks (that is the net
task's, userland/net/): it is what the QEMU tests and the benchmarks measure
the C side with.

Flow control is TCP's own: a connection's bytes are read only when what was
read before has all been accepted by tcp_send, so a peer that sends faster
than it reads fills its window, not this task's heap.

Waiting: until the kernel routes the LAN9118's interrupt to its owner, the
task polls (`_net.poll`, then a sleep of POLL_MS when nothing happened);
`idle()` is the one place that changes when it waits on the interrupt's
notification bit instead."""
import errno

import _net
import _qx
import board
from userland.lib import qenex

IP = 0x0A00020F          # 10.0.2.15
MASK = 0xFFFFFF00
GW = 0x0A000202          # 10.0.2.2, slirp's gateway (and the host)
MAC = b"\x52\x54\x00\x12\x34\x56"
PORT = 7
CHUNK = 4096             # bytes read from a connection at a time
POLL_MS = 2              # the wait when nothing happened (no interrupt yet)
DHCP = False
STATS_PORT = 8           # UDP control: the busy counters for tools/bench.py (b"reset" / b"read"),
                         # b"connect PORT": connect to the host (10.0.2.2) and echo there too
FREE_RUN = board.ETH_BASE + 0x9c   # the LAN9118's 25 MHz free-running counter (virtual time)


def idle(busy):
    """Give the CPU away until the network may have something: at once
    (a yield) after a step that handled events, else POLL_MS, or until
    lwIP's next timer when that is sooner. With the Ethernet IRQ routed to
    this task, this becomes qenex.wait(ETH_BIT, timeout=_net.next_ms())."""
    if busy:
        qenex.yield_()
    else:
        qenex.sleep(max(1, min(POLL_MS, _net.next_ms())))


class Echo:
    def __init__(self):
        self.pending = {}        # cid -> memoryview of bytes tcp_send has not taken yet
        self.eof = set()
        self.outgoing = {}       # cid -> port of a tcp_connect not yet answered

    def pump(self, cid):
        """Send what waits, then read and send more until the send buffer
        or the received data runs out; close once the peer closed and all
        of its bytes went back."""
        pending = self.pending
        while True:
            buf = pending.get(cid)
            if buf is not None:
                n = _net.tcp_send(cid, buf)
                if n < len(buf):
                    pending[cid] = buf[n:]
                    return
                del pending[cid]
            data = _net.tcp_recv(cid, CHUNK)
            if not data:
                break
            pending[cid] = memoryview(data)
        if cid in self.eof:
            self.eof.discard(cid)
            _net.tcp_close(cid)

    def forget(self, cid):
        self.pending.pop(cid, None)
        self.eof.discard(cid)

    def handle(self, ev):
        kind = ev[0]
        if kind == "recv" or kind == "sent":
            if ev[1] in self.pending or kind == "recv":
                self.pump(ev[1])
        elif kind == "accept":
            self.pump(ev[2])
        elif kind == "eof":
            self.eof.add(ev[1])
            self.pump(ev[1])
        elif kind == "error":
            if ev[1] in self.outgoing:
                qenex.write("netecho: connect %d: error %d\n" % (self.outgoing.pop(ev[1]), ev[2]))
            self.forget(ev[1])
        elif kind == "connected":
            qenex.write("netecho: connect %d: connected\n" % self.outgoing.pop(ev[1], 0))
        elif kind == "udp":
            _net.udp_sendto(ev[1], ev[2], ev[3], ev[4])
        elif kind == "address":
            qenex.write("netecho: address %d.%d.%d.%d, echo on tcp and udp port %d\n"
                        % (ev[1] >> 24, (ev[1] >> 16) & 255, (ev[1] >> 8) & 255, ev[1] & 255, PORT))


def _errno(fn, *args):
    try:
        fn(*args)
    except OSError as e:
        return e.args[0]
    return 0


def selfcheck(lid, uid):
    """The errors _net promises (drivers/net/STACK.md), on the live stack:
    a second init, a port listened already, stale and unknown ids. Returns
    what did not hold (empty: all did)."""
    bad = []
    checks = (
        ("init twice", errno.EINVAL, _net.init, MAC, IP, MASK, GW),
        ("listen twice", errno.EADDRINUSE, _net.tcp_listen, PORT),
        ("udp port twice", errno.EADDRINUSE, _net.udp_open, PORT),
        ("unknown cid", errno.EBADF, _net.tcp_recv, 5, 10),
        ("listener id as cid", errno.EBADF, _net.tcp_send, lid, b"x"),
        ("bad port", errno.EINVAL, _net.tcp_listen, 70000),
    )
    for check in checks:
        name, want, fn, args = check[0], check[1], check[2], check[3:]
        got = _errno(fn, *args)
        if got != want:
            bad.append("%s: errno %d, not %d" % (name, got, want))
    spare = _net.tcp_listen(PORT + 1)
    _net.listen_close(spare)
    if _errno(_net.listen_close, spare) != errno.EBADF:
        bad.append("a closed listener's id still works")
    again = _net.tcp_listen(PORT + 1)       # the slot again, a new generation
    if again == spare or _errno(_net.listen_close, spare) != errno.EBADF:
        bad.append("a stale listener id names the new one")
    _net.listen_close(again)
    info = _net.info()
    if (info["ip"], info["mask"], info["gw"], info["mac"], info["tcp_listen"]) != (IP, MASK, GW, MAC, 1):
        bad.append("info %r" % (info,))
    return bad


def main():
    _net.init(MAC, 0 if DHCP else IP, MASK, GW)
    lid = _net.tcp_listen(PORT)
    uid = _net.udp_open(PORT)
    stats = _net.udp_open(STATS_PORT)
    bad = selfcheck(lid, uid)
    qenex.write("netecho: self-check %s\n" % ("ok" if not bad else "FAILED: " + "; ".join(bad)))
    echo = Echo()
    # busy: counts of the 25 MHz counter spent in steps that handled events
    # (under -icount shift=0, 40 guest instructions a count: what the work
    # cost, without the waits between steps), for tools/bench.py.
    busy = steps = 0
    while True:
        t0 = _qx.peek(FREE_RUN)
        _net.poll(qenex.ticks())
        events = _net.events()
        for ev in events:
            try:
                if ev[0] == "udp" and ev[1] == stats:
                    if ev[4] == b"reset":
                        busy = steps = 0
                    elif ev[4].startswith(b"connect "):
                        port = int(ev[4][8:])
                        echo.outgoing[_net.tcp_connect(GW, port)] = port
                    _net.udp_sendto(stats, ev[2], ev[3], b"busy %d steps %d" % (busy, steps))
                    continue
                echo.handle(ev)
            except OSError:                # the connection went meanwhile (EBADF): its error event follows
                if len(ev) > 1:
                    echo.forget(ev[1] if ev[0] != "accept" else ev[2])
        if events:
            busy += (_qx.peek(FREE_RUN) - t0) & 0xffffffff
            steps += 1
        idle(events)
