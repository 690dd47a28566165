"""The kernel object: the event loop, starting and ending tasks, the console.

Holds Kernel: a TaskTable (kernel/tasks.py) with the parts that act on it --
the event loop step (pick a task, trap.resume() it, handle the event it
returns), starting, stopping, restarting and ending tasks, sleeping, the
restart timers, console ownership and reads, applying IPC wake-ups, and
the invariants of the whole. It does not hold the syscall handlers
(kernel/syscalls.py), the KCTL operations (kernel/kctl.py), the rule for
task pointers (kernel/taskmem.py) or the fault line and log
(kernel/faults.py); it does not decide who runs next (kernel/sched.py),
carve memory (kernel/buddy.py), keep IPC state (kernel/ipc.py) or choose
restart delays (kernel/supervisor.py), and it never touches hardware:
everything goes through `trap`, the C trap layer on the device or
kernel/sim.py on the host (the interface is listed in Kernel's docstring).

Other console lines than faults' (kernel/faults.py): "exit: task <name>
(id <tid>): code <n>", "restart: task <name> (id <tid>): restart <n>" when
the supervisor restarts it, and "kernel: cannot restart task <name> (id
<tid>): <error>; retry in <ms> ms".

Time. A tick is one millisecond. The kernel measures each resume() with
now() and charges the milliseconds to the task (CPU share) and to the
scheduler (time slices). Before each resume it tells the trap layer
set_slice(ticks left in the task's slice) -- the trap layer counts from 0
at every resume() -- and set_deadline(earliest sleeper or restart), and
watch(IRQ_CONSOLE) while the console's owner is blocked reading it, or
while a task other than the console task owns it (the kernel then reads
the UART itself, for Ctrl-Z).

Interrupts. A manifest grants a task interrupts of the board (`irqs =
NAME:BIT`, board IRQS: name, NVIC numbers, kind): while the task is live
the kernel tells the trap layer it owns them (trap.irq_own(n, tid); 0 when
it ends: masked and forgotten). The trap layer's handler masks a raw one
and records it pending, a task UART's driver records a ring event
(kernel/abi.py IRQ_TASK, always watched); the kernel takes them
(trap.irq_take()) and raises the owner's notification bit as a notify
from nobody would. A raw IRQ stays masked until its owner acknowledges
it (SYS_IRQ, trap.irq_ack(n)); no other task can acknowledge, unmask or
see it. A wait or recv may carry a timeout (timeouts: tid -> ms); the
first of its wake-ups and the timer wins, and the other is dropped.

The console. One task owns console input (console_owner): the console
task (the task named "shell"; console_tid), or the task the operator
handed it to (KCTL_FG). Only the owner's SYS_READ gets bytes; a read from
any other task waits, never consuming one. Ctrl-Z, or the owner's end,
gives the console back to the console task. The console task is never
stopped for good: KCTL_KILL refuses it, and when it faults or exits it is
restarted at once, whatever its manifest says. In safe mode (set by
safe_mode_window() at boot) start_all() starts no installed task.

Pure Python, runs under MicroPython (no floats) and CPython.
"""

from kernel import abi, faults, supervisor, syscalls, taskmem
from kernel.buddy import Buddy, is_int
from kernel.clock import Clock
from kernel.errors import KernelError, BAD_STATE, NOT_PERMITTED, name_of
from kernel.abi import EV_SYSCALL, IRQ_CONSOLE, NARGS, SYS_SLEEP
from kernel.fasttab import FastTable, SLICE, START_MS
from kernel.faults import FaultLog
from kernel.ipc import Ipc
from kernel.manifest import ManifestError, check_system
from kernel.sched import Scheduler, BLOCKED, DEAD
from kernel.tasks import TaskTable, LIVE, STOPPED, EXITED, RESTARTING, STATUSES

CONSOLE_ESCAPE = 0x1A       # Ctrl-Z: gives the console back to the console task
CONSOLE_HELD = 256          # console bytes the kernel holds for a foreground task
SAFE_KEYS = (0x73, 0x53)    # "s", "S": safe mode (kernel.safe_mode_window)
SLEEP_NOW = (EV_SYSCALL, SYS_SLEEP, (0,) * NARGS)    # the event of sleep 0 (step() answers it itself;
                                                    # == holds for bools too: type() tells them apart)


