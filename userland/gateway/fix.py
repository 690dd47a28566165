"""FIX 4.4: tag=value framing and an acceptor session, in plain Python.

Framing: a message is 8=FIX.4.4|9=BodyLength|...|10=CheckSum| (| is SOH).
BodyLength counts the bytes from after the 9= field's SOH up to and
including the SOH before 10=; CheckSum is the sum of every byte before
10= modulo 256, three digits. A message whose length or checksum is wrong
is ignored, as the standard requires (Reader counts it in `garbled`).

Session (Session): Logon (A) first, then Heartbeat (0), TestRequest (1, a
Heartbeat with its TestReqID answers), ResendRequest (2, answered with a
SequenceReset-GapFill: we resend no application messages), Reject (3),
SequenceReset (4), Logout (5). Incoming MsgSeqNum must be the next
expected: a higher one is queued behind a ResendRequest for the gap, a
lower one without PossDupFlag ends the session with a Logout.
Application: NewOrderSingle (D) and OrderCancelRequest (F) in,
ExecutionReport (8), OrderCancelReject (9) out. A required tag missing is
answered with a session Reject (3) naming the tag (371) and reason 1; a
field value the business cannot take with a BusinessMessageReject (j)
naming the tag in its text. The order handler is a callable given by the
gateway (risk checks, the ledger).

Bytes: the framing is checked on bytes; a session is ASCII, and a message
with any byte above 0x7f gets a session Reject (373=6) naming the tag.
Numbers (9, 10, 34, 7, 36) are ASCII digits of bounded length
(userland/lib/asciinum.py). Kept between messages: at most MAX_QUEUED
messages (MAX_QUEUED_CHARS) behind a gap; nothing per message."""

from userland.lib.asciinum import is_digits

SOH = "\x01"
BEGIN = "FIX.4.4"
REQUIRED = {"D": ("11", "55", "54", "38", "40", "60"), "F": ("41", "11", "55", "54", "60")}
MAX_BODY = 65536            # BodyLength (9) above this is garbled (5 digits at most)
SEQ_DIGITS = 9              # MsgSeqNum (34), BeginSeqNo (7), NewSeqNo (36): 1..999,999,999
MAX_QUEUED = 16             # messages held back behind a gap (and MAX_QUEUED_CHARS of them):
MAX_QUEUED_CHARS = 8192     #   beyond either, a message above the gap is dropped, the ResendRequest stands
_BEGIN_B = b"8=" + BEGIN.encode() + b"\x01"


def checksum(data):
    return "%03d" % (sum(data.encode("latin-1") if isinstance(data, str) else data) % 256)


def encode(fields):
    """fields: [(tag, value)] without 8, 9, 10; returns the whole message (str).
    Values are ASCII (the session refuses anything else coming in)."""
    return frame("".join("%s=%s%s" % (t, v, SOH) for t, v in fields))


def frame(body):
    """The whole message around `body` (tag=value fields, each ending in SOH,
    from 35 on): BeginString, BodyLength, CheckSum."""
    head = "8=%s%s9=%d%s" % (BEGIN, SOH, len(body.encode("latin-1")), SOH)
    return head + body + "10=%s%s" % (checksum(head + body), SOH)


def decode(msg):
    """[(tag, value)] of a whole message (framing checked by Reader)."""
    out = []
    for part in msg.split(SOH):
        if part:
            tag, _, value = part.partition("=")
            out.append((tag, value))
    return out


def is_ascii(text):
    """True if every character of `text` is below 0x80 (MicroPython 1.25 has
    no str.isascii; a str's UTF-8 form is as long as it only then)."""
    return len(text.encode()) == len(text)


def msg_type(msg):
    """The MsgType (35) of a whole message, or "" ."""
    i = msg.find(SOH + "35=")
    if i < 0:
        return ""
    j = msg.find(SOH, i + 4)
    return msg[i + 4:j if j >= 0 else len(msg)]


def _text(raw):
    """A framed message's bytes as str, one character per byte (Latin-1):
    ASCII decodes as such; any byte above 0x7f becomes that code point
    (MicroPython's bytes.decode is UTF-8 only and would raise, or make one
    character of several bytes), for the session to refuse."""
    try:
        text = raw.decode()
        if len(text) == len(raw):
            return text
    except UnicodeError:
        pass
    return "".join([chr(c) for c in raw])


