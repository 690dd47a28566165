"""bench: measures the kernel's mechanisms from inside a task, for `make bench`.

Under QEMU -icount shift=0 one guest instruction takes one virtual ns, so a
millisecond of qenex.ticks() is 1,000,000 instructions: each figure is the
total time of N repetitions over N, printed as guest instructions per
operation ("bench: NAME VALUE"). Started by hand: `start bench`."""
import _qx
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
