"""Checked access to task memory: the only place the Python kernel decides
whether a (pointer, length) a task passed may be read or written.

Holds the rule and the copies that use it:
  inside(base, size, ptr, n)   [ptr, ptr + n) lies in the block base+size
  check(t, ptr, n, what, readonly, source)  BAD_ARGUMENT unless the range is
                               t's (or, for a source, in a read-only range)
  read(trap, t, ptr, n, readonly)   the checked bytes, copied out of the task
  write(trap, t, ptr, data)    trap.write into a range checked earlier
  copy(trap, src, sptr, dst, dptr, n, readonly)  task to task (a lease):
                               both ranges checked, then trap.copy
The rule: a range is the task's when it lies wholly inside the task's memory
block; a length of 0 is any pointer's (nothing is copied); every sum is
taken on unbounded ints and a range is refused if it would pass the top of
the 32-bit address space, so nothing wraps. A source (bytes the kernel
only reads: messages, console output, names) may instead lie in one of
`readonly` (the firmware in flash, where a task's constants live, which
every task may read anyway). Callers check an argument's shape (a word
0..abi.WORD_MAX) before it reaches here; inside() checks it again.

The C side follows the same rule and is its own check on the device:
qx_ctx_owns() in hal/arch/armv7m/trap.h (the same arithmetic in a form no
uint32_t sum can wrap in) guards trap.read / trap.write and the IPC fast
path (kernel/port/modtrap.c readable(), qx_task_may_copy(); flash for reads
as here). The one difference: C refuses a zero-length range whose pointer
lies outside the block, where the rule here accepts it -- the kernel never
asks the trap layer to copy zero bytes from a task (read() returns b"" first),
and a zero-length write there faults the task as any refused write does
(tests/host/test_kernel_taskmem.py checks the two agree on everything else).

It does not decide which task may talk to which (kernel/tasks.py), hold
or carve memory blocks (kernel/buddy.py), or know any syscall's arguments
(kernel/syscalls.py). Pure Python, runs under MicroPython and CPython.
"""

from kernel import abi
from kernel.buddy import is_int
from kernel.errors import KernelError, BAD_ARGUMENT

TOP = abi.WORD_MAX + 1      # the first address past the 32-bit space


def inside(base, size, ptr, n):
    """[ptr, ptr + n) lies inside [base, base + size), nothing past the top
    of the address space; n == 0: always (no bytes are touched)."""
    if type(ptr) is not int or type(n) is not int or ptr < 0 or n < 0 or ptr + n > TOP:
        return False            # (type() is int: no bool; no call on this hot path)
    if n == 0:
        return True
    return base is not None and base <= ptr and ptr + n <= base + size


def check(t, ptr, n, what, readonly=(), source=False):
    """BAD_ARGUMENT unless [ptr, ptr + n) is task t's to hand the kernel:
    inside its block, or, when source=True (the kernel only reads it), inside
    one of `readonly` ((base, size) ranges)."""
    if source and n:
        for lo, size in readonly:
            if inside(lo, size, ptr, n):
                return
    if not inside(t.base, t.size, ptr, n):
        if not (is_int(ptr) and is_int(n)):
            raise KernelError(BAD_ARGUMENT, "%s %s+%s is not two ints" % (what, repr(ptr)[:24], repr(n)[:24]))
        raise KernelError(BAD_ARGUMENT, "%s 0x%x+%d is outside task %d's memory 0x%x+%d"
                          % (what, ptr, n, t.tid, t.base or 0, t.size))


def read(trap, t, ptr, n, readonly=()):
    """n bytes of t's memory at ptr (checked as a source): BAD_ARGUMENT if
    the range is not t's, or if the trap layer refuses it anyway."""
    check(t, ptr, n, "buffer", readonly, True)
    if n == 0:
        return b""
    try:
        return bytes(trap.read(t.tid, ptr, n))
    except ValueError:
        raise KernelError(BAD_ARGUMENT, "buffer 0x%x+%d refused by the trap layer" % (ptr, n))


def copy(trap, src, sptr, dst, dptr, n, readonly=()):
    """n bytes of src's memory at sptr (checked as a source) into dst's at
    dptr, in one trap.copy (no kernel buffer): BAD_ARGUMENT if a range is not
    its task's, or if the trap layer refuses it anyway."""
    check(src, sptr, n, "lease source", readonly, True)
    check(dst, dptr, n, "lease destination")
    if n == 0:
        return
    try:
        trap.copy(src.tid, sptr, dst.tid, dptr, n)
    except ValueError:
        raise KernelError(BAD_ARGUMENT, "copy 0x%x+%d -> 0x%x refused by the trap layer" % (sptr, n, dptr))


def write(trap, t, ptr, data):
    """trap.write(data) into t's memory at ptr, a range checked earlier.
    True; False if the trap layer refuses it (the caller faults the task)."""
    try:
        trap.write(t.tid, ptr, data)
        return True
    except ValueError:
        return False
