"""irqtimer: a raw interrupt's driver. Timer 1 counts down from RELOAD at
the 25 MHz system clock and interrupts at zero (reloading); the task waits
for its notification bit, reads how far the timer has counted since
(RELOAD - VALUE: the ticks from the interrupt to the task running, 40
guest instructions a tick under -icount shift=0) as the first thing it
does when its SYS_WAIT returns (the raw syscall, no library call around
it), clears the timer's interrupt and acknowledges it to the kernel
(unmasking it). A delivery with the timer's INTSTATUS clear is not one of
its interrupts (spurious: counted, not measured). The period is 5 ms, so a
latency up to that reads right (past it the counter has reloaded). After
ROUNDS of them it prints one line and stops the timer:

    irqtimer: 100 irqs, latency ticks min A median B max C (spurious S)

Its priority (1, above every service but the shell) is a real interrupt
driver's: the figure is the path from the interrupt to its owner, not the
time slices of other tasks of its priority."""
import _qx
import board
from kernel import abi
from userland.lib import qenex

BIT = 4
ROUNDS = 100
PERIOD = 125000                 # ticks: 5 ms
CTRL, VALUE, RELOAD, INTSTATUS, INTCLEAR = 0x0, 0x4, 0x8, 0xC, 0xC
ENABLE, IRQ_ENABLE = 1, 8


def main():
    base = board.TIMER1_BASE
    mask = 1 << BIT
    lat = []
    peek = _qx.peek
    syscall = _qx.syscall
    value = base + VALUE
    wait = abi.SYS_WAIT
    _qx.poke(base + CTRL, 0)
    _qx.poke(base + INTCLEAR, 1)
    _qx.poke(base + RELOAD, PERIOD)
    _qx.poke(base + VALUE, PERIOD)
    _qx.poke(base + CTRL, ENABLE | IRQ_ENABLE)
    missed = 0
    spurious = 0
    while len(lat) < ROUNDS:
        got = syscall(wait, mask, 1000)
        now = peek(value)
        if got < 0:
            raise qenex.Error(-got)
        if not got:
            missed += 1
            if missed > 3:
                break
            continue
        if peek(base + INTSTATUS) & 1:
            lat.append(PERIOD - now)
            _qx.poke(base + INTCLEAR, 1)
        else:
            spurious += 1
        qenex.irq_ack(mask)
    _qx.poke(base + CTRL, 0)
    lat.sort()
    if not lat:
        qenex.write("irqtimer: no interrupt came\n")
        return
    qenex.write("irqtimer: %d irqs, latency ticks min %d median %d max %d (spurious %d)\n"
                % (len(lat), lat[0], lat[len(lat) // 2], lat[-1], spurious))
