"""HTTP conversations with httpnet's Server (userland/httpnet/main.py) in
front of the real ISO relay (userland/gateway/isorelay.py) and gateway
(service.py with the real compliance engine, risk limits and ledger state
machine): each conversation is the bytes a client sends, cut into pieces
as TCP may deliver them, and run() returns what the server sent back, for
tests/host/test_httpnet.py to check and to compare MicroPython with
CPython. Plain Python: MicroPython imports it from tests/host."""
import json

from userland.compliance.engine import Engine
from userland.compliance.risk import Risk
from userland.gateway import isorelay, service
from userland.httpnet.main import Server, Unavailable
from userland.ledger.state import Account, Ledger, Transfer

CLOCK = 1796290200000           # 2026-12-03T09:30:00Z


def _read(root, *path):
    with open("/".join((root,) + path), "rb") as f:
        return f.read()


class TimedOut(Exception):
    pass


class Sock:
    """chunks: bytes to deliver one recv at a time; None: a receive that times out."""

    def __init__(self, chunks):
        self.chunks, self.sent, self.waits = list(chunks), [], []

    def recv_into(self, buf, timeout_ms):
        self.waits.append(timeout_ms)
        if not self.chunks:
            return 0
        c = self.chunks.pop(0)
        if c is None:
            raise TimedOut()
        n = min(len(c), len(buf))
        buf[:n] = c[:n]
        if n < len(c):
            self.chunks.insert(0, c[n:])
        return n

    def sendall(self, data, timeout_ms):
        self.sent.append(bytes(data))


class Relayed:
    """httpnet's Gateway, with the IPC replaced by a call into the relay and a lease of bytes."""

    def __init__(self, relay):
        self.relay = relay
        self.lease = bytearray(isorelay.ISO_LEASE)
        self.calls = 0

    def _call(self, verb, data=b""):
        self.calls += 1
        self.lease[:len(data)] = data
        data = bytes(data)

        def borrow(k):
            return bytes(self.lease[:k])

        def lend(d):
            self.lease[:len(d)] = d
        r = self.relay.call(verb + bytes([len(data) & 0xFF, len(data) >> 8]), len(self.lease), borrow, lend)
        got = isorelay.reply_of(r)
        if got is None:
            raise Unavailable(r[1:].decode())
        n, status, left = got
        return status, bytes(self.lease[:n]), left

    def begin(self, kind):
        return self._call(isorelay.ISO_BEGIN, kind)

    def piece(self, data):
        got = None
        for i in range(0, len(data), isorelay.ISO_LEASE):
            got = self._call(isorelay.ISO_PIECE, data[i:i + isorelay.ISO_LEASE])
            if got[0] != 100:
                return got
        return got

    def end(self):
        return self._call(isorelay.ISO_END)

    def more(self):
        return self._call(isorelay.ISO_MORE)