class Reader:
    """Whole, valid messages out of a byte stream; garbled ones dropped.
    Framing is checked on the bytes; the messages come out as str (one
    character per byte)."""

    def __init__(self):
        self.buf = b""
        self.garbled = 0

    def feed(self, data):
        if isinstance(data, str):
            data = data.encode()
        if not isinstance(data, bytes):
            data = bytes(data)
        buf = self.buf + data if self.buf else data              # no copy of a whole message
        out = []
        start = len(_BEGIN_B)
        p = 0                   # read on from here: the buffer is sliced once a message, never copied whole
        while True:
            i = buf.find(_BEGIN_B, p)
            if i < 0:
                p = max(p, len(buf) - start)      # a start cut short may be at the end
                break
            p = i
            head_end = buf.find(b"\x01", p + start)
            if head_end < 0:
                if len(buf) - p > start + 8:      # "9=" and 5 digits, no SOH: garbled
                    p = self._drop(p)
                    continue
                break
            lenfield = buf[p + start:head_end]
            if lenfield[:2] != b"9=" or not is_digits(lenfield[2:], 5) or int(lenfield[2:].decode()) > MAX_BODY:
                p = self._drop(p)
                continue
            body_end = head_end + 1 + int(lenfield[2:].decode())
            if len(buf) < body_end + 7:
                # Still short: unless another message begins inside the claimed
                # body, which means the length is wrong (drop it, rescan).
                if buf.find(_BEGIN_B + b"9=", head_end + 1) < 0:
                    break
                p = self._drop(p)
                continue
            msg = buf[p:body_end + 7]
            n = body_end - p
            trailer = msg[n:]
            if not (trailer[:3] == b"10=" and trailer[6:] == b"\x01" and is_digits(trailer[3:6], 3)) \
                    or msg[n - 1] != 1 or (sum(msg) - sum(trailer)) % 256 != int(trailer[3:6].decode()):
                p = self._drop(p)
                continue
            out.append(_text(msg))
            p = body_end + 7
        self.buf = buf[p:] if p < len(buf) else b""
        return out

    def _drop(self, p):
        self.garbled += 1
        return p + 2


