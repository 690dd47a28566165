"""The kernel: task table, event loop, syscall dispatch, faults.

Holds the task table (one Task per manifest, tids 1..N in manifest order),
the event loop step (pick a task, trap.resume() it, handle the event it
returns), every syscall handler, sleeping, console reads, the fault log and
the KCTL queries and controls the shell uses. It does not decide who runs
next (kernel/sched.py), carve memory (kernel/buddy.py), keep IPC state
(kernel/ipc.py) or choose restart delays (kernel/supervisor.py), and it
never touches hardware: everything goes through `trap`, the C trap layer
on the device or kernel/sim.py on the host (the interface is listed in
Kernel's docstring).

Syscalls: every handler has the same shape, a function of (kernel, caller
Task, args) called by one dispatcher. It returns (r0, r1) for the caller
now, or None when the caller is blocked (someone's later wake sets its
result) or gone (it exited, or a KCTL stopped or restarted it). Errors come
in two kinds, as in Hubris:
  recoverable     the handler raises errors.KernelError; the caller gets
                  r0 = -code. Every argument is checked before anything
                  changes, in errors.PRECEDENCE order (BAD_ARGUMENT first:
                  word shape, then each (ptr, len) inside the caller's block;
                  then NO_SUCH_TASK, NOT_PERMITTED -- before any state, so a
                  task without the capability learns nothing of the target's
                  state -- PEER_DIED for a handle of an earlier incarnation
                  (abi.HANDLE_*), BAD_STATE, MSG_TOO_LARGE, NOT_RUNNING (the
                  callee is not running: nothing delivered), then resources).
  unrecoverable   a syscall number that does not exist, or an argument
                  tuple that is not NARGS words: the caller is faulted
                  ("bad syscall N") and the supervisor decides.
A pointer check is arithmetic on the block the kernel gave the task; a
ValueError from trap.read/trap.write (the trap layer's own check) is also
turned into BAD_ARGUMENT.

Faults. Each fault prints exactly one console line:
    fault: task <name> (id <tid>): <reason>[ pc=0x%08x][ addr=0x%08x]; <action>
pc= and addr= appear only when the trap layer reported them non-zero;
<reason> is the trap's reason ("MemManage", "stack overflow", "exception:
ValueError: boom", ...) or the kernel's ("bad syscall 99"), newlines made
spaces and cut at REASON_MAX characters; <action> is the supervisor's
decision: "restart in 100 ms", "restart 2/3 in 200 ms", "stopped (restart =
never)" or "stopped (restart limit 3 reached)". Then the task's memory is
freed, its callers get PEER_DIED, it leaves every queue and the entry goes
into the fault log (the last abi.FAULT_LOG faults, for `faults`). Other
lines: "exit: task <name> (id <tid>): code <n>", "restart: task <name> (id
<tid>): restart <n>" when the supervisor restarts it, and "kernel: cannot
restart task <name> (id <tid>): <error>; retry in <ms> ms".

Task status (Task.status), and the state `ps` shows:
  live        started; ps shows the scheduler's ready / running / blocked
  stopped     never started, or stopped by KCTL_KILL / kill()
  exited      ended by SYS_EXIT or by main() returning (never restarted)
  faulted     faulted, and the policy keeps it down
  restarting  faulted, waiting out its backoff before the restart

Time. A tick is one millisecond. The kernel measures each resume() with
now() and charges the milliseconds to the task (CPU share) and to the
scheduler (time slices). Before each resume it tells the trap layer
set_slice(ticks left in the task's slice) -- the trap layer counts from 0
at every resume() -- and set_deadline(earliest sleeper or restart), and
watch(IRQ_CONSOLE) while the console's owner is blocked reading it, or
while a task other than the console task owns it (the kernel then reads
the UART itself, for Ctrl-Z).

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

import gc
import json

from kernel import abi, bundles, rights, supervisor
from kernel.buddy import Buddy, is_int
from kernel.errors import (KernelError, BAD_ARGUMENT, NO_SUCH_TASK, BAD_STATE,
                           NOT_PERMITTED, MSG_TOO_LARGE, NO_MEMORY, NOT_RUNNING, PEER_DIED, name_of)
from kernel.ipc import Ipc
from kernel.manifest import ManifestError, check_system
from kernel.sched import Scheduler, BLOCKED, DEAD

LIVE = "live"
STOPPED = "stopped"
EXITED = "exited"
FAULTED = "faulted"
RESTARTING = "restarting"
STATUSES = (LIVE, STOPPED, EXITED, FAULTED, RESTARTING)

REASON_MAX = 120            # characters of a fault reason kept
CONSOLE_ESCAPE = 0x1A       # Ctrl-Z: gives the console back to the console task
CONSOLE_HELD = 256          # console bytes the kernel holds for a foreground task
SAFE_KEYS = (0x73, 0x53)    # "s", "S": safe mode (kernel.safe_mode_window)


class Fault(Exception):
    """Raised by a syscall handler for an unrecoverable request: the caller
    is faulted with this reason instead of getting an error code."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


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


