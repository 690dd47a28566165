"""A task-owned UART driven by the kernel's interrupt path: the kernel's
driver fills a receive ring and drains a transmit ring (in kernel memory,
drivers/uart/task_uart.c), and the owner moves many bytes per syscall
(SYS_UART, answered in the trap layer). The owner's manifest grants the
UART's interrupt (`irqs = uart1:BIT`), not its registers: the MPU keeps
every task, the owner too, off the UART itself. A read that finds nothing
and a write that finds the ring full arm the grant's notification bit,
so the driver waits on it instead of polling: read -> 0 -> wait(bit) ->
read. Holds the two SYS_UART calls (here, not in userland/lib/qenex.py:
only a UART's owner imports them) and RingPort."""
import _qx

from kernel import abi, errors
from userland.lib import qenex

_UART = abi.SYS_UART
_syscall = _qx.syscall


def uart_read_into(dev, buf, n, wake_at=1):
    """Move up to n received bytes of task UART dev (1..3) into buf (a
    bytearray of at least n); the count. When it leaves fewer than wake_at
    bytes waiting, the grant's bit comes once that many have arrived (or
    some, and the line went quiet for a tick). n = 0: only that, and the
    count waiting. Allocates nothing."""
    r0 = _syscall(_UART, abi.UART_READ, dev, _qx.addr(buf), n, wake_at)
    if r0 < 0:
        raise qenex.Error(-r0)
    return r0


def uart_write(dev, data, off=0, end=None):
    """Put data[off:end] into task UART dev's transmit ring: the count
    taken, 0 when the ring is full (then the grant's bit comes when space
    frees). Allocates nothing."""
    if end is None:
        end = len(data)
    if not 0 <= off <= end <= len(data):
        raise qenex.Error(errors.BAD_ARGUMENT)
    r0 = _syscall(_UART, abi.UART_WRITE, dev, _qx.addr(data) + off, end - off)
    if r0 < 0:
        raise qenex.Error(-r0)
    return r0


def irq_owned():
    """The notification bits of this task's interrupt grants (SYS_IRQ
    IRQ_OWNED; here, beside the other driver calls, to keep
    userland/lib/qenex.py, which every task imports, small)."""
    r0 = _syscall(abi.SYS_IRQ, abi.IRQ_OWNED)
    if r0 < 0:
        raise qenex.Error(-r0)
    return r0


CHUNK = 4096            # bytes a read asks for at most (the ring's size, abi.UART_RING)


class RingPort:
    """RingPort(dev, bit, poll_ms=0): task UART dev (1: uart1, 2: uart2)
    whose interrupt the task is granted at notification bit `bit`. The same
    read()/write() as the polled port it replaced, plus waiting; with
    poll_ms, a wait has the idle board poll that long before it sleeps
    (for a peer that answers within it: the HSM)."""

    def __init__(self, dev, bit, poll_ms=0):
        self.dev = dev
        self.mask = 1 << bit
        self.poll_ms = poll_ms          # wait(): the idle board polls this long first (SYS_WAIT poll_ms)
        self.buf = bytearray(CHUNK)
        self.view = memoryview(self.buf)
        self.bytes_in = 0
        self.bytes_out = 0

    def read(self, limit=CHUNK, timeout_ms=0):
        """The bytes waiting now (perhaps none); with timeout_ms > 0, waits
        up to that long for the first of them."""
        if limit > CHUNK:
            limit = CHUNK
        n = uart_read_into(self.dev, self.buf, limit)
        if n == 0 and timeout_ms > 0:
            if qenex.wait(self.mask, timeout_ms):
                n = uart_read_into(self.dev, self.buf, limit)
        self.bytes_in += n
        return bytes(self.view[:n])

    def wait(self, timeout_ms, need=1):
        """Until `need` bytes (or some, and a quiet line) may be there, or
        space, or timeout_ms: true unless the timeout passed. Asks the
        kernel first (a fast syscall): with enough waiting, at once."""
        if need > 1 and self.arm(need) >= need:
            return True
        return qenex.wait(self.mask, timeout_ms, self.poll_ms) != 0

    def arm(self, need):
        """Have the grant's bit raised when `need` bytes wait (or some, and
        the line went quiet); the count waiting now."""
        return uart_read_into(self.dev, self.buf, 0, need)

    def write(self, data, timeout_ms=5000):
        """All of data into the transmit ring, waiting while it is full;
        OSError when the UART takes nothing for timeout_ms."""
        off = 0
        while off < len(data):
            n = uart_write(self.dev, data, off)
            if n:
                off += n
                continue
            if not qenex.wait(self.mask, timeout_ms):
                raise OSError("uart%d: transmit ring full for %d ms" % (self.dev, timeout_ms))
        self.bytes_out += off
