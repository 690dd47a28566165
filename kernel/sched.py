"""The scheduler's policy: who runs next.

Holds one record per task (priority, state, remaining time slice, counters)
and one FIFO ready queue per priority. Priorities are 0..7, 0 the highest. The
highest-priority ready task runs; tasks of equal priority take turns, each for
a time slice of `slice_ticks` timer ticks. pick() is where the rules below
are written: the kernel calls it whenever something may have changed (a tick
whose slice expired, a wake, a block, a yield) and resumes the task it names,
or sleeps in WFI when it names nobody. The trap layer's IPC fast path
(kernel/port/ipcfast.c) applies the same rules to the same queues, which
the kernel hands it as a table (kernel/fasttab.py; `qdirty` marks the
queues that changed), and only where they give one answer without a clock
or a timer it does not have; it logs what it did and the kernel replays
that here (run(), yield_(), wake(), block()).

It does not switch contexts, keep the clock or know what a blocked task
waits for: the trap layer switches, the kernel feeds tick() and passes
block() a reason string only for display.

States, each task in exactly one:
  ready     in its priority's queue, waiting for the CPU
  running   the one task on the CPU (at most one); in no queue
  blocked   waiting for something (`reason`, e.g. "recv", "call 3", "sleep")
  dead      ended; kept (with its counters) until remove() or add() again

Rules pick() applies to the running task, in this order:
  a ready task of higher priority exists  -> it is preempted: back to the
  and its slice is not spent                 FRONT of its queue, slice kept
  its slice is spent and a ready task of  -> back of its queue, fresh slice
  the same or a higher priority exists
  otherwise                               -> it keeps the CPU (a spent slice
                                             with no rival is renewed by tick)

Per-task counters: `slices` (time slices that expired), `switches`
(times switched in), `ticks` (ticks charged while running: the CPU share
for `ps`); tick(None) counts idle ticks. charge(tid, n) is n tick()s at
once: the kernel measures how many milliseconds a resume() ran and charges
them together.

Failures raise errors.KernelError: BAD_ARGUMENT (priority not 0..7, tid not
an int, slice_ticks < 1), NO_SUCH_TASK (unknown tid), BAD_STATE (the task's
state does not allow the operation). check() asserts the invariants. Pure
Python, runs under MicroPython and CPython.
"""

from kernel.errors import KernelError, BAD_ARGUMENT, NO_SUCH_TASK, BAD_STATE

PRIORITIES = 8      # 0 (highest) .. 7 (lowest)

READY = "ready"
RUNNING = "running"
BLOCKED = "blocked"
DEAD = "dead"
STATES = (READY, RUNNING, BLOCKED, DEAD)


class Task:
    """The scheduler's record of one task (read it, do not write it)."""

    def __init__(self, tid, prio, slice_ticks):
        self.tid = tid
        self.prio = prio
        self.state = READY
        self.reason = None          # why it is blocked (BLOCKED only)
        self.slice_left = slice_ticks
        self.slices = 0             # time slices expired
        self.switches = 0           # times switched in
        self.ticks = 0              # ticks run


