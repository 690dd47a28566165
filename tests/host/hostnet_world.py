"""The host link over TCP without the board: hostnet's Relay (userland/
hostnet/main.py) over a fake connection, forwarding each frame through
userland/gateway/link.py's relay() (a lease simulated by a bytearray) to a
LinkServer. Imported by tests/host/test_hostnet.py under CPython and run by
MicroPython's unix port (the same scenario, the same log). Its MAC is a
stand-in (SHA-256 of key and data: the unix port has no hmac module), which
the plumbing tested here does not depend on."""
import binascii
import hashlib
import struct

from drivers.hsm import frame as F
from userland.gateway import link
from userland.hostnet.main import Relay

KEY = bytes(range(32))


def mac(key, data):
    return hashlib.sha256(bytes(key) + bytes(data)).digest()


def crc(data):
    return binascii.crc32(data) & 0xFFFFFFFF


class Conn:
    """The TCP connection as Relay sees it: what it sent, in order."""

    def __init__(self):
        self.out = []

    def sendall(self, data, timeout_ms):
        self.out.append(bytes(data))

    def take(self):
        out, self.out = self.out, []
        return out


class World:
    """hostnet's Relay -> relay() -> the gateway's TCP LinkServer."""

    def __init__(self):
        n = [0]

        def fresh():
            n[0] += 1
            return bytes(12) + struct.pack("<I", n[0])
        self.server = link.LinkServer(None, KEY, crc, mac, fresh)
        self.ran = []
        self.lease = bytearray(link.RELAY_LEASE)
        self.refusals = []
        self.down = False           # the gateway not answering: forward() gives None
        self.conn = Conn()
        self.relay = Relay(self.conn, self.forward, crc)

    def submit(self, kind, message):
        self.ran.append((kind, message))
        return "answer %d to %s" % (len(self.ran), message.decode())

    def call(self, msg, lease_len=None):
        """The gateway's reply to one relay call with the lease as it is now."""
        def borrow(k):
            return bytes(self.lease[:k])

        def lend(data):
            self.lease[:len(data)] = data
        return link.relay(self.server, msg, len(self.lease) if lease_len is None else lease_len,
                          borrow, lend, self.submit)

    def forward(self, fr):
        if self.down:
            return None
        self.lease[:len(fr)] = fr
        r = self.call(link.RELAY_FRAME + struct.pack("<H", len(fr)))
        if r[:1] != b"\x00":
            self.refusals.append(r[1:].decode())
            return None
        return bytes(self.lease[:struct.unpack("<H", r[1:])[0]])


def answers(frames):
    """(cmd, status, body) of each answer frame."""
    out = []
    for raw in frames:
        got = F.Reader(crc).feed(raw)
        assert len(got) == 1, raw
        cmd, seq, payload = F.parse(got[0])
        out.append((cmd, payload[0], payload[1:]))
    return out


def login(w, seq=1):
    """A login over the relay, as tools/hostlink's client does it: the
    session codec, or the LOGIN answer's (status, body)."""
    codec = F.Codec(crc, mac)
    w.relay.feed(codec.encode(F.LOGIN_BEGIN, seq, b""))
    (cmd, status, body), = answers(w.conn.take())
    if status != F.OK:
        return status, body
    nonce_h = F.unfields(body, 1)[0]
    nonce_d = bytes(range(100, 116))
    w.relay.feed(codec.encode(F.LOGIN, seq + 1, F.fields(nonce_d, F.login_proof(mac, KEY, nonce_h, nonce_d))))
    (cmd, status, body), = answers(w.conn.take())
    if status != F.OK:
        return status, body
    codec.key = F.session_key(mac, KEY, nonce_h, nonce_d)
    return codec


def scenario():
    """Lines a run logs: the same under CPython and MicroPython."""
    log = []
    w = World()
    # INFO, cut into single bytes with noise in front: one whole answer
    info = F.Codec(crc, mac).encode(F.INFO, 1, b"")
    for b in b"noise" + info:
        w.relay.feed(bytes((b,)))
    log.append(("info", answers(w.conn.take())[0][1], w.relay.reader.dropped))
    # a session, a message submitted, its answer
    codec = login(w)
    w.relay.feed(codec.encode(link.SUBMIT, 3, F.fields(b"FIX", b"8=FIX.4.4")))
    (cmd, status, body), = answers(w.conn.take())
    log.append(("submit", status, F.unfields(body, 1)[0].decode(), len(w.ran)))
    # a new connection ends the session: the next request is `not logged in`
    log.append(("open", w.call(link.RELAY_OPEN)))
    w.relay.feed(codec.encode(link.SUBMIT, 4, F.fields(b"FIX", b"8=FIX.4.4")))
    (cmd, status, body), = answers(w.conn.take())
    log.append(("after open", status, len(w.ran)))
    # the gateway down: the frame dropped, nothing sent back
    w.down = True
    w.relay.feed(F.Codec(crc, mac).encode(F.INFO, 9, b""))
    w.down = False
    log.append(("down", w.conn.take(), w.relay.dropped))
    # an answer frame sent to the board: nothing answered, nothing forwarded
    resp = F.Codec(crc, mac).encode(F.INFO | F.RESPONSE, 9, b"\x00")
    w.relay.feed(resp)
    log.append(("response", w.conn.take(), w.relay.answered))
    # relay() refuses what hostnet must never send (hostnet is not trusted)
    w.lease[:len(info)] = info
    bad = bytearray(info)
    bad[-1] ^= 1
    two = info + info
    cases = [("unknown", b"relay frames"), ("short", link.RELAY_FRAME + b"\x01"),
             ("tiny", link.RELAY_FRAME + struct.pack("<H", 3)),
             ("huge", link.RELAY_FRAME + struct.pack("<H", link.RELAY_LEASE + 1))]
    for name, msg in cases:
        log.append((name, w.call(msg)))
    log.append(("small lease", w.call(link.RELAY_FRAME + struct.pack("<H", len(info)), 64)))
    w.lease[:len(bad)] = bad
    log.append(("bad crc", w.call(link.RELAY_FRAME + struct.pack("<H", len(bad)))))
    w.lease[:len(two)] = two
    log.append(("two frames", w.call(link.RELAY_FRAME + struct.pack("<H", len(two)))))
    log.append(("longer than the frame", w.call(link.RELAY_FRAME + struct.pack("<H", len(info) + 1))))
    # five wrong logins lock the link, and a new connection does not unlock it
    w2 = World()
    for i in range(5):
        codec = F.Codec(crc, mac)
        w2.relay.feed(codec.encode(F.LOGIN_BEGIN, 10 + 2 * i, b""))
        w2.conn.take()
        w2.relay.feed(codec.encode(F.LOGIN, 11 + 2 * i, F.fields(bytes(16), bytes(32))))
        w2.conn.take()
    w2.call(link.RELAY_OPEN)
    got = login(w2, 40)
    log.append(("locked", got if isinstance(got, tuple) else "logged in"))
    return [repr(x) for x in log]


if __name__ == "__main__":
    for line in scenario():
        print(line)
