"""Tries to reset the board (a write to the SCB's AIRCR): unprivileged code
may not touch the system control space, so it faults and the board runs on.
(The kernel's _hal.reset() does the same write; _hal is not a task's.)"""
import _qx

AIRCR = 0xE000ED0C
SYSRESETREQ = 0x05FA0004


def main():
    _qx.poke(AIRCR, SYSRESETREQ)
