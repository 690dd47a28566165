"""Sockets for tasks: TCP through the `net` task (userland/net/), by IPC.

    from userland.lib import net
    srv = net.listen(8080)                  # the manifest must grant it: ports = 8080
    conn, (ip, port) = srv.accept(timeout_ms=5000)
    data = conn.recv(4096, timeout_ms=1000) # b"" once the peer has closed
    conn.sendall(b"hello")
    conn.close()
    c = net.connect("10.0.2.2", 80, timeout_ms=3000)

A task's manifest must name `net` in `calls`. Every call blocks the task
until net answers; timeout_ms=None waits without end, 0 never waits (EAGAIN
when nothing is ready). send() may take fewer bytes than given when the
connection's send window is full (flow control: it waits for room only when
it can take nothing); sendall() loops. Bulk data never goes 256 bytes at a
time: send lends the data and recv lends the buffer to net for the one call
(kernel/abi.py, Leases), and net copies through the kernel.

Errors raise NetError subclasses named for what happened, each with .name
(the errno name) and .code (userland/lib/netproto.py): TimedOut (ETIMEDOUT),
WouldBlock (EAGAIN), Refused (ECONNREFUSED), Reset (ECONNRESET), NotConnected
(ENOTCONN), AddrInUse (EADDRINUSE), PortNotGranted (EACCES), BadSocket
(EBADF: closed, never opened, or another task's), TooManySockets (EMFILE),
NoMemory (ENOMEM), NetDown (ENETDOWN), Busy (EBUSY), InvalidArgument
(EINVAL). The classes are also reachable by errno name (net.ETIMEDOUT).
A task's sockets close when it ends, however it ends. NetDown also says
that net itself ended during the call or is not running: its sockets are
gone with it (their ids are then BadSocket), the next call finds the new net.

The transport is qenex (call, call_lease) unless a test sets another with
use(): an object with call(msg) and call_lease(msg, lease, rights) that
return the reply bytes."""
from userland.lib import netproto as P


class NetError(Exception):
    """A socket operation refused: .code (netproto), .name (errno name)."""
    name = "E?"

    def __init__(self, code, what=""):
        self.code = code
        self.name = P.name_of(code)
        super().__init__("%s%s" % (self.name, (": " + what) if what else ""))


class TimedOut(NetError):
    pass


class WouldBlock(NetError):
    pass


class Refused(NetError):
    pass


class Reset(NetError):
    pass


class NotConnected(NetError):
    pass


class AddrInUse(NetError):
    pass


class PortNotGranted(NetError):
    pass


class BadSocket(NetError):
    pass


class TooManySockets(NetError):
    pass


class NoMemory(NetError):
    pass


class NetDown(NetError):
    pass


class Busy(NetError):
    pass


class InvalidArgument(NetError):
    pass


ETIMEDOUT, EAGAIN, ECONNREFUSED, ECONNRESET, ENOTCONN = TimedOut, WouldBlock, Refused, Reset, NotConnected
EADDRINUSE, EACCES, EBADF, EMFILE, ENOMEM, ENETDOWN, EBUSY, EINVAL = (
    AddrInUse, PortNotGranted, BadSocket, TooManySockets, NoMemory, NetDown, Busy, InvalidArgument)

_BY_CODE = {P.ETIMEDOUT: TimedOut, P.EAGAIN: WouldBlock, P.ECONNREFUSED: Refused, P.ECONNRESET: Reset,
            P.ENOTCONN: NotConnected, P.EADDRINUSE: AddrInUse, P.EACCES: PortNotGranted, P.EBADF: BadSocket,
            P.EMFILE: TooManySockets, P.ENOMEM: NoMemory, P.ENETDOWN: NetDown, P.EBUSY: Busy,
            P.EINVAL: InvalidArgument}


def error(code, what=""):
    """The NetError subclass instance for a wire code."""
    return _BY_CODE.get(code, NetError)(code, what)


class _Qenex:
    """The transport on the board: IPC to the task named net."""

    def __init__(self):
        from userland.lib import qenex
        self.q = qenex
        self.dest = None

    def _dest(self):
        if self.dest is None:
            self.dest = self.q.lookup("net")
        return self.dest

    def call(self, msg):
        return self._do(self.q.call, msg)

    def call_lease(self, msg, lease, rights):
        return self._do(self.q.call_lease, msg, lease, rights)

    def _do(self, f, *args):
        try:
            return f(self._dest(), *args)
        except self.q.Error as e:
            from kernel import errors
            if e.code in (errors.PEER_DIED, errors.NOT_RUNNING, errors.NO_SUCH_TASK):
                self.dest = None        # net restarted (its sockets with it) or is down
                raise NetDown(P.ENETDOWN, "net: %s" % e.name)
            raise


_t = None
LEASE_READ, LEASE_WRITE = 1, 2          # kernel/abi.py LEASE_*, without importing the kernel