class Kernel:
    """Kernel(trap, pool_base, pool_size, manifests, slice_ticks=10, now=None)

    trap        the trap layer: create(tid, base, size, stack_size, entry),
                resume(tid) -> event, set_result(tid, r0, r1), read(tid,
                addr, n) -> bytes, write(tid, addr, data), kill(tid) (the
                context ends and its whole block is zeroed: every end of a
                task and every failed start goes through it before the
                block returns to the pool, so no owner sees another's bytes),
                idle(deadline_ms or None) -> irq bits, set_slice(ticks),
                set_deadline(ms or None), watch(bits), set_alone(flag)
                (no other task is ready: the trap layer may answer a yield
                itself), ticks_ms(), console_write(bytes), console_read() ->
                int or None, task_stats(tid) -> (heap_used, heap_size,
                stack_hw, stack_size[, syscalls the trap layer answered])
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
                 console_task="shell"):
        self.trap = trap
        self.devices = {}           # name -> (MMIO base, size) a manifest may ask for
        for name, base, size, _what in devices:
            self.devices[name] = (base, size)
        self.now = now if now is not None else trap.ticks_ms
        self.readonly = ()          # (base, size) ranges tasks may pass as message sources
        self.counter = None         # board cycle counter (device: _hal.counter), for boot figures
        self.entry_counter = None   # its value when the kernel was entered
        self.caps = self._check(manifests, pool_size)      # name -> set of callees
        self.pool_size = pool_size
        self.max_tid = 31           # the trap layer's last task slot (device: board.MAX_TASKS - 1)
        self.buddy = Buddy(pool_base, pool_size)
        self.sched = Scheduler(slice_ticks)
        self.ipc = Ipc()
        self.ipc.handle_of = self.handle
        self.tasks = {}             # tid -> Task
        self.order = []             # tids in manifest order
        for i in range(len(manifests)):
            m = manifests[i]
            t = Task(i + 1, m)
            self.tasks[t.tid] = t
            self.order.append(t.tid)
            self.buddy.set_quota(t.tid, m.region_size())
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
        self.fault_log = []         # last abi.FAULT_LOG fault records
        self.nfaults = 0
        self.halted = None          # None, "reboot" or "poweroff"
        self.boot = None            # bootctl.BootControl (device), or None
        self.boot_faults = []       # boot tasks that faulted while a trial boot awaited confirmation
        self.installer = None       # bundles.Installer (device), or None
        self.steps = 0
        self.idle_ms = 0
        self._deadline = -1         # last set_deadline value (-1: never set)
        self._watch = 0             # last watch value
        self._slice = slice_ticks   # last set_slice value
        self._alone = None          # last set_alone value (None: never set)
        self._fast = hasattr(trap, "fastlog")   # the trap layer has the IPC fast path
        self._other_best = -1       # last set_other_best value
        trap.set_slice(slice_ticks)
        trap.watch(0)

    def _check(self, manifests, pool_size):
        """check_system, with the board's devices, at most two per task
        (the trap layer maps two device regions)."""
        for m in manifests:
            if len(m.devices) > 2:
                raise ManifestError(m.source, "devices", "a task may be granted two devices, not %d"
                                    % len(m.devices))
        return check_system(manifests, pool_size, list(self.devices) if self.devices else None)

    # --- the task table -------------------------------------------------

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

    def state_of(self, tid):
        """What ps shows: ready, running, blocked, or the task's status."""
        t = self.task(tid)
        if t.status == LIVE:
            return self.sched.state(tid)
        return t.status

    def live(self):
        """Sorted tids of the live tasks."""
        out = [tid for tid in self.order if self.tasks[tid].status == LIVE]
        out.sort()
        return out

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
        manifests = [self.tasks[tid].manifest for tid in self.order] + [m]
        caps = self._check(manifests, self.pool_size)
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
        self.buddy.set_quota(tid, m.region_size())
        return tid

    def remove_task(self, tid):
        """Stop a task, whatever its state, and take it out of the system
        (an uninstalled bundle). BAD_STATE if another manifest calls it."""
        t = self.task(tid)
        for other in self.order:
            if other != tid and t.name in self.tasks[other].manifest.calls:
                raise KernelError(BAD_STATE, "task %s calls %s" % (self.tasks[other].name, t.name))
        if t.status == LIVE or t.status == RESTARTING:
            self.kill(tid)
        del self.tasks[tid]
        self.order.remove(tid)
        del self.caps[t.name]
        for name in self.caps:
            self.caps[name].discard(t.name)
        self.buddy.set_quota(tid, None)

    def bundle_ram(self, name=None):
        """Bytes of the task pool no task's block is counted against (the
        system check counts every task, stopped ones too), the task called
        `name` counted as free: what an installed task may still take."""
        used = 0
        for tid in self.order:
            if self.tasks[tid].name != name:
                used += self.tasks[tid].manifest.region_size()
        return self.pool_size - used

    def kill(self, tid):
        """Stop a live or restarting task for good (no restart). The
        console task is refused (BAD_STATE): the board keeps a console."""
        t = self.task(tid)
        if tid == self.console_tid:
            raise KernelError(BAD_STATE, "task %d (%s) is the console task: it is never stopped "
                              "(restart it instead)" % (tid, t.name))
        if t.status == LIVE:
            self._end(t)
        elif t.status == RESTARTING:
            del self.restart_at[tid]
        else:
            raise KernelError(BAD_STATE, "task %d (%s) is %s" % (tid, t.name, t.status))
        t.status = STOPPED

    def restart(self, tid):
        """Stop the task if it is live, then start it (a new streak)."""
        t = self.task(tid)
        if t.status == LIVE:
            self._end(t)
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
            if self._fast:
                mask = 0
                for name in self.caps[t.name]:
                    mask |= 1 << self.lookup(name)
                self.trap.ipc_task(t.tid, m.priority, mask)
                self.ipc.dirty.add(t.tid)
        except (MemoryError, ValueError, OSError) as e:
            if created:             # kill() zeroes what create() wrote (a failed create wrote nothing)
                self.trap.kill(t.tid)
            self.buddy.free(base, t.tid)
            self._fault(t, "start failed: %s: %s" % (type(e).__name__, e), 0, 0)
            return False
        t.status = LIVE
        t.gen += 1
        t.base = base
        t.size = size
        if t.starts:
            t.restarts += 1
        t.starts += 1
        t.exit_code = None
        self.sched.add(t.tid, m.priority)
        return True

    def _end(self, t):
        """Take a live task down: context, memory, timers, queues; its
        callers get PEER_DIED. The caller sets the new status."""
        assert t.status == LIVE, "ending %r" % (t,)
        tid = t.tid
        self.trap.kill(tid)
        self.buddy.free_owner(tid)
        self.sleepers.pop(tid, None)
        if tid in self.readers:
            self.readers.remove(tid)
        if tid in self.want_console:
            self.want_console.remove(tid)
        self.sched.kill(tid)
        t.status = DEAD             # transient, replaced by the caller
        t.base = None
        t.size = 0
        self._apply(self.ipc.task_died(tid))
        if tid == self.console_owner and tid != self.console_tid:
            self._console_back("%s ended" % t.name)

    def _exit(self, t, code):
        self._end(t)
        t.exit_code = code
        if t.tid == self.console_tid:       # the console comes back at once
            t.status = RESTARTING
            self.restart_at[t.tid] = self.now()
            self._line("exit: task %s (id %d): code %d; restart now (the console task)" % (t.name, t.tid, code))
            return
        t.status = EXITED
        self._line("exit: task %s (id %d): code %d" % (t.name, t.tid, code))

    def _fault(self, t, reason, pc, addr):
        """t faulted (live, or failing to start): record, take it down,
        apply the restart policy, print the fault line."""
        if not isinstance(reason, str):
            reason = repr(reason)
        reason = _one_line(reason)
        pc = pc & abi.WORD_MAX if is_int(pc) else 0
        addr = addr & abi.WORD_MAX if is_int(addr) else 0
        now = self.now()
        ran = now - t.started_ms
        was_live = t.status == LIVE
        if was_live:
            self._end(t)
        t.faults += 1
        if t.manifest.start == "boot" and self.boot is not None and self.boot.confirm_at is not None:
            self.boot_faults.append(t.name)    # a trial boot is not confirmed after this (bootctl)
        t.last_fault = reason
        self.nfaults += 1
        delay, t.streak, action = supervisor.decide(t.manifest, t.streak, ran)
        if t.tid == self.console_tid:       # whatever its policy: the board keeps a console
            if was_live:
                delay, action = 0, "restart now (the console task)"
            elif delay is None:             # it failed to start: try again, without flooding
                delay, action = 1000, "restart in 1000 ms (the console task)"
        if delay is None:
            t.status = FAULTED
        else:
            t.status = RESTARTING
            self.restart_at[t.tid] = now + delay
        line = "fault: task %s (id %d): %s" % (t.name, t.tid, reason)
        if pc:
            line += " pc=0x%08x" % pc
        if addr:
            line += " addr=0x%08x" % addr
        self._line(line + "; " + action)
        self.fault_log.append({"seq": self.nfaults, "t": now, "id": t.tid, "name": t.name,
                               "reason": reason, "pc": pc, "addr": addr, "action": action})
        if len(self.fault_log) > abi.FAULT_LOG:
            self.fault_log.pop(0)

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
            self._line("kernel: cannot restart task %s (id %d): %s; retry in %d ms"
                       % (t.name, t.tid, name_of(e.code), d))
            return
        if ok:
            self._line("restart: task %s (id %d): restart %d" % (t.name, t.tid, t.restarts))

    # --- the event loop -------------------------------------------------

    def run(self, max_steps=None):
        """step() until halted (returns "reboot" / "poweroff") or, when
        max_steps is given, that many steps (returns None)."""
        n = 0
        while self.halted is None and (max_steps is None or n < max_steps):
            self.step()
            n += 1
        return self.halted

    def step(self):
        """One turn of the loop: wake due timers, pick a task and resume it
        until its next event, and handle that event; with nobody to run,
        trap.idle() until the next deadline or watched interrupt. Returns
        the tid resumed, or None (idle, or halted)."""
        if self.halted is not None:
            return None
        self.steps += 1
        now = self.now()
        self._expire(now)
        tid = self.sched.pick()
        self._sync(tid)
        if tid is None:
            bits = self.trap.idle(self._earliest())
            self._charge(None, self.now() - now)
            if bits:
                self._irq(bits)
            return None
        event = self.trap.resume(tid)
        if self._fast:
            log = self.trap.fastlog()
            if log:
                now = self._replay(log, tid, now)
                tid = self.trap.last()      # the task the event came from
        self._charge(tid, self.now() - now)
        self._handle(self.tasks[tid], event)
        return tid

    def _replay(self, log, tid, t0):
        """Bring ipc and sched up to what the trap layer's IPC fast path did
        (kernel/port/ipcfast.c), in order: (kind, a, b, c, d, e, ms) with
        kind FAST_CALL (caller, dest, len, reply_ptr, reply_cap), FAST_REPLY
        (replier, caller, len), FAST_RECV (receiver, buf, cap, next),
        FAST_ROUNDS (client, server, n, buf, cap) or FAST_YIELDS (first
        yielder, the other, n).
        Charges the time to the task that ran; returns when the last ran."""
        for kind, a, b, c, d, e, ms in log:
            if kind == abi.FAST_CALL:
                self._charge(a, ms - t0)
                t0 = ms
                self.ipc.fast_call(a, b, d, e)
                self.tasks[a].syscalls += 1
                self.sched.block(a, "call %d" % b)
                self.sched.wake(b)
                self.sched.run(b)
            elif kind == abi.FAST_REPLY:
                self.ipc.fast_reply(a, b)
                self.tasks[a].syscalls += 1
                self.sched.wake(b)
            elif kind == abi.FAST_YIELDS:
                self.tasks[a].syscalls += (c + 1) // 2
                self.tasks[b].syscalls += c // 2
                if c % 2:                            # an odd count leaves the other running
                    self._charge(a, ms - t0)
                    t0 = ms
                    self.sched.yield_(a)
                    self.sched.run(b)
            elif kind == abi.FAST_ROUNDS:
                self.ipc.fast_rounds(a, b, c, d, e)
                self.tasks[a].syscalls += c
                self.tasks[b].syscalls += 2 * c      # its time is charged to the client
            elif kind == abi.FAST_RECV:
                self._charge(a, ms - t0)
                t0 = ms
                self.ipc.fast_recv(a, b, c)
                self.tasks[a].syscalls += 1
                self.sched.block(a, "recv")
                self.sched.run(d)
            else:
                raise AssertionError("fast path log entry %r" % ((kind, a, b, c, d, e, ms),))
        return t0

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
        for d in (self.sleepers, self.restart_at):
            for tid in d:
                if best is None or d[tid] < best:
                    best = d[tid]
        if self.boot is not None and self.boot.confirm_at is not None:
            if best is None or self.boot.confirm_at < best:
                best = self.boot.confirm_at
        return best

    def _expire(self, now):
        """Wake sleepers and restart tasks whose time has come, in order of
        time (then sleepers before restarts, then tid); see whether a trial
        boot can be confirmed (bootctl)."""
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
        if not due:
            return
        due.sort()
        for at, kind, tid in due:
            if kind == 0:
                del self.sleepers[tid]
                self.trap.set_result(tid, 0, 0)
                self.sched.wake(tid)
            else:
                del self.restart_at[tid]
                self._auto_restart(self.tasks[tid], now)

    def _sync(self, tid):
        """Tell the trap layer the deadline, watched IRQs and slice."""
        d = self._earliest()
        if d != self._deadline:
            self.trap.set_deadline(d)
            self._deadline = d
        w = abi.IRQ_CONSOLE if self._fg() or self.console_owner in self.readers else 0
        if w != self._watch:
            self.trap.watch(w)
            self._watch = w
        best = self.sched._best_ready()     # ready tasks besides the running one
        if self._fast:
            self._sync_ipc(best)
        if tid is not None:
            # With nobody else ready the trap layer answers a yield itself.
            alone = best is None
            if alone != self._alone:
                self.trap.set_alone(alone)
                self._alone = alone
            left = self.sched.task(tid).slice_left
            if left < 1:
                left = self.sched.slice_ticks
            if left != self._slice:
                self.trap.set_slice(left)
                self._slice = left

    def _sync_ipc(self, best):
        """Keep the trap layer's copy of the IPC state (what its fast path
        may do without asking) equal to ipc's: every task whose state
        changed, and `best`, the best priority ready besides the running
        task."""
        for tid in self.ipc.dirty:
            t = self.tasks.get(tid)
            if t is not None and t.status == LIVE:
                self.trap.ipc_state(tid, *(self.ipc.mirror(tid) + (self.handle(tid),)))
            else:
                self.trap.ipc_state(tid, 0, 0, -1, 0, 0, 0, self.handle(tid) if t is not None else tid)
        self.ipc.dirty.clear()
        peer = self.sched.sole_peer()
        if (best, peer) != self._other_best:
            self.trap.set_other_best(best, peer)
            self._other_best = (best, peer)

    def _handle(self, t, event):
        kind = event[0] if isinstance(event, tuple) and event else None
        n = len(event) if kind is not None else 0
        if kind == abi.EV_SYSCALL and n == 3:
            self._syscall(t, event[1], event[2])
        elif kind == abi.EV_TICK and n == 1:
            pass                            # charged; timers and pick follow
        elif kind == abi.EV_IRQ and n == 2:
            self._irq(event[1])
        elif kind == abi.EV_FAULT and n == 4:
            self._fault(t, event[1], event[2], event[3])
        elif kind == abi.EV_EXIT and n == 2:
            code = event[1]
            self._exit(t, code if is_int(code) else -1)
        else:
            self._fault(t, "bad event %s" % (repr(event)[:40],), 0, 0)

    def _irq(self, bits):
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

    def _console_take(self, tid):
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
            b = self._console_take(tid)
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
        self._line("kernel: console back to %s (%s)" % (name, why))
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
        self._line("kernel: console to %s (id %d); Ctrl-Z gives it back" % (t.name, tid))
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

    # --- syscalls -------------------------------------------------------

    def _syscall(self, t, no, args):
        t.syscalls += 1
        if not is_int(no) or not (0 <= no < abi.NSYSCALLS):
            self._fault(t, "bad syscall %s" % (repr(no)[:20],), 0, 0)
            return
        if not isinstance(args, tuple) or len(args) != abi.NARGS:
            self._fault(t, "bad syscall %d arguments" % no, 0, 0)
            return
        gen = t.gen
        try:
            res = SYSCALLS[no](self, t, args)
        except KernelError as e:
            res = (-e.code, 0)
        except Fault as f:
            if t.status == LIVE and t.gen == gen:
                self._fault(t, f.reason, 0, 0)
            return
        if res is None or t.status != LIVE or t.gen != gen:
            return                          # blocked, or gone
        self.trap.set_result(t.tid, res[0], res[1])

    def _apply(self, wakes):
        """Carry out ipc's wake-ups: copy, set the result, make ready."""
        for tid, r0, r1, ptr, data in wakes:
            w = self.tasks[tid]
            if data is not None and not self._copy_out(w, ptr, data):
                continue
            self.trap.set_result(tid, r0, r1)
            self.sched.wake(tid)

    def _copy_out(self, t, ptr, data):
        """trap.write into a buffer checked earlier. Should the trap layer
        refuse it anyway, the task is faulted (so no caller waits forever
        on a message it never saw); returns False then."""
        try:
            self.trap.write(t.tid, ptr, data)
            return True
        except ValueError:
            self._fault(t, "bad buffer 0x%x+%d" % (ptr, len(data)), 0, ptr)
            return False

    def check_range(self, t, ptr, n, what, source=False):
        """BAD_ARGUMENT unless [ptr, ptr + n) lies in t's block (n == 0:
        any ptr). source=True: the kernel only reads it, so a range in one
        of self.readonly (the firmware in flash, where a task's constants
        live, which every task may read anyway) is fine too."""
        if source:
            for lo, size in self.readonly:
                if lo <= ptr and ptr + n <= lo + size:
                    return
        if n and not (t.base <= ptr and ptr + n <= t.base + t.size):
            raise KernelError(BAD_ARGUMENT, "%s 0x%x+%d is outside task %d's memory 0x%x+%d"
                              % (what, ptr, n, t.tid, t.base, t.size))

    def read(self, t, ptr, n):
        """n bytes of t's memory at ptr (checked): BAD_ARGUMENT if not."""
        self.check_range(t, ptr, n, "buffer", source=True)
        if n == 0:
            return b""
        try:
            return bytes(self.trap.read(t.tid, ptr, n))
        except ValueError:
            raise KernelError(BAD_ARGUMENT, "buffer 0x%x+%d refused by the trap layer" % (ptr, n))

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
        """The live Task t may call or notify: NO_SUCH_TASK, NOT_PERMITTED
        (manifest `calls`); the caller checks liveness after (NOT_RUNNING),
        so a task that may not call d never learns d's state."""
        d = self.tasks.get(dest)
        if d is None or (h is not None and h >> abi.HANDLE_ID_BITS > abi.HANDLE_GEN_MASK):
            raise KernelError(NO_SUCH_TASK, "no task %d" % (dest if h is None else h))
        if d.name not in self.caps[t.name]:
            raise KernelError(NOT_PERMITTED, "task %s may not call %s" % (t.name, d.name))
        return d

    # --- KCTL replies (dicts, sent as JSON) -----------------------------

    def ps(self):
        """KCTL_PS: {"uptime_ms", "idle_ms", "tasks": [row, ...]}, a row per
        task in tid order: {"id", "name", "state", "prio", "wait" (what a
        blocked task waits for: "recv", "call 3", "sleep", "wait", "read";
        else null), "heap": [used, size] or null, "stack": [high_water,
        size] or null (null unless live), "restarts", "faults", "cpu_ms"
        (ms run since boot), "syscalls", "exit" (code of an exited task, else
        null)}; "console" (tid of the console's owner), "console_task" (tid
        of the console task), "safe_mode". CPU share = cpu_ms of a task /
        (uptime_ms); `top` takes the difference of two replies."""
        rows = []
        for tid in self.order:
            t = self.tasks[tid]
            heap = stack = wait = None
            fast = 0
            state = t.status
            if t.status == LIVE:
                info = self.sched.info(tid)
                state = info["state"]
                wait = info["reason"]
                try:
                    st = self.trap.task_stats(tid)
                    heap = [st[0], st[1]]
                    stack = [st[2], st[3]]
                    fast = st[4] if len(st) > 4 else 0      # answered by the trap layer
                except (ValueError, KeyError):
                    pass
            rows.append({"id": tid, "name": t.name, "state": state, "prio": t.manifest.priority,
                         "wait": wait, "heap": heap, "stack": stack, "restarts": t.restarts,
                         "faults": t.faults, "cpu_ms": t.cpu_ms, "syscalls": t.syscalls + fast,
                         "exit": t.exit_code})
        return {"uptime_ms": self.now(), "idle_ms": self.idle_ms, "tasks": rows,
                "console": self.console_owner, "console_task": self.console_tid, "safe_mode": self.safe_mode,
                "counter": self.counter() if self.counter else None, "entry_counter": self.entry_counter}

    def mem(self):
        """KCTL_MEM: {"base", "total", "free", "largest", "blocks": [[addr,
        size, owner tid or null, owner name or null], ...] by address}."""
        s = self.buddy.stats()
        blocks = []
        for addr, size, owner in s["blocks"]:
            if owner is None:
                blocks.append([addr, size, None, None])
            elif owner in self.tasks:
                blocks.append([addr, size, owner, self.tasks[owner].name])
            else:                           # not a task's (e.g. a driver buffer)
                blocks.append([addr, size, None, str(owner)])
        try:
            kheap = [gc.mem_alloc(), gc.mem_free()]     # MicroPython only
        except AttributeError:
            kheap = None
        return {"base": self.buddy.base, "total": s["total"], "free": s["free"],
                "largest": s["largest_free"], "blocks": blocks, "kernel_heap": kheap}

    def faults(self):
        """KCTL_FAULTS: {"total": faults since boot, "faults": [{"seq", "t"
        (ms), "id", "name", "reason", "pc", "addr", "action"}, ...]} oldest
        first, at most abi.FAULT_LOG."""
        out = []
        for f in self.fault_log:
            out.append(dict(f))
        return {"total": self.nfaults, "faults": out}

    def ipc_table(self):
        """KCTL_IPC: {"tasks": [{"id", "name", "sent", "received",
        "replied", "notified", "peer_died", "calling" (tid or null),
        "queued" (callers waiting for it), "serving" (calls it holds)}, ...]}."""
        rows = []
        for tid in self.order:
            row = self.ipc.info(tid)
            row["id"] = tid
            row["name"] = self.tasks[tid].name
            rows.append(row)
        return {"tasks": rows}

    def tasks_table(self):
        """KCTL_TASKS: the system as declared: {"tasks": [{"id", "name",
        "entry", "prio", "heap", "stack", "block" (bytes of its memory
        block), "restart" ("never", "always" or "limit N"), "backoff_ms",
        "calls", "console", "kernel", "devices", "hsm_keys" (["label:op+op"]),
        "state" (as ps), "bundle" (an installed task's {"slot", "version",
        "counter"}, else null)}, ...], "safe_mode", "pool" (task pool bytes),
        "bundle_ram" (Kernel.bundle_ram()), "block_max" (rights.BLOCK_MAX),
        "max_tid"}; console is false, "write" or "read"."""
        rows = []
        for tid in self.order:
            m = self.tasks[tid].manifest
            restart = m.restart
            if restart == "limit":
                restart = "limit %d" % m.restart_limit
            rows.append({"id": tid, "name": m.name, "entry": m.entry, "prio": m.priority,
                         "heap": m.heap, "stack": m.stack, "block": m.region_size(),
                         "restart": restart, "backoff_ms": m.backoff_ms, "calls": list(m.calls),
                         "console": m.console, "kernel": m.kernel, "devices": list(m.devices),
                         "hsm_keys": ["%s:%s" % (h["label"], "+".join(h["ops"])) for h in m.hsm_keys],
                         "state": self.state_of(tid),
                         "bundle": self.installer.describe(m.name) if self.installer else None})
        return {"tasks": rows, "safe_mode": self.safe_mode, "pool": self.pool_size,
                "bundle_ram": self.bundle_ram(), "block_max": rights.BLOCK_MAX, "max_tid": self.max_tid}

    # --- invariants -----------------------------------------------------

    def check(self):
        """Assert every invariant of the kernel and its parts; True."""
        self.sched.check()
        self.buddy.check()
        self.ipc.check()
        assert len(self.readers) == len(set(self.readers)), "reader twice: %r" % (self.readers,)
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

    def _line(self, text):
        self.trap.console_write((text + "\n").encode())


