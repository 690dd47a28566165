"""fixnet: FIX 4.4 over TCP. It listens on FIX_PORT (9878) through net
(userland/lib/net.py), takes one connection at a time, frames the byte
stream (userland/gateway/fix.py's Reader: a message whose BodyLength or
CheckSum is wrong is dropped, as the standard says) and hands each whole
message to the gateway (userland/gateway/fixrelay.py), whose FIX acceptor
(fix_session.py) answers it; between messages, when the gateway says
something falls due (a Heartbeat, a TestRequest, a silent peer's Logout),
it asks for it. When the gateway ends the connection (a Logout) or the
peer closes it, the gateway is told, and the next connection is taken.

Relay is the loop over one connection without the board's objects, so the
host tests run it (tests/host/test_fixnet.py). Runs under MicroPython and
CPython."""
from userland.gateway import fix

CHUNK = 2048                # bytes asked of net per receive
RETRY_MS = 500              # net not up yet, or the port refused: try again this often
MAX_WAIT_MS = 1000          # the longest wait for bytes before the gateway is asked what is due


class Relay:
    """Relay(sock, gateway): sock has recv_into(buf, timeout_ms) (0: the
    peer closed; net.TimedOut when nothing came) and sendall(data,
    timeout_ms); gateway has message(bytes) and tick(), each -> (answer
    bytes, closed, due_ms). run() returns when either side ends the
    connection."""

    def __init__(self, sock, gateway, timed_out):
        self.sock, self.gateway, self.timed_out = sock, gateway, timed_out
        self.reader = fix.Reader(raw=True)   # the bytes as they came: the gateway frames them again
        self.buf = bytearray(CHUNK)
        self.view = memoryview(self.buf)
        self.due = MAX_WAIT_MS
        self.messages = 0

    def _send(self, answer):
        out, closed, due = answer
        if out:
            self.sock.sendall(out, 5000)
        self.due = max(1, min(due, MAX_WAIT_MS))
        return closed

    def run(self):
        while True:
            try:
                n = self.sock.recv_into(self.buf, self.due)
            except self.timed_out:
                if self._send(self.gateway.tick()):
                    return
                continue
            if n == 0:
                return                      # the peer closed its side
            if self.feed(self.view[:n]):
                return

    def feed(self, data):
        """Hand the whole messages `data` completes to the gateway; True once it ended the connection."""
        for m in self.reader.feed(data):
            self.messages += 1
            if self._send(self.gateway.message(m)):
                return True
        return False


def main():
    from kernel import abi
    from userland.gateway.fixrelay import FIX_DROP, FIX_LEASE, FIX_MSG, FIX_OPEN, FIX_PORT, FIX_TICK, reply_of
    from userland.lib import net, qenex
    import struct

    lease = bytearray(FIX_LEASE)
    rights = abi.LEASE_READ | abi.LEASE_WRITE
    say_once = qenex.say_once("fixnet")

    class Gateway:
        """The gateway's FIX acceptor by IPC: each call's answer comes back in the lease."""

        def _call(self, msg, data=b""):
            lease[:len(data)] = data
            try:
                r = qenex.call_lease("gateway", msg + struct.pack("<H", len(data)), lease, rights)
            except qenex.Error as e:        # the gateway restarting: this connection ends, the peer reconnects
                say_once("the gateway did not answer (%s): connection closed" % e.name)
                return b"", True, MAX_WAIT_MS
            got = reply_of(r)
            if got is None:
                say_once("the gateway refused: %s" % r[1:].decode())
                return b"", True, MAX_WAIT_MS
            n, closed, due = got
            return bytes(memoryview(lease)[:n]), closed, due

        def message(self, m):
            if len(m) > FIX_LEASE:
                return b"", False, MAX_WAIT_MS      # Reader bounds a message below this: never here
            return self._call(FIX_MSG, m)

        def tick(self):
            return self._call(FIX_TICK)

    listener = net.listen_when_up(FIX_PORT, say_once, RETRY_MS)
    qenex.write("fixnet: FIX on TCP port %d\n" % FIX_PORT)
    gw = Gateway()
    while True:
        conn, peer = listener.accept()
        try:
            gw._call(FIX_OPEN)
            Relay(conn, gw, net.TimedOut).run()
        except (net.NetError, qenex.Error) as e:
            say_once("connection from %s:%d ended: %s" % (peer[0], peer[1], e))
        finally:
            try:
                gw._call(FIX_DROP)
            except Exception:
                pass
            try:
                conn.close()
            except net.NetError:
                pass