def use(transport):
    """Send requests through `transport` (tests); None: back to qenex."""
    global _t
    _t = transport


def _transport():
    global _t
    if _t is None:
        _t = _Qenex()
    return _t


def _timeout(ms):
    if ms is None:
        return P.FOREVER
    if not isinstance(ms, int) or ms < 0 or ms >= P.FOREVER:
        raise InvalidArgument(P.EINVAL, "timeout_ms %r is not None or an int 0..%d" % (ms, P.FOREVER - 1))
    return ms


def _ask(msg, lease=None, rights=0, what=""):
    t = _transport()
    r = t.call(msg) if lease is None else t.call_lease(msg, lease, rights)
    v, x, y = P.parse_reply(r)
    if v < 0:
        raise error(-v, what)
    return v, x, y


class Socket:
    """One socket of this task: a listener (accept) or a connection (send,
    recv). .sid is net's id for it; closed sockets raise BadSocket."""

    def __init__(self, sid, peer=None):
        self.sid = sid
        self.peer = peer            # (ip text, port) of a connection

    def accept(self, timeout_ms=None):
        """The next connection to this listener: (Socket, (ip text, port))."""
        v, ip, port = _ask(P.request(P.ACCEPT, self.sid, _timeout(timeout_ms)), what="accept")
        peer = (P.ip_text(ip), port)
        return Socket(v, peer), peer

    def send(self, data, timeout_ms=None):
        """Bytes of data (a bytes-like object) the connection took: at least
        1, at most len(data); waits for send room only when it has none."""
        if not len(data):
            return 0
        v, x, y = _ask(P.request(P.SEND, self.sid, _timeout(timeout_ms)), data, LEASE_READ, "send")
        return v

    def sendall(self, data, timeout_ms=None):
        """send() until all of data is taken (timeout_ms: for each wait)."""
        mv = memoryview(data)
        off = 0
        while off < len(mv):
            off += self.send(mv[off:], timeout_ms)
        return off

    def recv_into(self, buf, timeout_ms=None):
        """Bytes net wrote into buf (a bytearray or a memoryview of one):
        at least 1, or 0 once the peer has closed its side."""
        if not len(buf):
            return 0
        v, x, y = _ask(P.request(P.RECV, self.sid, _timeout(timeout_ms)), buf, LEASE_WRITE, "recv")
        return v

    def recv(self, n, timeout_ms=None):
        """Up to n bytes (b"" once the peer has closed its side)."""
        buf = bytearray(n)
        k = self.recv_into(buf, timeout_ms)
        return bytes(buf) if k == n else bytes(memoryview(buf)[:k])

    def close(self):
        """Close (a connection: FIN after what was sent). Closing twice is
        BadSocket."""
        _ask(P.request(P.CLOSE, self.sid), what="close")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self.close()
        except BadSocket:
            pass


def listen(port):
    """A listener on port (the caller's manifest must grant it: ports = ...)."""
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidArgument(P.EINVAL, "port %r is not 1..65535" % (port,))
    v, x, y = _ask(P.request(P.LISTEN, port=port), what="listen %d" % port)
    return Socket(v)


def listen_when_up(port, say, retry_ms=500):
    """listen(port), tried again every retry_ms while net is not up yet or
    refuses (say(text) is told why each time): a front task's first step
    (userland/hostnet/, userland/fixnet/)."""
    from userland.lib import qenex
    while True:
        try:
            return listen(port)
        except (NetError, qenex.Error) as e:
            say("cannot listen on %d yet (%s): trying every %d ms" % (port, e, retry_ms))
            qenex.sleep(retry_ms)


def connect(ip, port, timeout_ms=None):
    """A connection to ip ("10.0.2.2" or an int) and port."""
    if isinstance(ip, str):
        ip = P.ip_int(ip)
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidArgument(P.EINVAL, "port %r is not 1..65535" % (port,))
    v, x, y = _ask(P.request(P.CONNECT, ip, _timeout(timeout_ms), port), what="connect")
    return Socket(v, (P.ip_text(ip), port))


def sntp(ip, port=123):
    """Have net keep the board's clock by SNTP against ip:port (a dotted
    quad or an int; 0: stop). The console task alone may (PortNotGranted
    otherwise: EACCES)."""
    if isinstance(ip, str):
        ip = P.ip_int(ip)
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidArgument(P.EINVAL, "port %r is not 1..65535" % (port,))
    _ask(P.request(P.SNTP, ip, 0, port), what="sntp")


def info(cap=2048):
    """net's state as JSON text: the stack's counters and every socket
    (owner, kind, port, state), for the shell's `net`."""
    buf = bytearray(cap)
    n, x, y = _ask(P.request(P.INFO), buf, LEASE_WRITE, "info")
    return bytes(memoryview(buf)[:n]).decode()
