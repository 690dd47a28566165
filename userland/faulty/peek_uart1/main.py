"""Reads the HSM link's UART (UART1), a device granted to the hsm task
only: the MPU stops it (MemManage)."""
import _qx
import board
from userland.lib import qenex


def main():
    value = _qx.peek(board.UART1_BASE + 4)
    qenex.write("peek_uart1: read %08x -- isolation broken\n" % value)
