"""Given a block another task had (`plant`, killed), looks for any trace of
it, then tries what a task must not get (tests/qemu/test_isolation.py):
  1. reads its whole block for plant's secret and counts non-zero bytes of
     its never-written arena;
  2. imports the kernel's own modules (_hal, _trap: ImportError);
  3. reads the VM-state block's padding, where plant left a marker (it is
     swapped per task, so scan sees its own clean copy);
  4. plants the secret itself (so that its next start, in the same block
     after this fault, must not find it either), rewrites the last swapped
     word of the VM-state block (granted) and writes the first byte past
     it (not granted: MemManage at that address)."""
import _qx
import uctypes
from userland.faulty import secret
from userland.lib import qenex

BLOCK = 16384               # heap + stack + arena of the manifest, rounded up
CHUNK = 512                 # a read's copy: small beside the 8 KiB heap


def main():
    base, size = secret.block_of(BLOCK)
    qenex.write("scan: block 0x%08x %d\n" % (base, size))
    found, step = 0, len(secret.NEEDLE)
    for off in range(0, size, CHUNK):
        n = min(CHUNK + step - 1, size - off)
        if _qx.mem_read(base + off, n).find(secret.NEEDLE) >= 0:
            found += 1
    arena, n = _qx.arena()
    nonzero = 0
    for off in range(0, n, CHUNK):
        chunk = _qx.mem_read(arena + off, CHUNK)
        nonzero += CHUNK - chunk.count(b"\0")
    qenex.write("scan: found %d, arena nonzero %d of %d\n" % (found, nonzero, n))
    for name in ("_hal", "_trap"):
        try:
            __import__(name)
            qenex.write("scan: import %s: imported\n" % name)
        except ImportError:
            qenex.write("scan: import %s: ImportError\n" % name)
    vm, used, swapped = _qx.vmstate()
    qenex.write("scan: vmstate 0x%08x globals %d swapped %d padding %08x\n"
                % (vm, used, swapped, _qx.peek(vm + swapped - 4)))
    keep = [secret.make() for _ in range(4)]
    a = uctypes.bytearray_at(arena, n)
    a[0:step] = secret.NEEDLE
    last = vm + swapped - 4
    _qx.poke(last, _qx.peek(last))
    qenex.write("scan: wrote 0x%08x, writing 0x%08x %d\n" % (last, vm + swapped, len(keep)))
    _qx.poke(vm + swapped, 0x0BADF00D)
    qenex.write("scan: wrote past the swapped VM state -- isolation broken\n")
