"""The FIX 4.4 session layer, acceptor side: a table of sessions, one
session per counterparty, the session's sequence numbers and the messages
it sent kept in a store (so a reconnect, a restart or a reboot resumes it),
heartbeats and test requests driven by tick(). Framing (BodyLength,
CheckSum, the tag=value form) is fix.py's; the orders themselves are the
gateway's (service.py): app(msg_type, fields) answers them.

    table = parse_table({"our_id": "QENEX",
                         "sessions": [{"counterparty": "HOST", "heartbeat_s": 30}]})
    acc = Acceptor(table, MemoryStore(), now_ms, stamp, app)
    conn = acc.open()               # a TCP connection: not a session until its Logon
    out = conn.receive(msg)         # whole messages (str) to send back
    out = conn.tick()               # due Heartbeats, TestRequests, a timeout's Logout
    conn.closed                     # True once the transport must close (after a Logout)
    conn.drop()                     # the transport closed: the session waits for the next Logon

What the session does (the FIX session layer, FIX 4.4 volume 2):
- Logon (A): TargetCompID (56) must be ours and SenderCompID (49) a
  counterparty of the table, HeartBtInt (108) the session's interval; else
  a Logout saying which, and the connection closes. A session already
  logged on from another connection refuses the second. Until the board's
  clock is set (stamp() None) every Logon is refused: SendingTime (52)
  would have no date, so the connection closes without an answer, the
  reason in `refused` (the gateway audits it).
- ResetSeqNumFlag (141=Y) on a Logon with MsgSeqNum 1: both sides start
  again from 1, the kept messages are dropped, the answer carries 141=Y.
- Otherwise the Logon's MsgSeqNum is checked as any message's: lower than
  expected ends the session ("MsgSeqNum too low, expecting N but received
  M"), higher is answered with the Logon and then a ResendRequest for the gap.
- MsgSeqNum of each message: the next expected is applied; higher ones are
  queued (MAX_QUEUED, MAX_QUEUED_CHARS) behind one ResendRequest (a
  ResendRequest among them is answered at once all the same); lower ones
  with PossDupFlag (43=Y) are ignored, without it end the session. A
  PossDupFlag message needs OrigSendingTime (122).
- ResendRequest (2): each kept application message (and Reject) in the
  range is sent again with PossDupFlag and OrigSendingTime, under its own
  MsgSeqNum; session messages, and anything no longer kept, become one
  SequenceReset-GapFill per run.
- SequenceReset (4): GapFill (123=Y) moves the expected number on at its
  place in the sequence; Reset moves it whatever the MsgSeqNum; a NewSeqNo
  that would move it back is rejected (373=5).
- Heartbeat (0) after HeartBtInt seconds without sending; a TestRequest (1)
  after HeartBtInt plus a fifth without receiving; a Logout and close when
  the TestRequest gets no answer within another HeartBtInt. A TestRequest
  is answered with a Heartbeat carrying its TestReqID (112).
- CompIDs on every message after the Logon: another pair gets a Reject
  (373=9) and a Logout.
A message with a character outside ASCII gets a session Reject (373=6);
MsgSeqNum, BeginSeqNo, EndSeqNo and NewSeqNo are 1 to 9 ASCII digits."""
from userland.gateway import fix as W
from userland.lib.asciinum import is_digits

SEQ_DIGITS = 9
NOT_RESENT = ("0", "1", "2", "4", "5", "A")     # session messages: gap-filled, never resent (Reject is resent)
MAX_QUEUED = 16             # messages held back behind a gap (and MAX_QUEUED_CHARS of them)
MAX_QUEUED_CHARS = 8192
LOGON_WAIT_MS = 10000       # a connection that sends no Logon this long is closed
COMPID_MAX = 32
REQUIRED = {"D": ("11", "55", "54", "38", "40", "60"), "F": ("41", "11", "55", "54", "60"),
            "G": ("41", "11", "55", "54", "38", "40", "60"), "H": ("11", "55", "54")}


class TableError(ValueError):
    pass


def _compid(v, what):
    if not isinstance(v, str) or not 0 < len(v) <= COMPID_MAX or not W.is_ascii(v) or \
            any(c in v for c in "\x01= ") or any(ord(c) < 0x21 for c in v):
        raise TableError("%s must be 1 to %d printable ASCII characters (no '=')" % (what, COMPID_MAX))
    return v


