"""Spins reading the board's 25 MHz counter (40 ns a count, 40 guest
instructions under -icount shift=0) and, every WINDOW counts of its own
time, prints the longest gap between two consecutive reads in that window:
"pulse: longest gap N counts". A gap is time the CPU was elsewhere (another
task, the kernel); at priority 2, as heartbeat and the services, it shows
how long any of them can be held (tests/qemu/test_install_hold.py, make
bench's "install: longest hold of other tasks"). A loop iteration itself
is a few counts. Test image only."""
import _qx
import board

from userland.lib import qenex

COUNTER = board.FPGAIO_BASE + 0x18
WINDOW = 2500000        # 100 ms


def main():
    peek = _qx.peek
    while True:
        start = prev = peek(COUNTER)
        worst = 0
        while (prev - start) & 0xffffffff < WINDOW:
            c = peek(COUNTER)
            d = (c - prev) & 0xffffffff
            if d > worst:
                worst = d
            prev = c
        qenex.write("pulse: longest gap %d counts\n" % worst)
