"""Plants a secret everywhere in its own memory -- heap (live and freed
objects), arena, the unused part of its stack, the VM-state block's padding
-- then waits to be killed. `scan`, the next owner of its block, must find
none of it (tests/qemu/test_isolation.py)."""
import _qx
import uctypes
from userland.faulty import secret
from userland.lib import qenex

BLOCK = 16384               # heap + stack + arena of the manifest, rounded up


def main():
    base, size = secret.block_of(BLOCK)
    keep = [secret.make() for _ in range(8)]          # live heap objects
    for _ in range(32):                               # and freed ones
        secret.make()
    arena, n = _qx.arena()
    a = uctypes.bytearray_at(arena, n)
    step = len(secret.NEEDLE)
    for off in range(0, n - step, step):
        a[off:off + step] = secret.NEEDLE
    _qx.mem_write(base + 256, secret.NEEDLE)          # deep in the stack, below any frame
    vm, used, swapped = _qx.vmstate()
    if swapped - used >= 4:
        _qx.poke(vm + swapped - 4, secret.MARKER)     # padding: swapped out with this VM
    qenex.write("plant: block 0x%08x %d planted %d\n" % (base, size, len(keep)))
    while True:
        qenex.recv()
