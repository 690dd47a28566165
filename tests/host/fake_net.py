"""A simulated `_net` (the interface in the net-stack branch's notes: lwIP in
the net task), for host tests of the socket service: TCP connections between
the board and a simulated remote host, or board to board (a socket pair),
with bounded receive windows so senders see flow control, ids carrying a
generation (a stale id raises EBADF), and events in the interface's shapes.
No lwIP, no frames, no timing: data moves when poll() is called.

FakeNet() is the stack (what the net task's code calls); its `remote` side
is the test's hand on the other end: remote.listen(port), remote.connect(port)
-> RemoteConn (send, recv, close, reset), and `silent` addresses that never
answer a SYN (connect timeouts). Plain Python, runs under MicroPython too."""
import errno

BOARD_IP = 0x0A00020F       # 10.0.2.15
HOST_IP = 0x0A000202        # 10.0.2.2
SILENT_IP = 0x0A000263      # 10.0.2.99: no answer, ever
WINDOW = 4096               # bytes a receiver holds before senders see no room


class End:
    """One end of a connection: what it has received and not read."""

    def __init__(self, board):
        self.board = board      # True: a board connection (has a cid)
        self.cid = None
        self.rx = b""
        self.peer = None
        self.eof = False        # the peer closed
        self.closed = False     # this end closed
        self.dead = False


class RemoteConn:
    """The remote host's end of a connection, driven by the test."""

    def __init__(self, net, end):
        self.net = net
        self.end = end

    def send(self, data):
        return self.net._send(self.end, data)

    def recv(self, n=1 << 30):
        return self.net._recv(self.end, n)

    def eof(self):
        return self.end.eof and not self.end.rx

    def close(self):
        self.net._close_end(self.end)

    def reset(self):
        self.net._reset(self.end)


class Remote:
    def __init__(self, net):
        self.net = net
        self.listening = {}     # port -> [RemoteConn] accepted

    def listen(self, port):
        self.listening[port] = []

    def accepted(self, port):
        q = self.listening[port]
        return q.pop(0) if q else None

    def connect(self, port):
        """A connection from the host to the board's port: a RemoteConn, or
        None when the board does not listen there (refused)."""
        lid = self.net.listeners.get(port)
        if lid is None:
            return None
        mine, theirs = End(False), End(True)
        mine.peer, theirs.peer = theirs, mine
        cid = self.net._cid(theirs)
        self.net.ev.append(("accept", lid, cid, HOST_IP, 40000 + len(self.net.conns)))
        return RemoteConn(self.net, mine)


class FakeNet:
    def __init__(self):
        self.listeners = {}     # port -> lid
        self.lids = {}          # lid -> port
        self.conns = {}         # cid -> End
        self.gen = 0
        self.ev = []
        self.remote = Remote(self)
        self.up = False
        self.counts = {"tcp_send": 0, "tcp_recv_into": 0}

    def _id(self):
        self.gen += 1
        return self.gen             # unique: never reused, so a stale id is EBADF

    def _cid(self, end):
        cid = self._id()
        end.cid = cid
        self.conns[cid] = end
        return cid

    def _end(self, cid):
        e = self.conns.get(cid)
        if e is None:
            raise OSError(errno.EBADF, "no connection %r" % (cid,))
        return e

    # --- the _net interface -----------------------------------------------

    def init(self, mac, ip, mask, gw):
        self.up = True
        self.ev.append(("link", 1))
        self.ev.append(("address", ip or BOARD_IP, mask, gw))

    def poll(self, now_ms):
        return len(self.ev)

    def next_ms(self):
        return 250

    def events(self):
        out, self.ev = self.ev, []
        return out

    def tcp_listen(self, port):
        if port in self.listeners:
            raise OSError(errno.EADDRINUSE, "port %d" % port)
        lid = self._id()
        self.listeners[port] = lid
        self.lids[lid] = port
        return lid

    def listen_close(self, lid):
        port = self.lids.pop(lid, None)
        if port is None:
            raise OSError(errno.EBADF, "no listener %r" % (lid,))
        del self.listeners[port]

    def tcp_connect(self, ip, port):
        mine = End(True)
        cid = self._cid(mine)
        if ip == SILENT_IP:
            return cid
        if ip == BOARD_IP and port in self.listeners:
            theirs = End(True)
            mine.peer, theirs.peer = theirs, mine
            self.ev.append(("accept", self.listeners[port], self._cid(theirs), BOARD_IP, 50000 + cid & 0xFFF))
            self.ev.append(("connected", cid))
        elif ip == HOST_IP and port in self.remote.listening:
            theirs = End(False)
            mine.peer, theirs.peer = theirs, mine
            self.remote.listening[port].append(RemoteConn(self, theirs))
            self.ev.append(("connected", cid))
        else:
            del self.conns[cid]
            self.ev.append(("error", cid, errno.ECONNREFUSED))
        return cid

    def tcp_send(self, cid, data):
        self.counts["tcp_send"] += 1
        return self._send(self._end(cid), data)

    def tcp_recv(self, cid, maxlen):
        return self._recv(self._end(cid), maxlen)

    def tcp_recv_into(self, cid, buf):
        self.counts["tcp_recv_into"] += 1
        got = self._recv(self._end(cid), len(buf))
        buf[:len(got)] = got
        return len(got)

    def tcp_close(self, cid):
        self._close_end(self._end(cid))
        del self.conns[cid]

    def tcp_abort(self, cid):
        self._reset(self._end(cid))
        self.conns.pop(cid, None)

    def info(self):
        return {"mac": b"\x02\x00\x00\x00\x00\x01", "ip": BOARD_IP, "mask": 0xFFFFFF00, "gw": HOST_IP,
                "dhcp": False, "link": self.up, "rx_frames": 0, "tx_frames": 0, "rx_dropped": 0,
                "tcp_active": len(self.conns), "tcp_listen": len(self.listeners), "mem_free": 10000}

    # --- both sides -------------------------------------------------------

    def _send(self, e, data):
        p = e.peer
        if e.closed or e.dead or p is None or p.dead:
            raise OSError(errno.ENOTCONN if p is None else errno.ECONNRESET, "not connected")
        room = WINDOW - len(p.rx)
        n = len(data) if len(data) < room else room
        if n > 0:
            p.rx += bytes(data[:n])
            if p.board:
                self.ev.append(("recv", p.cid, n))
        return n if n > 0 else 0

    def _recv(self, e, n):
        got = bytes(e.rx[:n])
        e.rx = e.rx[len(got):]
        p = e.peer
        if got and p is not None and p.board and not p.dead and not p.closed:
            self.ev.append(("sent", p.cid, WINDOW - len(e.rx)))
        return got

    def _close_end(self, e):
        e.closed = True
        p = e.peer
        if p is not None and not p.dead:
            p.eof = True
            if p.board and p.cid in self.conns:
                self.ev.append(("eof", p.cid))

    def _reset(self, e):
        e.dead = True
        p = e.peer
        if p is not None and not p.dead:
            p.dead = True
            if p.board and p.cid in self.conns:
                del self.conns[p.cid]
                self.ev.append(("error", p.cid, errno.ECONNRESET))

    def live(self):
        """Connections and listeners the stack still holds (cleanup checks)."""
        return len(self.conns) + len(self.listeners)
