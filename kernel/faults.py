"""Faults: what happens when a task faults, the fault line and the fault log.

Each fault prints exactly one console line:
    fault: task <name> (id <tid>): <reason>[ pc=0x%08x][ addr=0x%08x]; <action>
pc= and addr= appear only when the trap layer reported them non-zero;
<reason> is the trap's reason ("MemManage", "stack overflow", "exception:
ValueError: boom", ...) or the kernel's ("bad syscall 99"), newlines made
spaces and cut at REASON_MAX characters; <action> is the supervisor's
decision: "restart in 100 ms", "restart 2/3 in 200 ms", "stopped (restart =
never)" or "stopped (restart limit 3 reached)". Then the task's memory is
freed, its callers get PEER_DIED, it leaves every queue (Kernel.end) and the
entry goes into the fault log (the last abi.FAULT_LOG faults, for `faults`).
The console task is restarted at once whatever its manifest says, and
while a trial boot awaits confirmation a boot task's fault is noted for
bootctl (it keeps the boot from being confirmed).

Holds Fault (the exception a syscall handler raises to fault its caller),
FaultLog (the records and the KCTL_FAULTS reply) and fault(), the one way a
task is faulted. It does not choose restart delays (kernel/supervisor.py),
take a task's memory and queues down (Kernel.end in kernel/kernel.py) or
run the restart when its timer fires (the loop, kernel/kernel.py).
Pure Python, runs under MicroPython and CPython.
"""

from kernel import abi, supervisor
from kernel.buddy import is_int
from kernel.tasks import LIVE, FAULTED, RESTARTING

REASON_MAX = 120            # characters of a fault reason kept


class Fault(Exception):
    """Raised by a syscall handler for an unrecoverable request: the caller
    is faulted with this reason instead of getting an error code."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def one_line(s):
    """s with newlines made spaces, cut at REASON_MAX characters."""
    s = s.replace("\r", " ").replace("\n", " ")
    if len(s) > REASON_MAX:
        s = s[:REASON_MAX - 3] + "..."
    return s


class FaultLog:
    """The last abi.FAULT_LOG fault records, and how many since boot."""

    def __init__(self):
        self.records = []           # oldest first
        self.total = 0              # faults since boot

    def add(self, now, t, reason, pc, addr, action):
        self.total += 1
        self.records.append({"seq": self.total, "t": now, "id": t.tid, "name": t.name,
                             "reason": reason, "pc": pc, "addr": addr, "action": action})
        if len(self.records) > abi.FAULT_LOG:
            self.records.pop(0)

    def reply(self):
        """KCTL_FAULTS: {"total": faults since boot, "faults": [{"seq", "t"
        (ms), "id", "name", "reason", "pc", "addr", "action"}, ...]} oldest
        first, at most abi.FAULT_LOG."""
        out = []
        for f in self.records:
            out.append(dict(f))
        return {"total": self.total, "faults": out}


def line(t, reason, pc, addr, action):
    """The fault's console line (without the newline)."""
    text = "fault: task %s (id %d): %s" % (t.name, t.tid, reason)
    if pc:
        text += " pc=0x%08x" % pc
    if addr:
        text += " addr=0x%08x" % addr
    return text + "; " + action


def fault(k, t, reason, pc, addr):
    """Task t of kernel k faulted (live, or failing to start): take it down,
    apply the restart policy, print the fault line, log it."""
    if not isinstance(reason, str):
        reason = repr(reason)
    reason = one_line(reason)
    pc = pc & abi.WORD_MAX if is_int(pc) else 0
    addr = addr & abi.WORD_MAX if is_int(addr) else 0
    now = k.now()
    ran = now - t.started_ms
    was_live = t.status == LIVE
    if was_live:
        k.end(t)
    t.faults += 1
    if t.manifest.start == "boot" and k.boot is not None and k.boot.confirm_at is not None:
        k.boot_faults.append(t.name)    # a trial boot is not confirmed after this (bootctl)
    t.last_fault = reason
    delay, t.streak, action = supervisor.decide(t.manifest, t.streak, ran)
    if t.tid == k.console_tid:          # whatever its policy: the board keeps a console
        if was_live:
            delay, action = 0, "restart now (the console task)"
        elif delay is None:             # it failed to start: try again, without flooding
            delay, action = 1000, "restart in 1000 ms (the console task)"
    if delay is None:
        t.status = FAULTED
    else:
        t.status = RESTARTING
        k.restart_at[t.tid] = now + delay
    k.line(line(t, reason, pc, addr, action))
    k.fault_log.add(now, t, reason, pc, addr, action)
