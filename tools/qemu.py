"""How QENEX OS is started in QEMU: one function builds the command line that
`make run`, `qenex run`, the tests and the benchmarks all use."""
import os

from tools.layout import ROOT, load_board


def flash_path(board):
    return os.path.join(ROOT, "images", board, "flash.bin")


def command(board="mps2-an385", flash=None, serial="mon:stdio", icount=False):
    """The qemu-system-arm command that boots `flash` (default: the board's
    images/<board>/flash.bin) with the console on `serial` (a QEMU chardev
    spec: "mon:stdio" for a person, "stdio" for tests, "unix:PATH,server=on,
    wait=off" for `qenex console`). icount=True makes guest time count guest
    instructions (1 instruction = 1 ns), for benchmarks."""
    b = load_board(board)
    cmd = ["qemu-system-arm", "-M", b.QEMU_MACHINE, "-display", "none",
           "-monitor", "none",
           "-serial", serial,
           "-semihosting-config", "enable=on,target=native",
           "-kernel", flash or flash_path(board)]
    if icount:
        cmd += ["-icount", "shift=0,sleep=off"]   # idle time does not run the clock: exact repeats
    return cmd
