"""Kernel control (SYS_KCTL): the table of the operations the shell uses to
query and steer the kernel, one function per operation.

    r0, r1 = SYS_KCTL(op, arg, buf_ptr, buf_cap)

Every operation has the same shape: f(kernel, caller Task, arg, buf_ptr,
buf_cap) returns a dict (a query's reply: the kernel writes it as JSON text
into the buffer, r0 = its length) or None (a control: r0 = 0), and fails in
one way only, by raising errors.KernelError: the caller gets r0 = -code.
No operation answers success with an error inside its reply. A code, in
errors.PRECEDENCE order where several apply:
  BAD_ARGUMENT   a word out of range, an op that is not in OPS (0..NKCTL-1,
                 abi.KCTL_*), the buffer not inside the caller's memory, an
                 install chunk too long or an install step that does not
                 exist (the stream goes on)
  NO_SUCH_TASK   `arg` names no task (the controls that take a tid)
  NOT_PERMITTED  the caller's manifest has no `kernel = true`; FG: the
                 target does not read the console
  BAD_STATE      the target's state does not allow it (kill what is not
                 running, start what is, fault what is not live, kill the
                 console task, hand the console to its owner); no installer
                 or no boot information; a remove the installer refuses
  MSG_TOO_LARGE  the reply does not fit: r1 = the buffer size it needs
  BAD_BUNDLE     an install step refused the bundle and the stream is over:
                 the buffer holds the reason (UTF-8 text), r1 its length
Which checks an op makes, in which order, is in its function.

Holds the table (OPS, indexed by abi.KCTL_*), the operations and the
builders of the query replies (ps, mem, ipc_table, tasks_table; the fault
log's is kernel/faults.py's). It does not start, stop or fault tasks itself
(kernel/kernel.py), check task memory (kernel/taskmem.py), install bundles
(kernel/bundles.py) or talk to the bootloader (kernel/bootctl.py).
Pure Python, runs under MicroPython and CPython.
"""

import gc
import json

from kernel import abi, bundles, rights, taskmem
from kernel.buddy import is_int
from kernel.errors import KernelError, BAD_ARGUMENT, BAD_STATE, MSG_TOO_LARGE, BAD_BUNDLE, NO_SUCH_TASK, \
    NOT_PERMITTED, NOT_RUNNING
from kernel.tasks import LIVE, RESTARTING


def word(x, what, hi=abi.WORD_MAX):
    """x when it is an int 0..hi, else BAD_ARGUMENT."""
    if not is_int(x) or x < 0 or x > hi:
        raise KernelError(BAD_ARGUMENT, "%s %s is not an int 0..%d" % (what, repr(x)[:24], hi))
    return x


def sys_kctl(k, t, a):
    """The SYS_KCTL handler (kernel/syscalls.py): check the words and the
    buffer, run the op, write a query's reply."""
    op = word(a[0], "kctl op")
    arg = word(a[1], "kctl arg")
    bptr = word(a[2], "kctl buffer ptr")
    bcap = word(a[3], "kctl buffer cap")
    if op >= len(OPS):
        raise KernelError(BAD_ARGUMENT, "kctl op %d is not 0..%d" % (op, abi.NKCTL - 1))
    taskmem.check(t, bptr, bcap, "kctl buffer")
    try:
        reply = OPS[op](k, t, arg, bptr, bcap)
    except KernelError as e:
        if e.code != BAD_BUNDLE:
            raise
        text = e.message.encode()[:bcap]
        if not k.copy_out(t, bptr, text):
            return None
        return (-BAD_BUNDLE, len(text))
    if reply is None:
        return (0, 0)
    text = json.dumps(reply).encode()
    if len(text) > bcap:
        return (-MSG_TOO_LARGE, len(text))      # r1: the buffer it needs
    if not k.copy_out(t, bptr, text):
        return None
    return (len(text), 0)


# --- the operations: f(kernel, caller, arg, buf_ptr, buf_cap) -> dict or None

def kctl_ps(k, t, arg, bptr, bcap):
    k.need(t, "kernel")
    return ps(k)


def kctl_mem(k, t, arg, bptr, bcap):
    k.need(t, "kernel")
    return mem(k)


def kctl_faults(k, t, arg, bptr, bcap):
    k.need(t, "kernel")
    return k.fault_log.reply()


def kctl_ipc(k, t, arg, bptr, bcap):
    k.need(t, "kernel")
    return ipc_table(k)


