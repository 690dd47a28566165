"""Kernel entry point, called by kernel/port/main.c once the kernel's VM is up.

Reads the task manifests frozen into the firmware, builds the Kernel on the
real trap layer (`_trap`) and runs it: the tasks, the shell among them, take
over the console. If the system table is invalid the kernel cannot start
tasks; it then says why and runs the recovery shell in its own VM, so the
board can still be inspected and rebooted. Holds no policy of its own."""
import _build
import _hal
import _image
import _imgcheck
import _manifests
import _trap
import board
import sys

from drivers.console import Console
from kernel import manifest
from kernel.bootctl import BootControl
from kernel.bundles import Installer, Store
from kernel.clock import Clock
from kernel.kernel import Kernel


def banner(console):
    fp = _hal.footprint()
    v = sys.implementation.version
    console.write("kernel: QENEX OS %s (commit %s) on %s, MicroPython %d.%d.%d\n" % (
        _build.VERSION, _build.COMMIT, board.NAME, v[0], v[1], v[2]))
    console.write("kernel: text %d, data %d, bss %d bytes; heap %d KiB, stack %d KiB\n" % (
        fp[0], fp[1], fp[2], fp[3] // 1024, fp[4] // 1024))


def load_manifests(console):
    out = []
    for source, fields in _manifests.MANIFESTS:     # parsed by the build (tools/gather_manifests.py)
        out.append(manifest.from_dict(fields, source))
    return out


def recovery(console, why):
    from kernel.system import System        # only here: a normal boot runs the shell as a task
    from userland.shell import shell
    console.write("kernel: %s\nkernel: no tasks started; recovery shell\n" % why)
    system = System(console)
    system.prompt_counter = _hal.counter()
    while True:
        try:
            shell.run(console, system)
        except Exception as e:  # noqa: the recovery shell must not end
            console.write("kernel: shell failed (%s: %s), restarting it\n" % (type(e).__name__, e))


def bench_alone(console):
    """`make bench`: the task benchmark's CPU workload, in this VM, alone
    (the test image only: production carries no bench code)."""
    if "bench" not in _image.TASKS:
        return
    from userland.bench.work import CPU_WORK, cpu_work
    t0 = _hal.ticks_ms()
    cpu_work(CPU_WORK)
    console.write("bench: cpu_alone_ms %d\n" % (_hal.ticks_ms() - t0))


SAFE_MODE_WINDOW_MS = getattr(board, "SAFE_MODE_WINDOW_MS", 1000)


def safe_mode(console, k):
    """The way back from a bad installed task: with bundles installed, a
    key held at reset (already waiting in the UART) or "s" typed within
    SAFE_MODE_WINDOW_MS boots without starting them. Costs nothing when
    no bundle is installed, and a key other than "s" ends the wait."""
    names = sorted(k.installer.installed)
    if not names:
        return
    console.write("kernel: %d installed task%s (%s); press s within %d ms for safe mode "
                  "(installed tasks not started)\n" % (len(names), "" if len(names) == 1 else "s",
                                                        " ".join(names), SAFE_MODE_WINDOW_MS))
    if k.safe_mode_window(SAFE_MODE_WINDOW_MS):
        console.write("kernel: SAFE MODE: installed tasks not started: %s\n" % " ".join(names))


def main():
    console = Console()
    banner(console)
    if _hal.bench_flag() == board.BENCH_FLAG:
        bench_alone(console)
    try:
        manifests = load_manifests(console)
        if len(manifests) >= board.MAX_TASKS:       # tids are 1..N; the trap layer holds MAX_TASKS
            raise ValueError("%d tasks, the board holds %d" % (len(manifests), board.MAX_TASKS - 1))
        devices = tuple(d for d in board.DEVICES if d[0] in _image.DEVICES)   # what this image maps
        k = Kernel(_trap, board.TASK_POOL_BASE, board.TASK_POOL_SIZE, manifests, devices=devices,
                   irqs=board.IRQS, uarts=board.TASK_UARTS,
                   now=_hal.ticks_ms)     # the same clock as _trap.ticks_ms, without a long int
    except Exception as e:  # ManifestError, KernelError, too many: a bad system table
        recovery(console, "bad system table: %s" % e)
        return
    k.readonly = ((board.FLASH_BASE, board.FLASH_SIZE),)
    k.counter = _hal.counter
    k.clock = Clock(k.now, _hal.counter, board.SYSCLK_HZ, _build.BUILT_MS)
    _trap.set_fastpath(True)
    k.entry_counter = _hal.entry_counter()
    k.boot = BootControl(_hal.boot_info(), _hal.boot_confirm, start_ms=k.now())
    k.max_tid = board.MAX_TASKS - 1
    k.installer = Installer(Store(_hal.flash_read, _hal.flash_erase, _hal.flash_program,
                                  board.BUNDLE_STORE_OFFSET, board.BUNDLE_STORE_SIZE, board.SECTOR_SIZE,
                                  _hal.flash_view),
                            _hal.verify_image, _imgcheck.start, _hal.counter)
    for line in k.installer.load_all(k):
        console.write(line)
    safe_mode(console, k)
    started = k.start_all()
    console.write("kernel: %d tasks, %d started: %s\n" % (
        len(k.order), len(started), " ".join(k.tasks[t].name for t in started)))
    k.run()
    if k.halted == "reboot":
        _hal.reset()
    _hal.poweroff()
