"""The host link, the board's side: the gateway answers the host over UART2
with the HSM link's framing (drivers/hsm/frame.py) and the same login, the
board now being the one that holds the key (the link key, provisioned into
the gateway's storage partition). Plain Python.

Commands: INFO, LOGIN_BEGIN, LOGIN (outside a session), SUBMIT 0x40
(fields: kind, message) -> fields(answer), STATS, RULES, AUDIT, ACCOUNTS and TIME (the
host provisions the board's UTC clock: only a logged-in host can). Five wrong logins lock the link
until the board restarts.

Replays and retries (drivers/hsm/PROTOCOL.md, "Sequence numbers"): in a
session a frame's MAC is checked first, then its sequence number must be
the last one plus one; the last one again with the same MAC is the host
retrying a request whose answer it lost, and gets the kept answer (one,
the last) without the request being run again; anything else is refused
(`bad sequence`). The session ends before its numbers would wrap
(`not logged in`: "session ended: log in again"), and a frame for a
session the board does not have (it restarted) gets `not logged in` at
once, without a MAC, so the host logs in again instead of waiting."""
from drivers.hsm import frame as F

SUBMIT = 0x40
STATS = 0x41               # -> fields(JSON of the gateway's counters)
RULES = 0x42               # fields(rules JSON) -> fields(answer): the compliance rules reloaded
AUDIT = 0x43               # -> fields(answer): the audit log checked on the board
TIME = 0x44                # fields(host UTC ms, ASCII digits) -> fields(answer): the board's clock set
ACCOUNTS = 0x45            # fields(flags "F"/"L"/"FL", text): a part of a new account directory -> fields(answer)
STALE_MS = 200             # a partial frame with no byte for this long is dropped (resync); a busy
                           # host pauses mid-frame for tens of ms, and the host's retry recovers a drop
MAX_TRIES = 5
KINDS = (b"pacs.008", b"pain.001", b"MT103", b"FIX")     # SUBMIT's kind field: anything else is BAD_ARG

# The host link over TCP (userland/hostnet/, production image): hostnet
# accepts the connection through net and calls the gateway, which alone
# holds the key and the session, once per whole frame. Calls (IPC, only
# from the task named RELAY_TASK):
#   RELAY_OPEN                  a new connection: the TCP session ends (the
#                               login's wrong tries are kept)
#   RELAY_FRAME + "<H" length   lease (read + write): the frame at 0; the
#                               answer frame is written back at 0
# Reply: b"\x00" + "<H" answer length (0: nothing to answer), or b"\x01" and why not.
RELAY_TASK = "hostnet"
RELAY_PORT = 4700
RELAY_OPEN = b"relay open"
RELAY_FRAME = b"relay frame"
RELAY_LEASE = F.OVERHEAD + F.MAX_PAYLOAD     # room for any frame, either way


def host_time(payload):
    """TIME's payload: fields(UTC ms since 1970 as 1 to 15 ASCII digits) ->
    the int; F.FrameError says what is wrong (the clock refuses an
    implausible time itself: kernel/clock.py)."""
    text = F.unfields(payload, 1)[0]
    if not 0 < len(text) <= 15 or any(c < 0x30 or c > 0x39 for c in text):
        raise F.FrameError("TIME takes the host's UTC ms since 1970 as 1 to 15 ASCII digits")
    return int(text)


def same(a, b):
    """Compare without stopping at the first difference."""
    if len(a) != len(b):
        return False
    acc = 0
    for x, y in zip(a, b):
        acc |= x ^ y
    return acc == 0


