"""The host link, the host's side: provisioning the link key into a storage
image (the gateway task's partition, readable by that task alone) and
`qenex send`: log in over the framed link (drivers/hsm/frame.py, the HSM
link's format) and submit a message to the gateway.

The key record's format is userland/gateway/layout.py's."""
import hashlib
import hmac
import os
import secrets
import socket
import time
import zlib

from drivers.hsm import frame as F
from tools.layout import load_board
from userland.gateway import layout

SUBMIT = 0x40


def provision(storage, board, key_path):
    """Write a key into the storage image unless one is there; keep the
    host's copy in key_path. Returns the key."""
    b = load_board(board)
    off = b.GATEWAY_STORE_OFFSET + layout.KEY_OFFSET
    with open(storage, "r+b") as f:
        f.seek(off)
        key = layout.key_of(f.read(layout.KEY_RECORD))
        if key is None:
            key = secrets.token_bytes(32)
            f.seek(off)
            f.write(layout.key_record(key).ljust(b.SECTOR_SIZE, b"\xff"))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def _hmac(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def _crc(data):
    return zlib.crc32(data) & 0xFFFFFFFF


class Link:
    """A logged-in host link over a unix socket."""

    def __init__(self, path, key, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.sock.settimeout(0.2)
        self.timeout = timeout
        self.codec = F.Codec(_crc, _hmac)
        self.reader = F.Reader(_crc)
        self.seq = 0
        self.key = key
        self._login()

    def _exchange(self, cmd, payload, reply_key):
        self.seq += 1
        self.sock.sendall(self.codec.encode(cmd, self.seq, payload))
        end = time.monotonic() + self.timeout
        while time.monotonic() < end:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise ConnectionError("the board closed the link")
            for fr in self.reader.feed(data):
                c, seq, body = F.parse(fr)
                if c == cmd | F.RESPONSE and seq == self.seq:
                    saved, self.codec.key = self.codec.key, reply_key
                    ok = self.codec.check_mac(fr)
                    if not ok and cmd == F.LOGIN and body and body[0] != F.OK:
                        self.codec.key = None          # a refused login is answered outside a session
                        ok = self.codec.check_mac(fr)
                    self.codec.key = saved
                    if not ok:
                        raise ConnectionError("an answer with a bad MAC")
                    if body[0] != F.OK:
                        raise ConnectionError("refused: %s: %s" % (F.STATUS[body[0]], body[1:].decode()))
                    return body[1:]
        raise TimeoutError("no answer from the board in %d s" % self.timeout)

    def _login(self):
        (nonce_h,) = F.unfields(self._exchange(F.LOGIN_BEGIN, b"", None), 1)
        nonce_d = secrets.token_bytes(16)
        skey = F.session_key(_hmac, self.key, nonce_h, nonce_d)
        self._exchange(F.LOGIN, F.fields(nonce_d, F.login_proof(_hmac, self.key, nonce_h, nonce_d)), skey)
        self.codec.key = skey

    def submit(self, kind, message):
        """The gateway's answer (text) to one message."""
        body = self._exchange(SUBMIT, F.fields(kind, message), self.codec.key)
        return F.unfields(body, 1)[0].decode()

    def control(self, cmd, payload=b""):
        """RULES (0x42) or AUDIT (0x43): the board's answer (text)."""
        return F.unfields(self._exchange(cmd, payload, self.codec.key), 1)[0].decode()

    def stats(self):
        """The gateway's counters (dict)."""
        import json
        return json.loads(F.unfields(self._exchange(0x41, b"", self.codec.key), 1)[0])

    def close(self):
        self.sock.close()


def guess_kind(data):
    text = data.decode("latin-1")
    if "pacs.008" in text:
        return "pacs.008"
    if "pain.001" in text:
        return "pain.001"
    if text.lstrip().startswith("{1:"):
        return "MT103"
    if text.startswith("8=FIX"):
        return "FIX"
    raise SystemExit("qenex send: cannot tell what kind of message this is (use --kind)")
