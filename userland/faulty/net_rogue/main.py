"""Calls `_net.info()` without the net task's grants: the call reads lwIP's
state in the net task's region (device `net_ram`), and the MPU stops it
(MemManage) before anything of it is returned."""
import _net
from userland.lib import qenex


def main():
    info = _net.info()
    qenex.write("net_rogue: got %r -- isolation broken\n" % (info,))
