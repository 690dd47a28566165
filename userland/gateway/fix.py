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
gateway (risk checks, the ledger)."""

SOH = "\x01"
BEGIN = "FIX.4.4"
REQUIRED = {"D": ("11", "55", "54", "38", "40", "60"), "F": ("41", "11", "55", "54", "60")}


def checksum(data):
    return "%03d" % (sum(data.encode("latin-1") if isinstance(data, str) else data) % 256)


def encode(fields):
    """fields: [(tag, value)] without 8, 9, 10; returns the whole message (str)."""
    body = "".join("%s=%s%s" % (t, v, SOH) for t, v in fields)
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


class Reader:
    """Whole, valid messages out of a byte stream; garbled ones dropped."""

    def __init__(self):
        self.buf = ""
        self.garbled = 0

    def feed(self, data):
        if isinstance(data, (bytes, bytearray)):
            data = bytes(data).decode("latin-1")
        self.buf += data
        out = []
        while True:
            i = self.buf.find("8=" + BEGIN + SOH)
            if i < 0:
                self.buf = self.buf[-(len(BEGIN) + 3):]
                return out
            self.buf = self.buf[i:]
            head_end = self.buf.find(SOH, len(BEGIN) + 3)
            if head_end < 0:
                return out
            lenfield = self.buf[len(BEGIN) + 3:head_end]
            if not lenfield.startswith("9=") or not lenfield[2:].isdigit() or int(lenfield[2:]) > 65536:
                self._drop()
                continue
            body_start = head_end + 1
            body_end = body_start + int(lenfield[2:])
            if len(self.buf) < body_end + 7:
                # Still short: unless another message begins inside the claimed
                # body, which means the length is wrong (drop it, rescan).
                if self.buf.find("8=" + BEGIN + SOH + "9=", body_start) < 0:
                    return out
                self._drop()
                continue
            trailer = self.buf[body_end:body_end + 7]
            if not (trailer.startswith("10=") and trailer.endswith(SOH) and trailer[3:6].isdigit()) \
                    or self.buf[body_end - 1:body_end] != SOH \
                    or checksum(self.buf[:body_end]) != trailer[3:6]:
                self._drop()
                continue
            out.append(self.buf[:body_end + 7])
            self.buf = self.buf[body_end + 7:]

    def _drop(self):
        self.garbled += 1
        self.buf = self.buf[2:]


class Session:
    """The acceptor side of one FIX session. receive(msg) returns the
    messages to send back (str each). on_order(fields) -> list of
    ExecutionReport field lists; on_cancel likewise."""

    def __init__(self, our_id, now, on_order, on_cancel=None):
        self.our_id, self.now = our_id, now
        self.on_order, self.on_cancel = on_order, on_cancel
        self.their_id = None
        self.logged_on = False
        self.expected = 1
        self.out_seq = 0
        self.queued = {}
        self.log = []            # (direction, msg type) for the audit

    def _send(self, msg_type, fields):
        self.out_seq += 1
        head = [("35", msg_type), ("49", self.our_id), ("56", self.their_id or "?"), ("34", str(self.out_seq)),
                ("52", self.now())]
        self.log.append(("out", msg_type))
        return encode(head + fields)

    def receive(self, msg):
        f = decode(msg)
        d = {}
        for t, v in f:
            d.setdefault(t, v)
        mtype = d.get("35")
        seq = d.get("34", "")
        if not seq.isdigit():
            return [self._send("3", [("45", seq or "0"), ("371", "34"), ("373", "1"),
                                     ("58", "MsgSeqNum (34) missing or not a number")])]
        seq = int(seq)
        self.log.append(("in", mtype))
        if not self.logged_on:
            if mtype != "A":
                return [self._send("5", [("58", "first message must be Logon")])]
            self.their_id = d.get("49")
            if seq > self.expected:           # logged on, but messages before it are missing
                self.logged_on = True
                return [self._send("A", [("98", "0"), ("108", d.get("108", "30"))]),
                        self._send("2", [("7", str(self.expected)), ("16", "0")])]
        if seq > self.expected and not (mtype == "4" and d.get("123") != "Y"):
            self.queued[seq] = msg
            return [self._send("2", [("7", str(self.expected)), ("16", "0")])]
        if seq < self.expected:
            if d.get("43") == "Y":
                return []                     # a possible duplicate we already have
            self.logged_on = False
            return [self._send("5", [("58", "MsgSeqNum too low, expecting %d but received %d"
                                      % (self.expected, seq))])]
        out = self._apply(mtype, d, f, seq)
        while self.expected in self.queued:
            queued = self.queued.pop(self.expected)
            out += self.receive(queued)
        return out

    def _apply(self, mtype, d, f, seq):
        self.expected = seq + 1
        if mtype == "A":
            self.logged_on = True
            return [self._send("A", [("98", "0"), ("108", d.get("108", "30"))])]
        if mtype == "0":
            return []
        if mtype == "1":
            return [self._send("0", [("112", d.get("112", ""))])]
        if mtype == "2":
            begin = d.get("7", "")
            return [self._gapfill(int(begin) if begin.isdigit() and begin != "0" else 1)]
        if mtype == "4":
            new = d.get("36", "")
            if new.isdigit() and int(new) > self.expected:
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
                return [self._send("j", [("45", str(seq)), ("372", mtype), ("379", d.get("11", "")),
                                         ("380", e.reason), ("58", "tag %s: %s" % (e.tag, e.text))])]
            return [self._send(t, fields) for t, fields in reports]
        return [self._send("j", [("45", str(seq)), ("372", mtype or ""), ("380", "3"),
                                 ("58", "unsupported message type %s" % mtype)])]

    def _gapfill(self, begin):
        """SequenceReset-GapFill from `begin` over everything sent so far:
        application messages are not resent (a stale order report is worse
        than none); the counterparty's next expected becomes ours + 1."""
        self.log.append(("out", "4"))
        return encode([("35", "4"), ("49", self.our_id), ("56", self.their_id or "?"), ("34", str(begin)),
                       ("43", "Y"), ("52", self.now()), ("123", "Y"), ("36", str(self.out_seq + 1))])


class BusinessReject(Exception):
    """An order the business refuses: tag at fault, reason (380: 0 other,
    1 unknown ID, 2 unknown security, 5 conditionally required field
    missing, ...), text."""

    def __init__(self, tag, reason, text):
        super().__init__("%s: %s" % (tag, text))
        self.tag, self.reason, self.text = tag, reason, text
