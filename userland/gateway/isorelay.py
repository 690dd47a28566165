"""ISO 20022 and MT103 over HTTP, the gateway's side: the httpnet task
(userland/httpnet/) holds the TCP connection and reads the HTTP request;
the body comes here piece by piece as it arrives and the XML reader
(iso20022.Reader) reads each piece at once, so a message of any length up
to the body's bound takes the gateway the memory of its payments, not of
its document. The answer is the same as the host link's (service.py), in
the same ledger, audit log and sessions of ids. Calls (IPC, only from the
task named HTTPNET_TASK), each with a lease of ISO_LEASE bytes (read +
write) and "<H" the length of what it holds:
    ISO_BEGIN   a new message; the lease holds its kind, b"xml" (pacs.008 or
                pain.001) or b"mt103" (the last message, if unfinished, is dropped)
    ISO_PIECE   the lease holds the body's next bytes
    ISO_END     the body is complete: decide it
    ISO_MORE    the next part of an answer longer than the lease
Reply: b"\\x00" + "<HHI" (bytes of the answer written at the lease's start,
the HTTP status the answer goes with, bytes of it still to come, fetched
with ISO_MORE), or b"\\x01" and why the call is refused (a defect of
httpnet's: never the sender's). Status 100 answers a begin or a piece
taken (nothing written); 200 the decided message (a pacs.002, or the
MT103 line); 503 with a text/plain reason, a begin while the board's clock
is unset (a status report needs a real CreDtTm); 413 with a reason, an
MT103 longer than MAX_MT103. Plain Python."""
import struct

HTTPNET_TASK = "httpnet"
HTTP_PORT = 80
ISO_LEASE = 8192
ISO_BEGIN = b"iso begin"
ISO_PIECE = b"iso piece"
ISO_END = b"iso end"
ISO_MORE = b"iso more"
MAX_MT103 = 16384           # an MT103 is at most 10,000 characters of text block
MAX_ANSWER = 32768          # a pacs.002 of MAX_TXS transactions fits (about 150 bytes each)
KINDS = (b"xml", b"mt103")
CONTINUE, OK, TOO_LARGE, UNAVAILABLE = 100, 200, 413, 503


def reply_of(r):
    """(answer length, status, bytes still to come) of a reply, or None for a refusal."""
    if r[:1] != b"\x00" or len(r) != 9:
        return None
    return struct.unpack("<HHI", r[1:])


class IsoRelay:
    def __init__(self, gateway):
        from userland.gateway import iso20022     # here: httpnet imports this module for its constants alone
        self.iso = iso20022
        self.gw = gateway
        self.kind = None            # b"xml" or b"mt103" while a message is open
        self.reader = None          # its iso20022.Reader (xml)
        self.text = None            # its bytes so far (mt103)
        self.pending = b""          # answer bytes not yet handed out
        self.status = OK

    def call(self, msg, n, borrow, lend):
        """The reply to one httpnet call: borrow(k) reads the lease's first k
        bytes, lend(data) writes at its start."""
        verb = msg[:-2] if len(msg) >= 2 else b""
        k = struct.unpack("<H", msg[-2:])[0] if len(msg) >= 2 else 0
        if verb not in (ISO_BEGIN, ISO_PIECE, ISO_END, ISO_MORE):
            return b"\x01unknown ISO relay call"
        if k > min(n, ISO_LEASE):
            return b"\x01" + ("the length %d is not within the lease (%d bytes)" % (k, n)).encode()
        if verb == ISO_BEGIN:
            kind = borrow(k) if k else b""
            if kind not in KINDS:
                return b"\x01" + ("ISO_BEGIN's kind %r is not xml or mt103" % kind[:16]).encode()
            self._reset()
            if self.gw.utc_ms() is None:
                return self._answer(lend, UNAVAILABLE, b"the board's clock is not set: a status report needs "
                                                       b"a real CreDtTm (qenex time set, or NTP)\n")
            self.kind = kind
            if kind == b"xml":
                self.reader = self.iso.Reader()
            else:
                self.text = bytearray()
            return self._answer(lend, CONTINUE, b"")
        if verb == ISO_MORE:
            return self._answer(lend, self.status, None)
        if self.kind is None:
            return b"\x01no message is open (ISO_BEGIN first)"
        if verb == ISO_PIECE:
            if k:
                self._piece(borrow(k))
            return self._answer(lend, CONTINUE, b"")
        return self._end(lend)

    def _piece(self, data):
        if self.reader is not None:
            t0 = self.gw.ticks()
            self.reader.feed(data)
            self.gw.stage_ms["parse"] += self.gw.ticks() - t0
        elif self.text is not None:
            if len(self.text) + len(data) > MAX_MT103:
                self.text = None        # counted as too long: refused at the end
            else:
                self.text += data

    def _end(self, lend):
        kind, reader, text = self.kind, self.reader, self.text
        self._reset()
        if kind == b"xml":
            answer = self.gw.submit(reader.kind or "pacs.008", reader, limit=MAX_ANSWER)
        elif text is None:
            return self._answer(lend, TOO_LARGE, b"an MT103 is at most %d bytes\n" % MAX_MT103)
        else:
            answer = self.gw.submit("MT103", bytes(text), limit=MAX_ANSWER)
        return self._answer(lend, OK, answer.encode())

    def _reset(self):
        self.kind = self.reader = self.text = None
        self.pending = b""

    def _answer(self, lend, status, data):
        """Hand out the next lease-full of data (None: of what is pending)."""
        if data is not None:
            self.pending, self.status = data, status
        out, self.pending = self.pending[:ISO_LEASE], self.pending[ISO_LEASE:]
        if out:
            lend(out)
        return b"\x00" + struct.pack("<HHI", len(out), self.status, len(self.pending))
