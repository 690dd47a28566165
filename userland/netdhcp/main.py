"""netdhcp: asks QEMU's user network for an address with DHCP through `_net`
(`_net.init` with ip 0) and prints what it was given, then ends. A test task
of the dev image, started by hand while netecho (which holds the same
region, net_ram) is stopped: the two never run at once."""
import _net
from userland.lib import qenex

MAC = b"\x52\x54\x00\x12\x34\x57"
WAIT_MS = 10000


def quad(a):
    return "%d.%d.%d.%d" % (a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255)


def main():
    _net.init(MAC, 0, 0, 0)
    start = qenex.ticks()
    while qenex.ticks() - start < WAIT_MS:
        _net.poll(qenex.ticks())
        for ev in _net.events():
            if ev[0] == "address":
                info = _net.info()
                qenex.write("netdhcp: address %s mask %s gw %s dhcp %s\n"
                            % (quad(ev[1]), quad(ev[2]), quad(ev[3]), info["dhcp"]))
                return
        qenex.sleep(max(1, min(5, _net.next_ms())))
    qenex.write("netdhcp: no lease in %d ms\n" % WAIT_MS)