class LinkServer:
    def __init__(self, port, key, crc32, hmac, fresh, version="QENEX OS gateway", stats=None, now_ms=None,
                 control=None):
        """fresh() -> 16 bytes never handed out before (the login nonce)."""
        self.port, self.key, self.hmac, self.fresh, self.version = port, key, hmac, fresh, version
        self.stats = stats
        self.control = control      # control(cmd, payload) -> (ok, answer text), for RULES, AUDIT, ACCOUNTS and TIME
        self.codec = F.Codec(crc32, hmac)
        self.reader = F.Reader(crc32)
        self.nonce_h = None
        self.tries = 0
        self.seqs = F.Sequence()    # the session's replay rule and its one kept answer
        self.open_cache = None      # (the last LOGIN_BEGIN or LOGIN frame, its answer): a retried login
        self.retries = 0            # retries answered from the kept answer
        self.now_ms = now_ms or (lambda: 0)
        self.last_byte = self.now_ms()

    def poll(self, submit):
        """Answer what has arrived; submit(kind, message) -> answer text.
        Returns the number of frames handled."""
        data = self.port.read()
        now = self.now_ms()
        if data:
            self.last_byte = now
            frames = self.reader.feed(data)
        elif self.reader.buf and now - self.last_byte >= STALE_MS:
            self.last_byte = now                   # a partial frame the line stopped sending
            frames = self.reader.stale()
        else:
            frames = []
        for fr in frames:
            if fr[3] & F.RESPONSE:
                continue
            self.port.write(self.answer(fr, submit))
        if frames:
            self.last_byte = self.now_ms()         # time spent answering is not the line going quiet
        return len(frames)

    def end_session(self):
        self.codec.key = None
        self.seqs.start(None)

    def _encode(self, cmd, seq, status, body):
        if 1 + len(body) > F.MAX_PAYLOAD:       # never a crash: the submitter is told (the gateway bounds its answers)
            status, body = F.BAD_ARG, ("the answer (%d bytes) does not fit a frame" % len(body)).encode()
        return self.codec.encode(cmd | F.RESPONSE, seq, bytes((status,)) + body)

    def answer(self, fr, submit):
        """The answer frame to one request frame (whole, its CRC checked:
        F.Reader's); poll() for the UART, the TCP relay (RELAY_FRAME) directly."""
        cmd, seq, payload = F.parse(fr)
        if cmd in F.OPEN_COMMANDS:
            if self.open_cache is not None and self.open_cache[0] == fr:
                return self.open_cache[1]          # a retried login step: the same answer
            if cmd != F.INFO:
                self.end_session()
            answer = self._encode(cmd, seq, *self._handle(cmd, seq, payload, submit))
            if cmd != F.INFO and len(fr) <= 128:
                self.open_cache = (fr, answer)
            return answer
        if self.codec.key is None:
            return self._encode(cmd, seq, F.NOT_LOGGED_IN, b"no session (the board restarted?): log in again")
        if not self.codec.check_mac(fr):
            return self._encode(cmd, seq, F.BAD_MAC, b"bad MAC")
        mac = F.frame_mac(fr)
        verdict = self.seqs.check(seq, mac)
        if verdict == "retry":
            self.retries += 1
            return self.seqs.answer
        if verdict == "ended":
            self.end_session()
            return self._encode(cmd, seq, F.NOT_LOGGED_IN, b"session ended: log in again")
        if verdict == "bad":
            return self._encode(cmd, seq, F.BAD_SEQ, ("sequence number %d after %s" % (seq, self.seqs.last)).encode())
        answer = self._encode(cmd, seq, *self._handle(cmd, seq, payload, submit))
        self.seqs.done(seq, mac, answer)
        return answer

    def _handle(self, cmd, seq, payload, submit):
        try:
            if cmd == F.INFO:
                return F.OK, F.fields(self.version)
            if cmd == F.LOGIN_BEGIN:
                if self.tries >= MAX_TRIES:
                    return F.LOCKED, b"locked after 5 wrong logins until the board restarts"
                self.nonce_h = self.fresh()
                return F.OK, F.fields(self.nonce_h)
            if cmd == F.LOGIN:
                nonce_d, proof = F.unfields(payload, 2)
                nonce_h, self.nonce_h = self.nonce_h, None
                if self.tries >= MAX_TRIES:
                    return F.LOCKED, b"locked"
                if nonce_h is None or len(nonce_d) != 16 or \
                        not same(F.login_proof(self.hmac, self.key, nonce_h, nonce_d), proof):
                    self.tries += 1
                    return F.WRONG_PIN, b"wrong key"
                self.tries = 0
                self.codec.key = F.session_key(self.hmac, self.key, nonce_h, nonce_d)
                self.seqs.start(seq)               # the session's numbers follow the LOGIN's
                return F.OK, b""
            if cmd == SUBMIT:
                kind, message = F.unfields(payload, 2)
                if kind not in KINDS:                  # compared as bytes: never decoded (b"\xff")
                    return F.BAD_ARG, b"unknown message kind (pacs.008, pain.001, MT103 or FIX)"
                return F.OK, F.fields(submit(kind.decode(), bytes(message)))
            if cmd == STATS and self.stats is not None:
                return F.OK, F.fields(self.stats())
            if cmd in (RULES, AUDIT, TIME, ACCOUNTS) and self.control is not None:
                ok, text = self.control(cmd, payload)
                return (F.OK if ok else F.BAD_ARG), (F.fields(text) if ok else text.encode())
            return F.UNKNOWN, b"unknown command"
        except F.FrameError as e:
            return F.BAD_ARG, str(e).encode()


def relay(link, msg, lease_len, borrow, lend, submit):
    """The gateway's reply to a RELAY_* call from hostnet (its task checked
    by the caller) for the TCP side's LinkServer `link`: msg, the call's
    message; lease_len, its lease's length; borrow(n) -> the lease's first n
    bytes; lend(data) writes data at the lease's start. hostnet is not
    trusted: the frame is checked whole again (sync, version, length, CRC)."""
    if msg == RELAY_OPEN:
        link.end_session()
        link.open_cache = None
        return b"\x00\x00\x00"
    if len(msg) != len(RELAY_FRAME) + 2 or msg[:len(RELAY_FRAME)] != RELAY_FRAME:
        return b"\x01unknown relay call (relay open, relay frame)"
    if lease_len < RELAY_LEASE:
        return b"\x01" + ("the lease is %d bytes: a frame's answer needs %d" % (lease_len, RELAY_LEASE)).encode()
    n = msg[-2] | msg[-1] << 8
    if not F.OVERHEAD <= n <= RELAY_LEASE:
        return b"\x01" + ("a frame of %d bytes: a frame is %d..%d" % (n, F.OVERHEAD, RELAY_LEASE)).encode()
    fr = borrow(n)
    got = F.Reader(link.reader.crc32).feed(fr)
    if len(got) != 1 or len(got[0]) != n:
        return b"\x01not one whole frame (sync, version, length and CRC are checked)"
    if fr[3] & F.RESPONSE:
        return b"\x00\x00\x00"              # an answer sent to the board: nothing to answer (as on UART2)
    ans = link.answer(got[0], submit)
    lend(ans)
    return b"\x00" + bytes((len(ans) & 0xFF, len(ans) >> 8))
