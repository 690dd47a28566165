"""HSM link frames, the device's implementation (plain Python: it runs in the
hsm task under MicroPython and in the host tests under CPython, where
tools/hsm/protocol.py's construct definition checks it). PROTOCOL.md is the
specification.

    0   2   sync 0xA5 0x5A
    2   1   version (1)
    3   1   command; a response carries command | 0x80
    4   2   sequence number (LE)
    6   2   payload length n (LE), at most MAX_PAYLOAD
    8   n   payload (a response's starts with a status byte)
    8+n 16  MAC: HMAC-SHA256(session key, bytes 2 .. 8+n)[:16]; zeros outside a session
    24+n 4  CRC-32 (as zlib) of bytes 0 .. 24+n (LE)

Payload fields are length-prefixed byte strings (u16 LE length, bytes).
"""

SYNC = b"\xa5\x5a"
VERSION = 1
HEADER = 8
MAC_LEN = 16
CRC_LEN = 4
MAX_PAYLOAD = 4096       # an ML-DSA-65 signature is 3,309 bytes
OVERHEAD = HEADER + MAC_LEN + CRC_LEN
RESPONSE = 0x80

# commands
INFO, LOGIN_BEGIN, LOGIN, LOGOUT, CHANGE_PIN = 0x01, 0x02, 0x03, 0x04, 0x05
RANDOM, GENERATE, PUBKEY, SIGN, VERIFY, ENCRYPT, DECRYPT = 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16
WRAP, UNWRAP, DELETE, LIST, ATTRS = 0x17, 0x18, 0x19, 0x1A, 0x1B
AUDIT, ZEROIZE, AUDIT_NOTE = 0x20, 0x21, 0x22
COMMANDS = {INFO: "info", LOGIN_BEGIN: "login_begin", LOGIN: "login", LOGOUT: "logout",
            CHANGE_PIN: "change_pin", RANDOM: "random",
            GENERATE: "generate", PUBKEY: "pubkey", SIGN: "sign", VERIFY: "verify", ENCRYPT: "encrypt",
            DECRYPT: "decrypt", WRAP: "wrap", UNWRAP: "unwrap", DELETE: "delete", LIST: "list",
            ATTRS: "attrs", AUDIT: "audit", ZEROIZE: "zeroize", AUDIT_NOTE: "audit_note"}
OPEN_COMMANDS = (INFO, LOGIN_BEGIN, LOGIN)     # the only ones accepted outside a session
SEQ_LAST = 0xFFFF          # the last sequence number of a session: it ends before the number would wrap

# status (first payload byte of a response)
STATUS = ("ok", "bad frame", "bad MAC", "not logged in", "wrong PIN", "locked", "no such key",
          "not permitted", "bad argument", "key exists", "no free slot", "unknown command",
          "bad sequence", "crypto failure")
OK, BAD_FRAME, BAD_MAC, NOT_LOGGED_IN, WRONG_PIN, LOCKED, NO_KEY, NOT_PERMITTED, BAD_ARG, EXISTS, FULL, \
    UNKNOWN, BAD_SEQ, CRYPTO = range(len(STATUS))

# key algorithms and usage bits
ALGS = ("ecdsa-p256", "ed25519", "aes-256", "ml-dsa-65")
USAGE = ("sign", "verify", "encrypt", "decrypt", "wrap")
EXPORTABLE = 0x80          # attribute bit beside the usage bits


def usage_bits(names):
    bits = 0
    for n in names:
        if n == "exportable":
            bits |= EXPORTABLE
        else:
            bits |= 1 << USAGE.index(n)
    return bits


def usage_names(bits):
    out = [USAGE[i] for i in range(len(USAGE)) if bits & (1 << i)]
    if bits & EXPORTABLE:
        out.append("exportable")
    return out


class FrameError(ValueError):
    pass


def u16(b, i):
    return b[i] | b[i + 1] << 8


def u32(b, i):
    return b[i] | b[i + 1] << 8 | b[i + 2] << 16 | b[i + 3] << 24


def p16(v):
    return bytes((v & 0xFF, (v >> 8) & 0xFF))


def p32(v):
    return bytes((v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF, (v >> 24) & 0xFF))


def fields(*items):
    """Length-prefixed byte strings (str is UTF-8, int is u32 LE)."""
    out = bytearray()
    for x in items:
        if isinstance(x, int):
            x = p32(x)
        elif isinstance(x, str):
            x = x.encode()
        out += p16(len(x))
        out += x
    return bytes(out)


def unfields(data, n=None):
    """The byte strings of a fields() payload; FrameError if malformed or
    (with n) not exactly n of them."""
    out = []
    i = 0
    while i < len(data):
        if len(data) - i < 2:
            raise FrameError("field length cut off")
        k = u16(data, i)
        if i + 2 + k > len(data):
            raise FrameError("field runs past the payload")
        out.append(bytes(data[i + 2:i + 2 + k]))
        i += 2 + k
    if n is not None and len(out) != n:
        raise FrameError("%d fields, expected %d" % (len(out), n))
    return out


