"""The README's session is a real one: boot the production image as `make
run` does (the emulated HSM on UART1, the host link on UART2, a new storage file),
type every command of the README's transcript and compare each command's
output with the README's.

The transcript is the fenced block right after the line
`<!-- transcript: tests/qemu/test_readme.py -->`. In it, the lines before
the first `qenex> ` are the boot output; `qenex> CMD` types CMD, and the
lines up to the next prompt are its output. A line of the output that
starts with `fault: `, `exit: `, `restart: ` (the kernel's) or `gateway: `
(the gateway task's) is printed when it happens, so on the console it may
land after the next prompt: the test waits for it, wherever it arrives,
after typing the command (or, in the boot output, after the boot).

The comparison (the convention the README follows): the same lines, in the
same order, as many; each line equal once both sides went through
normalise(), which replaces only what differs from one boot or one build to
the next:
  - hex strings of 12 or more digits (commit, image hash, HSM serial) and
    8 hex digits before "..." (the key hash);
  - a fault's pc (`pc=0x...`, and the PC column of `faults`): code addresses
    move with every build;
  - times (0:00:03.167, "N ms"), the build date, percentages, the used half
    of a used/total pair (`ps`'s HEAP and STACK), the kernel heap's used and
    free bytes, the boot counts of `uptime`, the kernel's text/data/bss;
  - the state of a started task: running, ready and blocked(...) are one
    state (which of them `ps` catches depends on the instant);
  - column padding: two or more spaces are one gap (widths follow the cells).
Everything else must be exact: task names, ids and counts, states of tasks
that are not started, priorities, block sizes and addresses, the memory
map, the wording of every line. A task the image does not have, a command
whose output changed, a line more or less: the test fails and shows the
first difference."""
import os
import re

import pytest

from qemu_console import PRODUCTION_FLASH, PROMPT, norm
from tools import hostlink, qemu
from tools.hsm import process as hsm_process
from tools.layout import ROOT, load_board

pytestmark = pytest.mark.timeout(240)
README = os.path.join(ROOT, "README.md")
MARKER = "<!-- transcript: tests/qemu/test_readme.py -->"
ASYNC = ("fault: ", "exit: ", "restart: ", "gateway: ")
SETTLE_S = 3          # after the prompt, before the first command: the services start

