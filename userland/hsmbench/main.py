"""hsmbench: N ECDSA P-256 signatures through the hsm service, timed on the
guest clock (`make bench` runs it under -icount, where a guest ns is one
instruction or idle time skipped while the host HSM answers). The kernel's
idle time over the same run (KCTL_PS idle_ms, which is why it holds the
kernel right, in the test image only) splits the two: what the board
executed and what it waited; the board's 25 MHz counter and the counts of
it the kernel spent idle (KCTL_PS counter and idle_counts) make both exact."""
from drivers.hsm import frame as F
import _qx
from kernel import abi
from userland.lib import qenex

N = 50


PS_MAX = 8192       # bytes of a KCTL_PS reply (about 230 a task; 30 in the test image)
_ps = None


def clock():
    """(uptime_ms, idle_ms, counter, idle_counts) from KCTL_PS, read out of its JSON text in one
    buffer kept for the run, without building the whole table or copying
    the reply (a 16 KiB heap: qenex.kctl's grown buffer and its copy of a
    30-task reply did not fit)."""
    global _ps
    if _ps is None:
        _ps = bytearray(PS_MAX)
    n = qenex._raw(abi.SYS_KCTL, abi.KCTL_PS, 0, _qx.addr(_ps), PS_MAX)
    if n < 0:
        raise qenex.Error(-n)
    out = []
    for key in (b'"uptime_ms": ', b'"idle_ms": ', b'"counter": ', b'"idle_counts": '):
        i = _ps.find(key, 0, n) + len(key)
        j = i
        while j < n and 48 <= _ps[j] <= 57:
            j += 1
        out.append(int(bytes(_ps[i:j])))
    return out


def main():
    msg = F.fields("sign", "bench-sign", b"\x11" * 32)
    stats = F.fields("stats")
    qenex.call("hsm", msg)                           # warm: the first frame, imports
    up0, idle0, c0, ic0 = clock()
    t0 = qenex.ticks()
    for _ in range(N):
        r = qenex.call("hsm", msg)
        if r[0] != 0:
            qenex.write("bench: hsm refused: %s\n" % F.unfields(r[1:])[0].decode())
            return
    ms = qenex.ticks() - t0
    up1, idle1, c1, ic1 = clock()
    counts = (c1 - c0) & 0xFFFFFFFF                  # the 25 MHz counter: 40 instructions a count
    idle = (ic1 - ic0) & 0xFFFFFFFF
    qenex.write("bench: hsm_sign_busy_us %d\n" % ((counts - idle) * 40 // N // 1000))   # executed, not waited
    qenex.write("bench: hsm_sign_busy_instr %d\n" % ((counts - idle) * 40 // N))
    qenex.write("bench: hsm_sign_counter_us %d\n" % (counts * 40 // N // 1000))
    qenex.write("bench: hsm_sign_round_trip_us %d\n" % (ms * 1000 // N))
    qenex.write("bench: hsm_frames_per_s %d\n" % (2 * N * 1000 // max(ms, 1)))
    qenex.write("bench: hsm_stats %s\n" % F.unfields(qenex.call("hsm", stats)[1:])[0].decode())
    qenex.write("bench: hsm done\n")
