"""The net task's socket table and the service it gives other tasks: who owns
which socket, which ports a caller was granted, the calls held until their
event or their timeout, and the cleanup when an owner ends.

Holds Service, which turns a request (userland/lib/netproto.py) into stack
calls and a reply, turns the stack's events into the replies of held calls,
and expires timeouts and dead owners. It takes the TCP/IP stack and the
kernel as objects, so it imports neither `_net` nor qenex and runs on the
host against fakes (tests/host/fake_net.py):
  stack   the `_net` interface (/work/net-stack-interface.md): tcp_listen,
          listen_close, tcp_connect, tcp_send, tcp_recv_into, tcp_close,
          tcp_abort, events, info; errors are OSError(errno)
  kern    reply(sender, bytes) -> False when the caller has ended; lease(sender)
          -> (length, rights); borrow_read(sender, off, buf);
          borrow_write(sender, off, data) (those raise Gone when the caller
          has ended); peer(handle) -> the ports its manifest grants, or None
          when that task (that incarnation) is no longer running
It does not receive calls, poll the stack or sleep (userland/net/main.py does).

Rules:
- A socket belongs to the handle (task id and incarnation) that opened or
  accepted it; any other handle naming it gets EBADF, as for an id never used
  (ids carry a generation: slot in bits 0..7, so a stale id never names a new
  socket). A restarted task is a new owner: its old sockets are not its own.
- listen(port) needs `port` in the caller's manifest `ports` (the kernel says
  which: KCTL_PEER), else EACCES; the kernel's check_system grants a port to
  one task only, so no task can take another's.
- A call that cannot be answered now (accept with no connection waiting,
  connect, send with no room, recv with nothing read) is held: the caller
  stays blocked in its call, its lease valid, until the event comes or its
  timeout passes (ETIMEDOUT); timeout 0 answers EAGAIN at once. At most one
  call per socket is held (a task makes one call at a time; EBUSY otherwise).
- Flow control: send takes what the stack takes now (a partial send) and is
  held only when it can take nothing; recv never takes more than the lease.
- Cleanup: a socket whose owner has ended is closed (connections aborted,
  listeners and their backlog freed). net learns of an end three ways: a
  reply or a borrow to the owner fails (Gone), a held call's owner is checked
  at its timeout, and every SWEEP_MS each owner is asked of the kernel
  (peer() is None) -- so sockets close even when their task was in no call.
Pure Python, runs under MicroPython and CPython.
"""
import errno
import json

from userland.lib import netproto as P

SLOTS = 32              # sockets in all (the stack's own limit is its own)
PER_TASK = 8            # sockets one task may hold
BACKLOG = 4             # connections a listener holds until accepted
CHUNK = 8192            # bytes per borrow: one costs ~100k guest instructions, its bytes ~1 each
SWEEP_MS = 250          # how often owners are checked for being alive (a port taken: at once, _listen)
LEASE_READ, LEASE_WRITE = 1, 2

LISTENER, CONNECTING, OPEN = "listen", "connecting", "open"

_ERRNO = {}
for _name in P.NAMES[1:]:
    _v = getattr(errno, _name, None)
    if _v is not None:
        _ERRNO[_v] = P.code_of(_name)


class Gone(Exception):
    """The caller (or owner) has ended: nothing to answer."""


class Refuse(Exception):
    """A request refused with a wire code (netproto)."""

    def __init__(self, code):
        super().__init__(P.name_of(code))
        self.code = code


def stack_code(e):
    """The wire code for the stack's OSError."""
    n = e.args[0] if e.args else None
    return _ERRNO.get(n, P.EINVAL)


class Held:
    """A call held until an event: op, sender (the owner), deadline (ms, or
    None: forever)."""

    def __init__(self, op, sender, deadline):
        self.op = op
        self.sender = sender
        self.deadline = deadline


class Sock:
    def __init__(self, sid, owner, kind, port):
        self.sid = sid
        self.owner = owner
        self.kind = kind
        self.port = port        # listener: its port; connection: the peer's
        self.ip = 0             # connection: the peer's address
        self.lid = None         # the stack's listener id
        self.cid = None         # the stack's connection id (None once it is gone)
        self.backlog = []       # listener: (cid, ip, port) not yet accepted
        self.eof = False        # the peer closed its side
        self.error = 0          # the connection is gone: the wire code why
        self.held = None        # Held, or None
        self.rx = 0             # bytes received and sent, for INFO
        self.tx = 0

    def state(self):
        if self.error:
            return P.name_of(self.error)
        if self.eof:
            return "eof"
        return self.kind


