"""The syscalls: one handler per syscall number, their table, and the one
dispatcher that calls them.

Every handler has the same shape, a function of (kernel, caller Task, args)
called by dispatch(). It returns (r0, r1) for the caller now, or None when
the caller is blocked (someone's later wake sets its result) or gone (it
exited, or a KCTL stopped or restarted it). Errors come in two kinds, as in
Hubris:
  recoverable     the handler raises errors.KernelError; the caller gets
                  r0 = -code. Every argument is checked before anything
                  changes, in errors.PRECEDENCE order (BAD_ARGUMENT first:
                  word shape, then each (ptr, len) inside the caller's block
                  (kernel/taskmem.py); then NO_SUCH_TASK, NOT_PERMITTED --
                  before any state, so a task without the capability learns
                  nothing of the target's state -- PEER_DIED for a handle of
                  an earlier incarnation (abi.HANDLE_*), BAD_STATE,
                  MSG_TOO_LARGE, NOT_RUNNING (the callee is not running:
                  nothing delivered), then resources).
  unrecoverable   a syscall number that does not exist, or an argument
                  tuple that is not NARGS words: the caller is faulted
                  ("bad syscall N") and the supervisor decides; a handler
                  may also raise faults.Fault.
SYS_KCTL's operations are a table of their own (kernel/kctl.py). Leases
(SYS_CALL_LEASE, SYS_BORROW) are documented with their refusal order in
kernel/abi.py; SYS_BORROW copies between two tasks' blocks only through
kernel/taskmem.py (copy: both ranges checked, then one trap.copy).

Holds the handlers, SYSCALLS (indexed by abi.SYS_*) and dispatch(). It
does not check task memory (kernel/taskmem.py), keep IPC or scheduling
state (kernel/ipc.py, kernel/sched.py: handlers call their methods), start
or end tasks, or own the console (kernel/kernel.py: handlers call Kernel's
public methods). Pure Python, runs under MicroPython and CPython.
"""

from kernel import abi, taskmem
from kernel.abi import NARGS, NSYSCALLS
from kernel.buddy import is_int
from kernel.errors import KernelError, BAD_ARGUMENT, NO_SUCH_TASK, NOT_PERMITTED, MSG_TOO_LARGE, NOT_RUNNING, \
    PEER_DIED
from kernel.faults import Fault
from kernel.kctl import sys_kctl, word
from kernel.tasks import LIVE


def dispatch(k, t, no, args):
    """Run syscall `no` for task t with args (the trap layer's event) and
    set its result; fault t for a syscall that does not exist."""
    t.syscalls += 1
    if type(no) is not int or no < 0 or no >= NSYSCALLS:        # is_int(no), inline
        k.fault(t, "bad syscall %s" % (repr(no)[:20],), 0, 0)
        return
    if type(args) is not tuple or len(args) != NARGS:
        k.fault(t, "bad syscall %d arguments" % no, 0, 0)
        return
    gen = t.gen
    try:
        res = SYSCALLS[no](k, t, args)
    except KernelError as e:
        res = (-e.code, 0)
    except Fault as f:
        if t.status == LIVE and t.gen == gen:
            k.fault(t, f.reason, 0, 0)
        return
    if res is None or t.status != LIVE or t.gen != gen:
        return                          # blocked, or gone
    k.trap.set_result(t.tid, res[0], res[1])


# --- the handlers: f(kernel, caller Task, args) ------------------------------
# Return (r0, r1), or None (blocked or gone); raise KernelError (the caller
# gets -code) or Fault (the caller is faulted). Check everything first,
# change state after.

def sys_exit(k, t, a):
    code = a[0]
    if not is_int(code) or code < -0x80000000 or code > abi.WORD_MAX:
        raise KernelError(BAD_ARGUMENT, "exit code %s is not a 32-bit int" % (repr(code)[:24],))
    if code > 0x7FFFFFFF:
        code -= 0x100000000         # the word as int32
    k.exit(t, code)
    return None