def cut(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


def post(path, body, ctype="application/xml", extra=b"", version=b"HTTP/1.1"):
    return (b"POST " + path + b" " + version + b"\r\nHost: board\r\nContent-Type: " + ctype.encode() +
            b"\r\nContent-Length: %d\r\n" % len(body) + extra + b"\r\n" + body)


def chunked(path, body, size, ctype="application/xml", extra=b""):
    out = (b"POST " + path + b" HTTP/1.1\r\nHost: board\r\nContent-Type: " + ctype.encode() +
           b"\r\nTransfer-Encoding: chunked\r\n" + extra + b"\r\n")
    for i in range(0, len(body), size):
        piece = body[i:i + size]
        out += b"%x;ext=1\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\nX-Trailer: yes\r\n\r\n"


def conversations(root):
    """[(name, [chunks])]: what each client sends."""
    vec = ("tests", "vectors", "gateway")
    three = _read(root, *vec + ("pacs008_3tx.xml",))
    pain = _read(root, *vec + ("pain001.xml",))
    mt = _read(root, *vec + ("mt103.txt",))
    big = three.replace(b"<NbOfTxs>3</NbOfTxs>", b"<NbOfTxs>90</NbOfTxs>")
    txs = big[big.index(b"    <CdtTrfTxInf>"):big.index(b"  </FIToFICstmrCdtTrf>")]
    many = b"".join(txs.replace(b"E2E-20261203-000", b"E2E-%02d-" % i) for i in range(30))
    notes = b"".join(b"<Ustrd>%s</Ustrd>" % (b"%03d " % k * 35)[:140] for k in range(14))
    big = big.replace(txs, many).replace(b"QX-20261203-3TX", b"QX-BIG").replace(b"<RmtInf>", b"<RmtInf>" + notes)
    cont = post(b"/iso20022", three.replace(b"QX-20261203-3TX", b"QX-CONT"),
                extra=b"Expect: 100-continue\r\nConnection: close\r\n")
    garbage = b"<Document>" + b"<a>x</a>" * 40000 + b"</Document>"
    return [
        # a 3-transaction pacs.008 in TCP-sized pieces, then a chunked pain.001 on the same connection
        ("keepalive", cut(post(b"/iso20022", three) + chunked(b"/iso20022", pain, 100, "text/xml; charset=UTF-8"),
                          1460)),
        # 90 transactions (about 320 KB), chunked in 1000-byte chunks: read as it streams, answered in full
        ("large", cut(chunked(b"/iso20022", big, 1000, "application/iso20022+xml"), 1460)),
        ("continue", [cont[:-len(three)], cont[-len(three):]]),
        ("mt103", [post(b"/mt103", mt, "text/plain", version=b"HTTP/1.0")]),
        ("not_xml", [post(b"/iso20022", b"<Document><unclosed></Document>")]),
        ("too_long_xml", cut(post(b"/iso20022", garbage), 4000)),
        ("404", [b"GET /index.html HTTP/1.1\r\nHost: board\r\n\r\n"]),
        ("405", [b"GET /iso20022 HTTP/1.1\r\nHost: board\r\n\r\n"]),
        ("415", [post(b"/iso20022", three, "application/json")]),
        ("411", [b"POST /iso20022 HTTP/1.1\r\nHost: board\r\nContent-Type: application/xml\r\n\r\n"]),
        ("413", [b"POST /iso20022 HTTP/1.1\r\nHost: board\r\nContent-Type: application/xml\r\n"
                 b"Content-Length: 2000000\r\n\r\n<Document>"]),
        ("413_chunked", [chunked(b"/iso20022", b"", 1)[:-len(b"0\r\nX-Trailer: yes\r\n\r\n")] +
                         b"fffff\r\n" + b"x" * 3000, b"x" * (0xfffff - 3000) + b"\r\n2\r\nxx\r\n"]),
        ("400_chunk", [chunked(b"/iso20022", three, 500).replace(b"1f4;ext=1", b"zz", 1)]),
        ("400_line", [b"POST /iso20022\r\n\r\n"]),
        ("400_host", [b"POST /iso20022 HTTP/1.1\r\nContent-Length: 0\r\n\r\n"]),
        ("505", [b"POST /iso20022 HTTP/2.0\r\nHost: board\r\n\r\n"]),
        ("431", [b"POST /iso20022 HTTP/1.1\r\nHost: board\r\nX-Pad: " + b"a" * 9000 + b"\r\n\r\n"]),
        ("501", [b"POST /iso20022 HTTP/1.1\r\nHost: board\r\nTransfer-Encoding: gzip\r\n\r\n"]),
        ("stall", [post(b"/iso20022", three)[:300], None]),
        ("idle", [None]),
        ("clock_unset", [post(b"/iso20022", three)]),
    ]


def run(root):
    rules = json.loads(_read(root, "userland", "compliance", "rules.json").decode())
    L = Ledger()
    L.create_accounts([Account(i, 1, 1) for i in (1, 2, 3)])
    audit = []
    clock = [CLOCK]

    def post_(tid, dr, cr, amount, ledger):
        return L.create_transfers([Transfer(tid, dr, cr, amount, ledger, 1)])[0]
    g = service.Gateway(Engine(rules), Risk(rules["risk"]), post_, audit.append, rules["ledgers"],
                        lambda: clock[0] // 1000, lambda: clock[0], ticks=lambda: clock[0] % 100000)
    relay = isorelay.IsoRelay(g)
    out = []
    for name, chunks in conversations(root):
        if name == "clock_unset":
            g.utc_ms = lambda: None
        clock[0] += 1000
        sock, gw = Sock(chunks), Relayed(relay)
        srv = Server(sock, gw, TimedOut, lambda: "Thu, 03 Dec 2026 09:30:00 GMT")
        srv.run()
        waits, left = list(sock.waits), len(sock.chunks)
        dropped = srv.linger()
        out.append({"name": name, "sent": b"".join(sock.sent).decode("latin-1"), "requests": srv.requests,
                    "answered": srv.answered, "calls": gw.calls, "waits": waits, "left": left,
                    "dropped": dropped, "lingered": sock.waits[len(waits):]})
    return {"conversations": out, "audit": audit, "stats": g.stats()["messages"]}