def parse_table(doc):
    """{"our_id": CompID, "sessions": [{"counterparty": CompID,
    "heartbeat_s": 1..3600}]} checked -> (our_id, {counterparty: heartbeat_s})."""
    if not isinstance(doc, dict):
        raise TableError("the FIX session table must be an object")
    our = _compid(doc.get("our_id"), "our_id")
    sessions = doc.get("sessions")
    if not isinstance(sessions, list) or not sessions:
        raise TableError("sessions must be a list of at least one session")
    out = {}
    for i, s in enumerate(sessions):
        if not isinstance(s, dict) or sorted(s) != ["counterparty", "heartbeat_s"]:
            raise TableError("sessions[%d] must be {\"counterparty\": .., \"heartbeat_s\": ..}" % i)
        cp = _compid(s["counterparty"], "sessions[%d].counterparty" % i)
        hb = s["heartbeat_s"]
        if not isinstance(hb, int) or isinstance(hb, bool) or not 1 <= hb <= 3600:
            raise TableError("sessions[%d].heartbeat_s must be a whole number of seconds 1..3600" % i)
        if cp in out or cp == our:
            raise TableError("sessions[%d]: counterparty %s given twice or our own" % (i, cp))
        out[cp] = hb
    return our, out


class MemoryStore:
    """The session store's interface, in memory (the host tests; the board
    keeps the same in flash: fix_store.py). Per counterparty: the next
    MsgSeqNum expected in and the next to send, and the messages sent
    (seq -> (MsgType, the original SendingTime, the fields after the header
    as encoded text))."""

    def __init__(self, most=16):
        self.seqs = {}
        self.sent = {}
        self.most = most            # messages kept per session: RAM is scarce (fix_store keeps its MAX_KEPT)

    def load(self, cp):
        return self.seqs.get(cp, (1, 1))

    def save(self, cp, next_in, next_out):
        self.seqs[cp] = (next_in, next_out)

    def keep(self, cp, seq, mtype, sending_time, body):
        kept = self.sent.setdefault(cp, {})
        kept[seq] = (mtype, sending_time, body)
        while len(kept) > self.most:
            del kept[min(kept)]

    def kept(self, cp, seq):
        return self.sent.get(cp, {}).get(seq)

    def reset(self, cp):
        self.sent.pop(cp, None)
        self.seqs[cp] = (1, 1)


class BusinessReject(Exception):
    """An application message the business refuses: tag at fault, reason
    (380: 0 other, 1 unknown ID, 2 unknown security, 5 conditionally
    required field missing, ...), text."""

    def __init__(self, tag, reason, text):
        super().__init__("%s: %s" % (tag, text))
        self.tag, self.reason, self.text = tag, reason, text


class Session:
    """One counterparty's session: its numbers (from the store), its
    connection while logged on."""

    def __init__(self, cp, heartbeat_s, store):
        self.cp, self.heartbeat_ms, self.store = cp, heartbeat_s * 1000, store
        self.next_in, self.next_out = store.load(cp)
        self.conn = None

    def save(self):
        self.store.save(self.cp, self.next_in, self.next_out)


class Acceptor:
    def __init__(self, table, store, now_ms, stamp, app):
        """table: parse_table's answer; now_ms() monotonic ms; stamp() the
        UTC time as FIX writes it (YYYYMMDD-HH:MM:SS.sss), None while the
        board's clock is unset; app(msg_type, fields dict) -> [(msg_type,
        fields)] to send, or BusinessReject."""
        self.our_id, hbs = table
        self.store, self.now_ms, self.stamp, self.app = store, now_ms, stamp, app
        self.sessions = {}
        for cp in hbs:
            self.sessions[cp] = Session(cp, hbs[cp], store)

    def open(self):
        return Connection(self)