class Scheduler:
    def __init__(self, slice_ticks):
        if not _is_int(slice_ticks) or slice_ticks < 1:
            raise KernelError(BAD_ARGUMENT, "slice_ticks %r is not an int >= 1" % (slice_ticks,))
        self.slice_ticks = slice_ticks
        self.tasks = {}                 # tid -> Task
        self.queues = []                # prio -> list of ready tids, head first
        for _ in range(PRIORITIES):
            self.queues.append([])
        self.running = None             # tid of the running task, or None
        self.idle_ticks = 0
        self.qdirty = 0                 # bit p: queues[p] changed (kernel/fasttab.py writes it out)

    # --- queries --------------------------------------------------------

    def task(self, tid):
        t = self.tasks.get(tid) if type(tid) is int else None     # _is_int, inline: on every trip
        if t is None:
            raise KernelError(NO_SUCH_TASK, "no task %r" % (tid,))
        return t

    def state(self, tid):
        return self.task(tid).state

    def info(self, tid):
        """dict(tid, prio, state, reason, slices, switches, ticks) for ps."""
        t = self.task(tid)
        return {"tid": t.tid, "prio": t.prio, "state": t.state, "reason": t.reason,
                "slices": t.slices, "switches": t.switches, "ticks": t.ticks}

    def tids(self):
        out = list(self.tasks)
        out.sort()
        return out

    def best_ready(self):
        """Priority of the highest non-empty ready queue, or None."""
        for prio in range(PRIORITIES):
            if self.queues[prio]:
                return prio
        return None

    def preempt_due(self, running_tid):
        """True when a ready task outranks running_tid (None: idle, so any
        ready task is due)."""
        best = self.best_ready()
        if best is None:
            return False
        if running_tid is None:
            return True
        return best < self.task(running_tid).prio

    # --- changes of state -----------------------------------------------

    def add(self, tid, prio):
        """A new (or restarted dead) task, ready at the back of its queue
        with a fresh slice and zeroed counters."""
        if not _is_int(tid):
            raise KernelError(BAD_ARGUMENT, "tid %r is not an int" % (tid,))
        if not _is_int(prio) or not (0 <= prio < PRIORITIES):
            raise KernelError(BAD_ARGUMENT, "priority %r is not 0..%d" % (prio, PRIORITIES - 1))
        old = self.tasks.get(tid)
        if old is not None and old.state != DEAD:
            raise KernelError(BAD_STATE, "task %d is already %s" % (tid, old.state))
        self.tasks[tid] = Task(tid, prio, self.slice_ticks)
        self.queues[prio].append(tid)
        self.qdirty |= 1 << prio

    def remove(self, tid):
        """Forget the task entirely, whatever its state."""
        self._leave(self.task(tid))
        del self.tasks[tid]

    def kill(self, tid):
        """The task ended: dead, out of every queue, counters kept for ps."""
        t = self.task(tid)
        if t.state == DEAD:
            raise KernelError(BAD_STATE, "task %d is already dead" % tid)
        self._leave(t)
        t.state = DEAD
        t.reason = None

    def block(self, tid, reason):
        """The running (or a ready) task waits for `reason` (a short string)."""
        t = self.task(tid)
        if not isinstance(reason, str) or not reason:
            raise KernelError(BAD_ARGUMENT, "block reason %r is not a non-empty string" % (reason,))
        if t.state != RUNNING and t.state != READY:
            raise KernelError(BAD_STATE, "task %d is %s, cannot block" % (tid, t.state))
        self._leave(t)
        t.state = BLOCKED
        t.reason = reason

    def wake(self, tid):
        """A blocked task becomes ready at the back of its queue with a fresh
        slice; returns True. Waking a ready or running task changes nothing
        and returns False (a notification may race a wake). Dead: BAD_STATE."""
        t = self.task(tid)
        if t.state == DEAD:
            raise KernelError(BAD_STATE, "task %d is dead, cannot wake" % tid)
        if t.state != BLOCKED:
            return False
        t.state = READY
        t.reason = None
        t.slice_left = self.slice_ticks
        self.queues[t.prio].append(tid)
        self.qdirty |= 1 << t.prio
        return True

    def run(self, tid):
        """tid, ready, becomes the running task now (the trap layer switched
        to it directly: kernel.Kernel._replay). Nobody may be running."""
        t = self.task(tid)
        if self.running is not None or t.state != READY:
            raise KernelError(BAD_STATE, "task %d is %s, cannot run it (running: %r)"
                              % (tid, t.state, self.running))
        self.queues[t.prio].remove(tid)
        self.qdirty |= 1 << t.prio
        t.state = RUNNING
        t.switches += 1
        self.running = tid

    def preempt(self, tid):
        """The running task is preempted mid-slice, as pick() does it: back
        to the FRONT of its queue, slice kept (the kernel's replay of the
        trap layer's switch to a woken interrupt owner that outranks it)."""
        t = self.task(tid)
        if t.state != RUNNING or t.slice_left <= 0:
            raise KernelError(BAD_STATE, "task %d is %s (slice %d), cannot preempt it"
                              % (tid, t.state, t.slice_left))
        t.state = READY
        self.queues[t.prio].insert(0, tid)
        self.running = None
        self.qdirty |= 1 << t.prio

    def renew(self, tid):
        """The running task starts a fresh slice where it is: what yield_()
        and run() of it in a row leave, in one step (the kernel's replay of
        a yield that came back to it, or of a round trip it was woken by)."""
        t = self.task(tid)
        if t.state != RUNNING:
            raise KernelError(BAD_STATE, "task %d is %s, cannot renew its slice here" % (tid, t.state))
        t.slice_left = self.slice_ticks
        t.switches += 1

    def yield_(self, tid):
        """The task gives up the rest of its slice: back of its queue."""
        t = self.task(tid)
        if t.state == RUNNING:
            self.running = None
        elif t.state == READY:
            self.queues[t.prio].remove(tid)
        else:
            raise KernelError(BAD_STATE, "task %d is %s, cannot yield" % (tid, t.state))
        t.state = READY
        t.slice_left = self.slice_ticks
        self.queues[t.prio].append(tid)
        self.qdirty |= 1 << t.prio

    def _leave(self, t):
        """Take t off the CPU or out of its queue (state set by the caller)."""
        if t.state == RUNNING:
            assert self.running == t.tid
            self.running = None
        elif t.state == READY:
            self.queues[t.prio].remove(t.tid)
            self.qdirty |= 1 << t.prio

    # --- the decision ---------------------------------------------------

    def tick(self, running_tid):
        """Charge one timer tick to the running task (None: to idle).
        True when its slice is spent and a ready task of the same priority
        waits, i.e. pick() would switch. Preemption by a higher priority is
        preempt_due()'s answer, not this one's."""
        if running_tid is None:
            assert self.running is None, "tick(None) while task %r runs" % (self.running,)
            self.idle_ticks += 1
            return False
        t = self.task(running_tid)
        if t.state != RUNNING:
            raise KernelError(BAD_STATE, "task %d is %s, not running" % (running_tid, t.state))
        t.ticks += 1
        t.slice_left -= 1
        if t.slice_left == 0:
            t.slices += 1
        if t.slice_left > 0:
            return False
        if self.queues[t.prio]:
            return True
        t.slice_left = self.slice_ticks     # alone at its priority: renew
        return False

    def charge(self, running_tid, n):
        """Charge n >= 0 ticks at once: the same state and counters as n
        calls of tick(running_tid), in constant time (the kernel measures
        the milliseconds a resume() took). Returns what the last tick()
        would have returned (False for n == 0)."""
        if type(n) is not int or n < 0:
            raise KernelError(BAD_ARGUMENT, "ticks %r is not an int >= 0" % (n,))
        if running_tid is None:
            assert self.running is None, "charge(None) while task %r runs" % (self.running,)
            self.idle_ticks += n
            return False
        t = self.task(running_tid)
        if t.state != RUNNING:
            raise KernelError(BAD_STATE, "task %d is %s, not running" % (running_tid, t.state))
        if n == 0:
            return False
        t.ticks += n
        if t.slice_left > 0:
            if n < t.slice_left:
                t.slice_left -= n
                return False
            n -= t.slice_left           # this slice runs out
            t.slices += 1
            if self.queues[t.prio]:     # a peer waits: it stays spent
                t.slice_left = -n
                return True
            # alone: renewed on that same tick
        else:                           # spent before this charge
            if self.queues[t.prio]:
                t.slice_left -= n
                return True
            n -= 1                      # the first tick renews it
        t.slices += n // self.slice_ticks
        t.slice_left = self.slice_ticks - n % self.slice_ticks
        return False

    def pick(self):
        """The tid to run now, or None: idle (the kernel sleeps in WFI)."""
        if self.running is not None:
            t = self.tasks[self.running]
            if t.slice_left > 0:            # the common case, on every trip: only a higher
                queues = self.queues        # priority takes the CPU, so look at those alone
                for prio in range(t.prio):
                    if queues[prio]:
                        break
                else:
                    return t.tid
        best = self.best_ready()
        if self.running is not None:
            t = self.tasks[self.running]
            if best is None or best > t.prio:
                return t.tid                            # nobody rivals it
            if best < t.prio and t.slice_left > 0:      # preempted mid-slice
                t.state = READY
                self.queues[t.prio].insert(0, t.tid)
                self.running = None
                self.qdirty |= 1 << t.prio
            elif t.slice_left <= 0:                     # slice spent (and a peer
                                                        # waits, or it is preempted)
                t.state = READY
                t.slice_left = self.slice_ticks
                self.queues[t.prio].append(t.tid)
                self.running = None
                self.qdirty |= 1 << t.prio
            else:
                return t.tid                            # slice left: keeps the CPU
        if best is None:
            return None
        tid = self.queues[best].pop(0)
        self.qdirty |= 1 << best
        t = self.tasks[tid]
        assert t.state == READY
        t.state = RUNNING
        t.switches += 1
        self.running = tid
        return tid

    # --- invariants -----------------------------------------------------

    def check(self):
        """Assert every invariant; returns True."""
        queued = {}
        for prio in range(PRIORITIES):
            for tid in self.queues[prio]:
                assert tid not in queued, "task %r queued twice" % (tid,)
                queued[tid] = prio
        nrunning = 0
        for tid in self.tasks:
            t = self.tasks[tid]
            assert t.tid == tid
            assert t.state in STATES, "task %d in unknown state %r" % (tid, t.state)
            assert 0 <= t.prio < PRIORITIES
            if t.state == READY:
                assert queued.get(tid) == t.prio, "ready task %d not in queue %d" % (tid, t.prio)
            else:
                assert tid not in queued, "%s task %d is in a ready queue" % (t.state, tid)
            if t.state == RUNNING:
                nrunning += 1
                assert self.running == tid, "task %d runs but running is %r" % (tid, self.running)
            if t.state == BLOCKED:
                assert t.reason, "blocked task %d has no reason" % tid
            else:
                assert t.reason is None, "%s task %d has reason %r" % (t.state, tid, t.reason)
            assert t.slice_left <= self.slice_ticks
            assert t.slices >= 0 and t.switches >= 0 and t.ticks >= 0
        for tid in queued:
            assert tid in self.tasks, "unknown task %r queued" % (tid,)
        if self.running is None:
            assert nrunning == 0
        else:
            assert nrunning == 1 and self.running in self.tasks
        return True


def _is_int(x):
    return type(x) is int          # a bool is not type int (MicroPython and CPython)
