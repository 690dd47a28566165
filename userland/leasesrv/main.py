"""leasesrv: serves the lease test (userland/leaser, tests/qemu/test_leases.py)
with the lease each call lends (kernel/abi.py, Leases):
  b"sum"    reads the whole lease; replies its SHA-256
  b"fill"   writes bytes (offset & 255) over the whole lease; replies b"filled"
  b"take"   reads the whole lease and keeps nothing (the timing); replies b""
  b"deny"   tries what the lease does not allow (writing a read lease, reading
            past its end) and replies the error names; after the reply it
            tries to read it again, which must fail BAD_STATE
  b"after"  replies the name of that last error
  other     (a plain call, up to 256 bytes): replies b"" (the timing's baseline)"""
import hashlib

from kernel import errors
from userland.lib import qenex

CHUNK = 4096


def _name(f, *args):
    try:
        f(*args)
        return "OK"
    except qenex.Error as e:
        return e.name


def main():
    buf = bytearray(CHUNK)
    pattern = bytearray(CHUNK)
    for i in range(CHUNK):
        pattern[i] = i & 255
    after = "none"
    while True:
        sender, msg = qenex.recv()
        if msg == b"sum" or msg == b"take":
            n, rights = qenex.lease_info(sender)
            h = hashlib.sha256() if msg == b"sum" else None
            off = 0
            while off < n:
                k = n - off if n - off < CHUNK else CHUNK
                mv = memoryview(buf)[:k]
                qenex.borrow_read(sender, off, mv)
                if h is not None:
                    h.update(mv)
                off += k
            qenex.reply(sender, h.digest() if h is not None else b"")
        elif msg == b"fill":
            n, rights = qenex.lease_info(sender)
            off = 0
            while off < n:
                k = n - off if n - off < CHUNK else CHUNK
                qenex.borrow_write(sender, off, memoryview(pattern)[:k])
                off += k
            qenex.reply(sender, b"filled")
        elif msg == b"deny":
            n, rights = qenex.lease_info(sender)
            said = "%s %s %d" % (_name(qenex.borrow_write, sender, 0, b"x"),
                                 _name(qenex.borrow_read, sender, n - 1, memoryview(buf)[:2]), rights)
            qenex.reply(sender, said.encode())
            after = _name(qenex.borrow_read, sender, 0, memoryview(buf)[:1])
        elif msg == b"after":
            qenex.reply(sender, after.encode())
        else:
            qenex.reply(sender, b"")
