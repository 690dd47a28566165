"""net: the task that owns the Ethernet controller and the TCP/IP stack
(`_net`, lwIP in C, branch net-stack) and serves sockets to other tasks by
IPC (userland/lib/net.py is the client, userland/lib/netproto.py the wire
format, userland/net/sockets.py the table and the rules).

One loop: wait for a call, the controller's interrupt or the next timer
(lwIP's, or a held call's timeout), then hand the call to the table, poll the
stack and act on its events, and expire timeouts. It does nothing else: no
socket logic lives here. serve() is the loop without the board's objects, so
the host tests run it (tests/host/test_net_sockets.py)."""
from userland.net import sockets

ETH_BIT = 1 << 0                # the LAN9118 interrupt's notification bit (manifest irqs = eth:0)
MAC = b"\x02\x51\x58\x00\x00\x01"   # locally administered
IP, MASK, GW = 0x0A00020F, 0xFFFFFF00, 0x0A000202   # QEMU user network: 10.0.2.15/24 via 10.0.2.2
WAIT_MAX = 100                  # ms: _net.poll at least this often


def _recv(wait_ms):
    """(sender, message) of the next call, or (0, bits or b"") when the
    controller's interrupt or the timeout came first (SYS_RECV with a
    notification mask and a timeout: net never polls)."""
    from userland.lib import qenex
    return qenex.recv(poll=wait_ms == 0, mask=ETH_BIT, timeout_ms=wait_ms)


def serve(stack, svc, recv, ticks, turns=-1, ack=None, clock=None):
    """The loop: recv(wait_ms) -> (sender, msg), sender 0 for an interrupt
    or the timeout; ticks() -> ms; ack(): the controller's interrupt
    acknowledged (it stays masked until then), after the stack has taken
    what it signalled; clock: an sntp.Client (or None), given its datagrams
    and its turns. turns: stop after that many (tests); -1: never."""
    while turns:
        turns -= 1
        now = ticks()
        wait = min(stack.next_ms(), svc.due(now), WAIT_MAX)
        sender, msg = recv(wait)
        now = ticks()
        if sender:
            svc.request(sender, msg, now)
        stack.poll(now)
        if ack is not None and not sender and msg:
            ack()
        evs = stack.events()
        if clock is not None:
            evs = [e for e in evs if e[0] != "udp" or not clock.udp(e[1], e[2], e[3], e[4], now)]
            clock.poll(now)
        svc.events(evs)
        svc.tick(now)


class Sntp:
    """The board's clock kept by SNTP (userland/lib/sntp.py), configured by
    the console task (`net sntp IP [PORT]`, netproto SNTP): its server, the
    client, what it last did."""

    def __init__(self, stack, ticks, set_utc, console, nonce):
        self.stack, self.ticks, self.set_utc, self.console, self.nonce = stack, ticks, set_utc, console, nonce
        self.client = None

    def control(self, sender, ip, port):
        from kernel import abi
        from userland.lib import netproto as P
        from userland.lib.sntp import Client
        if (sender & abi.HANDLE_ID_MASK) != (self.console() & abi.HANDLE_ID_MASK):
            return P.EACCES
        if not port:
            return P.EINVAL
        self.client = Client(self.stack, ip, port, self.set_utc, self.nonce) if ip else None
        return 0

    def status(self):
        c = self.client
        if c is None:
            return {"sntp": None}
        p = c.poller
        return {"sntp": {"server": [c.server[0], c.server[1]], "answers": p.answers, "failures": p.failures,
                         "last_error": p.last_error, "offset_delay_stratum": list(c.last) if c.last else None}}

    # the loop's view of the clock: udp() and poll() of the client, if any
    def udp(self, uid, ip, port, data, now):
        return self.client is not None and self.client.udp(uid, ip, port, data, now)

    def poll(self, now):
        if self.client is not None:
            self.client.poll(now)


def main():
    import _net                 # the board's modules: serve() runs on the host without them
    import random
    from userland.lib import qenex, utcclock
    from userland.net.kern import Kern
    _net.init(MAC, IP, MASK, GW)
    svc = sockets.Service(_net, Kern())

    def set_utc(ms):
        try:
            utcclock.clock(ms, "sntp")
        except qenex.Error as e:
            qenex.write("net: sntp: the clock refused %d: %s\n" % (ms, e))

    def nonce():
        return random.getrandbits(32) << 32 | random.getrandbits(16) << 16 | (qenex.ticks() & 0xFFFF)
    random.seed(qenex.ticks() ^ _net.info()["rx_frames"])
    clock = Sntp(_net, qenex.ticks, set_utc, lambda: qenex.lookup("shell"), nonce)
    svc.control = clock.control
    svc.extra = clock.status
    serve(_net, svc, _recv, qenex.ticks, ack=lambda: qenex.irq_ack(ETH_BIT), clock=clock)
