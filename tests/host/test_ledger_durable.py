"""The ledger's write-ahead log and service on a storage image in memory:
a power cut after every byte of a record's write, torn tails skipped and
appended past (twice in a row, across a sector boundary), corruption (a bit
flip anywhere in a record, a record that hashes right but cannot be
replayed, data after the end) making the ledger read-only with nothing
erased, bad input writing nothing, a failed log write taking the batch
back, the transfer index, and `qenex ledger verify`'s exit codes."""
import os
import random
import subprocess
import sys

import pytest

from drivers.flash.region import FlashError, MemoryImage, Region
from tools.layout import ROOT, load_board
from drivers.hsm import frame as F
from userland.ledger import codec, wal
from userland.ledger.service import LedgerService
from userland.ledger.state import T_LINKED, T_PENDING, T_POST, U128, Account, Transfer

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
    """And inside every byte, as real NOR flash can leave it."""
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
        assert got.corrupt is None, "cut after %d bytes: %s" % (k, got.describe())
        assert state_of(got) in (old, new), "cut after %d bytes" % k
        got.ledger.check()
        # and the board goes on appending after a torn record
        assert got.create_transfers([Transfer(900, 1, 2, 1, 1, 1)]) == ["ok"]
        again = service(r)
        assert again.ledger.transfer(900) is not None and again.verify()["records"] == again.wal.seq
        if 0 < k < len(changed):
            # a cut inside byte k-1 (real NOR): some of the bits it clears still 1
            want = after_image[changed[0] + k - 1]
            for extra in (1, 0x80, 0x55, 0xaa):
                if want | extra not in (want, 0xff):
                    partial = bytearray(before_image)
                    partial[changed[0]:changed[0] + k] = after_image[changed[0]:changed[0] + k]
                    partial[changed[0] + k - 1] = want | extra
                    got = service(region(partial)[0])
                    assert got.corrupt is None, "cut inside byte %d: %s" % (k - 1, got.describe())
                    assert state_of(got) == old


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


def records_of(reg):
    """[(seq, record offset, record size)] of the log in reg."""
    return [(seq, at - wal.HEAD, wal.size_of(len(payload))) for seq, kind, now, payload, at in wal.Wal(reg).recover()]


def assert_read_only(got, img, image, seq, offset, reason=""):
    """Recovery stopped at record seq (at offset) and the ledger refuses to
    write: every create answers read_only, no expiry, no checkpoint, verify
    fails naming the record, and the partition's bytes are as they were."""
    assert got.corrupt is not None and got.corrupt[:2] == (offset, seq), got.describe()
    assert reason in got.corrupt[2], got.describe()
    assert got.wal.seq == seq - 1 and got.stats["records"] == seq - 1
    assert got.stats["corrupt"] == {"offset": offset, "seq": seq, "reason": got.corrupt[2]}
    assert got.create_transfers([Transfer(990, 1, 2, 1, 1, 1), Transfer(991, 2, 1, 1, 1, 1)]) == ["read_only"] * 2
    assert got.create_accounts([Account(99, 1, 1)]) == ["read_only"]
    assert got.expire() == []
    got.sign = lambda head: b"S" + head
    got.checkpoint()
    with pytest.raises(ValueError, match="record %d at offset 0x%x" % (seq, offset)):
        got.verify()
    with pytest.raises(wal.LogCorrupt):
        got.wal.append(wal.TRANSFERS, 1, b"")
    got.ledger.check()                                  # the state up to the last good record
    assert bytes(img.data) == image, "recovery of a corrupt log wrote to the partition"


