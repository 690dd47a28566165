"""A task-owned UART driven by the kernel's interrupt path: the kernel's
driver fills a receive ring and drains a transmit ring (in kernel memory,
hal/arch/armv7m/task_uart.c), and the owner moves many bytes per syscall
(SYS_UART, answered in the trap layer). The owner's manifest grants the
UART's interrupt (`irqs = uart1:BIT`), not its registers: the MPU keeps
every task, the owner too, off the UART itself. A read that finds nothing
and a write that finds the ring full arm the grant's notification bit,
so the driver waits on it instead of polling: read -> 0 -> wait(bit) ->
read. Holds RingPort only; the syscalls are userland/lib/qenex.py's."""
from userland.lib import qenex

CHUNK = 4096            # bytes a read asks for at most (the ring's size, abi.UART_RING)


class RingPort:
    """RingPort(dev, bit): task UART dev (1: uart1, 2: uart2) whose
    interrupt the task is granted at notification bit `bit`. The same
    read()/write() as the polled port it replaces, plus waiting."""

    def __init__(self, dev, bit):
        self.dev = dev
        self.mask = 1 << bit
        self.buf = bytearray(CHUNK)
        self.view = memoryview(self.buf)
        self.bytes_in = 0
        self.bytes_out = 0

    def read(self, limit=CHUNK, timeout_ms=0):
        """The bytes waiting now (perhaps none); with timeout_ms > 0, waits
        up to that long for the first of them."""
        if limit > CHUNK:
            limit = CHUNK
        n = qenex.uart_read_into(self.dev, self.buf, limit)
        if n == 0 and timeout_ms > 0:
            if qenex.wait(self.mask, timeout_ms):
                n = qenex.uart_read_into(self.dev, self.buf, limit)
        self.bytes_in += n
        return bytes(self.view[:n])

    def wait(self, timeout_ms):
        """Until data (or space) may be there, or timeout_ms: the
        notification bit taken, or 0."""
        return qenex.wait(self.mask, timeout_ms)

    def write(self, data, timeout_ms=5000):
        """All of data into the transmit ring, waiting while it is full;
        OSError when the UART takes nothing for timeout_ms."""
        off = 0
        while off < len(data):
            n = qenex.uart_write(self.dev, data, off)
            if n:
                off += n
                continue
            if not qenex.wait(self.mask, timeout_ms):
                raise OSError("uart%d: transmit ring full for %d ms" % (self.dev, timeout_ms))
        self.bytes_out += off