def kctl_kill(k, t, arg, bptr, bcap):
    target = k.task(arg)
    k.need(t, "kernel")
    if target.status != LIVE and target.status != RESTARTING:
        raise KernelError(BAD_STATE, "task %d (%s) is %s" % (arg, target.name, target.status))
    k.kill(arg)
    return None


def kctl_start(k, t, arg, bptr, bcap):
    target = k.task(arg)
    k.need(t, "kernel")
    if target.status == LIVE:
        raise KernelError(BAD_STATE, "task %d (%s) is already running" % (arg, target.name))
    k.start(arg)
    return None


def kctl_restart(k, t, arg, bptr, bcap):
    k.task(arg)
    k.need(t, "kernel")
    k.restart(arg)
    return None


def kctl_reboot(k, t, arg, bptr, bcap):
    k.need(t, "kernel")
    k.halted = "reboot"
    return None


def kctl_poweroff(k, t, arg, bptr, bcap):
    k.need(t, "kernel")
    k.halted = "poweroff"
    return None


def kctl_tasks(k, t, arg, bptr, bcap):
    k.need(t, "kernel")
    return tasks_table(k)


def kctl_boot(k, t, arg, bptr, bcap):
    k.need(t, "kernel")
    reply = k.boot.status(k.now()) if k.boot is not None else {"slot": None}
    reply["safe_mode"] = k.safe_mode
    return reply


def kctl_confirm(k, t, arg, bptr, bcap):
    k.need(t, "kernel")
    if k.boot is None or k.boot.info is None:
        raise KernelError(BAD_STATE, "no boot information: the kernel was not started by the QENEX bootloader")
    written = k.boot.confirm()
    reply = k.boot.status(k.now())
    reply["written"] = written
    return reply


def kctl_install(k, t, arg, bptr, bcap):
    """arg = n << 3 | step (abi.INSTALL_*), the buffer holds n bytes.
    INSTALL_END runs one bounded step of the bundle's check and answers
    {"busy": steps} until the verdict; the installing task then yields, so
    the tasks of its priority (and higher) run between its steps. A
    refusal by the installer (BundleError, ManifestError, a KernelError of
    the pool or the task table) aborts the stream: BAD_BUNDLE, with why."""
    k.need(t, "kernel")
    inst = k.installer
    if inst is None:
        raise KernelError(BAD_STATE, "this kernel installs no tasks")
    step, n = arg & 7, arg >> 3
    if n > bundles.CHUNK_MAX or n > bcap:
        raise KernelError(BAD_ARGUMENT, "install chunk of %d bytes: at most %d, within the buffer"
                          % (n, bundles.CHUNK_MAX))
    if step > abi.INSTALL_DISCARD:
        raise KernelError(BAD_ARGUMENT, "install step %d is not 0..5" % step)
    data = k.read(t, bptr, n)
    try:
        if step == abi.INSTALL_BEGIN:
            words = data.decode().split()
            return inst.begin(k, words[0] if words else None, int(words[1]) if len(words) > 1 else None, t.tid)
        if step == abi.INSTALL_DATA:
            return inst.data(k, data)
        if step == abi.INSTALL_END:
            r = inst.end(k)
            if "busy" in r:             # one bounded step of the check done: the task's
                k.sched.yield_(t.tid)   # priority and higher run before its next one
            return r
        if step == abi.INSTALL_COMMIT:
            return inst.commit(k)
        if step == abi.INSTALL_ABORT:
            inst.abort()
            return {}
        # INSTALL_DISCARD: throw a refused paste away, here: no trip a byte
        if data:
            inst.discarding = [int(data), 0]
        got, ended = bundles.discard(lambda: k.console_take(t.tid), inst.discarding)
        return {"n": got, "end": ended}
    except (ValueError, KernelError) as e:  # BundleError, ManifestError: the stream is over
        if isinstance(e, KernelError) and e.code == BAD_ARGUMENT:
            raise
        inst.abort()
        raise KernelError(BAD_BUNDLE, str(e))


def kctl_remove(k, t, arg, bptr, bcap):
    k.need(t, "kernel")
    if k.installer is None:
        raise KernelError(BAD_STATE, "this kernel installs no tasks")
    name = k.task(arg).name
    try:
        k.installer.remove(k, name)
    except ValueError as e:
        raise KernelError(BAD_STATE, str(e))
    return None


