"""httpnet: ISO 20022 and MT103 over HTTP/1.1. It listens on HTTP_PORT (80)
through net (userland/lib/net.py), takes one connection at a time, reads
its requests with userland/lib/http1.py and streams each body to the
gateway (userland/gateway/isorelay.py), which reads it as it arrives and
answers with a pacs.002 (or the MT103 line):

    POST /iso20022   Content-Type application/xml, text/xml or */*+xml
                     (charset utf-8 if any): a pacs.008 or pain.001
    POST /mt103      Content-Type text/plain (utf-8 or us-ascii): an MT103

A body is at most MAX_BODY bytes, by Content-Length or chunked; Expect:
100-continue is answered once the head has been checked. Every decided
message is 200 with its status report (a refused payment is RJCT inside
it, as a bank's system expects); the HTTP errors say why in text/plain:
400 a request that is not HTTP/1.1, 404 another path, 405 another method,
411 no length, 413 too long, 415 another media type, 431 a head too long,
501 a transfer coding other than chunked, 503 while the board's clock is
unset or the gateway does not answer, 505 another HTTP version, 408 a
request that stalls for STALL_MS. After an error the connection is
closed; after an answer it stays open (keep-alive) unless the client
asked otherwise, for IDLE_MS without a new request.

Server is the loop over one connection without the board's objects, so the
host tests run it (tests/host/test_httpnet.py). Runs under MicroPython and
CPython."""
import gc

from userland.lib import http1

CHUNK = 4096                # bytes asked of net per receive
FLUSH = 4096                # body bytes gathered before they go to the gateway
MAX_BODY = 1 << 20
IDLE_MS = 5000              # a keep-alive connection with no new request is closed after this
STALL_MS = 10000            # a request that stops mid-way is answered 408 after this
SEND_MS = 5000
# After an answer that closes the connection, what the client still sends (the rest of a body
# refused before it was read: 503, 413, 415...) is read and dropped until it closes, for at most
# LINGER_MS a wait and LINGER_MAX bytes: closing with its bytes unread makes the stack answer
# them with a reset, and a reset makes the client's system drop the answer it has not read yet.
LINGER_MS = 500
LINGER_MAX = 65536
RETRY_MS = 500
ROUTES = {"/iso20022": b"xml", "/mt103": b"mt103"}
ANSWER_TYPE = {b"xml": "application/xml; charset=utf-8", b"mt103": "text/plain; charset=utf-8"}


class Unavailable(Exception):
    """The gateway did not answer (restarting, or it refused the call): 503."""


def media_ok(route, req):
    """None if the request's Content-Type suits the route, else why not."""
    mtype, charset = req.media_type()
    if route == b"xml":
        ok = mtype in ("application/xml", "text/xml") or (mtype.endswith("+xml") and "/" in mtype)
        charsets = (None, "utf-8")
        want = "application/xml or text/xml"
    else:
        ok = mtype == "text/plain"
        charsets = (None, "utf-8", "us-ascii")
        want = "text/plain"
    if not ok:
        return "Content-Type %r: this path takes %s" % (mtype[:40] or "(none)", want)
    if charset not in charsets:
        return "charset %r: UTF-8 only" % charset[:20]
    return None


