"""hsmbench: N ECDSA P-256 signatures through the hsm service, timed on the
guest clock (`make bench` runs it under -icount, where a guest ns is one
instruction or idle time skipped while the host HSM answers). The kernel's
idle time over the same run (KCTL_PS idle_ms, which is why it holds the
kernel right, in the test image only) splits the two: what the board
executed and what it waited."""
from drivers.hsm import frame as F
from kernel import abi
from userland.lib import qenex

N = 50


def clock():
    """(uptime_ms, idle_ms) from KCTL_PS, read out of its JSON text without
    building the whole table (a 16 KiB heap)."""
    ps = qenex.kctl(abi.KCTL_PS)
    out = []
    for key in (b'"uptime_ms": ', b'"idle_ms": '):
        i = ps.find(key) + len(key)
        j = i
        while ps[j] in b"0123456789":
            j += 1
        out.append(int(ps[i:j]))
    return out


def main():
    msg = F.fields("sign", "bench-sign", b"\x11" * 32)
    stats = F.fields("stats")
    qenex.call("hsm", msg)                           # warm: the first frame, imports
    up0, idle0 = clock()
    t0 = qenex.ticks()
    for _ in range(N):
        r = qenex.call("hsm", msg)
        if r[0] != 0:
            qenex.write("bench: hsm refused: %s\n" % F.unfields(r[1:])[0].decode())
            return
    ms = qenex.ticks() - t0
    up1, idle1 = clock()
    busy = (up1 - up0) - (idle1 - idle0)
    qenex.write("bench: hsm_sign_busy_us %d\n" % (busy * 1000 // N))  # executed, not waited
    qenex.write("bench: hsm_sign_round_trip_us %d\n" % (ms * 1000 // N))
    qenex.write("bench: hsm_frames_per_s %d\n" % (2 * N * 1000 // max(ms, 1)))
    qenex.write("bench: hsm_stats %s\n" % F.unfields(qenex.call("hsm", stats)[1:])[0].decode())
    qenex.write("bench: hsm done\n")