def _one_line(s):
    s = s.replace("\r", " ").replace("\n", " ")
    if len(s) > REASON_MAX:
        s = s[:REASON_MAX - 3] + "..."
    return s


# --- the syscall handlers: f(kernel, caller Task, args) ---------------------
# Return (r0, r1), or None (blocked or gone); raise KernelError (the caller
# gets -code) or Fault (the caller is faulted). Check everything first,
# change state after.

def _word(x, what, hi=abi.WORD_MAX):
    if not is_int(x) or x < 0 or x > hi:
        raise KernelError(BAD_ARGUMENT, "%s %s is not an int 0..%d" % (what, repr(x)[:24], hi))
    return x


def sys_exit(k, t, a):
    code = a[0]
    if not is_int(code) or code < -0x80000000 or code > abi.WORD_MAX:
        raise KernelError(BAD_ARGUMENT, "exit code %s is not a 32-bit int" % (repr(code)[:24],))
    if code > 0x7FFFFFFF:
        code -= 0x100000000         # the word as int32
    k._exit(t, code)
    return None


def sys_yield(k, t, a):
    k.sched.yield_(t.tid)
    return (0, 0)


def sys_sleep(k, t, a):
    ms = _word(a[0], "sleep ms", abi.SLEEP_MAX)
    if ms == 0:
        return (0, 0)
    k.sleepers[t.tid] = k.now() + ms
    k.sched.block(t.tid, "sleep")
    return None