def sys_yield(k, t, a):
    k.sched.yield_(t.tid)
    return (0, 0)


def sys_sleep(k, t, a):
    ms = a[0]
    if ms == 0 and type(ms) is int:
        return (0, 0)               # no time: the common case, word()'s check inline
    ms = word(ms, "sleep ms", abi.SLEEP_MAX)
    k.sleepers[t.tid] = k.now() + ms
    k.sched.block(t.tid, "sleep")
    return None


def sys_ticks(k, t, a):
    now = k.now()
    return (now & abi.R0_MAX, now >> 31)


def sys_write(k, t, a):
    ptr = word(a[0], "write ptr")
    n = word(a[1], "write len")
    taskmem.check(t, ptr, n, "write buffer", k.readonly, True)
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
    mode = word(a[0], "read mode", 2)
    if t.manifest.console != "read":
        raise KernelError(NOT_PERMITTED, "task %s may not read the console (console = %s)"
                          % (t.name, t.manifest.console or "false"))
    if t.tid == k.console_owner:
        if mode == 2:
            return (0, 0)       # it owns the console
        b = k.console_take(t.tid)
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
    h = word(a[0], "call dest")
    mptr = word(a[1], "call msg ptr")
    mlen = word(a[2], "call msg len")
    rptr = word(a[3], "call reply ptr")
    rcap = word(a[4], "call reply cap")
    taskmem.check(t, mptr, mlen, "call message", k.readonly, True)
    taskmem.check(t, rptr, rcap, "call reply buffer")
    return _call(k, t, h, mptr, mlen, rptr, rcap, None)


def sys_call_lease(k, t, a):
    h = word(a[0], "call dest")
    bptr = word(a[1], "call buffer ptr")
    lens = word(a[2], "call lengths")
    mlen = lens & 0xFFFF
    rcap = lens >> abi.LEASE_REPLY_SHIFT
    lptr = word(a[3], "lease ptr")
    lword = word(a[4], "lease word")
    rights = lword & ((1 << abi.LEASE_RIGHTS_BITS) - 1)
    llen = lword >> abi.LEASE_RIGHTS_BITS
    if rights == 0:
        raise KernelError(BAD_ARGUMENT, "lease rights 0: neither read nor write")
    taskmem.check(t, bptr, mlen, "call message", k.readonly, True)
    taskmem.check(t, bptr, rcap, "call reply buffer")
    if rights & abi.LEASE_WRITE:
        taskmem.check(t, lptr, llen, "lease")
    else:
        taskmem.check(t, lptr, llen, "lease", k.readonly, True)
    return _call(k, t, h, bptr, mlen, bptr, rcap, (lptr, llen, rights))


def _call(k, t, h, mptr, mlen, rptr, rcap, lease):
    dest = h & abi.HANDLE_ID_MASK
    d = k.callee(t, dest, h)
    k.current(d, h)
    if mlen > abi.MSG_MAX:
        raise KernelError(MSG_TOO_LARGE, "message of %d bytes, the limit is %d" % (mlen, abi.MSG_MAX))
    if d.status != LIVE:
        raise KernelError(NOT_RUNNING, "task %d (%s) is %s" % (dest, d.name, d.status))
    msg = k.read(t, mptr, mlen)
    wakes = k.ipc.call(t.tid, dest, msg, rptr, rcap, lease)
    k.sched.block(t.tid, "call %d" % dest)
    k.apply(wakes)
    return None


def _mask(v, what):
    """A notification mask word: 0 (none) or bits of NOTIFY_MASK."""
    v = word(v, what)
    if v & ~abi.NOTIFY_MASK:
        raise KernelError(BAD_ARGUMENT, "%s 0x%x is not 0..0x%x" % (what, v, abi.NOTIFY_MASK))
    return v


