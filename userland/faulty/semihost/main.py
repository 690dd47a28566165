"""Tries to power the board off through semihosting (BKPT 0xAB), as the
kernel does: the one piece of code that issues it is the kernel's
_hal.poweroff(), and _hal is not a module a task can import, so it ends on
ImportError. (Were it reached, QEMU serves semihosting to privileged code
only: from a task it would be a breakpoint with no debugger, a HardFault.)"""


def main():
    import _hal
    _hal.poweroff()
