"""The socket service (userland/net/sockets.py) and its client
(userland/lib/net.py) on the host: a fake kernel that holds each task's call
and lease as the real one does (a lease is readable and writable only while
its call is held, only within its bounds, only as its rights say: anything
else fails the test), the fake stack (tests/host/fake_net.py), and scenarios
returning logs, so tests/host/test_net_sockets.py can check them under
CPython and under MicroPython. Plain Python: MicroPython imports it too.

A client task is a Task: World.client(task) returns a transport that
net.use() takes; each call hands the request to the service and runs the
world (the stack's events, the service's timeouts, 1 ms a turn, and the
test's `each` hook, e.g. the remote end reading) until the service answers."""
import hashlib

from tests.host import fake_net
from userland.lib import net, netproto as P
from userland.net import sockets

TURNS_MAX = 200000


class Task:
    def __init__(self, world, tid, ports):
        self.world = world
        self.tid = tid
        self.gen = 0
        self.ports = list(ports)
        self.alive = True
        self.calls = 0

    def handle(self):
        return self.tid | self.gen << 8


class Held:
    def __init__(self, lease, rights):
        self.lease = lease
        self.rights = rights
        self.reply = None


class FakeKern:
    """The kernel as the service sees it (userland/net/kern.py on the board)."""

    def __init__(self, world):
        self.w = world
        self.held = {}          # handle -> Held: the calls net holds
        self.copied = 0

    def _task(self, h):
        t = self.w.tasks.get(h & 0xFF)
        if t is None or t.handle() != h or not t.alive:
            return None
        return t

    def _call(self, h):
        if self._task(h) is None:
            raise sockets.Gone()
        c = self.held.get(h)
        assert c is not None and c.reply is None, "net touched a call it does not hold: 0x%x" % h
        return c

    def reply(self, h, data):
        if self._task(h) is None:
            return False
        c = self._call(h)
        assert len(data) <= 256
        c.reply = bytes(data)
        return True

    def lease(self, h):
        c = self._call(h)
        if c.lease is None:
            return 0, 0
        return len(c.lease), c.rights

    def borrow_read(self, h, off, buf):
        c = self._call(h)
        assert c.lease is not None and c.rights & 1, "read of a lease not lent to read"
        assert 0 <= off and off + len(buf) <= len(c.lease), "borrow past the lease"
        buf[:] = c.lease[off:off + len(buf)]
        self.copied += len(buf)
        return len(buf)

    def borrow_write(self, h, off, data):
        c = self._call(h)
        assert c.lease is not None and c.rights & 2, "write to a lease not lent to write"
        assert 0 <= off and off + len(data) <= len(c.lease), "borrow past the lease"
        c.lease[off:off + len(data)] = data
        self.copied += len(data)
        return len(data)

    def peer(self, h):
        t = self._task(h)
        return None if t is None else list(t.ports)


class Transport:
    def __init__(self, world, task):
        self.w = world
        self.t = task

    def call(self, msg):
        return self.call_lease(msg, None, 0)

    def call_lease(self, msg, lease, rights):
        w = self.w
        t = self.t
        assert t.alive
        h = t.handle()
        c = Held(lease, rights)
        w.kern.held[h] = c
        t.calls += 1
        w.svc.request(h, bytes(msg), w.now)
        turns = 0
        while c.reply is None:
            w.turn()
            turns += 1
            assert turns < TURNS_MAX, "no answer to task %d in %d turns" % (t.tid, turns)
        del w.kern.held[h]
        return c.reply


class World:
    def __init__(self):
        self.now = 0
        self.stack = fake_net.FakeNet()
        self.kern = FakeKern(self)
        self.svc = sockets.Service(self.stack, self.kern)
        self.tasks = {}
        self.each = None
        self.stack.init(b"\x02\x00\x00\x00\x00\x01", fake_net.BOARD_IP, 0xFFFFFF00, fake_net.HOST_IP)
        self.turn()

    def task(self, ports=()):
        tid = len(self.tasks) + 1
        t = Task(self, tid, ports)
        self.tasks[tid] = t
        return t

    def use(self, t):
        """Make net's client speak as task t."""
        net.use(Transport(self, t))

    def turn(self):
        if self.each is not None:
            self.each()
        self.stack.poll(self.now)
        self.svc.events(self.stack.events())
        self.svc.tick(self.now)
        self.now += 1

    def run(self, ms):
        end = self.now + ms
        while self.now < end:
            self.turn()

    def kill(self, t):
        """t ends (in no call: a call of it held by net is dropped, as the
        kernel drops it)."""
        t.alive = False
        self.kern.held.pop(t.handle(), None)

    def restart(self, t):
        t.gen += 1
        t.alive = True


