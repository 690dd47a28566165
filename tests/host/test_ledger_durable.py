"""The ledger's write-ahead log and service on a storage image in memory:
a power cut after every byte of a record's write, torn tails skipped and
appended past, bad input writing nothing, a failed log write taking the
batch back, the transfer index, and `qenex ledger verify` on an image."""
import os
import subprocess
import sys

import pytest

from drivers.flash.region import FlashError, MemoryImage, Region
from tools.layout import ROOT, load_board
from userland.ledger import wal
from userland.ledger.service import LedgerService
from userland.ledger.state import T_LINKED, T_PENDING, Account, Transfer

SIZE = 1 << 18
SECTOR = 4096


def region(data=None):
    img = MemoryImage(data if data is not None else bytearray(b"\xff" * SIZE), 0)
    return Region(0, SIZE, SECTOR, img.read, img.write), img


def service(reg, slots=1024):
    s = LedgerService(reg, lambda: 0, slots)
    s.recover()
    return s


def state_of(s):
    return ({i: a.balances() for i, a in s.ledger.accounts.items()}, s.index.count, s.wal.seq)


def seeded():
    reg, img = region()
    s = service(reg)
    assert s.create_accounts([Account(1, 1, 1), Account(2, 1, 1)]) == ["ok", "ok"]
    for i in range(30):
        assert s.create_transfers([Transfer(100 + i, 1, 2, 10 + i, 1, 1)]) == ["ok"]
    return reg, img, s


def test_a_power_cut_at_every_byte_of_a_record_leaves_the_old_or_the_new_state():
    reg, img, s = seeded()
    before_image = bytes(img.data)
    old = state_of(s)
    assert s.create_transfers([Transfer(500, 2, 1, 7, 1, 1, T_LINKED), Transfer(501, 1, 2, 9, 1, 1)]) == ["ok", "ok"]
    new = state_of(s)
    after_image = bytes(img.data)
    changed = [i for i in range(SIZE) if before_image[i] != after_image[i]]
    assert changed and changed == list(range(changed[0], changed[-1] + 1))
    for k in range(len(changed) + 1):
        cut = bytearray(before_image)
        cut[changed[0]:changed[0] + k] = after_image[changed[0]:changed[0] + k]
        r, _ = region(cut)
        got = service(r)
        assert state_of(got) in (old, new), "cut after %d bytes" % k
        got.ledger.check()
        # and the board goes on appending after a torn record
        assert got.create_transfers([Transfer(900, 1, 2, 1, 1, 1)]) == ["ok"]
        again = service(r)
        assert again.ledger.transfer(900) is not None and again.verify()["records"] == again.wal.seq


def test_bad_input_writes_nothing():
    reg, img, s = seeded()
    before = bytes(img.data)
    assert s.create_transfers([Transfer(0, 1, 2, 5, 1, 1), Transfer(600, 1, 1, 5, 1, 1),
                               Transfer(100, 1, 2, 10, 1, 1)]) == \
        ["id_must_not_be_zero", "accounts_must_be_different", "exists"]
    assert s.create_accounts([Account(1, 1, 1)]) == ["exists"]
    assert bytes(img.data) == before


def test_a_failed_log_write_takes_the_batch_back():
    reg, img, s = seeded()
    old = state_of(s)

    def broken(off, data):
        raise FlashError("the flash is worn out")
    reg.program = broken
    assert s.create_transfers([Transfer(700, 1, 2, 5, 1, 1, T_PENDING)]) == ["storage_failed"]
    assert state_of(s) == old and s.ledger.transfer(700) is None and 700 not in s.ledger.expiries


def test_transfers_are_found_through_the_index_after_recovery_not_kept_in_ram():
    reg, img, s = seeded()
    again = service(reg)
    assert len(again.ledger.transfers) == 0 and again.index.count == 30
    t = again.ledger.transfer(117)
    assert (t.id, t.amount) == (117, 27)
    assert again.create_transfers([Transfer(117, 1, 2, 27, 1, 1)]) == ["exists"]
    assert again.create_transfers([Transfer(117, 1, 2, 28, 1, 1)]) == ["exists_with_different_amount"]


def test_a_corrupt_record_in_the_middle_ends_the_log_there():
    reg, img, s = seeded()
    # flip a byte in the 10th record's payload: the log ends before it
    recs = list(wal.Wal(reg).recover())
    at = recs[9][4]
    img.data[at + 3] ^= 1
    got = service(reg)
    assert got.wal.seq == 9 and got.index.count == 8


def test_qenex_ledger_verify_reads_a_storage_image(tmp_path):
    b = load_board("mps2-an385")
    data = bytearray(b"\xff" * b.STORAGE_SIZE)
    img = MemoryImage(data, b.STORAGE_BASE)
    reg = Region(b.STORAGE_BASE + b.LEDGER_STORE_OFFSET, b.LEDGER_STORE_SIZE, b.SECTOR_SIZE, img.read, img.write)
    s = LedgerService(reg, lambda: 0)
    s.recover()
    s.create_accounts([Account(1, 1, 1), Account(2, 1, 1)])
    s.create_transfers([Transfer(5, 1, 2, 99, 1, 1)])
    path = tmp_path / "storage.bin"
    path.write_bytes(data)
    r = subprocess.run([sys.executable, "-m", "tools.qenex", "ledger", "verify", str(path), "--ids"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "2 records chained" in r.stdout and "invariants hold" in r.stdout, r.stderr
    assert r.stdout.strip().endswith("\n5")
    data[b.LEDGER_STORE_OFFSET + 60] ^= 1          # the first record's payload
    path.write_bytes(data)
    r = subprocess.run([sys.executable, "-m", "tools.qenex", "ledger", "verify", str(path)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert "0 records chained" in r.stdout and "torn tail at 0x0" in r.stdout


def test_checkpoints_sign_the_head_and_a_bad_signature_is_caught():
    reg, img = region()
    s = LedgerService(reg, lambda: 0, 1024, sign=lambda head: b"S" + head, every=4)
    s.recover()
    s.create_accounts([Account(1, 1, 1), Account(2, 1, 1)])
    for i in range(10):
        s.create_transfers([Transfer(100 + i, 1, 2, 1, 1, 1)])
    good = lambda head, sig: sig == b"S" + head      # noqa: E731
    v = s.verify(good)
    assert v["checkpoints"] == 2 and v["signatures_checked"] == 2
    assert s.verify(None)["signatures_checked"] == 0
    with pytest.raises(ValueError, match="does not verify"):
        s.verify(lambda head, sig: False)
    again = service(reg)                               # checkpoints do not disturb recovery
    assert state_of(again)[0] == state_of(s)[0]


def test_a_failed_checkpoint_is_tried_again_later_and_the_batch_still_lands():
    reg, img = region()
    calls = []

    def sign(head):
        calls.append(head)
        raise OSError("no HSM")
    s = LedgerService(reg, lambda: 0, 1024, sign=sign, every=4)
    s.recover()
    s.create_accounts([Account(1, 1, 1), Account(2, 1, 1)])
    for i in range(8):
        assert s.create_transfers([Transfer(100 + i, 1, 2, 1, 1, 1)]) == ["ok"]
    assert 2 <= len(calls) <= 4 and s.verify()["checkpoints"] == 0
