"""hostnet: the host link over TCP. It listens on RELAY_PORT (4700) through
net (userland/lib/net.py), takes one connection at a time, cuts the byte
stream into whole frames (drivers/hsm/frame.py's Reader: sync, version,
length, CRC) and hands each to the gateway (userland/gateway/link.py,
RELAY_*), which holds the link key and the session and answers it; the
answer goes back on the connection. The host's side is tools/hostlink.py
(`qenex send --tcp 127.0.0.1:PORT`).

This task holds no key and no session: a connection it loses costs the host
a new login, nothing more. A connection silent for IDLE_MS is closed (a host
that vanished without a FIN must not keep the link from the next one), and
a new connection first ends the TCP session the last one had.

Relay is the loop over one connection without the board's objects, so the
host tests run it (tests/host/test_hostnet.py). Runs under MicroPython and
CPython."""
import struct

from drivers.hsm import frame as F

IDLE_MS = 300000            # a connection with no byte for 5 minutes is closed
CHUNK = 2048                # bytes asked of net per receive
RETRY_MS = 500              # net not up yet, or the port refused: try again this often


class Relay:
    """Relay(sock, forward, crc32): sock has recv_into(buf, timeout_ms) and
    sendall(data); forward(frame) -> the gateway's answer (bytes, perhaps
    empty) or None when the gateway could not answer (the frame is dropped:
    the host's retry asks again). run() returns when the peer closes;
    net's errors (reset, timeout) reach the caller."""

    def __init__(self, sock, forward, crc32, idle_ms=IDLE_MS):
        self.sock, self.forward, self.idle_ms = sock, forward, idle_ms
        self.reader = F.Reader(crc32)
        self.buf = bytearray(CHUNK)
        self.view = memoryview(self.buf)
        self.frames = self.answered = self.dropped = 0

    def run(self):
        while True:
            n = self.sock.recv_into(self.buf, self.idle_ms)
            if n == 0:
                return                      # the host closed its side
            self.feed(self.view[:n])

    def feed(self, data):
        """Answer the whole frames `data` completes."""
        for fr in self.reader.feed(data):
            self.frames += 1
            if fr[3] & F.RESPONSE:
                continue                    # an answer sent to the board: nothing to answer (as on UART2)
            ans = self.forward(fr)
            if ans is None:
                self.dropped += 1
            elif len(ans):
                self.answered += 1
                self.sock.sendall(ans, self.idle_ms)


def main():
    from kernel import abi
    from userland.gateway.link import RELAY_FRAME, RELAY_LEASE, RELAY_OPEN, RELAY_PORT
    from userland.lib import net, qenex
    import binascii

    lease = bytearray(RELAY_LEASE)
    rights = abi.LEASE_READ | abi.LEASE_WRITE
    say_once = qenex.say_once("hostnet")

    def forward(fr):
        lease[:len(fr)] = fr
        try:
            r = qenex.call_lease("gateway", RELAY_FRAME + struct.pack("<H", len(fr)), lease, rights)
        except qenex.Error as e:            # the gateway restarting: the host's retry finds it back
            say_once("the gateway did not answer (%s): frame dropped" % e.name)
            return None
        if r[:1] != b"\x00" or len(r) != 3:
            say_once("the gateway refused a frame: %s" % r[1:].decode())
            return None
        return bytes(memoryview(lease)[:struct.unpack("<H", r[1:])[0]])

    listener = net.listen_when_up(RELAY_PORT, say_once, RETRY_MS)
    qenex.write("hostnet: host link on TCP port %d\n" % RELAY_PORT)
    while True:
        conn, peer = listener.accept()
        try:
            qenex.call("gateway", RELAY_OPEN)
            Relay(conn, forward, binascii.crc32).run()
        except (net.NetError, qenex.Error) as e:
            say_once("connection from %s:%d ended: %s" % (peer[0], peer[1], e))
        finally:
            try:
                conn.close()
            except net.NetError:
                pass                        # net closed it already (reset by the peer)