def err(f, *a, **kw):
    """f's result, or the error's class and errno name."""
    try:
        return f(*a, **kw)
    except net.NetError as e:
        return (type(e).__name__, e.name)


def was_reset(remote_conn):
    try:
        remote_conn.send(b"x")
        return False
    except OSError:
        return True


def echo():
    """listen, accept from the host, recv, send, the peer's close, close."""
    w = World()
    a = w.task(ports=(7,))
    w.use(a)
    log = []
    srv = net.listen(7)
    r = w.stack.remote.connect(7)
    conn, peer = srv.accept(timeout_ms=1000)
    log.append(("peer", peer))
    r.send(b"hello")
    log.append(("recv", conn.recv(100, timeout_ms=1000)))
    log.append(("sendall", conn.sendall(b"HELLO")))
    log.append(("remote", r.recv()))
    r.close()
    log.append(("eof", conn.recv(100, timeout_ms=1000)))
    conn.close()
    srv.close()
    log.append(("live", w.stack.live(), w.svc.count()))
    log.append(("refused", err(net.connect, "10.0.2.2", 9, timeout_ms=100)))
    w.stack.remote.listen(80)
    c = net.connect("10.0.2.2", 80, timeout_ms=100)
    rc = w.stack.remote.accepted(80)
    log.append(("connect", c.peer, c.send(b"GET /"), rc.recv()))
    rc.reset()
    log.append(("reset", err(c.recv, 10, timeout_ms=100), err(c.send, b"x")))
    c.close()
    log.append(("live", w.stack.live(), w.svc.count()))
    net.use(None)
    return log


def timeouts():
    w = World()
    a = w.task(ports=(7,))
    w.use(a)
    log = []
    srv = net.listen(7)
    t0 = w.now
    log.append(("accept", err(srv.accept, timeout_ms=50), w.now - t0 >= 50, w.now - t0 < 60))
    log.append(("accept0", err(srv.accept, timeout_ms=0)))
    r = w.stack.remote.connect(7)
    w.run(2)
    conn, peer = srv.accept(timeout_ms=0)
    t0 = w.now
    log.append(("recv", err(conn.recv, 10, timeout_ms=30), w.now - t0 >= 30))
    log.append(("recv0", err(conn.recv, 10, timeout_ms=0)))
    t0 = w.now
    log.append(("connect", err(net.connect, fake_net.SILENT_IP, 80, timeout_ms=40), w.now - t0 >= 40,
                w.svc.count()))
    log.append(("bad timeout", err(conn.recv, 10, timeout_ms=-1)))
    r.send(b"late")
    log.append(("after", conn.recv(10, timeout_ms=None)))
    conn.close()
    srv.close()
    log.append(("live", w.stack.live(), w.svc.count()))
    net.use(None)
    return log