class Session:
    """The acceptor side of one FIX session. receive(msg) returns the
    messages to send back (str each). on_order(fields) -> list of
    ExecutionReport field lists; on_cancel likewise. A message with a
    character outside ASCII gets a session Reject (373=6) naming the tag;
    MsgSeqNum, BeginSeqNo and NewSeqNo are 1 to 9 ASCII digits."""

    def __init__(self, our_id, now, on_order, on_cancel=None):
        self.our_id, self.now = our_id, now
        self.on_order, self.on_cancel = on_order, on_cancel
        self.their_id = None
        self.logged_on = False
        self.expected = 1
        self.out_seq = 0
        self.queued = {}            # MsgSeqNum -> message, above a gap (MAX_QUEUED, MAX_QUEUED_CHARS)
        self.queued_chars = 0
        self.dropped = 0            # messages above a gap not queued (bounds)

    def _send(self, msg_type, fields):
        self.out_seq += 1
        head = [("35", msg_type), ("49", self.our_id), ("56", self.their_id or "?"), ("34", str(self.out_seq)),
                ("52", self.now())]
        return encode(head + fields)

    def reject(self, seq, tag, reason, text, mtype=None):
        """A session Reject (3) of message `seq` (0 if unknown): RefTagID
        `tag` (None: none), SessionRejectReason `reason`, Text."""
        fields = [("45", str(seq))]
        if tag:
            fields.append(("371", tag))
        if mtype:
            fields.append(("372", mtype))
        return self._send("3", fields + [("373", reason), ("58", text)])

    def receive(self, msg):
        if isinstance(msg, (bytes, bytearray)):
            msg = _text(bytes(msg))
        f = decode(msg)
        d = {}
        for t, v in f:
            d.setdefault(t, v)
        mtype = d.get("35")
        seq = d.get("34", "")
        if not is_digits(seq, SEQ_DIGITS):
            return [self.reject(0, "34", "6" if seq else "1", "MsgSeqNum (34) missing or not 1 to %d digits 0-9"
                                % SEQ_DIGITS)]
        seq = int(seq)
        if not is_ascii(msg):
            # A byte outside ASCII: the message is refused; its number is used up
            # if it was the next expected (as for any rejected message).
            tag = "?"
            for t, v in f:
                if not is_ascii(t + v):
                    tag = t if is_ascii(t) and is_digits(t, 6) else "?"
                    break
            if self.logged_on and seq == self.expected:
                self.expected = seq + 1
            return [self.reject(seq, tag if tag != "?" else None, "6",
                                "tag %s: a character outside ASCII (0x80 or above)" % tag,
                                mtype[:8] if mtype and is_ascii(mtype) else None)]
        if not self.logged_on:
            if mtype != "A":
                return [self._send("5", [("58", "first message must be Logon")])]
            self.their_id = d.get("49", "?")[:32]
            if seq > self.expected:           # logged on, but messages before it are missing
                self.logged_on = True
                return [self._send("A", [("98", "0"), ("108", d.get("108", "30")[:8])]),
                        self._send("2", [("7", str(self.expected)), ("16", "0")])]
        if seq > self.expected and not (mtype == "4" and d.get("123") != "Y"):
            if seq not in self.queued:
                if len(self.queued) < MAX_QUEUED and self.queued_chars + len(msg) <= MAX_QUEUED_CHARS:
                    self.queued[seq] = msg
                    self.queued_chars += len(msg)
                else:
                    self.dropped += 1         # the gap's ResendRequest stands: it will come again
            return [self._send("2", [("7", str(self.expected)), ("16", "0")])]
        if seq < self.expected:
            if d.get("43") == "Y":
                return []                     # a possible duplicate we already have
            self.logged_on = False
            return [self._send("5", [("58", "MsgSeqNum too low, expecting %d but received %d"
                                      % (self.expected, seq))])]
        out = self._apply(mtype, d, f, seq)
        for q in list(self.queued):           # anything now below what we expect is stale
            if q < self.expected:
                self.queued_chars -= len(self.queued.pop(q))
        while self.expected in self.queued:
            queued = self.queued.pop(self.expected)
            self.queued_chars -= len(queued)
            out += self.receive(queued)
        return out

    def _apply(self, mtype, d, f, seq):
        self.expected = seq + 1
        if mtype == "A":
            self.logged_on = True
            return [self._send("A", [("98", "0"), ("108", d.get("108", "30")[:8])])]
        if mtype == "0":
            return []
        if mtype == "1":
            return [self._send("0", [("112", d.get("112", "")[:128])])]
        if mtype == "2":
            begin = d.get("7", "")
            if not is_digits(begin, SEQ_DIGITS):
                return [self.reject(seq, "7", "6", "BeginSeqNo (7) is not 1 to %d digits 0-9" % SEQ_DIGITS, "2")]
            return [self._gapfill(int(begin) or 1)]
        if mtype == "4":
            new = d.get("36", "")
            if not is_digits(new, SEQ_DIGITS):
                return [self.reject(seq, "36", "6", "NewSeqNo (36) is not 1 to %d digits 0-9" % SEQ_DIGITS, "4")]
            if int(new) > self.expected:
                self.expected = int(new)
            return []
        if mtype == "5":
            self.logged_on = False
            return [self._send("5", [])]
        if mtype == "3":
            return []
        if mtype in REQUIRED:
            for tag in REQUIRED[mtype]:
                if not d.get(tag):
                    return [self._send("3", [("45", str(seq)), ("371", tag), ("372", mtype), ("373", "1"),
                                             ("58", "required tag %s missing" % tag)])]
            handler = self.on_order if mtype == "D" else self.on_cancel
            try:
                reports = handler(d) if handler else []
            except BusinessReject as e:
                return [self._send("j", [("45", str(seq)), ("372", mtype), ("379", d.get("11", "")[:64]),
                                         ("380", e.reason), ("58", "tag %s: %s" % (e.tag, e.text))])]
            return [self._send(t, fields) for t, fields in reports]
        return [self._send("j", [("45", str(seq)), ("372", (mtype or "")[:8]), ("380", "3"),
                                 ("58", "unsupported message type %s" % (mtype or "")[:8])])]

    def _gapfill(self, begin):
        """SequenceReset-GapFill from `begin` over everything sent so far:
        application messages are not resent (a stale order report is worse
        than none); the counterparty's next expected becomes ours + 1."""
        return encode([("35", "4"), ("49", self.our_id), ("56", self.their_id or "?"), ("34", str(begin)),
                       ("43", "Y"), ("52", self.now()), ("123", "Y"), ("36", str(self.out_seq + 1))])


class BusinessReject(Exception):
    """An order the business refuses: tag at fault, reason (380: 0 other,
    1 unknown ID, 2 unknown security, 5 conditionally required field
    missing, ...), text."""

    def __init__(self, tag, reason, text):
        super().__init__("%s: %s" % (tag, text))
        self.tag, self.reason, self.text = tag, reason, text
