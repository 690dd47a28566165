"""uartecho: every byte UART3 receives is sent back, in bulk (SYS_UART),
the task waiting on its notification bit whenever the receive ring is
empty or the transmit ring full: read -> 0 -> wait(bit) -> read. It times
its own SYS_UART calls on the 25 MHz counter (device fpgaio) and, after
every REPORT bytes, prints what they cost a byte (for tools/bench.py):

    uartecho: N bytes, syscalls read_x100 A write_x100 B

(hundredths of an instruction a byte under -icount shift=0, 40 a tick)."""
import _qx
import board
from drivers.uart import ring
from userland.lib import qenex

DEV = 3
BIT = 0
BATCH = 1024        # woken when this many wait (or a quiet line has some): not once a byte
REPORT = 262144
COUNTER = board.FPGAIO_BASE + 0x18


def main():
    buf = bytearray(4096)
    mask = 1 << BIT
    peek = _qx.peek
    read = ring.uart_read_into
    write = ring.uart_write
    total = rt = wt = 0
    qenex.write("uartecho: up\n")
    while True:
        t0 = peek(COUNTER)
        n = read(DEV, buf, len(buf), BATCH)
        rt += (peek(COUNTER) - t0) & 0xFFFFFFFF
        if n == 0:
            qenex.wait(mask)
            continue
        off = 0
        while off < n:
            t0 = peek(COUNTER)
            w = write(DEV, buf, off, n)
            wt += (peek(COUNTER) - t0) & 0xFFFFFFFF
            if w == 0:
                qenex.wait(mask)
            off += w
        total += n
        if total % REPORT < n:
            qenex.write("uartecho: %d bytes, syscalls read_x100 %d write_x100 %d\n"
                        % (total, rt * 4000 // total, wt * 4000 // total))
