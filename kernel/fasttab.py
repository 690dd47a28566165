"""The IPC fast path's tables: their layout (the definition; the C struct in
kernel/port/fasttab.h is held to it by tests/host/test_fastpath.py) and the
writer the kernel keeps them with.

The trap layer's fast path (kernel/port/ipcfast.c) decides nothing of its
own: it follows these tables, which are the scheduler's run queue and
ipc's state put in words -- the ready tasks of each priority in order,
each task's priority, slice left, IPC handle, the tasks it may call (a
bitmap of `calls`), whether it waits in recv (and where) or in a call
being served (by whom, reply buffer where), and how many callers are
queued on it, the notification bits it waits for (in wait, or in a recv
with a mask) -- plus the fresh slice, when the running task's time
started, and which task's notification bit each owned interrupt raises
(irq(), from the kernel's irq_owner). The kernel writes what changed before every resume (sync());
the fast path changes the tables only by the transitions it logs, which
the kernel replays into sched and ipc (Kernel._replay), so afterwards both
agree again (check()).

It does not decide, copy or switch anything, and does not know the trap
layer: `words` is any writable sequence of 32-bit words (a memoryview of
typecode 'I': _trap.fasttab() on the device, a cffi buffer in the
simulator). Pure Python, runs under MicroPython and CPython.
"""

from kernel.ipc import SERVED
from kernel.sched import PRIORITIES, READY
from kernel.tasks import LIVE

TASKS = 32                  # task slots (the board's MAX_TASKS)

# states (what ipc says of a task)
NONE = 0
RECV = 1                    # blocked in recv, nobody queued: BUF/CAP its buffer
CALL = 2                    # blocked in a call PEER has received: BUF/CAP its reply buffer
WAIT = 3                    # blocked in wait: NMASK its mask
IRQS = 32                   # NVIC numbers a task may own

# word offsets (kernel/port/fasttab.h, qx_fasttab_t, in order)
SLICE_TICKS = 0
START_MS = 1
READY_BITS = 2
RUNQ_LEN = 3
RUNQ = RUNQ_LEN + PRIORITIES            # RUNQ + prio * TASKS + i
SLICE = RUNQ + PRIORITIES * TASKS       # each of these: + tid
PRIO = SLICE + TASKS
HANDLE = PRIO + TASKS
CALLMASK = HANDLE + TASKS
QUEUED = CALLMASK + TASKS
STATE = QUEUED + TASKS
PEER = STATE + TASKS
BUF = PEER + TASKS
CAP = BUF + TASKS
NMASK = CAP + TASKS                     # WAIT: its mask; RECV: its recv's notification mask
IRQ_OWNER = NMASK + TASKS               # + NVIC number: its live owner (0: nobody)
IRQ_BITS = IRQ_OWNER + IRQS             # + NVIC number: the owner's notification bit, a mask
WORDS = IRQ_BITS + IRQS

FIELDS = (("slice_ticks", SLICE_TICKS, 1), ("start_ms", START_MS, 1), ("ready", READY_BITS, 1),
          ("runq_len", RUNQ_LEN, PRIORITIES), ("runq", RUNQ, PRIORITIES * TASKS), ("slice", SLICE, TASKS),
          ("prio", PRIO, TASKS), ("handle", HANDLE, TASKS), ("callmask", CALLMASK, TASKS),
          ("queued", QUEUED, TASKS), ("state", STATE, TASKS), ("peer", PEER, TASKS), ("buf", BUF, TASKS),
          ("cap", CAP, TASKS), ("nmask", NMASK, TASKS), ("irq_owner", IRQ_OWNER, IRQS),
          ("irq_bits", IRQ_BITS, IRQS))

MASK32 = 0xFFFFFFFF


