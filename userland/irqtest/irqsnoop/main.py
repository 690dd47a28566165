"""irqsnoop: what a task without a grant gets from another's interrupts
and UARTs: nothing. One line each, then a read of UART3's registers,
which the MPU refuses (the kernel's fault line: MemManage)."""
import _qx
import board
from drivers.uart import ring
from userland.lib import qenex


def tried(what, f, *args):
    try:
        r = f(*args)
        qenex.write("irqsnoop: %s -> %r\n" % (what, r))
    except qenex.Error as e:
        qenex.write("irqsnoop: %s -> %s\n" % (what, e.name))


def main():
    tried("owned", ring.irq_owned)
    tried("ack bit 4", qenex.irq_ack, 1 << 4)
    tried("wait bit 4", qenex.wait, 1 << 4, 300)        # irqtimer's bit: never raised for this task
    buf = bytearray(16)
    for dev in (1, 2, 3):
        tried("read uart%d" % dev, ring.uart_read_into, dev, buf, 16)
        tried("write uart%d" % dev, ring.uart_write, dev, b"x")
    qenex.write("irqsnoop: peek uart3\n")
    qenex.write("irqsnoop: read %08x -- isolation broken\n" % _qx.peek(board.UART3_BASE + 4))