class Connection:
    def __init__(self, acc):
        self.acc = acc
        self.session = None
        self.peer = "?"             # the SenderCompID of the Logon, for a Logout before a session is bound
        self.refused = None         # why a Logon was refused without an answer
        self.closed = False
        self.opened = self.last_rx = self.last_tx = acc.now_ms()
        self.test_since = None      # a TestRequest of ours waiting for its Heartbeat: since when
        self.test_id = 0
        self.queued = {}            # MsgSeqNum -> message, above a gap
        self.queued_chars = 0
        self.answered = []          # ResendRequests answered above a gap (their numbers not yet reached)
        self.resend_asked = 0       # while a ResendRequest of ours stands: the highest number seen since
        self.dropped = 0

    # --- sending -------------------------------------------------------------------
    def _head(self, mtype, seq, sending, possdup=None):
        s = self.session
        head = [("35", mtype), ("49", self.acc.our_id), ("56", s.cp if s else self.peer), ("34", str(seq))]
        if possdup is not None:
            head.append(("43", "Y"))
        head.append(("52", sending))
        if possdup:
            head.append(("122", possdup))
        return head

    def send(self, mtype, fields):
        """The next message of the session (kept for resending unless it is a
        session message), its number used up and stored."""
        s = self.session
        now = self.acc.stamp() or "19700101-00:00:00.000"      # a session exists only while the clock is set
        self.last_tx = self.acc.now_ms()
        if s is None:                   # before a Logon bound one: a Logout, numbered 1, kept nowhere
            return W.encode(self._head(mtype, 1, now) + fields)
        seq = s.next_out
        s.next_out = seq + 1
        s.save()
        msg = W.encode(self._head(mtype, seq, now) + fields)
        if mtype not in NOT_RESENT:
            s.store.keep(s.cp, seq, mtype, now, "".join("%s=%s\x01" % (t, v) for t, v in fields))
        return msg

    def logout(self, text):
        """Our Logout saying why; the connection closes after it."""
        out = self.send("5", [("58", text[:120])])
        self.close_after()
        return [out]

    def close_after(self):
        self.closed = True
        if self.session is not None and self.session.conn is self:
            self.session.conn = None

    def drop(self):
        """The transport closed (or was closed): the session is free for the next Logon."""
        self.close_after()

    def reject(self, seq, tag, reason, text, mtype=None):
        fields = [("45", str(seq))]
        if tag:
            fields.append(("371", tag))
        if mtype:
            fields.append(("372", mtype[:8]))
        return self.send("3", fields + [("373", reason), ("58", text[:120])])

    # --- receiving -----------------------------------------------------------------
    def receive(self, msg):
        if self.closed:
            return []
        if isinstance(msg, (bytes, bytearray)):
            msg = W._text(bytes(msg))
        self.last_rx = self.acc.now_ms()
        self.test_since = None                  # whatever comes, the peer is there
        f = W.decode(msg)
        d = {}
        for t, v in f:
            if t not in d:
                d[t] = v
        mtype = d.get("35", "")
        seq = d.get("34", "")
        if not is_digits(seq, SEQ_DIGITS) or int(seq) == 0:
            if self.session is None:
                return self.logout("MsgSeqNum (34) missing or not 1 to %d digits 0-9" % SEQ_DIGITS)
            return [self.reject(0, "34", "6" if seq else "1", "MsgSeqNum (34) missing or not 1 to %d digits 0-9"
                                % SEQ_DIGITS)]
        seq = int(seq)
        if not W.is_ascii(msg):
            if self.session is None:
                return self.logout("a character outside ASCII (0x80 or above) before the Logon")
            tag = "?"
            for t, v in f:
                if not W.is_ascii(t + v):
                    tag = t if is_digits(t, 6) else "?"
                    break
            if seq == self.session.next_in:
                self.session.next_in = seq + 1
                self.session.save()
            return [self.reject(seq, tag if tag != "?" else None, "6",
                                "tag %s: a character outside ASCII (0x80 or above)" % tag,
                                mtype if W.is_ascii(mtype) else None)]
        if self.session is None:
            return self._logon(d, seq)
        s = self.session
        if d.get("49") != s.cp or d.get("56") != self.acc.our_id:
            out = [self.reject(seq, "49" if d.get("49") != s.cp else "56", "9",
                               "CompID problem: this session is %s to %s" % (s.cp, self.acc.our_id), mtype)]
            return out + self.logout("CompID problem: SenderCompID must be %s, TargetCompID %s"
                                     % (s.cp, self.acc.our_id))
        if mtype == "4" and d.get("123") != "Y":
            return self._sequence_reset(d, seq, gap_fill=False)
        if seq > s.next_in:
            out = []
            if mtype == "2" and seq not in self.answered:
                # answered at once, gap or not (else both sides wait on each other's resend); its
                # number is taken when the gap is filled, without answering it twice
                self.answered.append(seq)
                out = self._resend(d, seq)
            return out + self._queue(seq, msg)
        if seq < s.next_in:
            if d.get("43") == "Y":
                return []                       # a possible duplicate we already have
            return self.logout("MsgSeqNum too low, expecting %d but received %d" % (s.next_in, seq))
        if d.get("43") == "Y" and not d.get("122") and mtype != "4":
            s.next_in = seq + 1
            s.save()
            return [self.reject(seq, "122", "1", "required tag 122 (OrigSendingTime) missing", mtype)]
        if mtype == "2" and seq in self.answered:
            self.answered.remove(seq)
            s.next_in = seq + 1
            s.save()
            out = []
        else:
            out = self._apply(mtype, d, seq)
        for q in list(self.queued):             # anything now below what we expect is stale
            if q < s.next_in:
                self.queued_chars -= len(self.queued.pop(q))
        while not self.closed and s.next_in in self.queued:
            queued = self.queued.pop(s.next_in)
            self.queued_chars -= len(queued)
            out += self.receive(queued)
        if s.next_in > self.resend_asked:
            self.resend_asked = 0
        return out

    def _logon(self, d, seq):
        acc = self.acc
        cp = d.get("49", "")
        if 0 < len(cp) <= COMPID_MAX and "\x01" not in cp:
            self.peer = cp
        if d.get("35") != "A":
            return self.logout("the first message must be a Logon")
        if d.get("56") != acc.our_id:
            return self.logout("TargetCompID must be %s" % acc.our_id)
        s = acc.sessions.get(cp)
        if s is None:
            return self.logout("no session for SenderCompID %s" % cp[:COMPID_MAX])
        hb = d.get("108", "")
        if not is_digits(hb, 4) or int(hb) * 1000 != s.heartbeat_ms:
            return self.logout("HeartBtInt (108) must be %d for %s" % (s.heartbeat_ms // 1000, cp))
        if acc.stamp() is None:
            # No date, so no SendingTime a counterparty would take (QuickFIX refuses a Logout
            # without one and counts it): the connection is closed without a message, and why
            # is kept for the gateway's audit entry and console.
            self.refused = "Logon from %s refused: the board's clock is not set" % cp
            self.close_after()
            return []
        if s.conn is not None and not s.conn.closed:
            return self.logout("session %s is already logged on" % cp)
        reset = d.get("141") == "Y"
        if reset and seq != 1:
            return self.logout("a Logon with ResetSeqNumFlag (141=Y) has MsgSeqNum 1, not %d" % seq)
        self.session, s.conn = s, self
        if reset:
            s.store.reset(cp)
            s.next_in, s.next_out = 1, 1
        elif seq < s.next_in:
            return self.logout("MsgSeqNum too low, expecting %d but received %d" % (s.next_in, seq))
        fields = [("98", "0"), ("108", hb)] + ([("141", "Y")] if reset else [])
        if seq > s.next_in:                     # logged on; the messages before it are missing
            out = [self.send("A", fields)]
            self.resend_asked = seq
            return out + [self.send("2", [("7", str(s.next_in)), ("16", "0")])]
        s.next_in = seq + 1
        s.save()
        return [self.send("A", fields)]

    def _queue(self, seq, msg):
        if seq not in self.queued:
            if len(self.queued) < MAX_QUEUED and self.queued_chars + len(msg) <= MAX_QUEUED_CHARS:
                self.queued[seq] = msg
                self.queued_chars += len(msg)
            else:
                self.dropped += 1               # the ResendRequest stands: it will come again
        if self.resend_asked:                   # asked already: 16=0 asked for all from the gap on
            self.resend_asked = max(self.resend_asked, seq)
            return []
        self.resend_asked = seq
        return [self.send("2", [("7", str(self.session.next_in)), ("16", "0")])]

    def _sequence_reset(self, d, seq, gap_fill):
        s = self.session
        new = d.get("36", "")
        if not is_digits(new, SEQ_DIGITS):
            if gap_fill:
                s.next_in = seq + 1
                s.save()
            return [self.reject(seq, "36", "6", "NewSeqNo (36) is not 1 to %d digits 0-9" % SEQ_DIGITS, "4")]
        new = int(new)
        floor = seq + 1 if gap_fill else s.next_in
        if new < floor:
            if gap_fill:
                s.next_in = seq + 1
                s.save()
            return [self.reject(seq, "36", "5", "NewSeqNo %d would move the sequence back (expecting %d)"
                                % (new, s.next_in), "4")]
        s.next_in = new
        s.save()
        return []

    def _apply(self, mtype, d, seq):
        s = self.session
        if mtype == "4":
            return self._sequence_reset(d, seq, gap_fill=True)
        s.next_in = seq + 1
        s.save()
        if mtype == "0":
            if self.test_since is not None and d.get("112") == "T%d" % self.test_id:
                self.test_since = None
            return []
        if mtype == "1":
            return [self.send("0", [("112", d.get("112", "")[:128])])]
        if mtype == "2":
            return self._resend(d, seq)
        if mtype == "5":
            out = [self.send("5", [])]
            self.close_after()
            return out
        if mtype == "3":
            return []
        if mtype == "A":
            return [self.reject(seq, None, "99", "already logged on", "A")]
        if mtype in REQUIRED:
            for tag in REQUIRED[mtype]:
                if not d.get(tag):
                    return [self.reject(seq, tag, "1", "required tag %s missing" % tag, mtype)]
            try:
                reports = self.acc.app(mtype, d)
            except BusinessReject as e:
                return [self.send("j", [("45", str(seq)), ("372", mtype), ("379", d.get("11", "")[:64]),
                                        ("380", e.reason), ("58", "tag %s: %s" % (e.tag, e.text))])]
            return [self.send(t, fields) for t, fields in reports]
        return [self.send("j", [("45", str(seq)), ("372", mtype[:8]), ("380", "3"),
                                ("58", "unsupported message type %s" % mtype[:8])])]

    def _resend(self, d, seq):
        s = self.session
        begin, end = d.get("7", ""), d.get("16", "")
        if not is_digits(begin, SEQ_DIGITS) or not is_digits(end, SEQ_DIGITS):
            return [self.reject(seq, "7" if not is_digits(begin, SEQ_DIGITS) else "16", "6",
                                "BeginSeqNo (7) and EndSeqNo (16) are 1 to %d digits 0-9" % SEQ_DIGITS, "2")]
        begin, end = int(begin) or 1, int(end)
        last = s.next_out - 1
        if end == 0 or end > last:
            end = last
        out = []
        now = self.acc.stamp() or "19700101-00:00:00.000"
        gap = None                              # the first number of a run to gap-fill
        n = begin
        while n <= end:
            kept = s.store.kept(s.cp, n)
            if kept is None:
                if gap is None:
                    gap = n
            else:
                if gap is not None:
                    out.append(self._gap_fill(gap, n, now))
                    gap = None
                mtype, orig, body = kept
                head = "".join("%s=%s\x01" % (t, v) for t, v in self._head(mtype, n, now, orig))
                out.append(W.frame(head + body))
            n += 1
        if gap is not None:
            out.append(self._gap_fill(gap, end + 1, now))
        self.last_tx = self.acc.now_ms()
        return out

    def _gap_fill(self, seq, new, now):
        return W.encode(self._head("4", seq, now, "") + [("123", "Y"), ("36", str(new))])

    # --- time ----------------------------------------------------------------------
    def tick(self):
        """What is due now: a Heartbeat, a TestRequest, or the Logout of a
        peer gone silent; a connection that never logged on is closed."""
        if self.closed:
            return []
        now = self.acc.now_ms()
        s = self.session
        if s is None:
            if now - self.opened >= LOGON_WAIT_MS:
                self.close_after()
            return []
        hb = s.heartbeat_ms
        if self.test_since is not None:
            if now - self.test_since >= hb:
                return self.logout("no Heartbeat answered our TestRequest in %d s" % (hb // 1000))
        elif now - self.last_rx >= hb + hb // 5:
            self.test_since = now
            self.test_id += 1
            return [self.send("1", [("112", "T%d" % self.test_id)])]
        if now - self.last_tx >= hb:
            return [self.send("0", [])]
        return []

    def due_ms(self):
        """ms until tick() may have something to do (for the transport's wait)."""
        if self.closed:
            return 0
        now = self.acc.now_ms()
        if self.session is None:
            return max(0, LOGON_WAIT_MS - (now - self.opened))
        hb = self.session.heartbeat_ms
        t = self.last_tx + hb
        t = min(t, (self.test_since + hb) if self.test_since is not None else self.last_rx + hb + hb // 5)
        return max(0, t - now)