class Server:
    """Server(sock, gateway, timed_out, date=None): sock has
    recv_into(buf, timeout_ms) (0: the peer closed; timed_out raised when
    nothing came) and sendall(data, timeout_ms); gateway has begin(kind),
    piece(bytes), end() and more(), each -> (status, bytes (valid until the
    next call), bytes still to come), and raises Unavailable when it cannot
    answer; date() -> the HTTP Date or None. run() returns when the
    connection is to close."""

    def __init__(self, sock, gateway, timed_out, date=None):
        self.sock, self.gw, self.timed_out = sock, gateway, timed_out
        self.date = date or (lambda: None)
        self.buf = bytearray(CHUNK)
        self.view = memoryview(self.buf)
        self.out = bytearray(FLUSH)     # body bytes gathered for the gateway: self.fill of them
        self.fill = 0
        self.route = None
        self.requests = self.answered = 0
        self.peer_closed = False

    def run(self):
        reader = http1.Reader(MAX_BODY)
        while True:
            idle = reader.idle()
            try:
                n = self.sock.recv_into(self.buf, IDLE_MS if idle else STALL_MS)
            except self.timed_out:
                if not idle:
                    self._error(408, "the request stopped for %d ms" % STALL_MS)
                return
            if n == 0:
                self.peer_closed = True
                return                      # the client closed its side
            try:
                for kind, x in reader.feed(self.view[:n]):
                    if not self._event(kind, x):
                        return
            except http1.HttpError as e:
                self._error(e.status, e.why)
                return
            except Unavailable as e:
                self._error(503, "the gateway did not answer (%s): try again" % e)
                return

    def linger(self):
        """Before the close: read and drop what the client still sends, until
        it closes its side (LINGER_MS, LINGER_MAX). Returns the bytes dropped."""
        dropped = 0
        while not self.peer_closed and dropped < LINGER_MAX:
            try:
                n = self.sock.recv_into(self.buf, LINGER_MS)
            except self.timed_out:
                break
            if n == 0:
                self.peer_closed = True
            dropped += n
        return dropped

    def _event(self, kind, x):
        """Handle one reader event; False when the connection is to close."""
        if kind == "head":
            self.requests += 1
            self.req = x
            return self._head(x)
        if kind == "body":
            view, i = memoryview(x), 0
            while i < len(x):
                n = min(FLUSH - self.fill, len(x) - i)
                self.out[self.fill:self.fill + n] = view[i:i + n]
                self.fill += n
                i += n
                if self.fill == FLUSH and not self._flush():
                    return False
            return True
        if not self._flush():
            return False
        status, data, left = self.gw.end()
        self.answered += 1
        keep = self.req.keep_alive and status == 200
        ctype = ANSWER_TYPE[self.route] if status == 200 else "text/plain; charset=utf-8"
        return self._send(status, data, left, ctype, not keep)

    def _head(self, req):
        path = req.target.split("?")[0]
        route = ROUTES.get(path)
        if route is None:
            return self._error(404, "no such path: POST /iso20022 (pacs.008, pain.001) or /mt103")
        if req.method != "POST":
            return self._error(405, "%s %s: POST only" % (req.method, path), [("Allow", "POST")])
        why = media_ok(route, req)
        if why:
            return self._error(415, why)
        gc.collect()                        # each request starts on a heap with no garbage in it
        status, data, left = self.gw.begin(route)
        if status != 100:
            return self._send(status, data, left, "text/plain; charset=utf-8", True)
        self.route = route
        self.fill = 0
        if req.expect:
            self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n", SEND_MS)
        return True

    def _flush(self):
        if not self.fill:
            return True
        n, self.fill = self.fill, 0
        status, answer, left = self.gw.piece(memoryview(self.out)[:n])
        if status != 100:
            return self._send(status, answer, left, "text/plain; charset=utf-8", True)
        return True

    def _send(self, status, data, left, ctype, close):
        """The answer, its head naming its whole length, then the rest as
        the gateway hands it out. Returns False when it closes."""
        head = http1.response(status, b"", ctype, close, self.date(), length=len(data) + left)
        self.sock.sendall(head, SEND_MS)
        if data:
            self.sock.sendall(data, SEND_MS)
        while left:
            _, data, left = self.gw.more()
            if not data:
                break                       # never: the gateway said how much was to come
            self.sock.sendall(data, SEND_MS)
        return not close

    def _error(self, status, why, extra=()):
        self.sock.sendall(http1.response(status, (why + "\n").encode(), close=True, date=self.date(),
                                         extra=extra), SEND_MS)
        return False


def main():
    from kernel import abi
    from userland.gateway.isorelay import (HTTP_PORT, ISO_BEGIN, ISO_END, ISO_LEASE, ISO_MORE, ISO_PIECE,
                                           reply_of)
    from userland.lib import net, qenex, utc, utcclock
    import struct

    lease = bytearray(ISO_LEASE)
    rights = abi.LEASE_READ | abi.LEASE_WRITE
    say_once = qenex.say_once("httpnet")

    class Gateway:
        """The gateway's ISO relay by IPC: each call's answer comes back in the lease."""

        def _call(self, msg, data=b""):
            lease[:len(data)] = data
            try:
                r = qenex.call_lease("gateway", msg + struct.pack("<H", len(data)), lease, rights)
            except qenex.Error as e:        # the gateway restarting: 503, the client retries
                raise Unavailable(e.name)
            got = reply_of(r)
            if got is None:
                say_once("the gateway refused: %s" % r[1:].decode())
                raise Unavailable("refused")
            n, status, left = got
            return status, memoryview(lease)[:n], left     # sent before the next call: no copy

        def begin(self, kind):
            return self._call(ISO_BEGIN, kind)

        def piece(self, data):
            view = memoryview(data)
            for i in range(0, len(data), ISO_LEASE):
                got = self._call(ISO_PIECE, view[i:i + ISO_LEASE])
                if got[0] != 100:
                    return got
            return got

        def end(self):
            return self._call(ISO_END)

        def more(self):
            return self._call(ISO_MORE)

    def date():
        ms = utcclock.utc_ms()
        return None if ms is None else utc.http(ms)

    listener = net.listen_when_up(HTTP_PORT, say_once, RETRY_MS)
    qenex.write("httpnet: ISO 20022 and MT103 over HTTP on TCP port %d\n" % HTTP_PORT)
    gw = Gateway()
    while True:
        conn, peer = listener.accept()
        try:
            srv = Server(conn, gw, net.TimedOut, date)
            srv.run()
            srv.linger()
        except net.NetError as e:
            say_once("connection from %s:%d ended: %s" % (peer[0], peer[1], e))
        finally:
            try:
                conn.close()
            except net.NetError:
                pass
