"""ledgerbench: transfers per second of the ledger's state machine alone
(in memory) and with its write-ahead log (durable), one transfer per batch
and 100 per batch, and the time to recover a log of 10,000 transfers. It
runs on the scratch partition `bench_store`, never on the real ledger.
Times are on the guest clock (under `make bench`'s -icount a guest us is
1,000 instructions)."""
import gc

import _qx
import board
import uctypes
from drivers.flash.region import Region
from userland.ledger.service import LedgerService
from userland.ledger.state import Account, Ledger, Transfer
from userland.lib import qenex

RECOVERY_TRANSFERS = 10000


def accounts():
    return [Account(1, 1, 1), Account(2, 1, 1)]


def run(create, n, batch, first):
    t0 = qenex.ticks()
    for i in range(0, n, batch):
        events = [Transfer(first + i + k, 1 + (i + k) % 2, 2 - (i + k) % 2, 1 + k, 1, 1) for k in range(batch)]
        r = create(events)
        if r[-1] != "ok":
            raise ValueError("bench transfer refused: %s" % r[-1])
    return qenex.ticks() - t0                 # ms for the n


def durable(s, n, batch, first):
    """-> us per transfer."""
    return run(s.create_transfers, n, batch, first) * 1000 // n


def in_memory(n, batch, first):
    """n transfers in batches of `batch`, 100 transfers to a fresh in-memory
    ledger (made outside the timed part): the task's heap holds about 100 of
    them at once, not n. -> us per transfer."""
    ms = 0
    for i in range(0, n, 100):
        mem = Ledger()
        mem.create_accounts(accounts())
        ms += run(mem.create_transfers, 100, batch, first + i)
        mem.__init__()      # emptied: a stale word on the stack still naming it keeps nothing
        mem = None
        gc.collect()
    return ms * 1000 // n


def main():
    base = board.STORAGE_BASE + board.BENCH_STORE_OFFSET
    region = Region(base, board.BENCH_STORE_SIZE, board.SECTOR_SIZE, _qx.mem_read, _qx.mem_write)
    for off in range(0, 2 * 1024 * 1024, board.SECTOR_SIZE):      # a fresh log
        region.erase(off)
    addr, size = _qx.arena()                      # the index tables, outside the GC heap
    arena = uctypes.bytearray_at(addr, size)
    s = LedgerService(region, qenex.ticks, len(arena) // 12, arena)
    s.recover()
    s.create_accounts(accounts())
    qenex.write("bench: ledger_mem_single_us %d\n" % in_memory(200, 1, 1000))
    qenex.write("bench: ledger_mem_batch100_us %d\n" % in_memory(300, 100, 100000))
    qenex.write("bench: ledger_durable_single_us %d\n" % durable(s, 200, 1, 1000))
    qenex.write("bench: ledger_durable_batch100_us %d\n" % durable(s, 1000, 100, 100000))
    run(s.create_transfers, RECOVERY_TRANSFERS - 1200, 100, 200000)
    s = None
    gc.collect()
    again = LedgerService(region, qenex.ticks, len(arena) // 12, arena)
    t0 = qenex.ticks()
    st = again.recover()
    qenex.write("bench: ledger_recovery_ms %d\n" % (qenex.ticks() - t0))
    qenex.write("bench: ledger_recovered_transfers %d\n" % st["transfers"])
    qenex.write("bench: ledger done\n")