class Codec:
    """Frames for one link: crc32(data) -> int and hmac(key, data) -> 32
    bytes are the platform's (binascii.crc32 and _crypto.hmac_sha256 on
    the device). key: the session key, or None outside a session."""

    def __init__(self, crc32, hmac):
        self.crc32 = crc32
        self.hmac = hmac
        self.key = None

    def mac(self, body):
        if self.key is None:
            return bytes(MAC_LEN)
        return self.hmac(self.key, body)[:MAC_LEN]

    def encode(self, cmd, seq, payload):
        if len(payload) > MAX_PAYLOAD:
            raise FrameError("payload of %d bytes, at most %d" % (len(payload), MAX_PAYLOAD))
        body = bytes((VERSION, cmd)) + p16(seq) + p16(len(payload)) + payload
        frame = SYNC + body + self.mac(body)
        return frame + p32(self.crc32(frame) & 0xFFFFFFFF)

    def check_mac(self, frame):
        """True if the frame's MAC is right for the current session."""
        n = u16(frame, 6)
        return self.mac(bytes(frame[2:HEADER + n])) == bytes(frame[HEADER + n:HEADER + n + MAC_LEN])


class Reader:
    """Pulls whole frames out of a byte stream, resynchronising after
    garbage: bytes before a sync are dropped; a header with a bad version
    or an oversize length, or a frame whose CRC fails, loses its first sync
    byte and the search goes on from the next one; so does a partial frame
    when the line goes quiet (stale(): noise that looked like a header). feed() returns the good
    frames found (bytes each) and counts what it dropped."""

    def __init__(self, crc32):
        self.crc32 = crc32
        self.buf = bytearray()
        self.dropped = 0
        self.bad_crc = 0

    def reset(self):
        self.dropped += len(self.buf)
        self.buf = bytearray()

    def need(self):
        """Bytes still to come for the frame in progress to be whole (a
        header's worth when none has started): what a reader may wait for
        before it looks again."""
        n = len(self.buf)
        if n < HEADER:
            return HEADER - n
        size = u16(self.buf, 6)
        if self.buf[2] != VERSION or size > MAX_PAYLOAD or n >= OVERHEAD + size:
            return 1
        return OVERHEAD + size - n

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            i = self.buf.find(SYNC)
            if i < 0:
                keep = 1 if self.buf[-1:] == SYNC[:1] else 0
                self.dropped += len(self.buf) - keep
                self.buf = self.buf[len(self.buf) - keep:]
                return out
            if i:
                self.dropped += i
                self.buf = self.buf[i:]
            if len(self.buf) < HEADER:
                return out
            n = u16(self.buf, 6)
            if self.buf[2] != VERSION or n > MAX_PAYLOAD:
                self._skip()
                continue
            total = OVERHEAD + n
            if len(self.buf) < total:
                return out
            frame = bytes(self.buf[:total])
            if self.crc32(frame[:total - CRC_LEN]) & 0xFFFFFFFF != u32(frame, total - CRC_LEN):
                self.bad_crc += 1
                self._skip()
                continue
            self.buf = self.buf[total:]
            out.append(frame)

    def _skip(self):
        self.dropped += 1
        self.buf = self.buf[1:]

    def stale(self):
        """The line went quiet with a partial frame buffered: it was a
        false start (noise that looked like a header). Drop its sync byte
        and look for whole frames behind it."""
        if not self.buf:
            return []
        self._skip()
        return self.feed(b"")


def parse(frame):
    """(cmd, seq, payload) of a whole frame checked by Reader."""
    n = u16(frame, 6)
    return frame[3], u16(frame, 4), bytes(frame[HEADER:HEADER + n])


class Sequence:
    """The receiving side's replay rule inside a session (PROTOCOL.md,
    "Sequence numbers"), for frames whose MAC has already been checked:
    a frame's sequence number is exactly the last one plus one (a new
    request) or the last one again with the same MAC (a retry: answered
    from the one cached answer, never run twice); anything else is
    refused. The session ends once the last number is SEQ_LAST: numbers
    never wrap, so a captured frame never comes round again.

    check(seq, mac) -> "new", "retry" (answer()), "bad" or "ended";
    done(seq, mac, answer) keeps a new request's answer. start(seq) at
    login: the LOGIN frame's number is the session's first."""

    def __init__(self):
        self.start(None)

    def start(self, seq):
        self.last = seq
        self.mac = None
        self.answer = None

    def check(self, seq, mac):
        if self.last is None:
            return "bad"
        if seq == self.last:
            return "retry" if self.answer is not None and mac == self.mac else "bad"
        if self.last >= SEQ_LAST:
            return "ended"
        return "new" if seq == self.last + 1 else "bad"

    def done(self, seq, mac, answer):
        self.last, self.mac, self.answer = seq, mac, answer


def frame_mac(frame):
    """The MAC field of a whole frame (bytes)."""
    n = u16(frame, 6)
    return bytes(frame[HEADER + n:HEADER + n + MAC_LEN])


# --- the session (PROTOCOL.md, "Login") -------------------------------------------

def pin_key(hmac, pin, serial):
    return hmac(pin.encode() if isinstance(pin, str) else pin, b"qenex-hsm pin " + serial)


def login_proof(hmac, pkey, nonce_h, nonce_d):
    return hmac(pkey, b"login" + nonce_h + nonce_d)


def session_key(hmac, pkey, nonce_h, nonce_d):
    return hmac(pkey, b"session" + nonce_h + nonce_d)


# --- CHANGE_PIN (PROTOCOL.md, "Changing the PIN") ------------------------------------

def change_proof(hmac, old_pkey, skey, nonce):
    """Shows the HSM the old PIN, bound to this session and request."""
    return hmac(old_pkey, b"change pin" + skey + nonce)


def pin_pad(hmac, skey, nonce):
    """The one-time pad the new PIN key travels under (32 bytes)."""
    return hmac(skey, b"new pin" + nonce)


def xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))
