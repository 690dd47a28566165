"""The host link, the board's side: the gateway answers the host over UART2
with the HSM link's framing (drivers/hsm/frame.py) and the same login, the
board now being the one that holds the key (the link key, provisioned into
the gateway's storage partition). Plain Python.

Commands: INFO, LOGIN_BEGIN, LOGIN (outside a session), SUBMIT 0x40
(fields: kind, message) -> fields(answer). Five wrong logins lock the link
until the board restarts. Sequence numbers must increase in a session."""
from drivers.hsm import frame as F

SUBMIT = 0x40
STATS = 0x41               # -> fields(JSON of the gateway's counters)
RULES = 0x42               # fields(rules JSON) -> fields(answer): the compliance rules reloaded
AUDIT = 0x43               # -> fields(answer): the audit log checked on the board
STALE_MS = 20              # a partial frame with no byte for this long is dropped (resync)
MAX_TRIES = 5
KINDS = (b"pacs.008", b"pain.001", b"MT103", b"FIX")     # SUBMIT's kind field: anything else is BAD_ARG


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
        self.control = control      # control(cmd, payload) -> answer text, for RULES and AUDIT
        self.codec = F.Codec(crc32, hmac)
        self.reader = F.Reader(crc32)
        self.nonce_h = None
        self.tries = 0
        self.last_seq = None
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
            cmd, seq, payload = F.parse(fr)
            if cmd & F.RESPONSE:
                continue
            status, body = self._handle(cmd, seq, payload, fr, submit)
            self.port.write(self.codec.encode(cmd | F.RESPONSE, seq, bytes((status,)) + body))
        return len(frames)

    def _handle(self, cmd, seq, payload, fr, submit):
        if cmd in F.OPEN_COMMANDS:
            if cmd != F.INFO:
                self.codec.key = None
        elif self.codec.key is None:
            return F.NOT_LOGGED_IN, b"log in first"
        elif not self.codec.check_mac(fr):
            return F.BAD_MAC, b"bad MAC"
        elif self.last_seq is not None and (seq - self.last_seq) & 0xFFFF > 0x8000 or seq == self.last_seq:
            return F.BAD_SEQ, b"sequence number not above the last"
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
                self.last_seq = None
                return F.OK, b""
            if cmd == SUBMIT:
                kind, message = F.unfields(payload, 2)
                self.last_seq = seq
                if kind not in KINDS:                  # compared as bytes: never decoded (b"\xff")
                    return F.BAD_ARG, b"unknown message kind (pacs.008, pain.001, MT103 or FIX)"
                return F.OK, F.fields(submit(kind.decode(), bytes(message)))
            if cmd == STATS and self.stats is not None:
                self.last_seq = seq
                return F.OK, F.fields(self.stats())
            if cmd in (RULES, AUDIT) and self.control is not None:
                self.last_seq = seq
                ok, text = self.control(cmd, payload)
                return (F.OK if ok else F.BAD_ARG), (F.fields(text) if ok else text.encode())
            return F.UNKNOWN, b"unknown command"
        except F.FrameError as e:
            return F.BAD_ARG, str(e).encode()
