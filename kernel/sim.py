"""A simulated trap layer: runs the real kernel on the host (or in a
MicroPython unix build) with tasks written as Python generators.

Holds Sim, which implements the trap interface kernel.Kernel drives (the
same calls as the C module `_trap`), SimSys, the object a simulated task
gets to make syscalls, Rng, a small seeded PRNG, and random_tasks(), the
manifests of a random system for the seeded tests. It does not run real
MicroPython VMs, program an MPU or model instruction timing: a task is a
generator and time is a counter. Sim also checks that the kernel uses the
interface correctly (SimProtocolError: resuming a task whose syscall has no
result yet, a second result for one syscall, two live tasks on overlapping
memory, touching a task that does not exist, a livelock of empty ticks).

A task is a generator function of one argument, registered under the entry
(module) name its manifest gives:

    def server(sys):
        while True:
            sender, msg = yield from sys.recv()
            yield from sys.reply(sender, b"re:" + msg)

    sim.program("server", server)

What a task yields, one step each:
  yield from sys.call(dest, msg) ...   syscall wrappers (generators): exit,
                yield_, sleep, ticks, write, read, call, recv, reply,
                notify, wait, lookup, kctl, call_lease, borrow. They put arguments into the
                task's memory, make the syscall and return its result;
                r0 < 0 raises SysError(code), as the device's task library
                raises an exception with the code.
  r0, r1 = yield sys.raw(no, a0, ..., a4)   a raw syscall: any words,
                pointers or types, to test validation
  yield  (or yield sys.spin())   one tick (1 ms) of computation, no syscall:
                `while True: yield` is an infinite loop
  yield sys.alloc(n) / sys.free(n)     heap use; past the heap: MemoryError fault
  yield sys.stack(depth)               stack depth; past the stack: "stack overflow"
  v = yield sys.load(addr)             a memory access; outside the task's block:
  yield sys.store(addr, byte)          MemManage (BusFault in the PPB, 0xE00xxxxx)
  yield sys.fault(reason, pc, addr)    any fault, as the trap layer reports it
  raise ...                            "exception: <Type>: <message>"
  return                               EV_EXIT with code 0

Memory: each task's block is a bytearray standing for [base, base + size);
pointers are real addresses, so bad pointers are real bad pointers. The
wrappers use scratch buffers at the bottom of the heap: sys.out (1024 bytes,
messages going out), sys.inbuf (1024, replies and received messages),
sys.kbuf (the rest of the heap, KCTL replies).

Interrupts: Sim models the board's task-owned interrupts as the trap layer
keeps them (irq_own, irq_take, irq_ack; a raw IRQ is masked when it fires
and latched while masked) and the task UARTs' rings (uart_read, uart_write,
UART_RING bytes each way). Test controls: raise_irq(n, at_ms) asserts IRQ n,
uart_feed(dev, data, at_ms) puts bytes on a UART's receive wire (what the
ring cannot take waits there: the sender is held back), uart_sent(dev) is
what the UART transmitted, tx_hold[dev] = True stops the transmitter (its
ring fills) until uart_release(dev).

Determinism: Sim(seed) draws every choice from Rng(seed): the extra cost of
each step (jitter_us), spurious EV_TICKs (tick_rate per mille of steps) and
injected crashes (crash_rate per mille of steps). A given seed gives the
same run, event for event (`trace`), under CPython and MicroPython. Time
only moves when tasks run (step_us per step, 1 ms per spin) or the kernel
idles (to the deadline or the next console byte fed with feed()).
"""

from kernel import abi, manifest
from kernel.errors import name_of

MASK32 = 0xFFFFFFFF
SCRATCH = 1024              # bytes of each of sys.out and sys.inbuf
VM_HEAP = 2 * SCRATCH       # heap a fresh simulated VM uses
VM_STACK = 256              # stack a fresh simulated VM uses
PC_BASE = 0x00012000        # simulated program counters start here
PPB_BASE, PPB_END = 0xE0000000, 0xE0100000
EMPTY_TICKS_MAX = 10000     # EV_TICKs in a row with no step run: livelock
_FAST_SYSCALLS = (abi.SYS_CALL, abi.SYS_REPLY, abi.SYS_RECV, abi.SYS_YIELD)