def sys_recv(k, t, a):
    bptr = word(a[0], "recv buffer ptr")
    bcap = word(a[1], "recv buffer cap")
    taskmem.check(t, bptr, bcap, "recv buffer")
    poll = word(a[2], "recv poll")
    mask = _mask(a[3], "recv notify mask")
    timeout = word(a[4], "recv timeout ms", abi.SLEEP_MAX)
    got, wakes = k.ipc.recv(t.tid, bptr, bcap, mask)
    k.apply(wakes)
    if got is None:
        if poll == 1:                       # nothing waits: do not wait
            k.ipc.cancel_recv(t.tid)
            return (0, 0)
        k.sched.block(t.tid, "recv")
        if timeout:
            k.timeouts[t.tid] = k.now() + timeout
        return None
    tid, r0, r1, ptr, data = got
    if data is not None and not k.copy_out(t, ptr, data):
        return None
    return (r0, r1)


def sys_reply(k, t, a):
    h = word(a[0], "reply sender")
    sender = h & abi.HANDLE_ID_MASK
    ptr = word(a[1], "reply ptr")
    n = word(a[2], "reply len")
    taskmem.check(t, ptr, n, "reply", k.readonly, True)
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
        k.apply([w])
    return (0, 0)


def sys_notify(k, t, a):
    h = word(a[0], "notify dest")
    dest = h & abi.HANDLE_ID_MASK
    bits = word(a[1], "notify bits")
    if bits == 0 or bits & ~abi.NOTIFY_MASK:
        raise KernelError(BAD_ARGUMENT, "notify bits 0x%x are not 1..0x%x" % (bits, abi.NOTIFY_MASK))
    d = k.callee(t, dest, h)
    k.current(d, h)
    if d.status != LIVE:
        raise KernelError(NOT_RUNNING, "task %d (%s) is %s" % (dest, d.name, d.status))
    k.apply(k.ipc.notify(t.tid, dest, bits))
    return (0, 0)


def sys_wait(k, t, a):
    mask = word(a[0], "wait mask")
    if mask == 0 or mask & ~abi.NOTIFY_MASK:
        raise KernelError(BAD_ARGUMENT, "wait mask 0x%x is not 1..0x%x" % (mask, abi.NOTIFY_MASK))
    timeout = word(a[1], "wait timeout ms", abi.SLEEP_MAX)
    poll = word(a[2], "wait poll ms", abi.POLL_MAX_MS)
    got = k.ipc.wait(t.tid, mask)
    if got is not None:
        return (got, 0)
    k.sched.block(t.tid, "wait")
    if timeout:
        k.timeouts[t.tid] = k.now() + timeout
    if poll:
        k.polls[t.tid] = k.now() + poll
    return None


def sys_lookup(k, t, a):
    ptr = word(a[0], "lookup name ptr")
    n = word(a[1], "lookup name len")
    taskmem.check(t, ptr, n, "lookup name", k.readonly, True)
    if not (1 <= n <= abi.NAME_MAX):
        raise KernelError(BAD_ARGUMENT, "name length %d is not 1..%d" % (n, abi.NAME_MAX))
    name = k.read(t, ptr, n)
    for tid in k.order:
        if k.tasks[tid].name.encode() == name:
            return (k.handle(tid), 0)       # the current incarnation's handle
    raise KernelError(NO_SUCH_TASK, "no task named %r" % (name,))


def sys_irq(k, t, a):
    """The caller's interrupts: IRQ_ACK unmasks the raw IRQs behind `bits`
    (a UART's need none: its driver never masks them), IRQ_OWNED tells
    the bits of its grants. A bit that is none of the caller's IRQs is
    NOT_PERMITTED: a task learns nothing of another's interrupts."""
    op = word(a[0], "irq op", abi.IRQ_OWNED)
    mine = k.irq_bits(t)
    owned = 0
    for name in mine:
        owned |= 1 << mine[name]
    if op == abi.IRQ_OWNED:
        return (owned, 0)
    bits = word(a[1], "irq bits")
    if bits == 0 or bits & ~abi.NOTIFY_MASK:
        raise KernelError(BAD_ARGUMENT, "irq bits 0x%x are not 1..0x%x" % (bits, abi.NOTIFY_MASK))
    if bits & ~owned:
        raise KernelError(NOT_PERMITTED, "task %s owns no interrupt at bits 0x%x" % (t.name, bits & ~owned))
    for name in mine:
        got = k.irqs.get(name)
        if bits >> mine[name] & 1 and got is not None and got[1] == "raw":
            for n in got[0]:
                k.trap.irq_ack(n)
    return (0, 0)


