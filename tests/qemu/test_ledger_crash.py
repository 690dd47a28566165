"""Crash safety of the ledger in QEMU: a stream of linked transfer pairs
(ledgerload) is cut by a power cut at an exact point, many times over;
after each cut the storage image is checked on the host (the log's chain,
the replayed invariants, no corruption, every acknowledged transfer
present, no pair half there, no id missing) and the board boots again on
it. QENEX_CRASH_POINTS sets the number of cuts (default 50),
QENEX_CRASH_SEED the seed that chooses them.

The cut is a point in guest instructions, chosen from the seed: QEMU starts
paused with its gdbstub on a socket, a write watchpoint goes on one byte of
the ledger's partition a random distance past where the log will append
next, and when the guest is about to write that byte (erasing the sector
ahead, or, with hit 2 in a sector not erased yet, programming the record
over it) the guest stops before the store and QEMU is killed. So the same seed cuts at
the same bytes every run, whatever the host's timing. The console is read
to the end after the kill (what QEMU wrote to the pty before it died), and
only whole "ledgerload: ack A B" lines, or a last line cut after A and its
space, count as acknowledgements: once a line reading
"ledgerload: ack 1000021 1" (the rest of it not yet read) counted as an ack
of transfers 1000021 and 1."""
import os
import random
import re
import time

import pytest

from gdb_remote import Gdb, socket_path
from tools import qenex as qtool
from tools.layout import load_board

pytestmark = pytest.mark.timeout(1200)
POINTS = int(os.environ.get("QENEX_CRASH_POINTS", "50"))
SEED = int(os.environ.get("QENEX_CRASH_SEED", "20261126"))
BASE = 1000000                      # ledgerload's first id is BASE + 1
PAIR_RECORD = 320                   # a record of two transfers: 56 + 2 x 116 + 32
ACK = re.compile(r"(?:^|\n)ledgerload: ack (\d+) (\d+)\r\n")
ACK_CUT = re.compile(r"(?:^|\n)ledgerload: ack (\d+) \d*\Z")


def check_image(storage):
    """(transfer ids in the log, verify() figures) after checking the chain,
    the invariants and that recovery found no corruption."""
    from userland.ledger import codec, wal
    s = qtool.ledger_from_image(storage, "mps2-an385")
    assert s.corrupt is None, "the image is corrupt at %s" % s.describe()
    v = s.verify()
    ids = set()
    for seq, kind, now, payload, at in wal.Wal(s.region).recover():
        if kind == wal.TRANSFERS:
            ids.update(t.id for t in codec.decode_many(payload, codec.TRANSFER_SIZE, codec.decode_transfer))
    return ids, v


def next_append(storage):
    """(end, erased_to) of the ledger's log in the image: where the board
    appends next, and up to where that sector is erased already."""
    if not os.path.exists(storage):
        return 0, 0
    s = qtool.ledger_from_image(storage, "mps2-an385")
    return s.wal.end, s.wal.erased_to


def acks(text):
    out = set()
    for a, b in ACK.findall(text):
        out.update((int(a), int(b)))
    m = ACK_CUT.search(text)
    if m:                               # the line was being printed: both were answered ok
        out.update((int(m.group(1)), int(m.group(1)) + 1))
    return out


def test_killing_the_board_anywhere_loses_no_acknowledged_transfer(boot, tmp_path):
    b = load_board("mps2-an385")
    rng = random.Random(SEED)
    storage = str(tmp_path / "storage.bin")
    sock = socket_path(tmp_path)
    acked = set()
    torn_seen = program_cuts = 0
    for point in range(POINTS):
        end, erased_to = next_append(storage)
        offset = end + rng.randrange(16 * PAIR_RECORD)
        hits = rng.choice((1, 2)) if offset >= erased_to else 1
        program_cuts += hits == 2 or offset < erased_to
        where = "point %d (cut at log byte 0x%x, write %d to it)" % (point, offset, hits)
        dev = boot(storage=storage, qemu_args=["-S", "-gdb", "unix:%s,server=on,wait=off" % sock])
        gdb = Gdb(sock)
        addr = b.STORAGE_BASE + b.LEDGER_STORE_OFFSET + offset
        gdb.watch_write(addr)
        gdb.cont()
        dev.wait_prompt()
        mark = dev.mark()
        dev.send("start ledgerload\r")
        for hit in range(hits):
            if hit:
                gdb.step_past_watch(addr)
                gdb.cont()
            stop = gdb.wait_stop(120, poll=dev.mark)
            assert stop.startswith(b"T05") and b"watch" in stop, "%s: %r" % (where, stop)
        dev.mark()
        dev.child.kill(9)                          # the power cut, the guest stopped at the write
        deadline = time.monotonic() + 10
        while not dev.eof and time.monotonic() < deadline:
            dev.mark()                             # the rest of what QEMU wrote before it died
            dev._read(0.1)
        gdb.close()
        dev.terminate()
        said = dev.text[mark:]
        assert "refused" not in said and "fault:" not in said, "%s:\n%s" % (where, said)
        acked |= acks(said)
        ids, v = check_image(storage)
        missing = acked - ids
        assert not missing, "%s: acknowledged but lost: %s" % (where, sorted(missing)[:5])
        assert ids == set(range(BASE + 1, BASE + 1 + len(ids))), "%s: ids missing from the log" % where
        pairs = {i - (i % 2 == 0) for i in ids if i >= BASE}
        for first in pairs:                      # linked pairs are all or nothing
            assert first in ids and first + 1 in ids, "%s: half a linked pair: %d" % (where, first)
        torn_seen += v["torn"] is not None and v["torn"] >= end        # this cut left a torn record
    print("crash test: %d cuts (%d while programming a record), %d left a torn record, %d transfers acknowledged, "
          "%d in the log" % (POINTS, program_cuts, torn_seen, len(acked), len(ids)))
    # The last image boots and the ledger checks itself on the device too.
    dev = boot(storage=storage)
    dev.wait_prompt()
    dev.wait_line(r"ledger: recovered \d+ records.*", since=0, timeout=60)
    assert re.match(r"ledger: invariants hold; \d+ records chained", dev.cmd("ledger verify", timeout=60))
    assert "READ-ONLY" not in dev.cmd("ledger stats")
    assert len(acked) > 2 * POINTS, "too few transfers acknowledged to mean anything: %d" % len(acked)
    assert program_cuts >= POINTS // 4 and torn_seen >= POINTS // 10, (program_cuts, torn_seen)
