"""The two images of hal/board/mps2-an385/images.py as the board runs them:
production (what `make run` boots and `make flash` writes) carries exactly
its nine tasks, none of the fault, bench, demo or check tasks, leaves the
task ids and the task RAM to bundles, and maps no bench partition; the test
image (what the other QEMU tests boot) carries them all."""
import re

import pytest

from qemu_console import PRODUCTION_FLASH

pytestmark = pytest.mark.timeout(120)
PRODUCTION = {"shell", "hsm", "ledger", "gateway", "heartbeat", "net", "hostnet", "fixnet", "httpnet"}


@pytest.fixture
def production(boot):
    dev = boot(PRODUCTION_FLASH)
    out = dev.wait_prompt()
    dev.boot_output = out
    return dev


def test_production_image_has_exactly_the_production_tasks(production):
    assert re.search(r"\nkernel: 9 tasks, 9 started: ", production.boot_output), production.boot_output
    ps = production.ps()
    assert set(ps) == PRODUCTION
    assert sorted(int(r["ID"]) for r in ps.values()) == [1, 2, 3, 4, 5, 6, 7, 8, 9]


def test_production_image_has_no_test_task_and_no_bench_partition(production):
    for name in ("bench", "spin", "peek_kernel", "moneycheck", "ponger"):
        assert "NO_SUCH_TASK" in production.cmd("start " + name)
    out = production.cmd("tasks image")
    assert "bench_store" not in out and "bench" not in out


def test_production_image_leaves_ids_and_ram_for_eight_bundles(production, board):
    out = production.cmd("tasks image")
    lines = out.split("\n")
    free_ids = int(re.search(r"task ids 9 used, (\d+) free for bundles \(of 31\)", lines[0]).group(1))
    assert free_ids == board.MAX_TASKS - 1 - 9 >= 8
    ram = re.search(r"RAM for bundles: (\d+)K free of the 2048K task pool", out)
    assert ram and int(ram.group(1)) * 1024 >= 8 * 64 * 1024, out
    rows = {r.split()[1]: r.split() for r in lines[2:11]}
    assert set(rows) == PRODUCTION
    assert rows["shell"][2:4] == ["0", "64K"] and rows["shell"][8] == "yes"   # priority, block, kernel
    assert [r[8] for n, r in rows.items() if n != "shell"] == ["-"] * 8      # only the shell holds the kernel right
    assert rows["net"][6:8] == ["eth:0", "-"] and rows["hostnet"][6:8] == ["-", "4700"]   # IRQS, PORTS
    assert rows["fixnet"][6:8] == ["-", "9878"] and rows["httpnet"][6:8] == ["-", "80"]
    assert rows["gateway"][6] == "uart2:0" and rows["hsm"][6] == "uart1:0"
    assert rows["gateway"][-1] == "audit:sign+verify"


def test_test_image_carries_the_test_tasks(device):
    out = device.cmd("tasks image")
    assert out.startswith("image test: 29 tasks;"), out
    for name in ("bench", "spin", "peek_kernel", "moneycheck", "pulse"):
        assert re.search(r"\n\d+ +%s " % name, out), name
    assert "ledgerbench" not in out and "bench_store" not in out      # the dev image's (make bench's ledger rows)
