"""leaser: the near end of the lease test (tests/qemu/test_leases.py). Lends
leasesrv its memory and checks what came across, that a lease allows only
what it says and ends with the reply, that a lease outside the caller's
memory is refused, then moves 1 MiB by lease and 1 MiB in 256-byte calls and
prints both times (guest ms). Prints one line per check, then "leaser: done"."""
import hashlib

from kernel import abi, errors
from userland.lib import qenex

SIZE = 16384
MIB = 1 << 20


def say(text):
    qenex.write("leaser: %s\n" % text)


def main():
    srv = qenex.lookup("leasesrv")
    data = bytearray(SIZE)
    x = 1
    for i in range(SIZE):
        x = (x * 75 + 74) % 65537
        data[i] = x & 255
    got = qenex.call_lease(srv, b"sum", data, qenex.LEASE_READ)
    say("sum %s" % ("ok" if got == hashlib.sha256(data).digest() else "BAD"))
    out = bytearray(SIZE)
    qenex.call_lease(srv, b"fill", out, qenex.LEASE_WRITE)
    bad = 0
    for i in range(SIZE):
        if out[i] != i & 255:
            bad += 1
    say("fill %d bad" % bad)
    say("deny %s" % qenex.call_lease(srv, b"deny", memoryview(data)[:64], qenex.LEASE_READ).decode())
    say("after reply %s" % qenex.call(srv, b"after").decode())
    # a writable lease of memory that is not the caller's (the kernel's RAM)
    r = qenex._raw(abi.SYS_CALL_LEASE, srv, qenex._qx.addr(out), 4 | 256 << 16, 0x20000000,
                   64 << 2 | abi.LEASE_WRITE)
    say("foreign lease %s" % (errors.name_of(-r) if r < 0 else "ACCEPTED"))
    t0 = qenex.ticks()
    for _ in range(MIB // SIZE):
        qenex.call_lease(srv, b"take", data, qenex.LEASE_READ)
    t1 = qenex.ticks()
    msg = bytes(256)
    for _ in range(MIB // 256):
        qenex.call(srv, msg)
    t2 = qenex.ticks()
    say("1 MiB by %d-byte leases %d ms, by 256-byte calls %d ms" % (SIZE, t1 - t0, t2 - t1))
    say("done")
