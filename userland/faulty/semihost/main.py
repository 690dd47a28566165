"""Tries to power the board off through semihosting (BKPT 0xAB), as the kernel
does: QEMU serves semihosting to privileged code only, so from a task it is
a breakpoint with no debugger, a HardFault, and the board runs on."""
import _hal


def main():
    _hal.poweroff()
