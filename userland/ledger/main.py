"""ledger: the ledger task. Recovers its state from the log in its storage
partition (manifest `devices = ledger_store`), then serves requests: the
IPC protocol is userland/ledger/api.py, answered by server.py; this module
is only the task's glue (the partition, the index arena, the HSM for
checkpoints, the receive loop)."""
import _qx
import board
import uctypes
from drivers.flash.region import Region
from userland.hsm import api as hsm
from userland.ledger import server
from userland.ledger.service import LedgerService
from userland.lib import qenex


def hsm_verify(head, sig):
    """A checkpoint's signature checked by the HSM: True, False, or None
    when the HSM cannot say (no session, no link)."""
    try:
        return hsm.verify("audit", head, sig)
    except hsm.HsmRefused:
        return None


def hsm_sign(digest):
    """A checkpoint over the log's head, signed by the HSM's `audit` key
    (HsmRefused, an OSError, when it cannot)."""
    return hsm.sign("audit", digest)


def main():
    base = board.STORAGE_BASE + board.LEDGER_STORE_OFFSET
    region = Region(base, board.LEDGER_STORE_SIZE, board.SECTOR_SIZE, _qx.mem_read, _qx.mem_write)
    addr, size = _qx.arena()                    # the transfer index, outside the GC heap
    slots = 1
    while slots * 2 * 12 <= size:
        slots *= 2
    s = LedgerService(region, qenex.ticks, slots, uctypes.bytearray_at(addr, size), sign=hsm_sign)
    t0 = qenex.ticks()
    st = s.recover()
    if st["records"] or st["torn"] is not None or s.corrupt is not None:     # a fresh ledger says nothing
        qenex.write("ledger: recovered %d records (%d accounts, %d transfers) in %d ms%s\n" % (
        st["records"], st["accounts"], st["transfers"], qenex.ticks() - t0,
        "; torn tail at 0x%x skipped" % st["torn"] if st["torn"] is not None else ""))
    if s.corrupt is not None:
        qenex.write("ledger: ALARM: the log is corrupt at %s; replayed the %d records before it; "
                    "read-only: new transfers are refused, nothing is erased or written\n" % (
                        s.describe(), st["records"]))
    while True:
        sender, msg = qenex.recv()
        qenex.reply(sender, server.answer(s, msg, hsm_verify))
        if s.ledger.expiries:
            s.expire()
