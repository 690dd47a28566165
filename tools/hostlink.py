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
from drivers.hsm.client import Client, HsmError
from tools.layout import load_board
from userland.gateway import layout

SUBMIT = 0x40


def provision(storage, board, key_path):
    """Write a key into the storage image unless one is there; keep the
    host's copy in key_path. Returns the key."""
    b = load_board(board)
    off = b.GATEWAY_STORE_OFFSET + layout.KEY_OFFSET
    if os.stat(storage).st_mode & 0o077:
        os.chmod(storage, 0o600)                 # it is about to hold the key
    with open(storage, "r+b") as f:
        f.seek(off)
        key = layout.key_of(f.read(layout.KEY_RECORD))
        if key is None:
            key = secrets.token_bytes(32)
            f.seek(off)
            f.write(layout.key_record(key).ljust(b.SECTOR_SIZE, b"\xff"))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)                         # an older copy may have been made readable
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def _hmac(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def _crc(data):
    return zlib.crc32(data) & 0xFFFFFFFF


class SocketPort:
    """A connected socket as drivers/hsm/client.Client's port: write all,
    read what has come (b"" when nothing)."""

    def __init__(self, sock):
        self.sock = sock
        sock.setblocking(False)

    def write(self, data):
        self.sock.setblocking(True)
        self.sock.sendall(data)
        self.sock.setblocking(False)

    def read(self):
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return b""
        if not data:
            raise ConnectionError("the board closed the link")
        return data


RETRIES = 3                # a request is sent at most 4 times, waiting 1, 2, 4 and 8 fifteenths of the timeout
QUIET_MS = 250             # a partial answer is dropped as noise only after this long without a byte


class Link:
    """A logged-in host link: the HSM driver's client (drivers/hsm/client.py,
    the same framing and login) logged in with the link key, over a unix
    socket (or `sock`, anything with the socket calls SocketPort uses).

    An answer lost (a busy host, a frame dropped as stale) is asked for
    again with the same sequence number, which the board answers from the
    answer it kept, without running the request again: up to RETRIES
    times, the wait doubling, `timeout` seconds in all. An answer `not
    logged in` (the gateway restarted, or the session ran out of sequence
    numbers) makes the client log in again and send the request once more
    (the board did not run it)."""

    def __init__(self, path, key, timeout=30, sock=None, login=True, retries=RETRIES):
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
        self.sock, self.key, self.timeout = sock, key, timeout
        first = max(1, timeout * 1000 // ((1 << (retries + 1)) - 1))
        self.client = Client(SocketPort(sock), _crc, _hmac, lambda: int(time.monotonic() * 1000),
                             lambda ms: time.sleep(ms / 1000), timeout_ms=first, retries=retries, backoff=True,
                             quiet_ms=QUIET_MS, peer="the board")
        if login:
            self.login()

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except HsmError as e:
            if e.status == "timeout":
                raise TimeoutError("no answer from the board in %d s (%s)" % (self.timeout, e.message)) from None
            raise ConnectionError("refused: %s" % e) from None

    def login(self):
        self._call(self.client.login_key, self.key)

    def control(self, cmd, payload=b""):
        """SUBMIT's, RULES (0x42)'s or AUDIT (0x43)'s answer (text)."""
        return F.unfields(self._call(self.client.request, cmd, payload), 1)[0].decode()

    def submit(self, kind, message):
        """The gateway's answer (text) to one message."""
        return self.control(SUBMIT, F.fields(kind, message))

    def stats(self):
        """The gateway's counters (dict)."""
        import json
        return json.loads(self.control(0x41))

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