def kctl_fg(k, t, arg, bptr, bcap):
    k.need(t, "kernel")
    k.give_console(k.task(arg).tid)
    return None


def kctl_fault(k, t, arg, bptr, bcap):
    target = k.task(arg)
    k.need(t, "kernel")
    if target.status != LIVE:
        raise KernelError(BAD_STATE, "task %d (%s) is %s" % (arg, target.name, target.status))
    k.fault(target, "injected by the operator", 0, 0)
    return None


def kctl_time(k, t, arg, bptr, bcap):
    """arg 0: the clock's status, to any task (the time is no secret).
    arg 1: set it from "UTC_MS SOURCE" in the buffer (capability clock);
    a malformed text or an implausible time is BAD_ARGUMENT with why."""
    if arg > 1:
        raise KernelError(BAD_ARGUMENT, "time arg %d is not 0 (read) or 1 (set)" % arg)
    if arg == 1:
        k.need(t, "clock")
        text = k.read(t, bptr, min(bcap, 64)).split(b"\0")[0]
        words = text.split()
        # bytes.isdigit() is ASCII-only on CPython and MicroPython alike
        if len(words) != 2 or len(words[0]) > 16 or not words[0].isdigit():
            raise KernelError(BAD_ARGUMENT, "time set: %r is not \"UTC_MS SOURCE\"" % text[:40])
        try:
            k.clock.set(int(words[0]), words[1].decode())
        except (ValueError, UnicodeError) as e:
            raise KernelError(BAD_ARGUMENT, "time set: %s" % e)
        fix = k.clock.correction
        k.line("clock: set by %s (%s)%s" % (t.name, words[1].decode(),
                                             "" if fix is None else ", moved by %+d ms" % fix))
    return k.clock.status()


def kctl_peer(k, t, arg, bptr, bcap):
    """What a task that may call the caller was granted: {"name", "ports"}.
    Any task may ask, about its own callers only (NOT_PERMITTED otherwise,
    before anything of the target's state is told): a server checks a
    client's port grant against the signed manifest, not the client's word,
    and a stale or stopped handle (PEER_DIED, NOT_RUNNING) tells it an owner
    of its resources has ended."""
    tid = arg & abi.HANDLE_ID_MASK
    target = k.tasks.get(tid)
    if target is None or arg >> abi.HANDLE_ID_BITS > abi.HANDLE_GEN_MASK:
        raise KernelError(NO_SUCH_TASK, "no task 0x%x" % arg)
    if t.name not in k.caps.get(target.name, ()):
        raise KernelError(NOT_PERMITTED, "task %s does not call %s" % (target.name, t.name))
    k.current(target, arg)
    if target.status != LIVE:
        raise KernelError(NOT_RUNNING, "task %d (%s) is %s" % (tid, target.name, target.status))
    return {"name": target.name, "ports": list(target.manifest.ports)}


OPS = (kctl_ps, kctl_mem, kctl_faults, kctl_ipc, kctl_kill, kctl_start, kctl_restart,
       kctl_reboot, kctl_poweroff, kctl_tasks, kctl_boot, kctl_confirm, kctl_install,
       kctl_remove, kctl_fg, kctl_fault, kctl_time, kctl_peer)

assert len(OPS) == abi.NKCTL     # in abi.KCTL_* order (tests/host/test_kernel_kctl.py)


# --- the query replies (dicts, sent as JSON) -------------------------------

