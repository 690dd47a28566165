"""The board's UTC clock as a task sees it (KCTL_TIME, kernel/clock.py):
clock() reads (and, with the capability clock, sets) it, utc_ms() gives
ms since 1970 or None while nobody has set it. A module of its own, not
part of qenex: only the tasks that stamp times (the gateway, the shell's
`date`) pay for it in their heaps."""
import _qx
import json

from kernel import abi
from userland.lib import qenex

_tbuf = None     # the clock's buffer: "UTC_MS SOURCE" out, its status back
_utc = [None, 0]  # [UTC ms - qenex.ticks() at the last read, qenex.ticks() then]: utc_ms()'s cache
UTC_REREAD_MS = 1000


def clock(set_ms=None, source="operator"):
    """The board's UTC clock (KCTL_TIME): its status as a dict, {"utc_ms"
    (ms since 1970, None while nobody has set it), "source" ("operator",
    "host", "sntp"), "set_ago_ms", "correction_ms" (what the last set
    moved it by), "sets", "uptime_ms"}. Any task reads it; set_ms sets it
    first (capability clock): an implausible time (before the firmware was
    built, past 9999) raises Error(BAD_ARGUMENT)."""
    global _tbuf
    if _tbuf is None:
        _tbuf = bytearray(256)
    arg = 0
    if set_ms is not None:
        text = b"%d %s\0" % (set_ms, source.encode())
        _tbuf[:len(text)] = text
        arg = 1
    r0 = qenex._sys(abi.SYS_KCTL, abi.KCTL_TIME, arg, _qx.addr(_tbuf), len(_tbuf))
    st = json.loads(bytes(memoryview(_tbuf)[:r0]))
    _utc[1] = qenex.ticks()
    _utc[0] = None if st["utc_ms"] is None else st["utc_ms"] - _utc[1]
    return st


def utc_ms():
    """UTC ms since 1970 (an int), or None while the clock is unset: never
    a made-up time. Read from the kernel at most every UTC_REREAD_MS once
    set (a correction shows within that), every call while unset."""
    now = qenex.ticks()
    if _utc[0] is None or now - _utc[1] >= UTC_REREAD_MS:
        clock()
        now = _utc[1]
    return None if _utc[0] is None else _utc[0] + now