def sys_ticks(k, t, a):
    now = k.now()
    return (now & abi.R0_MAX, now >> 31)


def sys_write(k, t, a):
    ptr = _word(a[0], "write ptr")
    n = _word(a[1], "write len")
    k.check_range(t, ptr, n, "write buffer", source=True)
    k.need(t, "console")
    off = 0
    while off < n:                  # bounded copies into the kernel heap
        chunk = n - off
        if chunk > abi.MSG_MAX:
            chunk = abi.MSG_MAX
        k.trap.console_write(k.read(t, ptr + off, chunk))
        off += chunk
    return (n, 0)


def sys_read(k, t, a):
    mode = _word(a[0], "read mode", 2)
    if t.manifest.console != "read":
        raise KernelError(NOT_PERMITTED, "task %s may not read the console (console = %s)"
                          % (t.name, t.manifest.console or "false"))
    if t.tid == k.console_owner:
        if mode == 2:
            return (0, 0)       # it owns the console
        b = k._console_take(t.tid)
        if b is not None:
            return (b, 1)
    if mode == 1:
        return (0, 0)           # nothing for it now, and the caller won't wait
    k.readers.append(t.tid)
    if mode == 2:
        k.want_console.append(t.tid)
    k.sched.block(t.tid, "read")
    return None