def grants():
    """Ports from the manifest (as the kernel tells), not the caller's word;
    one listener per port; another task's sockets are not its own."""
    w = World()
    a = w.task(ports=(7, 8080))
    b = w.task(ports=())
    log = []
    w.use(b)
    log.append(("b listen 7", err(net.listen, 7)))
    w.use(a)
    log.append(("a listen 9", err(net.listen, 9)))
    srv = net.listen(7)
    log.append(("again", err(net.listen, 7)))
    log.append(("bad port", err(net.listen, 0)))
    r = w.stack.remote.connect(7)
    conn, peer = srv.accept(timeout_ms=100)
    r.send(b"secret")
    w.use(b)
    forged = net.Socket(conn.sid)
    log.append(("b recv", err(forged.recv, 10, timeout_ms=0)))
    log.append(("b send", err(forged.send, b"x")))
    log.append(("b close", err(forged.close)))
    log.append(("b accept", err(net.Socket(srv.sid).accept, timeout_ms=0)))
    log.append(("b info-less", err(net.Socket(999).close)))
    w.use(a)
    log.append(("a recv", conn.recv(10, timeout_ms=0)))
    conn.close()
    log.append(("stale", err(conn.recv, 10, timeout_ms=0), err(conn.close)))
    log.append(("raw junk", P.parse_reply(Transport(w, a).call(b"junk"))[0] == -P.EINVAL))
    log.append(("send on a listener", P.parse_reply(Transport(w, a).call(P.request(P.SEND, srv.sid, 0)))[0]))
    text = net.info()
    log.append(("info", '"sockets": [[1, %d, "listen", 7, "listen", 0, 0]]' % srv.sid in text))
    srv.close()
    net.use(None)
    return log


def deaths():
    """A task's sockets close when it ends, in a call or not; its port is free
    again for its next incarnation."""
    w = World()
    a = w.task(ports=(7,))
    w.use(a)
    log = []
    srv = net.listen(7)
    r1 = w.stack.remote.connect(7)
    conn, peer = srv.accept(timeout_ms=100)
    w.stack.remote.listen(80)
    out = net.connect("10.0.2.2", 80, timeout_ms=100)
    r2 = w.stack.remote.accepted(80)
    w.stack.remote.connect(7)               # waiting in the backlog
    w.run(5)
    log.append(("before", w.stack.live(), w.svc.count()))
    w.kill(a)                               # in no call
    w.run(sockets.SWEEP_MS + 10)
    log.append(("after", w.stack.live(), w.svc.count(), w.svc.closed_for_death))
    log.append(("remote sees a reset", was_reset(r1), was_reset(r2)))
    w.restart(a)
    w.use(a)
    srv = net.listen(7)                     # the port is free again
    log.append(("old sid", err(conn.recv, 1, timeout_ms=0)))
    # dies while net holds its accept: the held call is dropped, the listener freed
    b = w.task(ports=(8,))
    w.use(b)
    l8 = net.listen(8)
    h = b.handle()
    w.kern.held[h] = Held(None, 0)
    w.svc.request(h, P.request(P.ACCEPT, l8.sid, P.FOREVER), w.now)
    w.kill(b)
    w.run(sockets.SWEEP_MS + 10)
    log.append(("held", w.stack.live(), w.svc.count()))
    w.use(a)
    srv.close()
    log.append(("end", w.stack.live(), w.svc.count()))
    net.use(None)
    return log


def flow():
    """Partial sends when the window is full, a send held until the peer
    reads, the held send's timeout."""
    w = World()
    a = w.task()
    w.use(a)
    log = []
    w.stack.remote.listen(80)
    c = net.connect("10.0.2.2", 80, timeout_ms=100)
    rc = w.stack.remote.accepted(80)
    big = b"x" * 10000
    log.append(("partial", c.send(big)))
    log.append(("full", err(c.send, big, timeout_ms=0), err(c.send, big, timeout_ms=20)))
    got = []

    def reader():
        if w.now % 7 == 0:
            got.append(rc.recv(1000))
    w.each = reader
    n = c.sendall(big, timeout_ms=1000)
    while sum([len(g) for g in got]) < 4096 + 10000:
        w.turn()
    w.each = None
    log.append(("sendall", n, sum([len(g) for g in got])))
    c.close()
    log.append(("live", w.stack.live(), w.svc.count()))
    net.use(None)
    return log