class Rng:
    """xorshift32, seeded: identical sequences on CPython and MicroPython
    (MicroPython's random has no Random class and one shared state)."""

    def __init__(self, seed):
        seed = 2 * seed if seed >= 0 else -2 * seed - 1     # one-to-one onto ints >= 0
        x = 0x7F4A7C15
        while True:                 # every 32 bits of the seed count
            x = ((x ^ (seed & MASK32)) * 0x9E3779B1 + 1) & MASK32
            seed >>= 32
            if not seed:
                break
        self.x = x if x else 0x6D2B79F5
        for _ in range(8):
            self.next()

    def next(self):
        x = self.x
        x ^= (x << 13) & MASK32
        x ^= x >> 17
        x ^= (x << 5) & MASK32
        self.x = x
        return x

    def below(self, n):
        """0 <= r < n."""
        return self.next() % n

    def randint(self, lo, hi):
        """lo <= r <= hi."""
        return lo + self.below(hi - lo + 1)

    def choice(self, seq):
        return seq[self.below(len(seq))]

    def chance(self, per_mille):
        """True with probability per_mille / 1000."""
        return per_mille > 0 and self.below(1000) < per_mille


def random_tasks(rng, n, call_per_mille, restarts, prios, entry):
    """The manifests of a random system drawn from rng: tasks t0..tn-1 where
    ti may call tj only for j > i (no call cycles, so every caller can be
    answered), each such pair with call_per_mille / 1000 chance, a restart
    policy drawn from `restarts`, a priority in prios (lo, hi), entry(i) its
    program. (callees {tid: [tids it calls]}, servers {tids called},
    [Manifest])."""
    callees = {}
    for i in range(n):
        callees[i + 1] = [j + 1 for j in range(i + 1, n) if rng.chance(call_per_mille)]
    servers = set()
    for tid in callees:
        servers.update(callees[tid])
    ms = []
    for i in range(n):
        restart = rng.choice(restarts)
        text = ("name = t%d\nentry = %s\npriority = %d\nheap = 4096\nstack = 1024\nrestart = %s\n"
                "calls = %s\n" % (i, entry(i), rng.randint(prios[0], prios[1]), restart,
                                  ", ".join("t%d" % (j - 1) for j in callees[i + 1])))
        if restart != "never":
            text += "backoff_ms = %d\n" % rng.randint(0, 20)
        ms.append(manifest.parse(text))
    return callees, servers, ms


class SimProtocolError(Exception):
    """The kernel used the trap interface wrongly (a kernel bug)."""


class SysError(Exception):
    """A syscall failed: code is the errors code, r1 the second result."""

    def __init__(self, code, r1=0):
        super().__init__(name_of(code))
        self.code = code
        self.r1 = r1


def _check(r):
    r0, r1 = r
    if r0 < 0:
        raise SysError(-r0, r1)
    return r0, r1


