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
    """(sender, message) of the next call, or (0, b"") when the interrupt or
    the timeout came first.

    STAND-IN until irq-uart's SYS_RECV(buf, cap, poll, notify_mask,
    timeout_ms) is on main: the integrator replaces this body with
        return qenex.recv(poll=wait_ms == 0, mask=ETH_BIT, timeout_ms=wait_ms)
    (r1 = sender, or 0 for a notification or the timeout). Until then net
    polls for a call and sleeps a millisecond, so the stack is polled every
    ms whether or not a frame came."""
    from userland.lib import qenex
    sender, msg = qenex.recv(poll=True)
    if not sender and wait_ms:
        qenex.sleep(1)
    return sender, msg


def serve(stack, svc, recv, ticks, turns=-1):
    """The loop: recv(wait_ms) -> (sender, msg), sender 0 for an interrupt
    or the timeout; ticks() -> ms. turns: stop after that many (tests);
    -1: never."""
    while turns:
        turns -= 1
        now = ticks()
        wait = min(stack.next_ms(), svc.due(now), WAIT_MAX)
        sender, msg = recv(wait)
        now = ticks()
        if sender:
            svc.request(sender, msg, now)
        stack.poll(now)
        svc.events(stack.events())
        svc.tick(now)


def main():
    import _net                 # the board's modules: serve() runs on the host without them
    from userland.lib import qenex
    from userland.net.kern import Kern
    _net.init(MAC, IP, MASK, GW)
    serve(_net, sockets.Service(_net, Kern()), _recv, qenex.ticks)
