"""Reads the LAN9118's ID register (device `eth`), which only the netecho
task (and the net task) is granted: the MPU stops it (MemManage)."""
import _qx
import board
from userland.lib import qenex


def main():
    value = _qx.peek(board.ETH_BASE + 0x50)
    qenex.write("peek_eth: read %08x -- isolation broken\n" % value)