class SimSys:
    """What a simulated task gets: its memory and the syscall wrappers."""

    def __init__(self, sim, tid, base, size, stack_size):
        self.sim = sim
        self.tid = tid
        self.base = base
        self.size = size
        self.stack_size = stack_size
        self.heap_base = base + stack_size
        self.mem = bytearray(size)
        self.out = self.heap_base
        self.inbuf = self.heap_base + SCRATCH
        self.kbuf = self.heap_base + 2 * SCRATCH
        self.kbuf_cap = base + size - self.kbuf

    # --- memory, as the task sees it -----------------------------------

    def put(self, addr, data):
        """Write bytes at addr (inside the block); returns addr."""
        off = addr - self.base
        assert 0 <= off and off + len(data) <= self.size, "put outside the block"
        self.mem[off:off + len(data)] = data
        return addr

    def get(self, addr, n):
        off = addr - self.base
        assert 0 <= off and off + n <= self.size, "get outside the block"
        return bytes(self.mem[off:off + n])

    # --- raw requests (yield them) -------------------------------------

    def raw(self, no, a0=0, a1=0, a2=0, a3=0, a4=0):
        return ("sys", no, (a0, a1, a2, a3, a4))

    def spin(self):
        return None

    def alloc(self, n):
        return ("alloc", n)

    def free(self, n):
        return ("free", n)

    def stack(self, depth):
        return ("stack", depth)

    def load(self, addr):
        return ("load", addr)

    def store(self, addr, value):
        return ("store", addr, value)

    def fault(self, reason, pc=0, addr=0):
        return ("fault", reason, pc, addr)

    # --- syscall wrappers (yield from them) ----------------------------

    def exit(self, code=0):
        _check((yield self.raw(abi.SYS_EXIT, code)))
        raise SimProtocolError("task %d resumed after exit" % self.tid)

    def yield_(self):
        _check((yield self.raw(abi.SYS_YIELD)))

    def sleep(self, ms):
        _check((yield self.raw(abi.SYS_SLEEP, ms)))

    def ticks(self):
        r0, r1 = _check((yield self.raw(abi.SYS_TICKS)))
        return r0 | (r1 << 31)

    def write(self, data):
        if isinstance(data, str):
            data = data.encode()
        r0, r1 = _check((yield self.raw(abi.SYS_WRITE, self.put(self.out, data), len(data))))
        return r0

    def read(self):
        r0, r1 = _check((yield self.raw(abi.SYS_READ)))
        return r0

    def poll_read(self):
        """A console byte if one waits, else None (never blocks)."""
        r0, r1 = _check((yield self.raw(abi.SYS_READ, 1)))
        return r0 if r1 else None

    def call(self, dest, msg, cap=abi.MSG_MAX):
        """The reply (bytes)."""
        ptr = self.put(self.out, msg)
        r0, r1 = _check((yield self.raw(abi.SYS_CALL, dest, ptr, len(msg), self.inbuf, cap)))
        return self.get(self.inbuf, r0)

    def recv(self, cap=abi.MSG_MAX, poll=False):
        """(sender tid, message bytes); with poll, (0, b"") when nobody calls."""
        r0, r1 = _check((yield self.raw(abi.SYS_RECV, self.inbuf, cap, 1 if poll else 0)))
        return r1, self.get(self.inbuf, r0)

    def reply(self, sender, data):
        _check((yield self.raw(abi.SYS_REPLY, sender, self.put(self.out, data), len(data))))

    def notify(self, dest, bits):
        _check((yield self.raw(abi.SYS_NOTIFY, dest, bits)))

    def wait(self, mask, timeout_ms=0):
        """The bits taken; 0 when timeout_ms (0: none) passed first."""
        r0, r1 = _check((yield self.raw(abi.SYS_WAIT, mask, timeout_ms)))
        return r0

    def recv_any(self, cap=abi.MSG_MAX, poll=False, mask=0, timeout_ms=0):
        """A call, (sender, message bytes); notifications of mask, (0, bits);
        nothing (poll, or the timeout), (0, 0)."""
        r0, r1 = _check((yield self.raw(abi.SYS_RECV, self.inbuf, cap, 1 if poll else 0, mask, timeout_ms)))
        if r1:
            return r1, self.get(self.inbuf, r0)
        return 0, r0

    def irq_ack(self, bits):
        _check((yield self.raw(abi.SYS_IRQ, abi.IRQ_ACK, bits)))

    def irq_owned(self):
        r0, r1 = _check((yield self.raw(abi.SYS_IRQ, abi.IRQ_OWNED)))
        return r0

    def uart_read(self, dev, n=SCRATCH):
        r0, r1 = _check((yield self.raw(abi.SYS_UART, abi.UART_READ, dev, self.inbuf, n)))
        return self.get(self.inbuf, r0)

    def uart_write(self, dev, data):
        r0, r1 = _check((yield self.raw(abi.SYS_UART, abi.UART_WRITE, dev, self.put(self.out, data), len(data))))
        return r0

    def lookup(self, name):
        if isinstance(name, str):
            name = name.encode()
        r0, r1 = _check((yield self.raw(abi.SYS_LOOKUP, self.put(self.out, name), len(name))))
        return r0

    def call_lease(self, dest, msg, lease_ptr, lease_len, rights, cap=abi.MSG_MAX):
        """A call lending (lease_ptr, lease_len) of this task's memory with
        rights (abi.LEASE_*): the reply (bytes; msg and reply share sys.out)."""
        ptr = self.put(self.out, msg)
        r0, r1 = _check((yield self.raw(abi.SYS_CALL_LEASE, dest, ptr,
                                        len(msg) | cap << abi.LEASE_REPLY_SHIFT, lease_ptr,
                                        lease_len << abi.LEASE_RIGHTS_BITS | rights)))
        return self.get(self.out, r0)

    def borrow(self, op, sender, offset, ptr, n):
        """SYS_BORROW (abi.BORROW_*): (r0, r1)."""
        return _check((yield self.raw(abi.SYS_BORROW, op, sender, offset, ptr, n)))

    def kctl(self, op, arg=0, cap=None):
        """The KCTL reply bytes (JSON for queries, b"" for controls)."""
        if cap is None:
            cap = self.kbuf_cap
        r0, r1 = _check((yield self.raw(abi.SYS_KCTL, op, arg, self.kbuf, cap)))
        return self.get(self.kbuf, r0)


class _Task:
    """The sim's side of one created task."""

    def __init__(self, sys, entry):
        self.sys = sys
        self.entry = entry
        self.gen = None             # the generator, once started
        self.started = False
        self.send = None            # what the next step receives
        self.pending = False        # in a syscall, result not set yet
        self.ended = False          # returned EV_EXIT or EV_FAULT
        self.crash = None           # injected fault for the next step
        self.heap_used = VM_HEAP
        self.stack_depth = VM_STACK
        self.stack_hw = VM_STACK
        self.steps = 0