_SUBS = [
    (r"\b[0-9a-f]{12,64}(?:-dirty)?\b", "<hex>"),
    (r"\b[0-9a-f]{8}\.\.\.", "<hex>..."),
    (r"pc=0x[0-9a-f]{8}", "pc=<pc>"),
    (r"(MemManage|BusFault|UsageFault|HardFault)  +0x[0-9a-f]{8}", r"\1  <pc>"),
    (r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\b", "<date>"),
    (r"\b(\d{4}-\d\d-\d\dT\d\d:\d\d):\d\d\.\d{3}Z", r"\1:<s>Z"),    # `date`: the minute is exact
    (r"\b\d+:\d\d:\d\d\.\d{3}\b", "<time>"),
    (r"= \d+\.\d{3} ms", "= <n> ms"),
    (r"\b\d+ ms\b", "<n> ms"),
    (r"\b\d+\.\d%", "<pct>"),
    (r"\(\d+%\)", "(<pct>)"),
    (r"\b\d+/(\d+)\b", r"<n>/\1"),
    (r"kernel heap: \d+ used", "kernel heap: <n> used"),
    (r", \d+ free \(", ", <n> free ("),
    (r"\b\d+ counts\b", "<n> counts"),
    (r"\(\d+ guest instructions", "(<n> guest instructions"),
    (r"text \d+, data \d+, bss \d+ bytes", "text <n>, data <n>, bss <n> bytes"),
    (r"(?<=  )(?:running|ready|blocked\([a-z_]+(?: \d+)?\))(?=  )", "<live>"),   # blocked(call 6) too
    (r" {2,}", "  "),
]
_SUBS = [(re.compile(p), r) for p, r in _SUBS]


def normalise(line):
    line = line.rstrip()
    for rx, rep in _SUBS:
        line = rx.sub(rep, line)
    return line


def transcript(text):
    """(boot lines, [(command, output lines, async lines), ...]) of the
    README's transcript block."""
    i = text.index(MARKER)
    m = re.compile(r"^```[a-z]*\n(.*?)^```$", re.S | re.M).search(text, i)
    assert m and text[i:m.start()].strip() == MARKER, "no fenced block right after %s" % MARKER
    boot, steps = [], []
    for line in m.group(1).split("\n")[:-1]:
        if line.startswith(PROMPT):
            steps.append((line[len(PROMPT):], [], []))
        elif not steps:
            boot.append(line)
        else:
            steps[-1][2 if line.startswith(ASYNC) else 1].append(line)
    return boot, steps


def same(what, want, got):
    """Assert the README's lines `want` and the board's `got` agree."""
    w = [normalise(x) for x in want]
    g = [normalise(x) for x in got]
    for n, (a, b) in enumerate(zip(w, g)):
        assert a == b, ("%s, line %d differs:\n  README: %s\n  board:  %s\n"
                        "normalised:\n  README: %s\n  board:  %s\nthe board's whole output:\n%s"
                        % (what, n + 1, want[n], got[n], a, b, "\n".join(got)))
    assert len(w) == len(g), ("%s: the README shows %d lines, the board wrote %d:\n%s"
                              % (what, len(w), len(g), "\n".join(got)))


def check_async(dev, what, lines, since, timeout):
    """Each of `lines` (printed when it happens) is on the console after
    `since`: the first line of its kind (its prefix) agrees with it."""
    for line in lines:
        kind = line.split(":", 1)[0]
        m = dev.wait_line(r"%s: .*" % re.escape(kind), since=since, timeout=timeout)
        same("%s's %s line" % (what, kind), [line], [norm(m.group(0))])


def test_normalise_keeps_what_must_not_change():
    """The convention's own check: what varies is masked, names, ids and the
    memory map are not."""
    assert normalise("18  heartbeat     blocked(recv)  2     4384/8192") == \
        normalise("18  heartbeat  ready  2  0/8192")
    assert normalise("15  spin  stopped  2") != normalise("15  spin  blocked(recv)  2")
    assert normalise("18  heartbeat  stopped") != normalise("19  heartbeat  stopped")
    assert normalise("slot B   0x00190000  1536K") != normalise("slot B   0x00190000  1024K")
    assert normalise("kernel: 29 tasks, 6 started") != normalise("kernel: 16 tasks, 3 started")


def test_the_readme_session_is_what_the_board_says(boot, tmp_path):
    with open(README) as f:
        want_boot, steps = transcript(f.read())
    assert steps, "the README's transcript has no command"
    storage = qemu.ensure_storage(str(tmp_path / "storage.bin"), load_board("mps2-an385").STORAGE_SIZE)
    hostlink.provision(storage, "mps2-an385", str(tmp_path / "hostlink.key"))
    hsm_sock = str(tmp_path / "hsm.sock")
    hsm = hsm_process.start(hsm_sock, str(tmp_path / "hsm.json"))
    try:
        dev = boot(PRODUCTION_FLASH, storage=storage, hsm=hsm_sock, hostlink=str(tmp_path / "link.sock"))
        got_boot = [x for x in dev.wait_prompt().strip("\n").split("\n") if not x.startswith(ASYNC)]
        same("the boot output", [x for x in want_boot if not x.startswith(ASYNC)], got_boot)
        check_async(dev, "the boot", [x for x in want_boot if x.startswith(ASYNC)], 0, 30)
        dev.expect_absent(r"fault: ", SETTLE_S)
        for cmd, want, want_async in steps:
            since = dev.mark()
            out = dev.cmd(cmd, timeout=30)
            got = [x for x in out.split("\n")[:-1] if not x.startswith(ASYNC)]
            same("`%s`" % cmd, want, got)
            check_async(dev, "`%s`" % cmd, want_async, since, 10)
    finally:
        hsm_process.stop(hsm)
