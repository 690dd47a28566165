"""Leases on the board (kernel/abi.py, Leases; SYS_CALL_LEASE, SYS_BORROW):
leaser lends leasesrv 16 KiB to read and 16 KiB to write and checks what came
across; a read lease refuses writing and reading past its end, and ends with
the reply; a lease of memory that is not the caller's is refused; then 1 MiB
by lease and 1 MiB in 256-byte calls, timed in guest ms (printed: the figure
the issue's bulk data path is about). Boots the dev image (flash-dev.bin:
the test image has no task id left)."""
import os
import re

import pytest

from tools import qemu
from qemu_console import BOARD

DEV = qemu.flash_path(BOARD, "dev")


@pytest.fixture
def dev(boot):
    if not os.path.isfile(DEV):
        pytest.fail("%s does not exist: run `make build` first" % DEV, pytrace=False)
    d = boot(flash=DEV)
    d.wait_prompt()
    return d


def test_leases_copy_both_ways_within_their_bounds_and_end_with_the_reply(dev):
    mark = dev.mark()
    assert dev.cmd("start leaser").startswith("started task ")
    dev.wait_line(r"leaser: done", since=mark, timeout=120)
    out = "\n".join(m.group(0) for m in dev.lines(r"leaser: .*", since=mark))
    assert "leaser: sum ok" in out, out
    assert "leaser: fill 0 bad" in out, out
    assert "leaser: deny NOT_PERMITTED BAD_ARGUMENT 1" in out, out   # write a read lease; past its end
    assert "leaser: after reply BAD_STATE" in out, out               # the lease ended with the reply
    assert "leaser: foreign lease BAD_ARGUMENT" in out, out
    m = re.search(r"leaser: 1 MiB by 16384-byte leases (\d+) ms, by 256-byte calls (\d+) ms", out)
    assert m, out
    lease_ms, calls_ms = int(m.group(1)), int(m.group(2))
    print("1 MiB: %d ms by lease, %d ms by 256-byte calls (guest)" % (lease_ms, calls_ms))
    assert lease_ms < calls_ms, out     # under -icount shift=0: 36 against 134 (M instructions)
    assert not dev.lines(r"fault: task (leaser|leasesrv)", since=mark)
