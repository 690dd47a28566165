"""FIX over TCP, the gateway's side: the fixnet task (userland/fixnet/)
holds the TCP connection and hands over whole messages; the gateway's FIX
acceptor (service.Gateway.fix, fix_session.py) answers them, in the same
sessions (and the same order book) as the host link's FIX. Calls (IPC,
only from the task named FIXNET_TASK), each with a lease of FIX_LEASE bytes
(read + write) and "<H" the length of what it holds:
    FIX_OPEN    a new connection (the last one, if any, is dropped)
    FIX_MSG     the lease holds one whole FIX message
    FIX_TICK    nothing: what falls due now (Heartbeat, TestRequest, Logout)
    FIX_DROP    the connection closed
Reply: b"\\x00" + "<HBI" (bytes of the answer written back at 0, flags, ms
until the next FIX_TICK is due), or b"\\x01" and why not. Flag 1: the
connection is to be closed once the answer is sent. Answers longer than the
lease are kept and handed out by the next calls (due 0 until they are).
Plain Python."""
import struct

FIXNET_TASK = "fixnet"
FIX_PORT = 9878
FIX_LEASE = 8192
FIX_OPEN = b"fix open"
FIX_MSG = b"fix msg"
FIX_TICK = b"fix tick"
FIX_DROP = b"fix drop"
CLOSED = 1


def reply_of(r):
    """(answer length, closed, due ms) of a reply, or None for a refusal."""
    if r[:1] != b"\x00" or len(r) != 8:
        return None
    n, flags, due = struct.unpack("<HBI", r[1:])
    return n, bool(flags & CLOSED), due


class FixRelay:
    def __init__(self, gateway):
        self.gw = gateway
        self.conn = None
        self.pending = b""          # answer bytes not yet handed out (beyond a lease)

    def call(self, msg, n, borrow, lend):
        """The reply to one fixnet call: borrow(k) reads the lease's first k
        bytes, lend(data) writes at its start."""
        verb = msg[:-2] if len(msg) >= 2 else b""
        if verb == FIX_OPEN:
            if self.conn is not None:
                self.conn.drop()
            self.conn, self.pending = self.gw.fix.open(), b""
            return self._answer(lend)
        if self.conn is None:
            return b"\x01no FIX connection is open (FIX_OPEN first)"
        if verb == FIX_DROP:
            self.conn.drop()
            self.conn, self.pending = None, b""
            return self._answer(lend)
        if verb == FIX_MSG:
            k = struct.unpack("<H", msg[-2:])[0]
            if not 0 < k <= min(n, FIX_LEASE):
                return b"\x01" + ("FIX_MSG's length %d is not within the lease (%d bytes)" % (k, n)).encode()
            if not self.conn.closed:
                self.pending += self.gw.submit("FIX", borrow(k), self.conn).encode("latin-1")
            return self._answer(lend)
        if verb == FIX_TICK:
            if not self.pending and not self.conn.closed:
                self.pending = "".join(self.conn.tick()).encode("latin-1")
            return self._answer(lend)
        return b"\x01unknown FIX relay call"

    def _answer(self, lend):
        out, self.pending = self.pending[:FIX_LEASE], self.pending[FIX_LEASE:]
        if out:
            lend(out)
        c = self.conn
        closed = c is not None and c.closed and not self.pending
        due = 0 if self.pending or c is None else c.due_ms()
        return b"\x00" + struct.pack("<HBI", len(out), CLOSED if closed else 0, min(due, 0xFFFFFFFF))