def sys_call(k, t, a):
    h = _word(a[0], "call dest")
    dest = h & abi.HANDLE_ID_MASK
    mptr = _word(a[1], "call msg ptr")
    mlen = _word(a[2], "call msg len")
    rptr = _word(a[3], "call reply ptr")
    rcap = _word(a[4], "call reply cap")
    k.check_range(t, mptr, mlen, "call message", source=True)
    k.check_range(t, rptr, rcap, "call reply buffer")
    d = k.callee(t, dest, h)
    k.current(d, h)
    if mlen > abi.MSG_MAX:
        raise KernelError(MSG_TOO_LARGE, "message of %d bytes, the limit is %d" % (mlen, abi.MSG_MAX))
    if d.status != LIVE:
        raise KernelError(NOT_RUNNING, "task %d (%s) is %s" % (dest, d.name, d.status))
    msg = k.read(t, mptr, mlen)
    wakes = k.ipc.call(t.tid, dest, msg, rptr, rcap)
    k.sched.block(t.tid, "call %d" % dest)
    k._apply(wakes)
    return None


def sys_recv(k, t, a):
    bptr = _word(a[0], "recv buffer ptr")
    bcap = _word(a[1], "recv buffer cap")
    k.check_range(t, bptr, bcap, "recv buffer")
    poll = _word(a[2], "recv poll")
    got, wakes = k.ipc.recv(t.tid, bptr, bcap)
    k._apply(wakes)
    if got is None:
        if poll == 1:                       # nobody calls: do not wait
            del k.ipc.receivers[t.tid]
            return (0, 0)
        k.sched.block(t.tid, "recv")
        return None
    tid, r0, r1, ptr, data = got
    if not k._copy_out(t, ptr, data):
        return None
    return (r0, r1)


