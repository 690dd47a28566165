"""FIX 4.4: tag=value framing, in plain Python (the session layer is
fix_session.py).

Framing: a message is 8=FIX.4.4|9=BodyLength|...|10=CheckSum| (| is SOH).
BodyLength counts the bytes from after the 9= field's SOH up to and
including the SOH before 10=; CheckSum is the sum of every byte before
10= modulo 256, three digits. A message whose length or checksum is wrong
is ignored, as the standard requires (Reader counts it in `garbled`).

Bytes: the framing is checked on bytes, and a message comes out as str
with one character per byte (a byte above 0x7f stays one character, for
the session to refuse). BodyLength and CheckSum are ASCII digits of bounded
length (userland/lib/asciinum.py)."""

from userland.lib.asciinum import is_digits

SOH = "\x01"
BEGIN = "FIX.4.4"
MAX_BODY = 65536            # BodyLength (9) above this is garbled (5 digits at most)
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
    character per byte), or as the bytes themselves with raw=True (a relay
    that hands them on: userland/fixnet/)."""

    def __init__(self, raw=False):
        self.buf = b""
        self.garbled = 0
        self.raw = raw

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
            out.append(msg if self.raw else _text(msg))
            p = body_end + 7
        self.buf = buf[p:] if p < len(buf) else b""
        return out

    def _drop(self, p):
        self.garbled += 1
        return p + 2