def test_a_bit_flip_anywhere_in_a_middle_record_is_corruption_and_nothing_is_erased():
    reg, img, s = seeded()
    recs = records_of(reg)
    seq, off, size = recs[9]                            # record 10 of 31, a transfer
    good = bytes(img.data)
    before = state_of(service(region(bytearray(good[:off] + b"\xff" * (SIZE - off)))[0]))
    for i in range(size):
        for bit in range(8):
            data = bytearray(good)
            data[off + i] ^= 1 << bit
            image = bytes(data)
            r, im = region(data)
            got = service(r)
            assert got.corrupt is not None and got.corrupt[:2] == (off, seq), \
                "bit %d of byte %d: %s, torn %s" % (bit, i, got.describe(), got.wal.torn)
            assert state_of(got)[:2] == before[:2] and got.ledger.transfer(100 + 8) is None
            if (i * 8 + bit) % 97 == 0:                 # the whole read-only check on a sample
                assert_read_only(got, im, image, seq, off)
            else:
                assert got.create_transfers([Transfer(990, 1, 2, 1, 1, 1)]) == ["read_only"]
                assert bytes(im.data) == image


def test_a_bit_flip_in_the_last_record_is_corruption_unless_it_looks_exactly_like_a_cut():
    reg, img, s = seeded()
    seq, off, size = records_of(reg)[-1]
    good = bytes(img.data)
    for i in range(size):
        for bit in range(8):
            data = bytearray(good)
            data[off + i] ^= 1 << bit
            got = service(region(data)[0])
            if got.corrupt is None:     # only a flip that leaves the record's end reading erased
                assert data[off + size - 1] == 0xff and got.wal.torn == off, (i, bit)
            else:
                assert got.corrupt[:2] == (off, seq), (i, bit, got.describe())


def append_raw(reg, w, kind, now, payload):
    """A record that hashes right and chains, written past the checks."""
    rec = wal.encode(w.seq + 1, kind, now, w.head, payload)
    reg.program(w.end, rec)
    at = w.end
    w.end += len(rec)
    w.seq += 1
    w.head = wal.sha256(rec[:wal.HEAD + len(payload)])
    return at


def stored(obj, ts=10 ** 15):
    obj.timestamp = ts
    return obj


BAD_RECORDS = {
    "debit_account_not_found": (wal.TRANSFERS, lambda: codec.encode_transfer(stored(Transfer(800, 77, 2, 5, 1, 1)))),
    "credit_account_not_found": (wal.TRANSFERS, lambda: codec.encode_transfer(stored(Transfer(800, 1, 78, 5, 1, 1)))),
    "transfer 105 cannot be replayed: exists": (wal.TRANSFERS, lambda: codec.encode_transfer(
        stored(Transfer(105, 1, 2, 15, 1, 1)))),
    "pending_transfer_not_found": (wal.TRANSFERS, lambda: codec.encode_transfer(
        stored(Transfer(800, 1, 2, 5, 1, 1, T_POST, pending_id=4242)))),
    "transfer_must_have_the_same_ledger_as_accounts": (wal.TRANSFERS, lambda: codec.encode_transfer(
        stored(Transfer(800, 1, 2, 5, 9, 1)))),
    "overflows_debits_posted": (wal.TRANSFERS, lambda: codec.encode_transfer(stored(Transfer(800, 1, 2, U128, 1, 1)))),
    "differs from what its checks store": (wal.TRANSFERS, lambda: codec.encode_transfer(
        stored(Transfer(800, 1, 2, 5, 1, 1), ts=1))),           # a timestamp that goes back
    "whole number": (wal.TRANSFERS, lambda: codec.encode_transfer(stored(Transfer(800, 1, 2, 5, 1, 1)))[:100]),
    "no objects": (wal.TRANSFERS, lambda: b""),
    "account 1 cannot be replayed: exists": (wal.ACCOUNTS, lambda: codec.encode_account(stored(Account(1, 1, 1)))),
    "unknown record kind 9": (9, lambda: b""),
    "checkpoint does not sign": (wal.CHECKPOINT, lambda: F.fields(bytes(32), b"sig")),
    "FrameError": (wal.CHECKPOINT, lambda: b"\x05"),
    "expiry record with a payload": (wal.EXPIRY, lambda: b"x"),
}