def pair(total=1 << 20):
    """1 MiB through a socket pair of two tasks on the board, nothing lost:
    B sends what the window takes, A reads with timeout 0 until EAGAIN."""
    w = World()
    a = w.task(ports=(7,))
    b = w.task()
    w.use(a)
    srv = net.listen(7)
    w.use(b)
    cb = net.connect("10.0.2.15", 7, timeout_ms=100)
    w.use(a)
    ca, peer = srv.accept(timeout_ms=100)
    data = bytearray(total)
    x = 12345
    for i in range(total):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        data[i] = x >> 16 & 0xFF
    got = bytearray()
    buf = bytearray(16384)
    off = 0
    while off < total or len(got) < total:
        if off < total:
            w.use(b)
            off += cb.send(memoryview(data)[off:off + 16384], timeout_ms=1000)
        w.use(a)
        while True:
            n = err(ca.recv_into, buf, timeout_ms=0)
            if not isinstance(n, int):
                break
            got += memoryview(buf)[:n]
    w.use(b)
    cb.close()
    w.use(a)
    eof = ca.recv(10, timeout_ms=100)
    ca.close()
    srv.close()
    net.use(None)
    same = hashlib.sha256(bytes(got)).digest() == hashlib.sha256(bytes(data)).digest()
    return [len(got), same, eof, w.stack.live(), w.svc.count(), a.calls + b.calls,
            w.kern.copied >= 2 * total]


def loop():
    """userland/net/main.py's serve() with a stand-in of irq-uart's recv(mask,
    timeout_ms): a call when one is scripted, else the timeout passes (the
    world runs wait_ms). The waits it asks for follow lwIP's timer, the held
    calls' deadlines and WAIT_MAX; a held accept ends ETIMEDOUT on time, and a
    connection that arrives while the loop waits is handed over."""
    from userland.net import main as netmain
    w = World()
    a = w.task(ports=(7,))
    h = a.handle()
    script = [(0, P.request(P.LISTEN, port=7)), (1, None), (2, P.request(P.ACCEPT, 1 << 8, 50))]
    waits = []
    replies = []

    def recv(wait_ms):
        waits.append(wait_ms)
        c = w.kern.held.get(h)
        if c is not None and c.reply is not None:
            replies.append((w.now, P.parse_reply(c.reply)))
            del w.kern.held[h]
        if script and script[0][0] <= w.now:
            t, msg = script.pop(0)
            if msg is not None:
                w.kern.held[h] = Held(None, 0)
                replies.append((w.now, "asked"))
                return h, msg
        for _ in range(wait_ms or 1):
            w.now += 1
        return 0, b""
    netmain.serve(w.stack, w.svc, recv, lambda: w.now, turns=40)
    log = [("waits", max(waits) <= netmain.WAIT_MAX, min(waits) >= 0)]
    log.append(("listen", replies[1][1][0] == 1 << 8))       # slot 0, generation 1
    asked = replies[2][0]
    t, (v, x, y) = replies[3]
    log.append(("accept timed out", -v == P.ETIMEDOUT, t - asked))
    # a held accept with no timeout, a connection arriving meanwhile
    w.kern.held[h] = Held(None, 0)
    w.svc.request(h, P.request(P.ACCEPT, 1 << 8, P.FOREVER), w.now)
    r = w.stack.remote.connect(7)
    netmain.serve(w.stack, w.svc, recv, lambda: w.now, turns=2)
    log.append(("accepted", len(replies), replies[-1][1][0] > 0, replies[-1][1][1] == fake_net.HOST_IP))
    log.append(("waits", waits[:6]))
    return log


def relisten():
    """A task that ends while listening and starts again listens on its port
    at once: net reaps the ended owners when a port is taken, without
    waiting for its sweep."""
    w = World()
    a = w.task(ports=(7,))
    w.use(a)
    net.listen(7)
    w.run(5)
    w.kill(a)
    w.run(5)                                # well before the sweep
    log = [("before", w.stack.live(), w.svc.count(), w.svc.closed_for_death)]
    w.restart(a)
    w.use(a)
    srv = net.listen(7)
    log.append(("listens again", w.stack.live(), w.svc.count(), w.svc.closed_for_death))
    b = w.task(ports=(7,))
    w.use(b)
    log.append(("a live owner keeps it", err(net.listen, 7)))
    w.use(a)
    srv.close()
    log.append(("end", w.stack.live(), w.svc.count()))
    net.use(None)
    return log


SCENARIOS = ("echo", "timeouts", "grants", "deaths", "relisten", "flow", "pair", "loop")

