"""kernel/taskmem.py: the one rule for a task's (pointer, length). Bounds
(first and last byte in, one past out), a length that overflows the block
or the 32-bit space, a range that would wrap around the top, zero length,
a pointer into another task's block (refused both by check() and through a
real syscall), read-only sources; and the C side (qx_ctx_owns in
hal/arch/armv7m/trap.h, built here with cffi) agreeing with it."""
import importlib.util
import os
import random

import pytest

from kernel import abi, errors as E, taskmem
from kernel.errors import KernelError
from kernel.tasks import Task
from tests.host.test_kernel_loop import boot, mf, raw_results, run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASE, SIZE = 0x20004000, 0x1000
TOP = 1 << 32


def task_at(base, size, tid=1):
    t = Task(tid, mf("t%d" % tid))
    t.base, t.size = base, size
    return t


@pytest.mark.parametrize("ptr,n,ok", [
    (BASE, SIZE, True),                 # the whole block
    (BASE, 1, True),                    # the first byte
    (BASE + SIZE - 1, 1, True),         # the last byte
    (BASE + SIZE, 1, False),            # one past the end
    (BASE - 1, 1, False),               # one before the start
    (BASE - 1, 2, False),               # straddles the start
    (BASE + SIZE - 1, 2, False),        # straddles the end
    (BASE, SIZE + 1, False),            # longer than the block
    (BASE + 8, abi.WORD_MAX, False),    # a length that passes the top of the space
    (abi.WORD_MAX, 1, False),           # the last address of the space
    (abi.WORD_MAX, 0x20005000, False),  # wraps in 32 bits to inside the block
    (0xFFFFF000, 0x20005000, False),    # also wraps to inside it
    (TOP, 1, False), (TOP + BASE, 1, False),   # a pointer past 32 bits
    (BASE, -1, False), (-1, 1, False),  # negative
    ("x", 1, False), (BASE, None, False), (True, 1, False),
])
def test_inside_bounds_overflow_and_wrap(ptr, n, ok):
    assert taskmem.inside(BASE, SIZE, ptr, n) is ok
    t = task_at(BASE, SIZE)
    if ok:
        taskmem.check(t, ptr, n, "buffer")
    else:
        with pytest.raises(KernelError) as e:
            taskmem.check(t, ptr, n, "buffer")
        assert e.value.code == E.BAD_ARGUMENT


@pytest.mark.parametrize("ptr", [0, BASE, BASE + SIZE, abi.WORD_MAX])
def test_zero_length_is_any_pointer_and_reads_nothing(ptr):
    assert taskmem.inside(BASE, SIZE, ptr, 0)
    t = task_at(BASE, SIZE)

    class NoTrap:
        def read(self, *a):
            raise AssertionError("a zero-length read reached the trap layer")
    assert taskmem.read(NoTrap(), t, ptr, 0) == b""


def test_a_task_without_a_block_owns_nothing():
    t = task_at(None, 0)
    assert not taskmem.inside(t.base, t.size, BASE, 1)
    with pytest.raises(KernelError):
        taskmem.check(t, BASE, 1, "buffer")


def test_read_only_ranges_count_for_sources_only():
    t = task_at(BASE, SIZE)
    flash = ((0x00010000, 0x1000),)
    taskmem.check(t, 0x00010000, 0x1000, "message", flash, True)
    for ptr, n in [(0x00010000, 0x1001), (0x0000FFFF, 2)]:
        with pytest.raises(KernelError):
            taskmem.check(t, ptr, n, "message", flash, True)
    with pytest.raises(KernelError):
        taskmem.check(t, 0x00010000, 16, "reply buffer", flash)      # never a destination


def test_a_pointer_into_another_tasks_block_is_refused():
    log = []

    def pry(sys):
        other = k.tasks[2]
        calls = [(abi.SYS_WRITE, (other.base, 4)), (abi.SYS_WRITE, (other.base + other.size - 4, 4)),
                 (abi.SYS_RECV, (other.base, 16, 1)), (abi.SYS_KCTL, (abi.KCTL_PS, 0, other.base, 256)),
                 (abi.SYS_LOOKUP, (other.base, 4))]
        yield from raw_results(calls, log)(sys)
        yield from sys.wait(1 << 30)

    def victim(sys):
        yield from sys.wait(1 << 30)
    k, sim = boot({"pry": pry, "victim": victim}, [mf("pry", kernel=True), mf("victim")])
    run(k, until=lambda: len(log) == 5)
    assert log == [(-E.BAD_ARGUMENT, 0)] * 5
    t1, t2 = k.tasks[1], k.tasks[2]
    assert not taskmem.inside(t1.base, t1.size, t2.base, 1) and taskmem.inside(t2.base, t2.size, t2.base, 1)
    assert k.live() == [1, 2] and not [ln for ln in sim.lines() if ln.startswith("fault: ")]


# --- the C side: qx_ctx_owns (hal/arch/armv7m/trap.h) follows the same rule --

@pytest.fixture(scope="module")
def owns(tmp_path_factory):
    import cffi
    ffi = cffi.FFI()
    ffi.cdef("int owns(uint32_t base, uint32_t size, uint32_t addr, uint32_t len);")
    ffi.set_source("_qx_taskmem", """
        #include "hal/arch/armv7m/trap.h"
        int owns(uint32_t base, uint32_t size, uint32_t addr, uint32_t len) {
            qx_ctx_t c = { 0, base, size, 1 };
            return qx_ctx_owns(&c, addr, len);
        }""", include_dirs=[ROOT])
    path = ffi.compile(tmpdir=str(tmp_path_factory.mktemp("cffi")))
    spec = importlib.util.spec_from_file_location("_qx_taskmem", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.lib.owns


def test_the_c_rule_agrees_with_the_python_rule(owns):
    """For every length > 0 the two agree, the wrapping cases included;
    at length 0 C also asks that the pointer lie in the block (or at its
    end), a stricter answer the kernel never relies on (taskmem.py)."""
    rnd = random.Random(14)
    blocks = [(BASE, SIZE), (0x20000000, 1 << 22), (0xFFFFF000, 0x1000), (0, 0x100)]
    edges = [0, 1, 2, abi.WORD_MAX, abi.WORD_MAX - 1]
    for base, size in blocks:
        ptrs = edges + [base - 1, base, base + 1, base + size - 1, base + size, base + size + 1]
        lens = edges + [size - 1, size, size + 1, TOP - base, TOP - base - size]
        cases = [(p, n) for p in ptrs for n in lens] + \
                [(rnd.randrange(TOP), rnd.randrange(TOP)) for _ in range(2000)] + \
                [(base + rnd.randrange(size), rnd.randrange(size + 2)) for _ in range(2000)]
        for p, n in cases:
            p, n = p % TOP, n % TOP
            if n == 0:
                continue
            assert bool(owns(base, size, p, n)) == taskmem.inside(base, size, p, n), (hex(base), hex(p), hex(n))
        assert owns(base, size, base, 0) and taskmem.inside(base, size, base, 0)