class Kernel(TaskTable):
    """Kernel(trap, pool_base, pool_size, manifests, slice_ticks=10, now=None)

    trap        the trap layer: create(tid, base, size, stack_size, entry),
                resume(tid) -> event, set_result(tid, r0, r1), read(tid,
                addr, n) -> bytes, write(tid, addr, data), kill(tid) (the
                context ends and its whole block is zeroed: every end of a
                task and every failed start goes through it before the
                block returns to the pool, so no owner sees another's bytes),
                idle(deadline_ms or None) -> irq bits, set_slice(ticks),
                set_deadline(ms or None), watch(bits), ticks_ms(),
                console_write(bytes), console_read() ->
                int or None, task_stats(tid) -> (heap_used, heap_size,
                stack_hw, stack_size[, syscalls the trap layer answered]);
                optionally the IPC fast path: fasttab() -> its tables as
                32-bit words (kernel/fasttab.py writes them before every
                resume), fastlog() -> what it did (replayed by _replay),
                last() -> the task the last event came from
    pool_base, pool_size   the task RAM pool (power of two, aligned)
    manifests   list of manifest.Manifest, checked with check_system();
                task ids are 1..N in this order
    slice_ticks the time slice in ticks (ms)
    now         a function returning ms since boot (default trap.ticks_ms)
    console_task the name of the console task (default "shell"; with no
                such task, the first whose manifest says console = read)

    Nothing runs until start_all() (or start(tid)). Then call step() in a
    loop (or run()); `halted` becomes "reboot" or "poweroff" when the shell
    asks for it, and the caller performs the board action.
    """

    def __init__(self, trap, pool_base, pool_size, manifests, slice_ticks=10, now=None, devices=(),
                 console_task="shell", irqs=(), uarts=()):
        self.trap = trap
        self.devices = {}           # name -> (MMIO base, size) a manifest may ask for
        for name, base, size, _what in devices:
            self.devices[name] = (base, size)
        self.irqs = {}              # name -> (NVIC numbers, kind) a manifest may ask for (board IRQS)
        for name, nums, kind, _what in irqs:
            self.irqs[name] = (tuple(nums), kind)
        self.uarts = {}             # SYS_UART device number -> interrupt name (board TASK_UARTS)
        for name, dev, _base in uarts:
            self.uarts[dev] = name
        self.irq_owner = {}         # NVIC number -> (tid, bit) of its live owner
        self.timeouts = {}          # tid -> ms its wait or recv times out
        self.polls = {}             # tid -> ms until which the idle board polls for its wait (SYS_WAIT poll_ms)
        self.now = now if now is not None else trap.ticks_ms
        self.readonly = ()          # (base, size) ranges tasks may pass as message sources
        self.counter = None         # board cycle counter (device: _hal.counter), for boot figures
        self.entry_counter = None   # its value when the kernel was entered
        self.clock = Clock(self.now)  # UTC (kernel/clock.py): unset until someone with the right sets it
        TaskTable.__init__(self, manifests, self._check(manifests, pool_size))
        self.pool_size = pool_size
        self.buddy = Buddy(pool_base, pool_size)
        self.sched = Scheduler(slice_ticks)
        self.ipc = Ipc()
        self.ipc.handle_of = self.handle
        for tid in self.order:
            self.buddy.set_quota(tid, self.tasks[tid].manifest.region_size())
        self.sleepers = {}          # tid -> ms it wakes at
        self.restart_at = {}        # tid -> ms its restart is due
        self.readers = []           # tids blocked in SYS_READ, FIFO
        self.want_console = []      # those of them waiting only to own the console (mode 2)
        self.console_tid = None     # the console task: the shell (never stopped for good)
        for tid in self.order:
            if self.tasks[tid].name == console_task:
                self.console_tid = tid
        if self.console_tid is None:
            for tid in self.order:
                if self.tasks[tid].manifest.console == "read":
                    self.console_tid = tid
                    break
        self.console_owner = self.console_tid   # the one task console input goes to
        self.cin = []               # console bytes taken from the UART, held for the owner
        self.safe_mode = False      # installed tasks are not started at boot (safe_mode_window)
        self.fault_log = FaultLog()  # the last abi.FAULT_LOG faults (kernel/faults.py)
        self.halted = None          # None, "reboot" or "poweroff"
        self.boot = None            # bootctl.BootControl (device), or None
        self.boot_faults = []       # boot tasks that faulted while a trial boot awaited confirmation
        self.installer = None       # bundles.Installer (device), or None
        self.steps = 0
        self.idle_ms = 0
        self._deadline = -1         # last set_deadline value (-1: never set)
        self._watch = 0             # last watch value
        self._slice = slice_ticks   # last set_slice value
        self._fast = None           # the IPC fast path's tables (kernel/fasttab.py), if the trap layer has it
        self.caps_dirty = True      # the permissions changed: the fast path's bitmaps are rewritten
        if hasattr(trap, "fasttab"):
            self._fast = FastTable(trap.fasttab())
        trap.set_slice(slice_ticks)
        trap.watch(0)

    def _check(self, manifests, pool_size):
        """check_system, with the board's devices, at most two per task
        (the trap layer maps two device regions)."""
        for m in manifests:
            if len(m.devices) > 2:
                raise ManifestError(m.source, "devices", "a task may be granted two devices, not %d"
                                    % len(m.devices))
        return check_system(manifests, pool_size, list(self.devices) if self.devices else None,
                            list(self.irqs) if self.irqs else None)

    # --- the task table (kernel/tasks.py), with the scheduler's view ---------

    def state_of(self, tid):
        """What ps shows: ready, running, blocked, or the task's status."""
        t = self.task(tid)
        if t.status == LIVE:
            return self.sched.state(tid)
        return t.status

    # --- start, stop, restart -------------------------------------------

    def start_all(self):
        """Start every stopped task whose manifest says start = boot, largest
        memory block first (so the blocks always fit), then by tid. Returns
        the tids started. One task that cannot start (its fault is recorded
        and printed) does not keep the others from starting."""
        todo = [t for t in self.tasks.values() if t.status == STOPPED and t.manifest.start == "boot"
                and not (self.safe_mode and t.code is not None)]
        todo.sort(key=lambda t: (-t.manifest.region_size(), t.tid))
        out = []
        for t in todo:
            try:
                self.start(t.tid)
                out.append(t.tid)
            except KernelError as e:
                self.trap.console_write(("kernel: task %s not started: %s\n" % (t.name, e)).encode())
        return out

    def start(self, tid):
        """Start a task that is not live (an operator start: a new restart
        streak; a pending automatic restart is cancelled). BAD_STATE when it
        is live or fails to start; NO_MEMORY / QUOTA from the pool."""
        t = self.task(tid)
        if t.status == LIVE:
            raise KernelError(BAD_STATE, "task %d (%s) is already running" % (tid, t.name))
        self.restart_at.pop(tid, None)
        t.streak = 0
        if not self._start(t):
            raise KernelError(BAD_STATE, "task %d (%s) failed to start: %s" % (tid, t.name, t.last_fault))

    def add_task(self, m, code=None):
        """Add a task to the running system (an installed bundle): the
        system with it must pass check_system; it gets the lowest free tid.
        Not started here. Returns the tid; ManifestError / NO_MEMORY else.
        The tasks of rights.CALLERS (the shell) may call it."""
        caps = self._check(self.manifests() + [m], self.pool_size)
        t = self.insert(m, code, caps)
        self.caps_dirty = True
        self.buddy.set_quota(t.tid, m.region_size())
        return t.tid

    def remove_task(self, tid):
        """Stop a task, whatever its state, and take it out of the system
        (an uninstalled bundle). BAD_STATE if another manifest calls it."""
        t = self.task(tid)
        callers = self.callers_of(tid)
        if callers:
            raise KernelError(BAD_STATE, "task %s calls %s" % (callers[0], t.name))
        if t.status == LIVE or t.status == RESTARTING:
            self.kill(tid)
        self.drop(tid)
        self.caps_dirty = True
        self.ipc.dirty.add(tid)
        self.buddy.set_quota(tid, None)

    def bundle_ram(self, name=None):
        """Bytes of the task pool no task's block is counted against (the
        system check counts every task, stopped ones too), the task called
        `name` counted as free: what an installed task may still take."""
        return self.pool_size - self.declared_ram(name)

    def kill(self, tid):
        """Stop a live or restarting task for good (no restart). The
        console task is refused (BAD_STATE): the board keeps a console."""
        t = self.task(tid)
        if tid == self.console_tid:
            raise KernelError(BAD_STATE, "task %d (%s) is the console task: it is never stopped "
                              "(restart it instead)" % (tid, t.name))
        if t.status == LIVE:
            self.end(t)
        elif t.status == RESTARTING:
            del self.restart_at[tid]
        else:
            raise KernelError(BAD_STATE, "task %d (%s) is %s" % (tid, t.name, t.status))
        t.status = STOPPED

    def restart(self, tid):
        """Stop the task if it is live, then start it (a new streak)."""
        t = self.task(tid)
        if t.status == LIVE:
            self.end(t)
            t.status = STOPPED
        self.start(tid)

    def _start(self, t):
        """Allocate, create, schedule. False (fault recorded) when the trap
        layer cannot create the task."""
        m = t.manifest
        base, size = self.buddy.alloc(m.region_size(), t.tid)
        t.started_ms = self.now()
        created = False
        try:
            if t.code is None and not m.arena and not m.gc_threshold:
                self.trap.create(t.tid, base, size, m.stack, m.entry)
            else:
                self.trap.create(t.tid, base, size, m.stack, m.entry, t.code, m.arena, m.gc_threshold)
            created = True
            for name in m.devices:
                self.trap.grant(t.tid, self.devices[name][0], self.devices[name][1])
            self._own_irqs(t, t.tid)
        except (MemoryError, ValueError, OSError) as e:
            self._own_irqs(t, 0)
            if created:             # kill() zeroes what create() wrote (a failed create wrote nothing)
                self.trap.kill(t.tid)
            self.buddy.free(base, t.tid)
            self.fault(t, "start failed: %s: %s" % (type(e).__name__, e), 0, 0)
            return False
        t.status = LIVE
        t.gen += 1
        self.ipc.dirty.add(t.tid)           # its new handle, for the fast path's table
        t.base = base
        t.size = size
        if t.starts:
            t.restarts += 1
        t.starts += 1
        t.exit_code = None
        self.sched.add(t.tid, m.priority)
        return True

    def end(self, t):
        """Take a live task down: context, memory, timers, queues; its
        callers get PEER_DIED. The caller sets the new status."""
        assert t.status == LIVE, "ending %r" % (t,)
        tid = t.tid
        self.trap.kill(tid)
        self._own_irqs(t, 0)
        self.buddy.free_owner(tid)
        self.sleepers.pop(tid, None)
        self.timeouts.pop(tid, None)
        self.polls.pop(tid, None)
        if tid in self.readers:
            self.readers.remove(tid)
        if tid in self.want_console:
            self.want_console.remove(tid)
        self.sched.kill(tid)
        t.status = DEAD             # transient, replaced by the caller
        t.base = None
        t.size = 0
        self.apply(self.ipc.task_died(tid))
        if self.installer is not None:
            self.installer.task_ended(tid)      # an install it was making is dropped
        if tid == self.console_owner and tid != self.console_tid:
            self._console_back("%s ended" % t.name)

    def _own_irqs(self, t, owner):
        """Tell the trap layer who owns t's interrupts: t (owner = its tid,
        at its start) or nobody (0, at its end: masked, anything pending
        forgotten)."""
        for name, bit in t.manifest.irqs:
            got = self.irqs.get(name)
            if got is None:
                continue
            for n in got[0]:
                if owner:
                    self.irq_owner[n] = (owner, bit)
                else:
                    self.irq_owner.pop(n, None)
                if self._fast is not None:
                    self._fast.irq(n, owner, bit)    # the fast path's route, before the IRQ is unmasked
                self.trap.irq_own(n, owner)

    def _irq_name(self, n):
        for name in self.irqs:
            if n in self.irqs[name][0]:
                return name
        return None

    def irq_bits(self, t):
        """name -> notification bit of t's interrupt grants."""
        out = {}
        for name, bit in t.manifest.irqs:
            out[name] = bit
        return out

    def _task_irqs(self):
        """Turn what the trap layer recorded (task-owned IRQs that fired,
        task UART ring events) into the owners' notification bits."""
        pend = self.trap.irq_take()
        n = 0
        while pend:
            if pend & 1:
                got = self.irq_owner.get(n)
                if got is not None and self.tasks[got[0]].status == LIVE:
                    self.apply(self.ipc.notify(None, got[0], 1 << got[1]))
            pend >>= 1
            n += 1

    def exit(self, t, code):
        self.end(t)
        t.exit_code = code
        if t.tid == self.console_tid:       # the console comes back at once
            t.status = RESTARTING
            self.restart_at[t.tid] = self.now()
            self.line("exit: task %s (id %d): code %d; restart now (the console task)" % (t.name, t.tid, code))
            return
        t.status = EXITED
        self.line("exit: task %s (id %d): code %d" % (t.name, t.tid, code))

    def fault(self, t, reason, pc, addr):
        """t faulted (live, or failing to start): kernel/faults.py."""
        faults.fault(self, t, reason, pc, addr)

    def _auto_restart(self, t, now):
        """A restart timer fired."""
        try:
            ok = self._start(t)
        except KernelError as e:            # NO_MEMORY / QUOTA: try again later
            d = supervisor.delay_ms(t.manifest.backoff_ms, t.streak)
            if d < 1:
                d = 1
            t.status = RESTARTING
            self.restart_at[t.tid] = now + d
            self.line("kernel: cannot restart task %s (id %d): %s; retry in %d ms"
                       % (t.name, t.tid, name_of(e.code), d))
            return
        if ok:
            self.line("restart: task %s (id %d): restart %d" % (t.name, t.tid, t.restarts))

    # --- the event loop -------------------------------------------------

    def run(self, max_steps=None):
        """step() until halted (returns "reboot" / "poweroff") or, when
        max_steps is given, that many steps (returns None)."""
        step = self.step
        if max_steps is None:
            while self.halted is None:      # the board's loop: one test a turn
                step()
            return self.halted
        n = 0
        while self.halted is None and n < max_steps:
            step()
            n += 1
        return self.halted

    def step(self):
        """One turn of the loop: wake due timers, pick a task and resume it
        until its next event, and handle that event; with nobody to run,
        trap.idle() until the next deadline or watched interrupt. Returns
        the tid resumed, or None (idle, or halted).

        Every syscall through the Python kernel makes this trip, so its
        common path calls nothing it can do inline (a MicroPython call costs
        about 1,000 instructions): the timers only when something is timed,
        the fast path's tables only when something besides the running
        task's time changed, and sleep 0 answered here."""
        if self.halted is not None:
            return None
        self.steps += 1
        trap = self.trap
        sched = self.sched
        boot = self.boot
        now = self.now()
        timed = self.sleepers or self.restart_at or self.timeouts or (boot is not None and boot.confirm_at is not None)
        if timed:
            self._expire(now)               # (nothing timed, the common case: no call)
        tid = sched.running                 # pick()'s common case, inline: the running
        if tid is not None:                 # task has slice left and nobody of a higher
            st = sched.tasks[tid]           # priority is ready, so it goes on
            if st.slice_left > 0:
                queues = sched.queues
                for prio in range(st.prio):
                    if queues[prio]:
                        tid = None
                        break
            else:
                tid = None
        if tid is None:
            tid = sched.pick()
        # Tell the trap layer the deadline, watched IRQs and slice, and write
        # the fast path's tables (tid runs from now on). With nothing timed
        # _expire() did not run, and pick() sets no timer: still nothing.
        d = self._earliest() if timed else None
        if d != self._deadline:
            trap.set_deadline(d)
            self._deadline = d
        owner = self.console_owner
        w = IRQ_CONSOLE if (owner is not None and owner != self.console_tid) or owner in self.readers else 0
        if w != self._watch:                # (owner != console_tid: _fg(), inline)
            trap.watch(w)
            self._watch = w
        fast = self._fast
        if tid is None:
            if fast is not None:
                fast.sync(self, None, now)
            event = trap.idle(self._earliest(), self._poll_until(now)) if self.polls else \
                trap.idle(self._earliest())
            if type(event) is int:          # irq bits (0: the deadline)
                if fast is not None:
                    log = trap.fastlog()    # interrupts it raised bits for (nobody woken)
                    if log:
                        now = self._replay(log, None, now)
                self._charge(None, self.now() - now)
                if event:
                    self._irq(event)
                return None
            # else the fast path woke an interrupt's owner and ran it from
            # idle (FAST_IRQ, FAST_RUN): that task's event, as from resume()
        else:
            left = sched.tasks[tid].slice_left  # tid came from pick(): a task of sched's
            if fast is not None:
                if sched.qdirty or self.ipc.dirty or self.caps_dirty:
                    fast.sync(self, tid, now)
                else:                           # only the running task's time changed:
                    fast.w[SLICE + tid] = left if left > 0 else 0       # FastTable.sync's
                    fast.w[START_MS] = now                              # first case, inline
            if left < 1:
                left = sched.slice_ticks
            if left != self._slice:
                trap.set_slice(left)
                self._slice = left
            event = trap.resume(tid)
        if fast is not None:
            log = trap.fastlog()
            if log:
                now = self._replay(log, tid, now)
                tid = trap.last()           # the task the event came from
        ms = self.now() - now
        if ms > 0:
            self._charge(tid, ms)
        if event == SLEEP_NOW and type(event[1]) is int and type(event[2][0]) is int:
            self.tasks[tid].syscalls += 1   # sleep 0, the yield through the kernel: sys_sleep's
            trap.set_result(tid, 0, 0)      # first case, answered here (no dispatch, no handler)
        elif type(event) is tuple and len(event) == 3 and event[0] == EV_SYSCALL:     # the common event
            syscalls.dispatch(self, self.tasks[tid], event[1], event[2])
        else:
            self._handle(self.tasks[tid], event)
        return tid

    def _replay(self, log, tid, t0):
        """Bring ipc and sched up to what the trap layer's IPC fast path did
        (kernel/port/ipcfast.c), in order: (kind, a, b, c, d, e, ms) with
        kind FAST_CALL (caller, dest, len, reply_ptr, reply_cap), FAST_REPLY
        (replier, caller, len), FAST_RECV (receiver, buf, cap, next),
        FAST_ROUNDS (client, server, n, buf, cap), FAST_YIELDS (first
        yielder, the other, n), FAST_IRQ (owner, bit, the result it was
        woken with or 0, NVIC number) or FAST_RUN (task, the task it
        preempted or 0 from idle).
        Charges the time to the task that ran; returns when the last ran."""
        for kind, a, b, c, d, e, ms in log:
            if kind == abi.FAST_CALL:
                self._charge(a, ms - t0)
                t0 = ms
                self.ipc.fast_call(a, b, d, e)
                if self.timeouts:
                    self.timeouts.pop(b, None)      # its recv ended with the call
                self.tasks[a].syscalls += 1
                self.sched.block(a, "call %d" % b)
                self.sched.wake(b)
                self.sched.run(b)
            elif kind == abi.FAST_REPLY:
                self.ipc.fast_reply(a, b)
                self.tasks[a].syscalls += 1
                self.sched.wake(b)
            elif kind == abi.FAST_YIELDS:           # a == b: alone, it went on
                self.tasks[a].syscalls += (c + 1) // 2
                self.tasks[b].syscalls += c // 2
                self._charge(a, ms - t0)             # b's share too: the log keeps no split
                t0 = ms
                if a == b:
                    self.sched.renew(a)              # it went on (alone at its priority)
                else:
                    self.sched.yield_(a)
                    self.sched.run(b)
                    if c % 2 == 0 and a != b:        # an even count leaves a running
                        self.sched.yield_(b)
                        self.sched.run(a)
            elif kind == abi.FAST_ROUNDS:
                self.ipc.fast_rounds(a, b, c, d, e)
                self.tasks[a].syscalls += c
                self.tasks[b].syscalls += 2 * c
                self._charge(a, ms - t0)             # the server's time too
                t0 = ms
                self.sched.renew(a)                  # woken by the last reply: a fresh slice
            elif kind == abi.FAST_RECV:
                self._charge(a, ms - t0)
                t0 = ms
                self.ipc.fast_recv(a, b, c)
                self.tasks[a].syscalls += 1
                self.sched.block(a, "recv")
                self.sched.run(d)
            elif kind == abi.FAST_IRQ:              # as _task_irqs: a notify from nobody
                wakes = self.ipc.notify(None, a, b)
                if c:                                # the C woke it (its result set: c)
                    assert len(wakes) == 1 and wakes[0][0] == a and wakes[0][1] == c, (a, b, c, wakes)
                    if self.timeouts:
                        self.timeouts.pop(a, None)
                    self.sched.wake(a)
                else:
                    assert not wakes, (a, b, wakes)
            elif kind == abi.FAST_RUN:              # a woken owner runs: it preempted b (0: idle)
                self._charge(b if b else None, ms - t0)
                t0 = ms
                if b:
                    self.sched.preempt(b)
                self.sched.run(a)
            else:
                raise AssertionError("fast path log entry %r" % ((kind, a, b, c, d, e, ms),))
        return t0

    def _poll_until(self, now):
        """The ms until which the idle board polls rather than sleeps: the
        latest of the waits that asked for it (SYS_WAIT poll_ms), or None.
        An entry lasts until its waiter wakes or its time passes."""
        until = None
        for tid in list(self.polls):
            u = self.polls[tid]
            if u <= now:
                del self.polls[tid]
            elif until is None or u > until:
                until = u
        return until

    def _charge(self, tid, ms):
        if ms <= 0:
            return
        if tid is None:
            self.idle_ms += ms
        else:
            self.tasks[tid].cpu_ms += ms
        self.sched.charge(tid, ms)

    def _earliest(self):
        best = None
        if self.sleepers:
            best = min(self.sleepers.values())
        if self.restart_at:
            r = min(self.restart_at.values())
            if best is None or r < best:
                best = r
        if self.timeouts:
            r = min(self.timeouts.values())
            if best is None or r < best:
                best = r
        if self.boot is not None and self.boot.confirm_at is not None:
            if best is None or self.boot.confirm_at < best:
                best = self.boot.confirm_at
        return best

    def _expire(self, now):
        """Wake sleepers and restart tasks whose time has come, in order of
        time (then sleepers before restarts, then tid); see whether a trial
        boot can be confirmed (bootctl). step() calls it only when
        something is timed."""
        if self.boot is not None and self.boot.confirm_at is not None:
            line = self.boot.check(now, self.boot_faults)
            if line:
                self.trap.console_write(line.encode())
        due = []
        for tid in self.sleepers:
            if self.sleepers[tid] <= now:
                due.append((self.sleepers[tid], 0, tid))
        for tid in self.restart_at:
            if self.restart_at[tid] <= now:
                due.append((self.restart_at[tid], 1, tid))
        for tid in self.timeouts:
            if self.timeouts[tid] <= now:
                due.append((self.timeouts[tid], 2, tid))
        if not due:
            return
        due.sort()
        for at, kind, tid in due:
            if kind == 0:
                del self.sleepers[tid]
                self.trap.set_result(tid, 0, 0)
                self.sched.wake(tid)
            elif kind == 2:
                del self.timeouts[tid]
                if self.ipc.cancel(tid):            # still waiting: r0 = r1 = 0, the timeout
                    self.trap.set_result(tid, 0, 0)
                    self.sched.wake(tid)
            else:
                del self.restart_at[tid]
                self._auto_restart(self.tasks[tid], now)

    def _handle(self, t, event):
        """Every event but a well-formed syscall, which step() dispatches
        itself (a malformed one is a bad event here)."""
        kind = event[0] if type(event) is tuple and event else None
        n = len(event) if kind is not None else 0
        if kind == abi.EV_TICK and n == 1:
            pass                            # charged; timers and pick follow
        elif kind == abi.EV_IRQ and n == 2:
            self._irq(event[1])
        elif kind == abi.EV_FAULT and n == 4:
            self.fault(t, event[1], event[2], event[3])
        elif kind == abi.EV_EXIT and n == 2:
            code = event[1]
            self.exit(t, code if is_int(code) else -1)
        else:
            self.fault(t, "bad event %s" % (repr(event)[:40],), 0, 0)

    def _irq(self, bits):
        if is_int(bits) and bits & abi.IRQ_TASK:
            self._task_irqs()
        if is_int(bits) and bits & abi.IRQ_CONSOLE:
            self._console_feed()

    # --- the console: one owner ---------------------------------------------
    # Console input goes to one task, the console's owner: the console task
    # (the shell) unless the operator handed the console to another task
    # (KCTL_FG, `fg NAME`). A SYS_READ from any other task waits (or, polling,
    # finds nothing) and never takes a byte. While another task owns it the
    # kernel reads the UART itself, holding up to CONSOLE_HELD bytes for it,
    # so that CONSOLE_ESCAPE (Ctrl-Z), which no task ever sees, gives the
    # console back however the owner behaves; so does its end (exit, fault,
    # kill, restart).

    def _fg(self):
        """A task other than the console task owns the console."""
        return self.console_owner is not None and self.console_owner != self.console_tid

    def _console_pull(self):
        """Move waiting UART bytes into self.cin for a foreground owner,
        acting on CONSOLE_ESCAPE (what follows it stays in the UART)."""
        while self._fg():
            b = self.trap.console_read()
            if b is None:
                return
            if b == CONSOLE_ESCAPE:
                self._console_back("Ctrl-Z; %s keeps running" % self.tasks[self.console_owner].name)
                return
            if len(self.cin) < CONSOLE_HELD:
                self.cin.append(b)

    def console_take(self, tid):
        """The next console byte for tid if it owns the console, else None."""
        if self._fg():
            self._console_pull()
        if tid != self.console_owner:
            return None
        if self.cin:
            return self.cin.pop(0)
        if self._fg():
            return None                     # pulled already: nothing waits
        return self.trap.console_read()

    def _console_feed(self):
        """Give the owner, if it waits in SYS_READ, what it waits for."""
        if self._fg():
            self._console_pull()
        tid = self.console_owner
        if tid is None or tid not in self.readers:
            return
        if tid in self.want_console:
            self.want_console.remove(tid)
            r0, r1 = 0, 0
        else:
            b = self.console_take(tid)
            if b is None:
                return
            r0, r1 = b, 1
        self.readers.remove(tid)
        self.trap.set_result(tid, r0, r1)
        self.sched.wake(tid)

    def _console_back(self, why):
        """The console returns to the console task (bytes held for the
        previous owner are dropped)."""
        self.console_owner = self.console_tid
        self.cin = []
        name = self.tasks[self.console_tid].name if self.console_tid is not None else "nobody"
        self.line("kernel: console back to %s (%s)" % (name, why))
        self._console_feed()

    def give_console(self, tid):
        """Make tid the console's owner (KCTL_FG): it must be live and hold
        console = read. NOT_PERMITTED / BAD_STATE otherwise (in that order)."""
        t = self.task(tid)
        if t.manifest.console != "read":
            raise KernelError(NOT_PERMITTED, "task %s does not read the console (console = %s)"
                              % (t.name, t.manifest.console or "false"))
        if t.status != LIVE:
            raise KernelError(BAD_STATE, "task %d (%s) is %s" % (tid, t.name, t.status))
        if tid == self.console_owner:
            raise KernelError(BAD_STATE, "task %s owns the console already" % t.name)
        self.console_owner = tid
        self.line("kernel: console to %s (id %d); Ctrl-Z gives it back" % (t.name, tid))
        self._console_feed()

    def safe_mode_window(self, ms):
        """At boot, before the tasks start: a key already waiting in the
        UART (one held at reset) or typed within `ms` ms decides. "s" or
        "S": safe mode (self.safe_mode; start_all() then starts no installed
        task); any other key ends the wait and is kept for the console
        task. Returns safe_mode. With ms = 0 only a waiting key counts."""
        deadline = self.now() + ms
        self.trap.watch(abi.IRQ_CONSOLE)
        try:
            while True:
                b = self.trap.console_read()
                if b is not None:
                    break
                if self.now() >= deadline:
                    return self.safe_mode
                self.trap.idle(deadline)
        finally:
            self.trap.watch(self._watch)
        if b in SAFE_KEYS:
            self.safe_mode = True
        else:
            self.cin.append(b)
        return self.safe_mode

    # --- what syscalls and IPC wake-ups do to tasks -----------------------

    def apply(self, wakes):
        """Carry out ipc's wake-ups: copy, set the result, make ready (a
        timeout the woken task had is dropped)."""
        timeouts = self.timeouts
        polls = self.polls
        for tid, r0, r1, ptr, data in wakes:
            if timeouts:
                timeouts.pop(tid, None)
            if polls:
                polls.pop(tid, None)
            w = self.tasks[tid]
            if data is not None and not self.copy_out(w, ptr, data):
                continue
            self.trap.set_result(tid, r0, r1)
            self.sched.wake(tid)

    def copy_out(self, t, ptr, data):
        """trap.write into a buffer checked earlier. Should the trap layer
        refuse it anyway, the task is faulted (so no caller waits forever
        on a message it never saw); returns False then."""
        if taskmem.write(self.trap, t, ptr, data):
            return True
        self.fault(t, "bad buffer 0x%x+%d" % (ptr, len(data)), 0, ptr)
        return False

    def read(self, t, ptr, n):
        """n bytes of t's memory at ptr (kernel/taskmem.py: checked as a
        source, BAD_ARGUMENT if not t's)."""
        return taskmem.read(self.trap, t, ptr, n, self.readonly)

    # --- invariants -----------------------------------------------------

    def check(self):
        """Assert every invariant of the kernel and its parts; True."""
        self.sched.check()
        self.buddy.check()
        self.ipc.check()
        assert len(self.readers) == len(set(self.readers)), "reader twice: %r" % (self.readers,)
        for n in self.irq_owner:
            tid, bit = self.irq_owner[n]
            t = self.tasks.get(tid)
            assert t is not None and t.status == LIVE and (self.irq_bits(t).get(self._irq_name(n)) == bit), \
                "IRQ %d owned by %r at bit %d" % (n, t, bit)
        for tid in self.want_console:
            assert tid in self.readers, "task %d waits for the console but is no reader" % tid
        assert self.console_owner is None or self.console_owner in self.tasks
        assert self.console_tid is None or self.tasks[self.console_tid].status != STOPPED or \
            self.tasks[self.console_tid].starts == 0, "the console task is stopped"
        for tid in self.order:
            t = self.tasks[tid]
            assert t.status in STATUSES, "%r in unknown status" % (t,)
            st = self.sched.tasks.get(tid)
            blocked = self.ipc.blocked_in(tid)
            if t.status != LIVE:
                assert st is None or st.state == DEAD, "%r is %s in sched" % (t, st.state)
                assert self.buddy.used_by(tid) == 0, "%r still owns memory" % (t,)
                assert blocked is None and tid not in self.ipc.queues and tid not in self.ipc.bits, \
                    "%r still in IPC" % (t,)
                assert tid not in self.sleepers and tid not in self.readers
                assert (t.status == RESTARTING) == (tid in self.restart_at), \
                    "%r and restart timer %r" % (t, self.restart_at.get(tid))
                continue
            assert st is not None and st.state != DEAD, "live %r dead in sched" % (t,)
            got = self.buddy.allocated.get(t.base)
            assert got is not None and (1 << got[0]) == t.size and got[1] == tid, \
                "%r's block 0x%x+%d is %r" % (t, t.base, t.size, got)
            assert self.buddy.used_by(tid) == t.size, "%r owns other blocks" % (t,)
            assert tid not in self.restart_at
            assert tid not in self.timeouts or blocked in ("recv", "wait"), \
                "%r has a timeout but waits in %r" % (t, blocked)
            waits = []
            if blocked is not None:
                waits.append(blocked)
            if tid in self.sleepers:
                waits.append("sleep")
            if tid in self.readers:
                waits.append("read")
            if st.state == BLOCKED:
                assert len(waits) == 1, "blocked %r waits for %r" % (t, waits)
                kind = st.reason.split(" ")[0]
                assert kind == waits[0], "%r blocked for %r but waits in %r" % (t, st.reason, waits)
                if kind == "call":
                    dest = self.ipc.calling(tid)
                    assert st.reason == "call %d" % dest
                    assert self.tasks[dest].status == LIVE, \
                        "%r waits on dead task %d" % (t, dest)
            else:
                assert not waits, "%s %r waits in %r" % (st.state, t, waits)
        return True

    # --- output ---------------------------------------------------------

    def line(self, text):
        self.trap.console_write((text + "\n").encode())

