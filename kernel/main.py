"""Kernel entry point, called by kernel/port/main.c once the VM is up.

Brings up the console, prints the boot lines and runs the shell. A shell that
raises is restarted; nothing the shell does can end the kernel. Holds no board
numbers (board.py) and no command logic (userland/shell)."""
import _build
import _hal
import board
import sys

from drivers.console import Console
from kernel.system import System
from userland.shell import shell


def banner(console):
    fp = _hal.footprint()
    v = sys.implementation.version
    console.write("kernel: QENEX OS %s (commit %s) on %s, MicroPython %d.%d.%d\n" % (
        _build.VERSION, _build.COMMIT, board.NAME, v[0], v[1], v[2]))
    console.write("kernel: text %d, data %d, bss %d bytes; heap %d KiB, stack %d KiB\n" % (
        fp[0], fp[1], fp[2], fp[3] // 1024, fp[4] // 1024))


def main():
    console = Console()
    banner(console)
    system = System(console)
    system.prompt_counter = _hal.counter()
    while True:
        try:
            shell.run(console, system)
        except Exception as e:  # noqa: the shell must never take the kernel down
            console.write("kernel: shell failed (%s: %s), restarting it\n" % (type(e).__name__, e))
