"""Reads a word of kernel RAM: the MPU stops it (MemManage)."""
import _qx
from userland.lib import qenex

KERNEL_ADDR = 0x20000800      # kernel data, privileged-only


def main():
    value = _qx.peek(KERNEL_ADDR)
    qenex.write("peek_kernel: read %08x -- isolation broken\n" % value)