@pytest.mark.parametrize("reason", sorted(BAD_RECORDS))
@pytest.mark.parametrize("followed", [False, True], ids=["last", "middle"])
def test_a_record_that_hashes_right_but_cannot_be_replayed_is_corruption(reason, followed):
    reg, img, s = seeded()
    kind, payload = BAD_RECORDS[reason]
    at = append_raw(reg, s.wal, kind, 10 ** 15, payload())
    if followed:                                        # more good records after it
        for i in range(3):
            append_raw(reg, s.wal, wal.TRANSFERS, 10 ** 15 + i + 1,
                       codec.encode_transfer(stored(Transfer(810 + i, 1, 2, 1, 1, 1), 10 ** 15 + i + 1)))
    image = bytes(img.data)
    got = service(reg)
    assert_read_only(got, img, image, 32, at, reason)
    assert state_of(got)[:2] == state_of(service(region(bytearray(image[:at] + b"\xff" * (SIZE - at)))[0]))[:2]


def test_a_torn_first_record_after_a_torn_record_loses_nothing_written_after_it():
    """Two power cuts in a row, each in the first record written after a
    boot: the log goes on at a sector boundary each time, and the records
    after the second hop are read again (recovery used to try one hop only
    and lose them, acknowledged as they were)."""
    reg, img, s = seeded()
    for attempt in range(2):
        assert s.create_transfers([Transfer(600 + attempt, 1, 2, 1, 1, 1)]) == ["ok"]
        seq, off, size = records_of(reg)[-1]
        img.data[off + size // 2:off + size] = b"\xff" * (size - size // 2)     # the write cut half-way
        s = service(reg)
        assert s.corrupt is None and s.wal.end % SECTOR == 0 and s.wal.end > off
        assert s.ledger.transfer(600 + attempt) is None
    for i in range(5):
        assert s.create_transfers([Transfer(700 + i, 1, 2, 1, 1, 1)]) == ["ok"]
    again = service(reg)
    assert again.corrupt is None and all(again.ledger.transfer(700 + i) is not None for i in range(5))
    assert again.verify()["records"] == again.wal.seq == 31 + 5


def fill_to_sector_end(s):
    while s.wal.end % SECTOR < SECTOR - 150:           # the next record crosses the boundary
        assert s.create_transfers([Transfer(2000 + s.wal.seq, 1, 2, 1, 1, 1)]) == ["ok"]


def test_a_torn_record_across_a_sector_boundary_is_skipped_whole_and_never_erased():
    reg, img, s = seeded()
    fill_to_sector_end(s)
    assert s.create_transfers([Transfer(3000, 1, 2, 1, 1, 1), Transfer(3001, 2, 1, 1, 1, 1)]) == ["ok", "ok"]
    seq, off, size = records_of(reg)[-1]
    cut = off + size - 20                               # past the boundary
    assert cut > (off // SECTOR + 1) * SECTOR
    img.data[cut:off + size] = b"\xff" * (off + size - cut)
    torn = bytes(img.data[off:cut])
    got = service(reg)
    assert got.corrupt is None and got.wal.torn == off and got.wal.end == (off // SECTOR + 2) * SECTOR
    assert got.create_transfers([Transfer(3002, 1, 2, 1, 1, 1)]) == ["ok"]
    assert bytes(img.data[off:cut]) == torn             # the torn record's tail sector was not erased
    again = service(reg)
    assert again.corrupt is None and again.ledger.transfer(3002) is not None and again.ledger.transfer(3000) is None


def test_an_older_log_that_went_on_at_the_next_boundary_after_a_crossing_torn_record_still_reads():
    """Before that rule the log went on at the first boundary after a torn
    record's start, erasing the torn record's tail there."""
    reg, img, s = seeded()
    fill_to_sector_end(s)
    w = s.wal
    off = w.end
    torn = wal.encode(w.seq + 1, wal.TRANSFERS, 5, w.head, codec.encode_transfer(stored(Transfer(4000, 1, 2, 1, 1, 1))))
    b1 = (off // SECTOR + 1) * SECTOR
    assert off + len(torn) > b1
    reg.program(off, torn[:b1 - off])
    w.end = w.erased_to = b1
    assert s.create_transfers([Transfer(4001, 1, 2, 1, 1, 1)]) == ["ok"]
    got = service(reg)
    assert got.corrupt is None and got.wal.torn == off and got.ledger.transfer(4001) is not None


def test_data_after_the_end_of_the_log_is_corruption():
    reg, img, s = seeded()
    end = s.wal.end
    img.data[end + 3 * SECTOR + 7] = 0x00
    image = bytes(img.data)
    got = service(reg)
    assert got.corrupt == (end, 32, "the log ends at 0x%x but data follows at 0x%x" % (end, end + 3 * SECTOR + 7))
    assert_read_only(got, img, image, 32, end, "data follows")


def run_verify(path, *more):
    return subprocess.run([sys.executable, "-m", "tools.qenex", "ledger", "verify", str(path)] + list(more), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_qenex_ledger_verify_exits_0_on_a_torn_tail_and_1_naming_the_record_on_corruption(tmp_path):
    b = load_board("mps2-an385")
    data = bytearray(b"\xff" * b.STORAGE_SIZE)
    img = MemoryImage(data, b.STORAGE_BASE)
    reg = Region(b.STORAGE_BASE + b.LEDGER_STORE_OFFSET, b.LEDGER_STORE_SIZE, b.SECTOR_SIZE, img.read, img.write)
    s = LedgerService(reg, lambda: 0)
    s.recover()
    s.create_accounts([Account(1, 1, 1), Account(2, 1, 1)])
    s.create_transfers([Transfer(5, 1, 2, 99, 1, 1)])
    s.create_transfers([Transfer(6, 1, 2, 98, 1, 1)])
    good = bytes(data)
    path = tmp_path / "storage.bin"
    path.write_bytes(data)
    r = run_verify(path, "--ids")
    assert r.returncode == 0 and "3 records chained" in r.stdout and "invariants hold" in r.stdout, r.stderr
    assert r.stdout.strip().endswith("\n5\n6") and "torn" not in r.stdout
    # a torn tail: the last record cut short
    seq, off, size = records_of(reg)[-1]
    at = b.LEDGER_STORE_OFFSET + off
    data[at + 100:at + size] = b"\xff" * (size - 100)
    path.write_bytes(data)
    r = run_verify(path, "--ids")
    assert r.returncode == 0 and "2 records chained" in r.stdout and "torn tail at 0x%x skipped" % off in r.stdout
    assert r.stdout.strip().endswith("\n5")
    # a bit flipped in the first record, with more after it: corruption, exit 1, one line
    data[:] = good
    data[b.LEDGER_STORE_OFFSET + 60] ^= 1
    path.write_bytes(data)
    r = run_verify(path)
    assert r.returncode == 1 and r.stdout == "", r
    assert r.stderr.count("\n") == 1 and "CORRUPT at record 1 at offset 0x0: checksum mismatch" in r.stderr, r.stderr
    # a record that hashes right but names accounts that do not exist: no traceback
    data[:] = good
    at = append_raw(reg, s.wal, wal.TRANSFERS, 10 ** 15, codec.encode_transfer(stored(Transfer(7, 55, 56, 1, 1, 1))))
    path.write_bytes(data)
    r = run_verify(path)
    assert r.returncode == 1 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert "record 4 at offset 0x%x: transfer 7 cannot be replayed: debit_account_not_found" % at in r.stderr, r.stderr


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


def full_state(s):
    L = s.ledger
    return ({i: (a.ledger, a.code, a.flags, a.timestamp, a.balances()) for i, a in L.accounts.items()},
            dict(L.pending_status), dict(L.expiries), {i: list(h) for i, h in L.history.items()},
            s.index.count, L.timestamp, s.wal.seq, s.wal.head)


@pytest.mark.parametrize("seed", range(6))
def test_every_kind_of_record_replays_through_the_checks_without_a_false_alarm(seed):
    """Random streams of every kind of batch (accounts with every flag,
    plain, pending with timeouts, partial posts, voids, balancing, linked
    chains that fail, retries, expiries), rebooting now and then: recovery
    never calls a log the service wrote corrupt, and rebuilds the same
    state."""
    from userland.ledger.state import (A_CREDITS_MUST_NOT_EXCEED_DEBITS, A_DEBITS_MUST_NOT_EXCEED_CREDITS,
                                       A_HISTORY, T_BALANCING_CREDIT, T_BALANCING_DEBIT, T_VOID)
    rng = random.Random(seed)
    clock = [0]
    reg, img = region()
    s = LedgerService(reg, lambda: clock[0], 1024)
    s.recover()
    flags = [0, 0, A_DEBITS_MUST_NOT_EXCEED_CREDITS, A_CREDITS_MUST_NOT_EXCEED_DEBITS, A_HISTORY]
    accounts = [Account(i, 1 + (i % 7 == 0), 1, flags[i % len(flags)]) for i in range(1, 13)]
    for i in range(0, len(accounts), 3):
        s.create_accounts(accounts[i:i + 3])
    pendings, ids = [], []
    for step in range(300):
        clock[0] += rng.choice((0, 1, 5, 400, 2000))
        kind = rng.choice(("plain", "plain", "pending", "post", "void", "balancing", "chain", "retry"))
        tid = 10000 + step * 3
        dr, cr = rng.sample(range(1, 13), 2)
        amount = rng.randint(1, 10 ** rng.randint(1, 4))
        if kind == "pending":
            events = [Transfer(tid, dr, cr, amount, 1, 1, T_PENDING, timeout=rng.choice((0, 1, 3, 60)))]
            pendings.append(tid)
        elif kind in ("post", "void") and pendings:
            pid = rng.choice(pendings)
            events = [Transfer(tid, 0, 0, rng.choice((0, 1, amount)) if kind == "post" else 0, 0, 0,
                               T_POST if kind == "post" else T_VOID, pid)]
        elif kind == "balancing":
            events = [Transfer(tid, dr, cr, amount, 1, 1, rng.choice((T_BALANCING_DEBIT, T_BALANCING_CREDIT)))]
        elif kind == "chain":
            events = [Transfer(tid, dr, cr, amount, 1, 1, T_LINKED),
                      Transfer(tid + 1, cr, dr, amount, 1, 1, rng.choice((0, T_LINKED))),
                      Transfer(tid + 2, dr, cr, 1, 1, 1)]
        elif kind == "retry" and ids:
            events = [rng.choice(ids)]
        else:
            events = [Transfer(tid, dr, cr, amount, 1, 1)]
        s.create_transfers(events)
        ids.extend(e for e in events if e.id >= 10000)
        if s.ledger.expiries:
            s.expire()
        if step % 37 == 36:                                 # a reboot
            want = full_state(s)
            s = LedgerService(reg, lambda: clock[0], 1024)
            s.recover()
            assert s.corrupt is None, "step %d: %s" % (step, s.describe())
            assert full_state(s) == want
    again = service(reg)
    assert again.corrupt is None and again.verify()["records"] == s.wal.seq
    assert full_state(again)[:5] == full_state(s)[:5]


@pytest.mark.parametrize("seed", range(4))
def test_recovery_never_raises_whatever_the_log_holds(seed):
    """Records that hash right and chain but hold random content of every
    kind, and random damage anywhere: recovery ends corrupt or not, never
    with an exception, and a corrupt log is never written to."""
    rng = random.Random(seed)
    reg, img, s = seeded()
    good = bytes(img.data)
    for trial in range(150):
        img.data[:] = good
        w = wal.Wal(reg)
        for _ in w.recover():
            pass
        for _ in range(rng.randint(1, 3)):
            kind = rng.choice((wal.ACCOUNTS, wal.TRANSFERS, wal.EXPIRY, wal.CHECKPOINT, rng.randrange(256)))
            size = {wal.ACCOUNTS: codec.ACCOUNT_SIZE, wal.TRANSFERS: codec.TRANSFER_SIZE}.get(kind, 1)
            n = size * rng.randint(0, 3) + (rng.randrange(size) if rng.random() < 0.2 else 0)
            payload = bytearray(rng.getrandbits(8) for _ in range(n))
            if kind == wal.TRANSFERS and n and rng.random() < 0.7:      # plausible accounts and flags
                for k in range(0, n - n % size, size):
                    payload[k + 16:k + 32] = rng.choice((1, 2, 3)).to_bytes(16, "little")
                    payload[k + 32:k + 48] = rng.choice((1, 2, 0)).to_bytes(16, "little")
                    payload[k + 48:k + 64] = rng.randrange(1 << rng.choice((4, 64, 128))).to_bytes(16, "little")
                    payload[k + 80:k + 84] = (1).to_bytes(4, "little")
                    payload[k + 86:k + 88] = rng.choice((0, 2, 4, 8, 16, 32)).to_bytes(2, "little")
                    payload[k + 108:k + 116] = (10 ** 15 + k).to_bytes(8, "little")
            append_raw(reg, w, kind, rng.getrandbits(64), bytes(payload))
        for _ in range(rng.choice((0, 0, 1, 4))):
            img.data[rng.randrange(w.end + 64)] ^= 1 << rng.randrange(8)
        image = bytes(img.data)
        got = service(reg)                      # must not raise
        if got.corrupt is not None:
            assert got.create_transfers([Transfer(990, 1, 2, 1, 1, 1)]) == ["read_only"]
            assert bytes(img.data) == image
        else:
            got.verify()


def test_a_record_larger_than_a_sector_cut_anywhere_or_damaged():
    """ledgerbench logs batches of 100 transfers (11,600-byte payloads,
    about three sectors): a cut anywhere in one leaves the old or the new
    state, every bit of a middle record's length field flipped is
    corruption, and a payload over MAX_PAYLOAD is refused unwritten."""
    reg, img, s = seeded()
    big = [Transfer(5000 + k, 1 + k % 2, 2 - k % 2, 1 + k, 1, 1) for k in range(100)]
    before = bytes(img.data)
    old = state_of(s)
    assert s.create_transfers(big) == ["ok"] * 100
    new = state_of(s)
    after = bytes(img.data)
    seq, off, size = records_of(reg)[-1]
    assert size > 2 * SECTOR
    for k in list(range(0, size, 97)) + [size - 1, size]:
        data = bytearray(after)
        data[off + k:off + size] = before[off + k:off + size]
        got = service(region(data)[0])
        assert got.corrupt is None and state_of(got) in (old, new), (k, got.describe())
        assert got.create_transfers([Transfer(9000, 1, 2, 1, 1, 1)]) == ["ok"]
        assert service(got.region).ledger.transfer(9000) is not None
    # the big record in the middle of the log: every bit of its length field
    for i in range(3):
        assert s.create_transfers([Transfer(6000 + i, 1, 2, 1, 1, 1)]) == ["ok"]
    good = bytes(img.data)
    for bit in range(32):
        data = bytearray(good)
        data[off + 12 + bit // 8] ^= 1 << (bit % 8)
        got = service(region(data)[0])
        assert got.corrupt is not None and got.corrupt[:2] == (off, seq), (bit, got.describe())
    image = bytes(img.data)
    assert s.create_transfers([Transfer(7000 + k, 1, 2, 1, 1, 1) for k in range(300)]) == ["storage_failed"] * 300
    assert bytes(img.data) == image