def sys_uart(k, t, a):
    """Bulk I/O on a task UART the caller owns (its `irqs` grant). The trap
    layer answers the owner's well-formed calls itself (the same rules,
    hal/arch/armv7m/trap.c); this is the rest: the refusals, and the
    simulator. Never blocks."""
    op = word(a[0], "uart op", abi.UART_WRITE)
    dev = word(a[1], "uart device")
    ptr = word(a[2], "uart ptr")
    n = word(a[3], "uart len")
    least = word(a[4], "uart wake at")
    taskmem.check(t, ptr, n, "uart buffer", k.readonly if op == abi.UART_WRITE else (), op == abi.UART_WRITE)
    name = k.uarts.get(dev)
    if name is None:
        raise KernelError(BAD_ARGUMENT, "uart device %d is not a task UART of this board" % dev)
    if name not in k.irq_bits(t):
        raise KernelError(NOT_PERMITTED, "task %s does not own %s" % (t.name, name))
    if n > abi.UART_RING:
        n = abi.UART_RING
    if op == abi.UART_READ:
        if n == 0:
            return (k.trap.uart_read(dev, 0, least), 0)     # arm only: the count waiting
        data = k.trap.uart_read(dev, n, least)
        if data and not k.copy_out(t, ptr, data):
            return None
        return (len(data), 0)
    return (k.trap.uart_write(dev, k.read(t, ptr, n)), 0)


def sys_borrow(k, t, a):
    op = word(a[0], "borrow op", abi.BORROW_INFO)
    h = word(a[1], "borrow sender")
    off = word(a[2], "borrow offset")
    ptr = word(a[3], "borrow ptr")
    n = word(a[4], "borrow len")
    if op == abi.BORROW_WRITE:
        taskmem.check(t, ptr, n, "borrow source", k.readonly, True)
    elif op == abi.BORROW_READ:
        taskmem.check(t, ptr, n, "borrow buffer")
    sender = h & abi.HANDLE_ID_MASK
    s = k.tasks.get(sender)
    if s is None or h >> abi.HANDLE_ID_BITS > abi.HANDLE_GEN_MASK:
        raise KernelError(NO_SUCH_TASK, "no task 0x%x" % h)
    k.current(s, h)
    if s.status != LIVE:
        raise KernelError(PEER_DIED, "task %d (%s) is %s: its lease ended" % (sender, s.name, s.status))
    lptr, llen, rights = k.ipc.lease(t.tid, sender)
    if op == abi.BORROW_INFO:
        return (llen, rights)
    need = abi.LEASE_READ if op == abi.BORROW_READ else abi.LEASE_WRITE
    if not rights & need:
        raise KernelError(NOT_PERMITTED, "task %d's lease is not %s" % (
            sender, "readable" if need == abi.LEASE_READ else "writable"))
    if off + n > llen:
        raise KernelError(BAD_ARGUMENT, "borrow %d+%d is past the lease's %d bytes" % (off, n, llen))
    if op == abi.BORROW_READ:
        taskmem.copy(k.trap, s, lptr + off, t, ptr, n, k.readonly)
    else:
        taskmem.copy(k.trap, t, ptr, s, lptr + off, n, k.readonly)
    return (n, 0)


SYSCALLS = (sys_exit, sys_yield, sys_sleep, sys_ticks, sys_write, sys_read, sys_call,
            sys_recv, sys_reply, sys_notify, sys_wait, sys_lookup, sys_kctl, sys_irq, sys_uart,
            sys_call_lease, sys_borrow)

assert len(SYSCALLS) == abi.NSYSCALLS
