"""irqtimer: a raw interrupt's driver. Timer 1 counts down from RELOAD at
the 25 MHz system clock and interrupts at zero (reloading); the task waits
for its notification bit, reads how far the timer has counted since
(RELOAD - VALUE: the ticks from the interrupt to the task running, 40
guest instructions a tick under -icount shift=0), clears the timer's
interrupt and acknowledges it to the kernel (unmasking it). After ROUNDS
of them it prints one line and stops the timer:

    irqtimer: 100 irqs, latency ticks min A median B max C"""
import _qx
import board
from userland.lib import qenex

BIT = 4
ROUNDS = 100
PERIOD = 25000                  # ticks: 1 ms
CTRL, VALUE, RELOAD, INTCLEAR = 0x0, 0x4, 0x8, 0xC
ENABLE, IRQ_ENABLE = 1, 8


def main():
    base = board.TIMER1_BASE
    mask = 1 << BIT
    lat = []
    _qx.poke(base + CTRL, 0)
    _qx.poke(base + INTCLEAR, 1)
    _qx.poke(base + RELOAD, PERIOD)
    _qx.poke(base + VALUE, PERIOD)
    _qx.poke(base + CTRL, ENABLE | IRQ_ENABLE)
    missed = 0
    while len(lat) < ROUNDS:
        if not qenex.wait(mask, 1000):
            missed += 1
            if missed > 3:
                break
            continue
        lat.append(PERIOD - _qx.peek(base + VALUE))
        _qx.poke(base + INTCLEAR, 1)
        qenex.irq_ack(mask)
    _qx.poke(base + CTRL, 0)
    lat.sort()
    if not lat:
        qenex.write("irqtimer: no interrupt came\n")
        return
    qenex.write("irqtimer: %d irqs, latency ticks min %d median %d max %d\n"
                % (len(lat), lat[0], lat[len(lat) // 2], lat[-1]))