class Service:
    def __init__(self, stack, kern):
        self.stack = stack
        self.kern = kern
        self.slots = [None] * SLOTS
        self.gens = [0] * SLOTS
        self.by_lid = {}
        self.by_cid = {}
        self.grants = {}            # owner handle -> ports (asked once per incarnation)
        self.buf = bytearray(CHUNK)
        self.mv = memoryview(self.buf)
        self.next_sweep = 0
        self.link = None
        self.address = None
        self.closed_for_death = 0   # sockets freed because their owner ended
        self.control = None         # control(sender, ip, port) -> 0 or an error code: SNTP (main.py)
        self.extra = None           # extra() -> dict merged into INFO's answer (main.py: "sntp")

    # --- requests -----------------------------------------------------

    def request(self, sender, msg, now):
        """One call from sender: answered now, or held."""
        req = P.parse_request(msg)
        try:
            if req is None:
                raise Refuse(P.EINVAL)
            op, port, a, b = req
            deadline = None if b == P.FOREVER else now + b
            if op == P.LISTEN:
                self._listen(sender, port)
            elif op == P.ACCEPT:
                self._accept(sender, a, b, deadline)
            elif op == P.CONNECT:
                self._connect(sender, a, port, deadline)
            elif op == P.SEND:
                self._send(sender, a, b, deadline)
            elif op == P.RECV:
                self._recv(sender, a, b, deadline)
            elif op == P.CLOSE:
                self._close(self._mine(sender, a))
                self._answer(sender, 0)
            elif op == P.SNTP:
                if self.control is None:
                    raise Refuse(P.EINVAL)
                code = self.control(sender, a, port)
                self._answer(sender, -code if code else 0)
            else:
                self._info(sender)
        except Refuse as e:
            self._answer(sender, -e.code)
        except OSError as e:
            code = stack_code(e)
            if code == P.EBADF:     # the stack freed it; its "error" event is still to come
                code = P.ECONNRESET
            self._answer(sender, -code)
        except Gone:
            self._owner_ended(sender)

    def _answer(self, sender, v, x=0, y=0):
        if not self.kern.reply(sender, P.reply(v, x, y)):
            self._owner_ended(sender)

    def _mine(self, sender, sid, kind=None):
        slot = sid & 0xFF
        s = self.slots[slot] if slot < SLOTS else None
        if s is None or s.sid != sid or s.owner != sender:
            raise Refuse(P.EBADF)
        if s.held is not None:
            raise Refuse(P.EBUSY)
        return s

    def _new(self, owner, kind, port):
        n = 0
        free = None
        for i in range(SLOTS):
            s = self.slots[i]
            if s is None:
                if free is None:
                    free = i
            elif s.owner == owner:
                n += 1
        if n >= PER_TASK:
            raise Refuse(P.EMFILE)
        if free is None:
            raise Refuse(P.ENOMEM)
        self.gens[free] = (self.gens[free] + 1) & 0x7FFFFF
        s = Sock(free | self.gens[free] << 8, owner, kind, port)
        self.slots[free] = s
        return s

    def _free(self, s):
        self.slots[s.sid & 0xFF] = None
        if s.lid is not None:
            self.by_lid.pop(s.lid, None)
        if s.cid is not None:
            self.by_cid.pop(s.cid, None)

    def _listen(self, sender, port):
        ports = self.grants.get(sender)
        if ports is None:
            ports = self.kern.peer(sender)
            if ports is None:
                raise Gone()
            self.grants[sender] = ports
        if port not in ports:
            raise Refuse(P.EACCES)
        s = self._new(sender, LISTENER, port)
        try:
            try:
                s.lid = self.stack.tcp_listen(port)
            except OSError:
                # an ended owner's listener may hold it (a restarted task's earlier
                # incarnation): reap the ended now rather than at the sweep, and try again
                self.sweep()
                s.lid = self.stack.tcp_listen(port)
        except OSError:
            self._free(s)
            raise
        self.by_lid[s.lid] = s
        self._answer(sender, s.sid)

    def _accept(self, sender, sid, timeout, deadline):
        s = self._mine(sender, sid)
        if s.kind != LISTENER:
            raise Refuse(P.EINVAL)
        if s.backlog:
            self._hand_over(s, sender)
        else:
            self._hold(s, P.ACCEPT, sender, timeout, deadline)

    def _hold(self, s, op, sender, timeout, deadline):
        """Nothing to answer yet: hold the call, or EAGAIN for timeout 0."""
        if timeout == 0:
            raise Refuse(P.EAGAIN)
        s.held = Held(op, sender, deadline)

    def _hand_over(self, s, sender):
        """The listener's oldest waiting connection becomes sender's socket."""
        c = self._new(sender, OPEN, s.backlog[0][2])
        cid, c.ip, c.port = s.backlog.pop(0)
        c.cid = cid
        self.by_cid[cid] = c
        self._answer(sender, c.sid, c.ip, c.port)

    def _connect(self, sender, ip, port, deadline):
        if port == 0:
            raise Refuse(P.EINVAL)
        s = self._new(sender, CONNECTING, port)
        s.ip = ip
        try:
            s.cid = self.stack.tcp_connect(ip, port)
        except OSError:
            self._free(s)
            raise
        self.by_cid[s.cid] = s
        s.held = Held(P.CONNECT, sender, deadline)

    def _conn(self, sender, sid):
        s = self._mine(sender, sid)
        if s.kind != OPEN:
            raise Refuse(P.ENOTCONN)
        return s

    def _send(self, sender, sid, timeout, deadline):
        s = self._conn(sender, sid)
        if s.error:
            raise Refuse(s.error)
        n = self._push(s, sender)
        if n:
            self._answer(sender, n)
        else:
            self._hold(s, P.SEND, sender, timeout, deadline)

    def _lease(self, sender, right):
        n, rights = self.kern.lease(sender)
        if not rights & right:
            raise Refuse(P.EINVAL)
        return n

    def _push(self, s, sender):
        """Copy the lease into the stack while it takes all it is given: the
        bytes taken."""
        n = self._lease(sender, LEASE_READ)
        off = 0
        while off < n:
            k = n - off
            if k > CHUNK:
                k = CHUNK
            self.kern.borrow_read(sender, off, self.mv[:k])
            took = self.stack.tcp_send(s.cid, self.mv[:k])
            off += took
            if took < k:
                break
        s.tx += off
        return off

    def _recv(self, sender, sid, timeout, deadline):
        s = self._conn(sender, sid)
        n = self._pull(s, sender)
        if n:
            self._answer(sender, n)
        elif s.eof:
            self._answer(sender, 0)
        elif s.error:
            raise Refuse(s.error)
        else:
            self._hold(s, P.RECV, sender, timeout, deadline)

    def _pull(self, s, sender):
        """Copy what the stack holds for s into the lease, up to its length."""
        if s.cid is None:
            return 0
        n = self._lease(sender, LEASE_WRITE)
        off = 0
        while off < n:
            k = n - off
            if k > CHUNK:
                k = CHUNK
            got = self.stack.tcp_recv_into(s.cid, self.mv[:k])
            if not got:
                break
            self.kern.borrow_write(sender, off, self.mv[:got])
            off += got
        s.rx += off
        return off

    def _close(self, s):
        """Close s in the stack and free it (its held call, if any, is the
        caller's to be told by whoever closes)."""
        try:
            if s.kind == LISTENER:
                if s.lid is not None:
                    self.stack.listen_close(s.lid)
                for cid, ip, port in s.backlog:
                    self.stack.tcp_abort(cid)
            elif s.cid is not None:
                self.stack.tcp_close(s.cid)
        except OSError:
            pass                    # gone in the stack already: it is free either way
        self._free(s)

    def _info(self, sender):
        st = {}
        try:
            st = self.stack.info()
        except OSError:
            pass
        stack = {}
        for k in st:
            v = st[k]
            stack[k] = v if not isinstance(v, (bytes, bytearray)) else ":".join(["%02x" % c for c in v])
        socks = []
        for s in self.slots:
            if s is not None:
                socks.append([s.owner, s.sid, s.kind, s.port, s.state(), s.rx, s.tx])
        out = {"stack": stack, "sockets": socks, "freed_for_death": self.closed_for_death}
        if self.extra is not None:
            out.update(self.extra())
        text = json.dumps(out).encode()
        n = self._lease(sender, LEASE_WRITE)
        k = len(text) if len(text) < n else n
        if k:
            self.kern.borrow_write(sender, 0, text[:k])
        self._answer(sender, k, len(text))

    # --- the stack's events ---------------------------------------------

    def events(self, evs):
        """Act on the stack's events (a list, _net.events())."""
        for ev in evs:
            kind = ev[0]
            try:
                if kind == "accept":
                    self._ev_accept(ev[1], ev[2], ev[3], ev[4])
                elif kind == "connected":
                    s = self.by_cid.get(ev[1])
                    if s is not None:
                        s.kind = OPEN
                        h = s.held
                        if h is not None and h.op == P.CONNECT:
                            s.held = None
                            self._answer(h.sender, s.sid)
                elif kind == "recv" or kind == "eof":
                    s = self.by_cid.get(ev[1])
                    if s is not None:
                        if kind == "eof":
                            s.eof = True
                        self._retry(s, P.RECV)
                elif kind == "sent":
                    s = self.by_cid.get(ev[1])
                    if s is not None:
                        self._retry(s, P.SEND)
                elif kind == "error":
                    self._ev_error(ev[1], ev[2])
                elif kind == "link":
                    self.link = ev[1]
                elif kind == "address":
                    self.address = (ev[1], ev[2], ev[3])
            except OSError:
                pass                # a connection gone under us: its "error" event follows

    def _ev_accept(self, lid, cid, ip, port):
        s = self.by_lid.get(lid)
        if s is None or len(s.backlog) >= BACKLOG:
            self.stack.tcp_abort(cid)           # nobody to take it: refuse it now
            return
        s.backlog.append((cid, ip, port))
        h = s.held
        if h is not None:
            s.held = None
            try:
                self._hand_over(s, h.sender)
            except Refuse as e:
                self._answer(h.sender, -e.code)

    def _ev_error(self, cid, err):
        s = self.by_cid.pop(cid, None)
        if s is None:
            for l in self.by_lid.values():      # a connection not yet accepted
                for item in l.backlog:
                    if item[0] == cid:
                        l.backlog.remove(item)
                        return
            return
        s.cid = None
        s.error = _ERRNO.get(err, P.ECONNRESET)
        h = s.held
        if h is None:
            return
        s.held = None
        if h.op == P.CONNECT:
            self._free(s)
            self._answer(h.sender, -s.error)
        elif h.op == P.RECV and s.eof:
            self._answer(h.sender, 0)
        else:
            self._answer(h.sender, -s.error)

    def _retry(self, s, op):
        h = s.held
        if h is None or h.op != op:
            return
        try:
            n = self._push(s, h.sender) if op == P.SEND else self._pull(s, h.sender)
        except Gone:
            s.held = None
            self._owner_ended(h.sender)
            return
        if n or (op == P.RECV and s.eof):
            s.held = None
            self._answer(h.sender, n)

    # --- time and death ---------------------------------------------------

    def tick(self, now):
        """Answer held calls whose timeout passed; every SWEEP_MS, close the
        sockets of owners that have ended."""
        for s in self.slots:
            if s is None or s.held is None:
                continue
            h = s.held
            if h.deadline is not None and now >= h.deadline:
                s.held = None
                if h.op == P.CONNECT:
                    if s.cid is not None:
                        try:
                            self.stack.tcp_abort(s.cid)
                        except OSError:
                            pass
                    self._free(s)
                self._answer(h.sender, -P.ETIMEDOUT)
        if now >= self.next_sweep:
            self.next_sweep = now + SWEEP_MS
            self.sweep()

    def sweep(self):
        """Ask the kernel about every owner; close the sockets of the ended."""
        seen = []
        for s in self.slots:
            if s is not None and s.owner not in seen:
                seen.append(s.owner)
        for h in seen:
            if self.kern.peer(h) is None:
                self._owner_ended(h)
        for h in list(self.grants):
            if h not in seen:
                del self.grants[h]      # asked again at its next listen

    def _owner_ended(self, owner):
        self.grants.pop(owner, None)
        for s in self.slots:
            if s is not None and s.owner == owner:
                s.held = None           # its caller is gone: nothing to answer
                if s.kind != LISTENER and s.cid is not None:
                    try:
                        self.stack.tcp_abort(s.cid)     # RST: nobody will read or write it
                    except OSError:
                        pass
                    self.by_cid.pop(s.cid, None)
                    s.cid = None
                self._close(s)
                self.closed_for_death += 1

    def due(self, now):
        """ms until tick() next has something to do (0: now)."""
        t = self.next_sweep
        for s in self.slots:
            if s is not None and s.held is not None and s.held.deadline is not None and s.held.deadline < t:
                t = s.held.deadline
        return t - now if t > now else 0

    def sockets_of(self, owner):
        return [s for s in self.slots if s is not None and s.owner == owner]

    def count(self):
        return len([s for s in self.slots if s is not None])