def sys_reply(k, t, a):
    h = _word(a[0], "reply sender")
    sender = h & abi.HANDLE_ID_MASK
    ptr = _word(a[1], "reply ptr")
    n = _word(a[2], "reply len")
    k.check_range(t, ptr, n, "reply", source=True)
    s = k.task(sender)
    if h != k.handle(sender):
        k.ipc.drop_orphan(t.tid, sender)
        k.current(s, h)
    current = s.status == LIVE          # this incarnation: an orphan is an earlier one's
    k.ipc.check_reply(t.tid, sender, current)
    if n > abi.MSG_MAX:
        raise KernelError(MSG_TOO_LARGE, "reply of %d bytes, the limit is %d" % (n, abi.MSG_MAX))
    data = k.read(t, ptr, n)
    w = k.ipc.reply(t.tid, sender, data, current)
    if w is not None:
        k._apply([w])
    return (0, 0)


def sys_notify(k, t, a):
    h = _word(a[0], "notify dest")
    dest = h & abi.HANDLE_ID_MASK
    bits = _word(a[1], "notify bits")
    if bits == 0 or bits & ~abi.NOTIFY_MASK:
        raise KernelError(BAD_ARGUMENT, "notify bits 0x%x are not 1..0x%x" % (bits, abi.NOTIFY_MASK))
    d = k.callee(t, dest, h)
    k.current(d, h)
    if d.status != LIVE:
        raise KernelError(NOT_RUNNING, "task %d (%s) is %s" % (dest, d.name, d.status))
    k._apply(k.ipc.notify(t.tid, dest, bits))
    return (0, 0)