def ps(k):
    """KCTL_PS: {"uptime_ms", "idle_ms", "tasks": [row, ...]}, a row per
    task in tid order: {"id", "name", "state", "prio", "wait" (what a
    blocked task waits for: "recv", "call 3", "sleep", "wait", "read";
    else null), "heap": [used, size] or null, "stack": [high_water,
    size] or null (null unless live), "restarts", "faults", "cpu_ms"
    (ms run since boot), "syscalls", "exit" (code of an exited task, else
    null)}; "console" (tid of the console's owner), "console_task" (tid
    of the console task), "safe_mode". CPU share = cpu_ms of a task /
    (uptime_ms); `top` takes the difference of two replies. "counter" is
    the board counter when the query arrived, read before the rows are
    gathered (the shell's first PS, right after its first prompt, is where
    `uptime`'s boot-to-prompt figure comes from: the rows are not part of
    the boot). "idle_counts": the counts of that counter the board spent
    idle since boot (mod 2**32; null without a counter), read with it:
    busy time over a run is the difference of the counters less that of
    the idle counts, exactly."""
    counter = k.counter() if k.counter else None
    idle_counts = k.trap.idle_counts() if counter is not None and hasattr(k.trap, "idle_counts") else None
    rows = []
    for tid in k.order:
        t = k.tasks[tid]
        heap = stack = wait = None
        fast = 0
        state = t.status
        if t.status == LIVE:
            info = k.sched.info(tid)
            state = info["state"]
            wait = info["reason"]
            try:
                st = k.trap.task_stats(tid)
                heap = [st[0], st[1]]
                stack = [st[2], st[3]]
                fast = st[4] if len(st) > 4 else 0      # answered by the trap layer
            except (ValueError, KeyError):
                pass
        rows.append({"id": tid, "name": t.name, "state": state, "prio": t.manifest.priority,
                     "wait": wait, "heap": heap, "stack": stack, "restarts": t.restarts,
                     "faults": t.faults, "cpu_ms": t.cpu_ms, "syscalls": t.syscalls + fast,
                     "exit": t.exit_code})
    return {"uptime_ms": k.now(), "idle_ms": k.idle_ms, "tasks": rows,
            "console": k.console_owner, "console_task": k.console_tid, "safe_mode": k.safe_mode,
            "counter": counter, "entry_counter": k.entry_counter,
            "idle_counts": idle_counts}


def mem(k):
    """KCTL_MEM: {"base", "total", "free", "largest", "blocks": [[addr,
    size, owner tid or null, owner name or null], ...] by address}."""
    s = k.buddy.stats()
    blocks = []
    for addr, size, owner in s["blocks"]:
        if owner is None:
            blocks.append([addr, size, None, None])
        elif owner in k.tasks:
            blocks.append([addr, size, owner, k.tasks[owner].name])
        else:                           # not a task's (e.g. a driver buffer)
            blocks.append([addr, size, None, str(owner)])
    try:
        kheap = [gc.mem_alloc(), gc.mem_free()]     # MicroPython only
    except AttributeError:
        kheap = None
    return {"base": k.buddy.base, "total": s["total"], "free": s["free"],
            "largest": s["largest_free"], "blocks": blocks, "kernel_heap": kheap}


def ipc_table(k):
    """KCTL_IPC: {"tasks": [{"id", "name", "sent", "received",
    "replied", "notified", "peer_died", "calling" (tid or null),
    "queued" (callers waiting for it), "serving" (calls it holds)}, ...]}."""
    rows = []
    for tid in k.order:
        row = k.ipc.info(tid)
        row["id"] = tid
        row["name"] = k.tasks[tid].name
        rows.append(row)
    return {"tasks": rows}


def tasks_table(k):
    """KCTL_TASKS: the system as declared: {"tasks": [{"id", "name",
    "entry", "prio", "heap", "stack", "block" (bytes of its memory
    block), "restart" ("never", "always" or "limit N"), "backoff_ms",
    "calls", "console", "kernel", "devices", "irqs" (["name:bit"]), "ports",
    "hsm_keys" (["label:op+op"]),
    "state" (as ps), "bundle" (an installed task's {"slot", "version",
    "counter"}, else null)}, ...], "safe_mode", "pool" (task pool bytes),
    "bundle_ram" (Kernel.bundle_ram()), "block_max" (rights.BLOCK_MAX),
    "max_tid"}; console is false, "write" or "read"."""
    rows = []
    for tid in k.order:
        m = k.tasks[tid].manifest
        restart = m.restart
        if restart == "limit":
            restart = "limit %d" % m.restart_limit
        rows.append({"id": tid, "name": m.name, "entry": m.entry, "prio": m.priority,
                     "heap": m.heap, "stack": m.stack, "block": m.region_size(),
                     "restart": restart, "backoff_ms": m.backoff_ms, "calls": list(m.calls),
                     "console": m.console, "kernel": m.kernel, "devices": list(m.devices),
                     "irqs": ["%s:%d" % (n, b) for n, b in m.irqs], "ports": list(m.ports),
                     "hsm_keys": ["%s:%s" % (h["label"], "+".join(h["ops"])) for h in m.hsm_keys],
                     "state": k.state_of(tid),
                     "bundle": k.installer.describe(m.name) if k.installer else None})
    return {"tasks": rows, "safe_mode": k.safe_mode, "pool": k.pool_size,
            "bundle_ram": k.bundle_ram(), "block_max": rights.BLOCK_MAX, "max_tid": k.max_tid}
