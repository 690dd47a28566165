"""bench: measures the kernel's mechanisms from inside a task, for `make bench`.

Under QEMU -icount shift=0 one guest instruction takes one virtual ns, so a
millisecond of qenex.ticks() is 1,000,000 instructions: each figure is the
total time of N repetitions over N, printed as guest instructions per
operation ("bench: NAME VALUE"). Started by hand: `start bench`."""
import _qx
import board
from kernel import abi
from userland.bench.work import CPU_WORK, cpu_work
from userland.lib import qenex

PER_MS = 1000000            # guest instructions per virtual ms under -icount shift=0


def timed(label, n, fn):
    t0 = qenex.ticks()
    fn(n)
    ms = qenex.ticks() - t0
    qenex.write("bench: %s %d\n" % (label, ms * PER_MS // n))


def calls(n):
    def f():
        pass
    for _ in range(n):
        f()


# The loops bind names locally, as a hot loop in MicroPython would (and as
# calls() does for its function), so each figure is the operation itself.

def null_syscalls(n):
    sc, no = _qx.syscall, abi.SYS_TICKS
    for _ in range(n):
        sc(no)


def python_syscalls(n):
    sc, no = _qx.syscall, abi.SYS_SLEEP
    for _ in range(n):
        sc(no, 0)


def yields(n):
    sc, no = _qx.syscall, abi.SYS_YIELD
    for _ in range(n):
        sc(no)


def ipc(n):
    pong = qenex.lookup("ponger")
    msg, reply = b"ping", bytearray(8)
    a, r = _qx.addr(msg), _qx.addr(reply)
    for _ in range(n):
        _qx.syscall(abi.SYS_CALL, pong, a, 4, r, 8)


def ipc_lib(n):
    pong = qenex.lookup("ponger")
    for _ in range(n):
        qenex.call(pong, b"ping")


# --- the switch, timed with the 25 MHz counter -------------------------------
# The millisecond clock resolves 250 instructions over 4,000 switches; the
# FPGA counter (granted to bench: manifest `devices = fpgaio`) counts every
# 40 ns = 40 instructions under -icount shift=0, so over N repetitions it
# resolves 40 / N of an instruction. Figures are printed in hundredths of an
# instruction ("bench: NAME_x100 V").
COUNTER = board.FPGAIO_BASE + 0x18
NS_PER_COUNT = 40
FINE_N = 20000


def fine(label, ops, fn, n=FINE_N):
    peek = _qx.peek
    c0 = peek(COUNTER)
    fn(n)
    c1 = peek(COUNTER)
    qenex.write("bench: %s_x100 %d\n" % (label, ((c1 - c0) & 0xffffffff) * NS_PER_COUNT * 100 // ops(n)))


def loop(n):
    for _ in range(n):
        pass


def raw_yields(n):
    sc, no = _qx.syscall, abi.SYS_YIELD
    for _ in range(n):
        sc(no)


def py_yields(n):
    y = qenex.yield_
    for _ in range(n):
        y()


def ticks_calls(n):
    t = qenex.ticks
    for _ in range(n):
        t()


def allocs(n):
    for _ in range(n):
        bytearray(16)


def garbage():
    """Fill the heap with small objects, every other one dead, then let go
    of half the live ones: a heap full of garbage and holes, as a
    long-running service's is. Returns the live ones."""
    out = []
    try:
        while True:
            out.append(bytearray(16))
            bytearray(16)
    except MemoryError:
        pass
    del out[len(out) // 2:]
    return out


def switch_figures(peer):
    """Rows of `make bench` for the switch (tools/bench.py switch_rows)."""
    once = lambda n: n
    fine("loop", once, loop)
    fine("yield_alone_raw", once, raw_yields)
    fine("yield_alone_py", once, py_yields)
    fine("ticks_fresh", once, ticks_calls, 2000)
    fine("null_syscall", once, null_syscalls)
    # Two tasks of one priority yielding to each other: each of our
    # iterations is one switch there and one back, the peer's iteration
    # between them; per switch = total / (2 n).
    for mode, fn in ((b"yield", raw_yields), (b"yield_", py_yields)):
        qenex.kctl(abi.KCTL_RESTART, peer)
        sender, _ = qenex.recv()
        qenex.reply(sender, mode)
        fine("switch_" + ("raw" if mode == b"yield" else "py"), lambda n: 2 * n, fn)
        qenex.kctl(abi.KCTL_KILL, peer)
    # In a heap full of garbage an allocation's first-fit search passes it
    # all, and the collection comes only when the heap is full; the task's
    # GC threshold (manifest gc_threshold, set before its code runs)
    # collects every so many bytes instead. ticks() allocates nothing.
    import gc
    th = gc.threshold()
    qenex.write("bench: gc_threshold %d\n" % th)
    for label, t in (("", -1), ("_threshold", th)):
        gc.threshold(t)
        gc.collect()
        fine("alloc_fresh" + label, once, allocs, 2000)
        keep = garbage()
        fine("alloc_garbage" + label, once, allocs, 2000)
        fine("ticks_garbage" + label, once, ticks_calls, 2000)
        del keep
        gc.collect()
    gc.threshold(th)


def main():
    timed("function_call", 100000, calls)
    timed("null_syscall", 50000, null_syscalls)
    timed("kernel_syscall", 5000, python_syscalls)
    timed("yield_alone", 50000, yields)
    timed("ipc_round_trip", 2000, ipc)
    timed("ipc_round_trip_qenex_call", 2000, ipc_lib)
    # Task start: from the (re)start request to the new task's first message
    # (restart: the previous incarnation may not have finished exiting yet).
    peer = qenex.lookup("benchpeer") & abi.HANDLE_ID_MASK     # kctl takes the task id
    n, t0 = 20, qenex.ticks()
    for _ in range(n):
        qenex.kctl(abi.KCTL_RESTART, peer)
        sender, _ = qenex.recv()
        qenex.reply(sender, b"exit")
    qenex.write("bench: task_start %d\n" % ((qenex.ticks() - t0) * PER_MS // n))
    # Context switch: two tasks of one priority yielding to each other; each
    # of our yields is two switches (there and back) and two syscalls.
    qenex.kctl(abi.KCTL_RESTART, peer)
    sender, _ = qenex.recv()
    qenex.reply(sender, b"yield")
    n, t0 = 2000, qenex.ticks()
    yields(n)
    qenex.write("bench: switch_with_syscall %d\n" % ((qenex.ticks() - t0) * PER_MS // (2 * n)))
    qenex.kctl(abi.KCTL_KILL, peer)
    switch_figures(peer)
    # IPC with raw syscalls on both sides: the mechanism without library work.
    qenex.kctl(abi.KCTL_RESTART, peer)
    sender, _ = qenex.recv()
    qenex.reply(sender, b"echo")
    echo = sender                   # this incarnation's handle (a restart makes a new one)

    def raw_ipc(n):
        sc, no = _qx.syscall, abi.SYS_CALL
        msg, reply = b"ping", bytearray(8)
        a, r = _qx.addr(msg), _qx.addr(reply)
        for _ in range(n):
            sc(no, echo, a, 4, r, 8)
    timed("ipc_round_trip_raw_both", 5000, raw_ipc)
    qenex.kctl(abi.KCTL_KILL, peer)
    # A CPU-bound task: compare with the kernel's "bench: cpu_alone" line.
    t0 = qenex.ticks()
    cpu_work(CPU_WORK)
    qenex.write("bench: cpu_task_ms %d\n" % (qenex.ticks() - t0))
    qenex.write("bench: done\n")