def sys_wait(k, t, a):
    mask = _word(a[0], "wait mask")
    if mask == 0 or mask & ~abi.NOTIFY_MASK:
        raise KernelError(BAD_ARGUMENT, "wait mask 0x%x is not 1..0x%x" % (mask, abi.NOTIFY_MASK))
    got = k.ipc.wait(t.tid, mask)
    if got is not None:
        return (got, 0)
    k.sched.block(t.tid, "wait")
    return None


def sys_lookup(k, t, a):
    ptr = _word(a[0], "lookup name ptr")
    n = _word(a[1], "lookup name len")
    k.check_range(t, ptr, n, "lookup name", source=True)
    if not (1 <= n <= abi.NAME_MAX):
        raise KernelError(BAD_ARGUMENT, "name length %d is not 1..%d" % (n, abi.NAME_MAX))
    name = k.read(t, ptr, n)
    for tid in k.order:
        if k.tasks[tid].name.encode() == name:
            return (k.handle(tid), 0)       # the current incarnation's handle
    raise KernelError(NO_SUCH_TASK, "no task named %r" % (name,))


def sys_kctl(k, t, a):
    op = _word(a[0], "kctl op")
    arg = _word(a[1], "kctl arg")
    bptr = _word(a[2], "kctl buffer ptr")
    bcap = _word(a[3], "kctl buffer cap")
    if op >= abi.NKCTL:
        raise KernelError(BAD_ARGUMENT, "kctl op %d is not 0..%d" % (op, abi.NKCTL - 1))
    k.check_range(t, bptr, bcap, "kctl buffer")
    if op == abi.KCTL_KILL:
        target = k.task(arg)
        k.need(t, "kernel")
        if target.status != LIVE and target.status != RESTARTING:
            raise KernelError(BAD_STATE, "task %d (%s) is %s" % (arg, target.name, target.status))
        k.kill(arg)
        return (0, 0)
    if op == abi.KCTL_START:
        target = k.task(arg)
        k.need(t, "kernel")
        if target.status == LIVE:
            raise KernelError(BAD_STATE, "task %d (%s) is already running" % (arg, target.name))
        k.start(arg)
        return (0, 0)
    if op == abi.KCTL_FAULT:
        target = k.task(arg)
        k.need(t, "kernel")
        if target.status != LIVE:
            raise KernelError(BAD_STATE, "task %d (%s) is %s" % (arg, target.name, target.status))
        k._fault(target, "injected by the operator", 0, 0)
        return (0, 0)
    if op == abi.KCTL_RESTART:
        k.task(arg)
        k.need(t, "kernel")
        k.restart(arg)
        return (0, 0)
    k.need(t, "kernel")
    if op == abi.KCTL_FG:
        k.give_console(k.task(arg).tid)
        return (0, 0)
    if op in (abi.KCTL_INSTALL, abi.KCTL_REMOVE) and k.installer is None:
        raise KernelError(BAD_STATE, "this kernel installs no tasks")
    if op == abi.KCTL_REMOVE:
        name = k.task(arg).name
        try:
            k.installer.remove(k, name)
        except ValueError as e:
            raise KernelError(BAD_STATE, str(e))
        return (0, 0)
    if op == abi.KCTL_CONFIRM and (k.boot is None or k.boot.info is None):
        raise KernelError(BAD_STATE, "no boot information: the kernel was not started by the QENEX bootloader")
    if op == abi.KCTL_REBOOT:
        k.halted = "reboot"
        return (0, 0)
    if op == abi.KCTL_POWEROFF:
        k.halted = "poweroff"
        return (0, 0)
    if op == abi.KCTL_PS:
        reply = k.ps()
    elif op == abi.KCTL_MEM:
        reply = k.mem()
    elif op == abi.KCTL_FAULTS:
        reply = k.faults()
    elif op == abi.KCTL_IPC:
        reply = k.ipc_table()
    elif op == abi.KCTL_BOOT:
        reply = k.boot.status(k.now()) if k.boot is not None else {"slot": None}
        reply["safe_mode"] = k.safe_mode
    elif op == abi.KCTL_INSTALL:
        step, n = arg & 7, arg >> 3
        if n > bundles.CHUNK_MAX or n > bcap:
            raise KernelError(BAD_ARGUMENT, "install chunk of %d bytes: at most %d, within the buffer"
                              % (n, bundles.CHUNK_MAX))
        data = k.read(t, bptr, n)
        inst = k.installer
        try:
            if step == abi.INSTALL_BEGIN:
                words = data.decode().split()
                reply = inst.begin(k, words[0] if words else None, int(words[1]) if len(words) > 1 else None)
            elif step == abi.INSTALL_DATA:
                reply = inst.data(k, data)
            elif step == abi.INSTALL_END:
                reply = inst.end(k)
            elif step == abi.INSTALL_COMMIT:
                reply = inst.commit(k)
            elif step == abi.INSTALL_ABORT:
                inst.abort()
                reply = {}
            elif step == abi.INSTALL_DISCARD:       # throw a refused paste away, here: no trip a byte
                if data:
                    inst.discarding = [int(data), 0]
                got, ended = bundles.discard(lambda: k._console_take(t.tid), inst.discarding)
                reply = {"n": got, "end": ended}
            else:
                raise KernelError(BAD_ARGUMENT, "install step %d is not 0..5" % step)
        except (ValueError, KernelError) as e:  # BundleError, ManifestError: the stream is over
            if isinstance(e, KernelError) and e.code == BAD_ARGUMENT:
                raise
            inst.abort()
            reply = {"error": str(e)}
    elif op == abi.KCTL_CONFIRM:
        written = k.boot.confirm()
        reply = k.boot.status(k.now())
        reply["written"] = written
    else:
        reply = k.tasks_table()
    text = json.dumps(reply).encode()
    if len(text) > bcap:
        return (-MSG_TOO_LARGE, len(text))      # r1: the buffer it needs
    if not k._copy_out(t, bptr, text):
        return None
    return (len(text), 0)


SYSCALLS = (sys_exit, sys_yield, sys_sleep, sys_ticks, sys_write, sys_read, sys_call,
            sys_recv, sys_reply, sys_notify, sys_wait, sys_lookup, sys_kctl)

assert len(SYSCALLS) == abi.NSYSCALLS
