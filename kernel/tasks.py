"""The task table: one Task per manifest, who may call whom, and IPC handles.

Task status (Task.status), and the state `ps` shows:
  live        started; ps shows the scheduler's ready / running / blocked
  stopped     never started, or stopped by KCTL_KILL / kill()
  exited      ended by SYS_EXIT or by main() returning (never restarted)
  faulted     faulted, and the policy keeps it down
  restarting  faulted, waiting out its backoff before the restart

Holds Task (the kernel's record of one task), the statuses, and TaskTable,
the part of the kernel that maps ids and names to tasks: `tasks` (tid ->
Task), `order` (tids in manifest order: ids 1..N, installed tasks after),
`caps` (name -> set of the names it may call or notify), handles (a tid
and its incarnation, abi.HANDLE_*) and the checks every request that
names a task makes, in errors.PRECEDENCE order: NO_SUCH_TASK, then
NOT_PERMITTED (so a task without the capability learns nothing of the
target's state), then PEER_DIED for a handle of an earlier incarnation.
It does not start or stop tasks, run them or schedule them
(kernel/kernel.py, kernel/sched.py), check manifests (kernel/manifest.py)
or check task memory (kernel/taskmem.py).
Pure Python, runs under MicroPython and CPython.
"""

from kernel import abi, rights
from kernel.buddy import is_int
from kernel.errors import KernelError, NO_SUCH_TASK, NOT_PERMITTED, PEER_DIED, NO_MEMORY

LIVE = "live"
STOPPED = "stopped"
EXITED = "exited"
FAULTED = "faulted"
RESTARTING = "restarting"
STATUSES = (LIVE, STOPPED, EXITED, FAULTED, RESTARTING)


class Task:
    """The kernel's record of one task (read it, do not write it)."""

    def __init__(self, tid, manifest):
        self.tid = tid
        self.name = manifest.name
        self.manifest = manifest
        self.status = STOPPED
        self.gen = 0                # incarnation: +1 at every start
        self.base = None            # its memory block while live
        self.size = 0
        self.starts = 0
        self.restarts = 0           # starts after the first
        self.streak = 0             # automatic restarts in a row
        self.faults = 0
        self.last_fault = None      # reason of the last fault
        self.exit_code = None
        self.code = None            # .mpy bytes of an installed task (kernel/bundles.py)
        self.started_ms = 0
        self.cpu_ms = 0             # ms run, since boot
        self.syscalls = 0

    def __repr__(self):
        return "<Task %d %s %s>" % (self.tid, self.name, self.status)


class TaskTable:
    """TaskTable(manifests, caps): tids 1..N in manifest order; caps is
    check_system's name -> set of callees. The Kernel is one."""

    def __init__(self, manifests, caps):
        self.caps = caps            # name -> set of callees
        self.max_tid = 31           # the trap layer's last task slot (device: board.MAX_TASKS - 1)
        self.tasks = {}             # tid -> Task
        self.order = []             # tids in manifest order
        for i in range(len(manifests)):
            t = Task(i + 1, manifests[i])
            self.tasks[t.tid] = t
            self.order.append(t.tid)

    def task(self, tid):
        """The Task with this id; NO_SUCH_TASK otherwise."""
        t = self.tasks.get(tid) if is_int(tid) else None
        if t is None:
            raise KernelError(NO_SUCH_TASK, "no task %r" % (tid,))
        return t

    def lookup(self, name):
        """The tid of the task called name (any status); NO_SUCH_TASK."""
        for tid in self.order:
            if self.tasks[tid].name == name:
                return tid
        raise KernelError(NO_SUCH_TASK, "no task named %r" % (name,))

    def live(self):
        """Sorted tids of the live tasks."""
        out = [tid for tid in self.order if self.tasks[tid].status == LIVE]
        out.sort()
        return out

    def manifests(self):
        """The manifests of every task, in order."""
        return [self.tasks[tid].manifest for tid in self.order]

    def insert(self, m, code, caps):
        """Add Task(m) at the lowest free tid, with the system's new caps
        (check_system's); the tasks of rights.CALLERS (the shell) may call
        every installed task. Returns the Task; NO_MEMORY (from the errors
        table) when no slot is left."""
        tid = 1
        while tid in self.tasks:
            tid += 1
        if tid > self.max_tid:
            raise KernelError(NO_MEMORY, "no task slot left (the board holds %d tasks)" % self.max_tid)
        t = Task(tid, m)
        t.code = code
        self.tasks[tid] = t
        self.order.append(tid)
        self.caps = caps
        for other in self.order:
            if self.tasks[other].code is not None:
                for c in rights.CALLERS:
                    if c in caps:
                        caps[c].add(self.tasks[other].name)
        return t

    def drop(self, tid):
        """Take a stopped task out of the table and everyone's caps."""
        t = self.tasks.pop(tid)
        self.order.remove(tid)
        del self.caps[t.name]
        for name in self.caps:
            self.caps[name].discard(t.name)

    def callers_of(self, tid):
        """Names of the other tasks whose manifest calls tid."""
        name = self.tasks[tid].name
        return [self.tasks[o].name for o in self.order if o != tid and name in self.tasks[o].manifest.calls]

    def declared_ram(self, name=None):
        """Bytes of the pool the tasks' blocks are counted for (the system
        check counts every task, stopped ones too), but the task `name`'s."""
        used = 0
        for tid in self.order:
            if self.tasks[tid].name != name:
                used += self.tasks[tid].manifest.region_size()
        return used

    # --- the checks a request naming a task makes --------------------------

    def need(self, t, what):
        """NOT_PERMITTED unless t's manifest grants capability `what`
        ("console" or "kernel")."""
        if not getattr(t.manifest, what):
            raise KernelError(NOT_PERMITTED, "task %s has no capability %s" % (t.name, what))

    def handle(self, tid):
        """tid's IPC handle: the id and its current incarnation (abi.HANDLE_*)."""
        g = self.tasks[tid].gen
        return tid | (((g - 1 if g else 0) & abi.HANDLE_GEN_MASK) << abi.HANDLE_ID_BITS)

    def current(self, d, h):
        """PEER_DIED unless handle h names d's current incarnation."""
        if h != self.handle(d.tid):
            raise KernelError(PEER_DIED, "handle 0x%x names an earlier incarnation of task %d (%s)"
                              % (h, d.tid, d.name))

    def callee(self, t, dest, h=None):
        """The Task t may call or notify: NO_SUCH_TASK, NOT_PERMITTED
        (manifest `calls`); the caller checks liveness after (NOT_RUNNING),
        so a task that may not call d never learns d's state."""
        d = self.tasks.get(dest)
        if d is None or (h is not None and h >> abi.HANDLE_ID_BITS > abi.HANDLE_GEN_MASK):
            raise KernelError(NO_SUCH_TASK, "no task %d" % (dest if h is None else h))
        if d.name not in self.caps[t.name]:
            raise KernelError(NOT_PERMITTED, "task %s may not call %s" % (t.name, d.name))
        return d
