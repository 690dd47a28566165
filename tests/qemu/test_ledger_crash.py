"""Crash safety of the ledger in QEMU: a stream of linked transfer pairs
(ledgerload) is cut by killing QEMU at a random moment, many times over;
after each kill the storage image is checked on the host (the log's chain,
the replayed invariants, every acknowledged transfer present, no pair half
there) and the board boots again on it. QENEX_CRASH_POINTS raises the
number of kill points (default 50)."""
import os
import random
import re
import time

import pytest

from tools import qenex as qtool

pytestmark = pytest.mark.timeout(900)
POINTS = int(os.environ.get("QENEX_CRASH_POINTS", "50"))


def check_image(storage):
    """(transfer ids in the log) after checking chain and invariants."""
    from userland.ledger import codec, wal
    s = qtool.ledger_from_image(storage, "mps2-an385")
    v = s.verify()
    ids = set()
    for seq, kind, now, payload, at in wal.Wal(s.region).recover():
        if kind == wal.TRANSFERS:
            ids.update(t.id for t in codec.decode_many(payload, codec.TRANSFER_SIZE, codec.decode_transfer))
    return ids, v


def test_killing_the_board_anywhere_loses_no_acknowledged_transfer(boot, tmp_path):
    rng = random.Random(int(os.environ.get("QENEX_CRASH_SEED", "20261126")))
    storage = str(tmp_path / "storage.bin")
    acked = set()
    torn_seen = 0
    for point in range(POINTS):
        dev = boot(storage=storage)
        dev.wait_prompt()
        mark = dev.mark()
        dev.send("start ledgerload\r")
        time.sleep(rng.uniform(0.05, 0.6))
        dev.mark()                                 # read what the board said so far
        dev.child.kill(9)                          # power cut: no shutdown of any kind
        dev.terminate()
        for a, b in re.findall(r"ledgerload: ack (\d+) (\d+)", dev.text[mark:]):
            acked.update((int(a), int(b)))
        assert "refused" not in dev.text[mark:], dev.text[mark:]
        ids, v = check_image(storage)
        missing = acked - ids
        assert not missing, "point %d: acknowledged but lost: %s" % (point, sorted(missing)[:5])
        pairs = {i - (i % 2 == 0) for i in ids if i >= 1000000}
        for first in pairs:                      # linked pairs are all or nothing
            assert first in ids and first + 1 in ids, "point %d: half a linked pair: %d" % (point, first)
        torn_seen += v["torn"] is not None
    # The last image boots and the ledger checks itself on the device too.
    dev = boot(storage=storage)
    dev.wait_prompt()
    dev.wait_line(r"ledger: recovered \d+ records.*", since=0, timeout=60)
    assert re.match(r"ledger: invariants hold; \d+ records chained", dev.cmd("ledger verify", timeout=60))
    assert len(acked) > 2 * POINTS, "too few transfers acknowledged to mean anything: %d" % len(acked)
