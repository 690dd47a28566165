"""The host link over TCP on the host: hostnet's Relay cutting a byte
stream into frames and the gateway's relay() answering them through a
LinkServer (tests/host/hostnet_world.py), under CPython and MicroPython;
and tools/hostlink's client (what `qenex send --tcp` uses) logging in and
submitting through the relay."""
import struct

import pytest

from drivers.hsm import frame as F
from tests.host import hostnet_world as W
from tests.host import upy
from tools import hostlink
from userland.gateway import link


def test_the_relay_scenario():
    log = W.scenario()
    want = [
        "('info', 0, 5)",
        "('submit', 0, 'answer 1 to 8=FIX.4.4', 1)",
        "('open', b'\\x00\\x00\\x00')",
        "('after open', %d, 1)" % F.NOT_LOGGED_IN,
        "('down', [], 1)",
        "('response', [], 5)",              # info, the two login steps, two submits
    ]
    assert log[:len(want)] == want, log
    refusals = dict(eval(x) for x in log[len(want):-1])
    assert refusals["unknown"] == refusals["short"] == b"\x01unknown relay call (relay open, relay frame)"
    assert refusals["tiny"].startswith(b"\x01a frame of 3 bytes")
    assert refusals["huge"].startswith(b"\x01a frame of %d bytes" % (link.RELAY_LEASE + 1))
    assert refusals["small lease"].startswith(b"\x01the lease is 64 bytes")
    for k in ("bad crc", "two frames", "longer than the frame"):
        assert refusals[k] == b"\x01not one whole frame (sync, version, length and CRC are checked)", k
    assert eval(log[-1])[1][0] == F.LOCKED, log[-1]


def test_the_relay_scenario_under_micropython():
    got = upy.run("from tests.host import hostnet_world\nfor l in hostnet_world.scenario():\n    print(l)\n")
    assert got.splitlines() == W.scenario()


class RelaySocket:
    """tools/hostlink.Link's socket, with hostnet's Relay (and the gateway
    behind it) on the other side; each send runs the board."""

    def __init__(self, world):
        self.w = world
        self.pending = b""

    def sendall(self, data):
        self.w.relay.feed(data)
        self.pending += b"".join(self.w.conn.take())

    def recv(self, n):
        out, self.pending = self.pending, b""
        if not out:
            raise BlockingIOError()
        return out

    def setblocking(self, flag):
        pass

    def close(self):
        pass


def test_the_host_client_logs_in_and_submits_through_the_relay():
    w = W.World()
    w.server.hmac = hostlink._hmac            # the real HMAC, as the host's client uses
    w.server.codec = F.Codec(hostlink._crc, hostlink._hmac)
    c = hostlink.Link(None, W.KEY, timeout=2, sock=RelaySocket(w))
    assert c.submit("pacs.008", b"<Document/>") == "answer 1 to <Document/>"
    w.call(link.RELAY_OPEN)                   # a new connection: the session is gone,
    assert c.submit("MT103", b"{1:}") == "answer 2 to {1:}"    # the client logs in again and resends
    assert [k for k, m in w.ran] == ["pacs.008", "MT103"]


def test_a_dropped_frame_is_recovered_by_the_clients_retry():
    w = W.World()
    w.server.hmac = hostlink._hmac
    w.server.codec = F.Codec(hostlink._crc, hostlink._hmac)
    c = hostlink.Link(None, W.KEY, timeout=2, sock=RelaySocket(w))
    w.down = True
    calls = [0]
    real = w.forward

    def flaky(fr):
        calls[0] += 1
        w.down = calls[0] == 1              # the gateway restarting for the first frame only
        return real(fr)
    w.relay.forward = flaky
    assert c.submit("FIX", b"8=FIX.4.4") == "answer 1 to 8=FIX.4.4"
    assert w.relay.dropped == 1 and len(w.ran) == 1