class FastTable:
    """The kernel's writer of the tables in `words` (WORDS words, zero
    when handed over: no task, no queue)."""

    def __init__(self, words):
        if len(words) < WORDS:
            raise ValueError("fast path table of %d words, %d needed" % (len(words), WORDS))
        self.w = words             # all zero: the trap layer's is (.bss, or the simulator's claim())

    def sync(self, k, running, t0):
        """Write what changed in kernel k since the last sync: every task's
        priority and permissions when k.caps_dirty (a task added or
        removed), the handle and IPC state of the tasks in k.ipc.dirty (the
        kernel adds a task it starts),
        the queues in k.sched.qdirty; then the running task's slice left and
        t0, the time its run is counted from (the kernel's charge start)."""
        w = self.w
        sched = k.sched
        if running is not None and not sched.qdirty and not k.ipc.dirty and not k.caps_dirty:
            left = sched.tasks[running].slice_left      # nothing changed but the running task's time
            w[SLICE + running] = left if left > 0 else 0
            w[START_MS] = t0
            return
        if k.caps_dirty:
            k.caps_dirty = False
            w[SLICE_TICKS] = sched.slice_ticks
            ids = {}
            for tid in k.tasks:
                ids[k.tasks[tid].name] = tid
            for tid in k.tasks:
                self.perms(k, tid, ids)
                k.ipc.dirty.add(tid)
        if k.ipc.dirty:
            for tid in k.ipc.dirty:
                self.task(k, tid)
            k.ipc.dirty.clear()
        q = sched.qdirty
        if q:
            sched.qdirty = 0
            bits = w[READY_BITS]
            prio = 0
            while q:
                if q & 1:
                    tids = sched.queues[prio]
                    n = len(tids)
                    base = RUNQ + prio * TASKS
                    for i in range(n):
                        tid = tids[i]
                        w[base + i] = tid
                        w[SLICE + tid] = sched.tasks[tid].slice_left
                    w[RUNQ_LEN + prio] = n
                    if n:
                        bits |= 1 << prio
                    else:
                        bits &= ~(1 << prio)
                q >>= 1
                prio += 1
            w[READY_BITS] = bits
        if running is not None:
            left = sched.tasks[running].slice_left
            w[SLICE + running] = left if left > 0 else 0
            w[START_MS] = t0

    def perms(self, k, tid, ids):
        """Write one task's priority and call bitmap (live or not); ids:
        name -> tid."""
        w = self.w
        t = k.tasks.get(tid)
        if not (0 < tid < TASKS):
            return
        if t is None:
            w[PRIO + tid] = w[CALLMASK + tid] = 0
            return
        w[PRIO + tid] = t.manifest.priority
        mask = 0
        for name in k.caps[t.name]:
            d = ids[name]
            if d < TASKS:
                mask |= 1 << d
        w[CALLMASK + tid] = mask

    def task(self, k, tid):
        """Write one task's current handle and IPC state from k's ipc (none
        unless live)."""
        w = self.w
        if not (0 < tid < TASKS):
            return
        t = k.tasks.get(tid)
        state, peer, buf, cap, queued, nmask = NONE, 0, 0, 0, 0, 0
        if t is not None and t.status == LIVE:
            w[HANDLE + tid] = k.handle(tid)
            ipc = k.ipc
            queued = len(ipc.queues.get(tid, ()))
            r = ipc.receivers.get(tid)
            c = ipc.calls.get(tid)
            if r is not None:
                state, buf, cap = RECV, r[0], r[1]
                nmask = ipc.recv_masks.get(tid, 0)
            elif c is not None and c.state == SERVED:
                state, peer, buf, cap = CALL, c.dest, c.reply_ptr, c.reply_cap
            elif tid in ipc.waiters:
                state, nmask = WAIT, ipc.waiters[tid]
        w[QUEUED + tid] = queued
        w[NMASK + tid] = nmask
        w[STATE + tid] = state
        w[PEER + tid] = peer
        w[BUF + tid] = buf               # words: the kernel checked them (0..WORD_MAX)
        w[CAP + tid] = cap

    def irq(self, n, tid, bit):
        """NVIC number n raises notification bit `bit` of task tid from now
        on (tid 0: nobody's)."""
        if 0 <= n < IRQS:
            self.w[IRQ_OWNER + n] = tid if 0 < tid < TASKS else 0
            self.w[IRQ_BITS + n] = (1 << bit) if tid else 0

    def check(self, k):
        """Assert the tables say what k's own state says (after a replay);
        True."""
        w = self.w
        sched = k.sched
        bits = 0
        for prio in range(PRIORITIES):
            tids = sched.queues[prio]
            n = w[RUNQ_LEN + prio]
            got = [w[RUNQ + prio * TASKS + i] for i in range(n)]
            assert got == tids, "fast path run queue %d is %r, sched's %r" % (prio, got, tids)
            for tid in tids:
                assert sched.tasks[tid].state == READY
                assert w[SLICE + tid] == sched.tasks[tid].slice_left, \
                    "task %d: slice %d in the table, %d in sched" % (tid, w[SLICE + tid], sched.tasks[tid].slice_left)
            if tids:
                bits |= 1 << prio
        assert w[READY_BITS] == bits, "ready bits 0x%x, queues say 0x%x" % (w[READY_BITS], bits)
        for tid in k.tasks:
            if tid >= TASKS:
                continue
            t = k.tasks[tid]
            r = k.ipc.receivers.get(tid)
            c = k.ipc.calls.get(tid)
            live = t.status == LIVE
            if live and r is not None:
                want = (RECV, 0, r[0] & MASK32, r[1] & MASK32, k.ipc.recv_masks.get(tid, 0))
            elif live and c is not None and c.state == SERVED:
                want = (CALL, c.dest, c.reply_ptr & MASK32, c.reply_cap & MASK32, 0)
            elif live and tid in k.ipc.waiters:
                want = (WAIT, 0, 0, 0, k.ipc.waiters[tid])
            else:
                want = (NONE, 0, 0, 0, 0)
            got = (w[STATE + tid], w[PEER + tid], w[BUF + tid], w[CAP + tid], w[NMASK + tid])
            assert got == want, "task %d: fast path state %r, ipc says %r" % (tid, got, want)
            if live:
                assert w[HANDLE + tid] == k.handle(tid) & MASK32, "task %d: stale handle" % tid
                assert w[QUEUED + tid] == len(k.ipc.queues.get(tid, ())), "task %d: queued" % tid
        for n in range(IRQS):
            got = k.irq_owner.get(n)
            want = (got[0], 1 << got[1]) if got is not None and got[0] < TASKS else (0, 0)
            assert (w[IRQ_OWNER + n], w[IRQ_BITS + n]) == want, "IRQ %d routed to %r, the kernel's %r" % (
                n, (w[IRQ_OWNER + n], w[IRQ_BITS + n]), want)
        return True
