"""A corrupt ledger log on the board: transfers posted, QEMU stopped, one
bit flipped in the middle of the log in storage.bin (or a record that
hashes right but names accounts that do not exist written into it), and the
board booted again: the ledger raises the alarm on the console, `ledger
stats` says read-only and why, a new transfer is refused with `read_only`,
lookups still answer, the task does not restart, and not one byte of the
ledger's partition changes."""
import re

import pytest

from tools.layout import load_board
from userland.ledger import codec, wal
from userland.ledger.state import Transfer

pytestmark = pytest.mark.timeout(180)
BOARD = load_board("mps2-an385")


def partition(data):
    return data[BOARD.LEDGER_STORE_OFFSET:BOARD.LEDGER_STORE_OFFSET + BOARD.LEDGER_STORE_SIZE]


def records(data):
    """[(seq, kind, record offset, payload)] of the ledger's log in a storage image."""
    from drivers.flash.region import MemoryImage, Region
    img = MemoryImage(bytearray(partition(data)), 0)
    w = wal.Wal(Region(0, BOARD.LEDGER_STORE_SIZE, BOARD.SECTOR_SIZE, img.read, img.write))
    return [(seq, kind, at - wal.HEAD, payload) for seq, kind, now, payload, at in w.recover()], w


def post_and_power_off(boot, storage, n):
    d = boot(storage=storage)
    d.wait_prompt()
    assert d.cmd("ledger account new 1 1 10") == "ok\n"
    assert d.cmd("ledger account new 2 1 10") == "ok\n"
    for i in range(n):
        assert d.cmd("ledger transfer %d 1 2 %d 1 1" % (100 + i, 1000 + i)) == "ok\n"
    d.send("poweroff\r")
    assert d.wait_exit(timeout=20) == (0, None)


def boot_corrupt(boot, storage, seq, offset, reason):
    """Boot on the corrupted image: the alarm, stats, a refused transfer;
    returns the device."""
    d = boot(storage=storage)
    d.wait_prompt()
    d.wait_line(r"ledger: ALARM: the log is corrupt at record %d at offset 0x%x: .*%s.*; replayed the %d records "
                r"before it; read-only: new transfers are refused, nothing is erased or written"
                % (seq, offset, re.escape(reason), seq - 1), since=0, timeout=60)
    st = d.cmd("ledger stats")
    assert "log %d records" % (seq - 1) in st and \
        re.search(r"; READ-ONLY: the log is corrupt at record %d \(offset 0x%x\): .*%s" % (seq, offset, re.escape(reason)),
                  st), st
    assert d.cmd("ledger transfer 900 1 2 5 1 1") == "read_only\n"
    assert d.cmd("ledger account new 9 1 10") == "read_only\n"
    v = d.cmd("ledger verify")
    assert v.startswith("ledger: the log is corrupt at record %d at offset 0x%x" % (seq, offset)), v
    return d


def test_a_bit_flipped_in_the_middle_of_the_log_makes_the_ledger_read_only_and_nothing_changes(boot, tmp_path):
    storage = str(tmp_path / "storage.bin")
    post_and_power_off(boot, storage, 12)
    data = bytearray(open(storage, "rb").read())
    recs, w = records(data)
    assert len(recs) == 14 and w.corrupt is None
    seq, kind, off, payload = recs[7]                       # record 8 of 14: transfer 105
    assert kind == wal.TRANSFERS and codec.decode_transfer(payload).id == 105
    data[BOARD.LEDGER_STORE_OFFSET + off + wal.HEAD + 50] ^= 0x10     # a bit of its amount
    open(storage, "wb").write(data)
    flipped = partition(bytes(data))
    d = boot_corrupt(boot, storage, 8, off, "checksum mismatch and more data after it")
    # lookups answer from the state before the bad record: transfers 100..104
    assert "debits posted %d pending 0" % sum(1000 + i for i in range(5)) in d.cmd("ledger balance 1")
    assert d.ps()["ledger"]["RESTARTS"] == "0"
    d.send("poweroff\r")
    assert d.wait_exit(timeout=20) == (0, None)
    assert partition(open(storage, "rb").read()) == flipped, "the board wrote to a corrupt ledger log"


def test_a_record_naming_accounts_that_do_not_exist_is_corruption_not_a_restart_loop(boot, tmp_path):
    storage = str(tmp_path / "storage.bin")
    post_and_power_off(boot, storage, 3)
    data = bytearray(open(storage, "rb").read())
    recs, w = records(data)
    bad = Transfer(777, 55, 56, 1, 1, 1)
    bad.timestamp = 1 << 62
    rec = wal.encode(w.seq + 1, wal.TRANSFERS, bad.timestamp, w.head, codec.encode_transfer(bad))
    at = BOARD.LEDGER_STORE_OFFSET + w.end
    data[at:at + len(rec)] = rec
    open(storage, "wb").write(data)
    image = partition(bytes(data))
    d = boot_corrupt(boot, storage, 6, w.end, "transfer 777 cannot be replayed: debit_account_not_found")
    assert d.ps()["ledger"]["RESTARTS"] == "0"
    d.send("poweroff\r")
    assert d.wait_exit(timeout=20) == (0, None)
    assert partition(open(storage, "rb").read()) == image