class Sim:
    """Sim(seed=0, step_us=100, jitter_us=0, tick_rate=0, crash_rate=0,
    fastpath=False): the trap interface plus test controls (program, feed,
    crash, fail_next_create, output, trace, runs). fastpath=True runs the
    device trap layer's IPC fast path itself -- kernel/port/ipcfast.c, built
    with cffi (tools/ipcfast_host.py) -- on every call, recv, reply and
    yield, as the device's SVC handler does: the kernel writes its tables
    (fasttab()), the C switches between simulated tasks directly through the
    hooks below and logs what it did (fastlog()), so the kernel's replay of
    that log (Kernel._replay) and the C's rules are checked under random
    schedules. One such Sim at a time (the C has one set of tables)."""

    def __init__(self, seed=0, step_us=100, jitter_us=0, tick_rate=0, crash_rate=0, fastpath=False):
        self.seed = seed
        self.rng = Rng(seed)
        self.step_us = step_us
        self.jitter_us = jitter_us
        self.tick_rate = tick_rate
        self.crash_rate = crash_rate
        self.programs = {}          # entry -> generator function
        self.tasks = {}             # tid -> _Task (created, not killed)
        self.grants = {}            # tid -> (base, size) of its granted device
        self.us = 0                 # the clock
        self.slice = 10
        self.deadline = None
        self.watched = 0
        self.input = []             # [(ms, byte)] console input, by time
        self.out = bytearray()      # console output
        self.trace = []             # (ms, tid, event kind, detail) per resume
        self.resumes = 0
        self.stalls = 0             # idle() with nothing that could wake it
        self.empty_ticks = 0
        self.fail_create = 0        # create() calls left to fail with MemoryError
        self.created = 0
        self.killed = 0
        self.cur = None             # the task the last event came from
        self.fast_taken = 0         # fast-path steps, for coverage checks
        self.runs = []              # (us, tid) of every step run, in order: the order of runs
        self.fastpath = fastpath
        self.limit = 0              # ticks the running task may spin before EV_TICK
        self.hook_error = None
        self.irq_owners = {}        # NVIC number -> owner tid (irq_own)
        self.irq_masked = set()     # raw IRQs masked after firing, until acknowledged
        self.irq_latched = set()    # raised while masked: pending again at the ack
        self.irq_pending = 0        # bits by NVIC number, for irq_take()
        self.irq_at = []            # [(ms, n)] raise_irq to come, by time
        self.uart_irqs = {1: (2, 3), 2: (4, 5), 3: (18, 19)}   # device -> (RX, TX) NVIC numbers
        self.rx, self.wire, self.tx, self.sent = {}, {}, {}, {}
        self.tx_hold, self.rx_want, self.tx_want = {}, {}, {}
        for dev in self.uart_irqs:
            self.rx[dev] = bytearray()      # the receive ring
            self.wire[dev] = []             # [(ms, byte)] on the way in, by time
            self.tx[dev] = bytearray()      # the transmit ring
            self.sent[dev] = bytearray()
            self.tx_hold[dev] = False
            self.rx_want[dev] = False       # the owner found the ring empty
            self.tx_want[dev] = False       # ... or full
        self.rx_min = {}                    # device -> bytes its owner waits for
        if fastpath:                # the kernel looks for fasttab() to use the fast path
            from tools import ipcfast_host
            self._ffi, self._lib = ipcfast_host.claim(self)
            self._frame = self._ffi.new("uint32_t[8]")
            self._args = self._ffi.new("uint32_t[5]")
            self._run_to = self._ffi.new("int32_t *")
            self.fasttab = self._fasttab
            self.fastlog = self._fastlog

    # --- test controls -------------------------------------------------

    def program(self, entry, fn):
        """Register generator function fn(sys) as module `entry`."""
        self.programs[entry] = fn
        return fn

    def feed(self, data, at_ms=None):
        """Console input: bytes arriving at at_ms (default now)."""
        if isinstance(data, str):
            data = data.encode()
        at = self.ticks_ms() if at_ms is None else at_ms
        i = len(self.input)             # after every byte due at or before `at`
        while i > 0 and self.input[i - 1][0] > at:
            i -= 1
        for b in data:
            self.input.insert(i, (at, b))
            i += 1

    def crash(self, tid, reason="exception: Crash: injected", pc=0, addr=0):
        """Task tid faults at its next step."""
        self._get(tid).crash = (reason, pc, addr)

    def raise_irq(self, n, at_ms=None):
        """IRQ n asserts at at_ms (default now)."""
        at = self.ticks_ms() if at_ms is None else at_ms
        self.irq_at.append((at, n))
        self.irq_at.sort()

    def uart_feed(self, dev, data, at_ms=None):
        """Bytes arriving on task UART dev's receive wire from at_ms."""
        at = self.ticks_ms() if at_ms is None else at_ms
        for b in data:
            self.wire[dev].append((at, b))

    def uart_sent(self, dev):
        return bytes(self.sent[dev])

    def uart_release(self, dev):
        self.tx_hold[dev] = False
        self._uart_move(dev)

    def fail_next_create(self, n=1):
        self.fail_create = n

    def output(self):
        return self.out.decode()

    def lines(self):
        return self.output().splitlines()

    def sys_of(self, tid):
        return self._get(tid).sys

    def advance(self, ms):
        self.us += ms * 1000

    # --- the trap interface --------------------------------------------

    def ticks_ms(self):
        return self.us // 1000

    def grant(self, tid, base, size):
        """A device grant (the device is not modelled: recorded only)."""
        if tid not in self.tasks:
            raise SimProtocolError("grant: no task %r" % (tid,))
        self.grants[tid] = (base, size)

    def create(self, tid, base, size, stack_size, entry, code=None, arena=0, gc_threshold=0):
        if tid in self.tasks:
            raise SimProtocolError("create: task %r already exists" % (tid,))
        if size < 32 or size & (size - 1) or base % size:
            raise SimProtocolError("create: block 0x%x+%d is not one MPU region" % (base, size))
        if not (0 < stack_size < size):
            raise SimProtocolError("create: stack %d does not fit block %d" % (stack_size, size))
        for other in self.tasks:
            s = self.tasks[other].sys
            if base < s.base + s.size and s.base < base + size:
                raise SimProtocolError("create: task %d's block 0x%x+%d overlaps task %d's 0x%x+%d"
                                       % (tid, base, size, other, s.base, s.size))
        if self.fail_create:
            self.fail_create -= 1
            raise MemoryError("no VM for task %d" % tid)
        self.tasks[tid] = _Task(SimSys(self, tid, base, size, stack_size), entry)
        self.created += 1

    def kill(self, tid):
        t = self._get(tid)
        if t.gen is not None:
            try:
                t.gen.close()
            except Exception:       # a task yielding in `finally`
                pass
        del self.tasks[tid]
        self.killed += 1

    def set_result(self, tid, r0, r1=0):
        t = self._get(tid)
        if not t.pending:
            raise SimProtocolError("set_result(%d, %r, %r): task is not in a syscall (a second result?)"
                                   % (tid, r0, r1))
        if not isinstance(r0, int) or not isinstance(r1, int):
            raise SimProtocolError("set_result(%d, %r, %r): not ints" % (tid, r0, r1))
        t.pending = False
        t.send = (r0, r1)

    def read(self, tid, addr, n):
        s = self._get(tid).sys
        off = self._span(s, addr, n)
        return bytes(s.mem[off:off + n])

    def write(self, tid, addr, data):
        s = self._get(tid).sys
        off = self._span(s, addr, len(data))
        s.mem[off:off + len(data)] = data

    def copy(self, src, saddr, dst, daddr, n):
        self.write(dst, daddr, self.read(src, saddr, n))

    def set_slice(self, ticks):
        if not isinstance(ticks, int) or ticks < 1:
            raise SimProtocolError("set_slice(%r)" % (ticks,))
        self.slice = ticks

    def set_deadline(self, ms):
        self.deadline = ms

    def watch(self, bits):
        self.watched = bits

    def console_write(self, data):
        if not isinstance(data, (bytes, bytearray)):
            raise SimProtocolError("console_write(%r): not bytes" % (data,))
        self.out += data

    def console_read(self):
        if self.input and self.input[0][0] <= self.ticks_ms():
            return self.input.pop(0)[1]
        return None

    def task_stats(self, tid):
        t = self._get(tid)
        s = t.sys
        return (t.heap_used, s.size - s.stack_size, t.stack_hw, s.stack_size)

    def idle(self, deadline_ms, poll_until_ms=None):
        now = self.ticks_ms()
        wake = deadline_ms
        if self.watched & abi.IRQ_CONSOLE and self.input:
            if wake is None or self.input[0][0] < wake:
                wake = self.input[0][0]
        later = [self.irq_at[0][0]] if self.irq_at else []
        for dev in self.wire:
            if self.wire[dev] and self.rx_want[dev]:
                later.append(self.wire[dev][0][0])
        for at in later:
            if wake is None or at < wake:
                wake = at
        if self._irqs() & abi.IRQ_TASK:
            wake = now
        if wake is None:
            self.stalls += 1        # nothing can ever wake it: let 1 ms pass
            wake = now + 1
        if wake > now:
            self.us = wake * 1000
        self.trace.append((self.ticks_ms(), None, "idle", deadline_ms))
        bits = self._irqs() & (self.watched | abi.IRQ_TASK)
        if self.fastpath and bits == abi.IRQ_TASK and (deadline_ms is None or self.ticks_ms() < deadline_ms):
            run = self._irq_fast(0)             # the device's idle loop hands them to the C
            if run:
                self.fast_taken += 1
                return Sim.resume(self, run)    # it entered the woken owner: that task's event
            if run is not None:
                return self.idle(deadline_ms)   # raised, nobody woken: it idles on
        return bits

    # --- task-owned interrupts and UARTs (the trap layer's, modelled) ----

    def irq_own(self, n, tid):
        if tid:
            self.irq_owners[n] = tid
        else:
            self.irq_owners.pop(n, None)
        self.irq_masked.discard(n)
        self.irq_latched.discard(n)
        self.irq_pending &= ~(1 << n)
        for dev in self.uart_irqs:
            if n == self.uart_irqs[dev][0]:
                self.rx[dev] = bytearray()
                self.rx_want[dev] = self.tx_want[dev] = False
                self._uart_move(dev)
            if n == self.uart_irqs[dev][1]:
                self.tx[dev] = bytearray()

    def irq_take(self):
        self._irq_due()
        p = self.irq_pending
        self.irq_pending = 0
        return p

    def irq_ack(self, n):
        if n in self.irq_masked:
            self.irq_masked.discard(n)
            if n in self.irq_latched:
                self.irq_latched.discard(n)
                self._fire(n)

    def _fire(self, n):
        if n not in self.irq_owners:
            return
        if n in self.irq_masked:
            self.irq_latched.add(n)
            return
        self.irq_masked.add(n)
        self.irq_pending |= 1 << n

    def _irq_due(self):
        now = self.ticks_ms()
        while self.irq_at and self.irq_at[0][0] <= now:
            self._fire(self.irq_at.pop(0)[1])
        for dev in self.wire:
            if self.wire[dev] and self.wire[dev][0][0] <= now:
                self._uart_move(dev)

    def _uart_move(self, dev):
        """The UART's interrupt path: the wire into the receive ring while
        it has room, the transmit ring out unless held; a ring event for an
        owner that found the ring empty (full)."""
        rx_irq, tx_irq = self.uart_irqs[dev]
        if rx_irq in self.irq_owners:
            now = self.ticks_ms()
            w, ring = self.wire[dev], self.rx[dev]
            moved = False
            while w and w[0][0] <= now and len(ring) < abi.UART_RING:
                ring.append(w.pop(0)[1])
                moved = True
            quiet = not (w and w[0][0] <= now)  # the line's due bytes are all in: it is quiet
            if ring and self.rx_want[dev] and (len(ring) >= self.rx_min.get(dev, 1) or quiet):
                self.rx_want[dev] = False
                self.irq_pending |= 1 << rx_irq
        if tx_irq in self.irq_owners and not self.tx_hold[dev] and self.tx[dev]:
            self.sent[dev].extend(self.tx[dev])
            self.tx[dev] = bytearray()
            if self.tx_want[dev]:
                self.tx_want[dev] = False
                self.irq_pending |= 1 << tx_irq

    def uart_read(self, dev, n, least=1):
        self._uart_move(dev)
        ring = self.rx[dev]
        least = min(max(least, 1), abi.UART_RING)
        out = bytes(ring[:n])
        self.rx[dev] = ring[n:]             # (MicroPython's bytearray has no slice deletion)
        if len(self.rx[dev]) < least:
            self.rx_want[dev] = True
            self.rx_min[dev] = least
        waiting = len(self.rx[dev])
        self._uart_move(dev)        # room again: the held-back bytes come in
        return out if n else waiting

    def uart_write(self, dev, data):
        ring = self.tx[dev]
        n = abi.UART_RING - len(ring)
        if n > len(data):
            n = len(data)
        ring.extend(data[:n])
        if n < len(data):
            self.tx_want[dev] = True
        self._uart_move(dev)
        return n

    # --- the IPC fast path (fastpath=True): kernel/port/ipcfast.c itself ----

    def _fasttab(self):
        """The fast path's tables, as 32-bit words the kernel writes."""
        return memoryview(self._ffi.buffer(self._ffi.addressof(self._lib, "qx_fasttab"))).cast("I")

    def _fastlog(self):
        lib = self._lib
        out = []
        for i in range(lib.qx_fastlog_len):
            e = lib.qx_fastlog[i]
            out.append((e.kind, e.a, e.b, e.c, e.d, e.e, e.ms))
        lib.qx_fastlog_len = 0
        return out

    def last(self):
        return self.cur

    def c_live(self, tid):
        t = self.tasks.get(tid)
        return t is not None and not t.ended

    def c_may_copy(self, tid, addr, n):
        t = self.tasks.get(tid)
        if t is None:
            return False
        s = t.sys
        return s.base <= addr and n <= s.size and addr - s.base <= s.size - n

    def c_switch(self, tid):
        self._switch = tid

    def _fast(self, t, no, a):
        """Hand t's syscall to the C fast path as the device's trap layer
        does: None (to the kernel), ("back",) (answered, t goes on) or
        ("switch", tid)."""
        from tools import ipcfast_host
        if no not in _FAST_SYSCALLS:
            return None
        for x in a:
            if not isinstance(x, int) or isinstance(x, bool) or not (0 <= x <= MASK32):
                return None             # not words: the device could not have made them
        if ipcfast_host.owner() is not self:
            raise SimProtocolError("another Sim(fastpath=True) holds the C fast path")
        lib, frame, args = self._lib, self._frame, self._args
        me = t.sys.tid
        lib.qx_current = me
        frame[0], frame[1] = no, 0
        for i in range(abi.NARGS):
            args[i] = a[i]
        self._switch = None
        self.hook_error = None
        t.pending = True            # in its syscall: the hooks may set results of others only
        r = lib.qx_yield_fast(frame) if no == abi.SYS_YIELD else lib.qx_ipc_fast(frame, args)
        if self.hook_error is not None:
            raise self.hook_error
        if r == 0:
            t.pending = False
            return None
        self.limit = lib.qx_slice_left
        if r == 2 or no == abi.SYS_YIELD:
            t.pending = False
            t.send = (frame[0], frame[1])
        if r == 2:
            return ("back",)
        if r != 3 or self._switch is None:
            raise SimProtocolError("fast path returned %r (switch %r)" % (r, self._switch))
        return ("switch", self._switch)

    def _irq_fast(self, me):
        """The task-owned IRQs pending, to the C fast path (qx_irq_fast) as
        the device's trap layer hands them: me the task running (0: idle).
        None: not taken (the kernel's, irq_take); else the task to run (0:
        nobody)."""
        from tools import ipcfast_host
        if ipcfast_host.owner() is not self:
            raise SimProtocolError("another Sim(fastpath=True) holds the C fast path")
        lib = self._lib
        self.hook_error = None
        lib.qx_current = me if me else -1
        r = lib.qx_irq_fast(self.irq_pending & MASK32, me, self._run_to)
        if self.hook_error is not None:
            raise self.hook_error
        if r == 0:
            return None
        if r != 2:
            raise SimProtocolError("irq fast path returned %r" % (r,))
        self.irq_pending = 0
        return self._run_to[0]

    def resume(self, tid):
        t = self._get(tid)
        if t.ended:
            raise SimProtocolError("resume(%d): the task has ended (exit/fault) and was not killed" % tid)
        if t.pending:
            raise SimProtocolError("resume(%d): its syscall has no result yet" % tid)
        self.resumes += 1
        self.cur = tid
        ev = self._run(t)
        if ev[0] == abi.EV_TICK and not self._ran:
            self.empty_ticks += 1
            if self.empty_ticks > EMPTY_TICKS_MAX:
                raise SimProtocolError("livelock: %d EV_TICKs in a row without a step" % self.empty_ticks)
        else:
            self.empty_ticks = 0
        detail = None
        if ev[0] == abi.EV_SYSCALL:
            detail = ev[1]
        elif ev[0] != abi.EV_TICK:
            detail = ev[1]
        self.trace.append((self.ticks_ms(), self.cur, ev[0], detail))
        return ev

    # --- inside ----------------------------------------------------------

    def _get(self, tid):
        t = self.tasks.get(tid)
        if t is None:
            raise SimProtocolError("no task %r" % (tid,))
        return t

    def _span(self, s, addr, n):
        if not isinstance(addr, int) or not isinstance(n, int) or n < 0 \
                or addr < s.base or addr + n > s.base + s.size:
            raise ValueError("0x%x+%r is outside task %d's memory" % (addr, n, s.tid)
                             if isinstance(addr, int) else "bad address %r" % (addr,))
        return addr - s.base

    def _irqs(self):
        self._irq_due()
        bits = abi.IRQ_TASK if self.irq_pending else 0
        if self.input and self.input[0][0] <= self.ticks_ms():
            bits |= abi.IRQ_CONSOLE
        return bits

    def _cost(self):
        us = self.step_us
        if self.jitter_us:
            us += self.rng.below(self.jitter_us + 1)
        self.us += us

    def _end(self, t, ev):
        t.ended = True
        return ev

    def _pc(self, t):
        return PC_BASE + ((t.steps * 6) & 0xFFE)

    def _run(self, t):
        """Step t until an event; the slice count starts at 0 here."""
        self._ran = False
        ticks = 0
        self.limit = self.slice
        while True:
            if self.deadline is not None and self.ticks_ms() >= self.deadline:
                return (abi.EV_TICK,)
            bits = self._irqs() & (self.watched | abi.IRQ_TASK)
            if bits:
                if self.fastpath and bits == abi.IRQ_TASK:
                    run = self._irq_fast(t.sys.tid)     # the device's PendSV (and resume) do
                    if run is not None:
                        self.fast_taken += 1
                        ticks = 0
                        self.limit = self._lib.qx_slice_left
                        if run != t.sys.tid:
                            t = self.tasks[run]
                            self.cur = run
                        continue
                return (abi.EV_IRQ, bits)
            if ticks >= self.limit:
                return (abi.EV_TICK,)
            if self.rng.chance(self.tick_rate):
                return (abi.EV_TICK,)
            if t.crash is None and self.rng.chance(self.crash_rate):
                t.crash = ("exception: Crash: injected", 0, 0)
            if t.crash is not None:
                reason, pc, addr = t.crash
                t.crash = None
                return self._end(t, (abi.EV_FAULT, reason, pc, addr))
            self._ran = True
            t.steps += 1
            self.runs.append((self.us, t.sys.tid))
            op, ev = self._advance(t)
            if ev is not None:
                return self._end(t, ev)
            if op is None:                  # one tick of computation
                self.us += 1000
                ticks += 1
                continue
            self._cost()
            if self.fastpath and isinstance(op, tuple) and len(op) == 3 and op[0] == "sys" \
                    and isinstance(op[2], tuple) and len(op[2]) == abi.NARGS:
                fast = self._fast(t, op[1], op[2])
                if fast is not None:
                    self.fast_taken += 1
                    ticks = 0
                    if fast[0] == "switch":
                        t = self.tasks[fast[1]]
                        self.cur = t.sys.tid
                    continue
            ev = self._do(t, op)
            if ev is not None:
                return ev

    def _advance(self, t):
        """(request, None) or (None, ending event)."""
        send = t.send
        t.send = None
        try:
            if not t.started:
                t.started = True
                fn = self.programs.get(t.entry)
                if fn is None:
                    raise ImportError("no module named '%s'" % t.entry)
                t.gen = fn(t.sys)
                if not hasattr(t.gen, "send"):
                    return None, (abi.EV_EXIT, 0)
            return t.gen.send(send), None
        except StopIteration:
            return None, (abi.EV_EXIT, 0)
        except MemoryError:                 # Python exceptions carry no pc
            return None, (abi.EV_FAULT, abi.FAULT_MEMORY, 0, 0)
        except SimProtocolError:
            raise
        except Exception as e:
            msg = str(e)
            reason = abi.FAULT_EXCEPTION + type(e).__name__
            if msg:
                reason += ": " + msg
            return None, (abi.EV_FAULT, reason, 0, 0)

    def _do(self, t, op):
        """Carry out one request; an event, or None to go on."""
        s = t.sys
        kind = op[0] if isinstance(op, tuple) and op else None
        if kind == "sys" and len(op) == 3:
            t.pending = True
            return (abi.EV_SYSCALL, op[1], op[2])
        if kind == "alloc" and len(op) == 2:
            if t.heap_used + op[1] > s.size - s.stack_size:
                return self._end(t, (abi.EV_FAULT, abi.FAULT_MEMORY, 0, 0))
            t.heap_used += op[1]
            return None
        if kind == "free" and len(op) == 2:
            t.heap_used -= op[1]
            if t.heap_used < VM_HEAP:
                t.heap_used = VM_HEAP
            return None
        if kind == "stack" and len(op) == 2:
            depth = op[1]
            if depth > s.stack_size:
                return self._end(t, (abi.EV_FAULT, abi.FAULT_STACK, self._pc(t),
                                     s.base + s.stack_size - depth))
            t.stack_depth = depth
            if depth > t.stack_hw:
                t.stack_hw = depth
            return None
        if (kind == "load" and len(op) == 2) or (kind == "store" and len(op) == 3):
            addr = op[1]
            if not (s.base <= addr < s.base + s.size):
                reason = abi.FAULT_BUSFAULT if PPB_BASE <= addr < PPB_END else abi.FAULT_MEMMANAGE
                return self._end(t, (abi.EV_FAULT, reason, self._pc(t), addr))
            if kind == "load":
                t.send = s.mem[addr - s.base]
            else:
                s.mem[addr - s.base] = op[2] & 0xFF
            return None
        if kind == "fault" and len(op) == 4:
            return self._end(t, (abi.EV_FAULT, op[1], op[2], op[3]))
        return self._end(t, (abi.EV_FAULT, abi.FAULT_USAGEFAULT, self._pc(t), 0))
