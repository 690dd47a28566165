"""The shell's command table: the kernel's commands (help, version, uptime,
ps, cpu, top, kill, start, restart, fg, fault, exit, mem, faults, ipc, call,
echo, tasks, boot, reboot, poweroff), and the services' commands registered
from beside their services (userland/hsm/shell.py, userland/ledger/shell.py,
userland/gateway/shell.py), in the order `help` lists them.

The registry and the dispatcher are dispatch.py's (this module hands on
its names: dispatch, split, register, command, lookup, commands,
UsageError, error_line, table, ...). It does not read the console or edit
lines (lineedit.py, shell.py do that).

`ctx` provides: write(str), version_info() -> dict, uptime_ms() -> int,
boot_counts() -> (kernel_entry, prompt) 25 MHz counter values or None, heap() -> (used, free), memory_map() -> list of
(name, base, size, what), tasks() -> list of dicts (id, name, state, prio),
reboot(), poweroff(); call(dest, data) for the services' commands.
"""
from kernel import abi
from userland.shell.dispatch import (  # noqa: F401 (handed on: the shell's one table)
    _COMMANDS, UsageError, _unknown, command, commands, dispatch, error_line, fmt_ms, fmt_size, lookup,
    number, pad, register, split, table)
# after dispatch, which they import (already loaded then: one import less deep on the shell's stack)
from userland.gateway import shell as gateway_shell  # noqa: E402
from userland.hsm import shell as hsm_shell  # noqa: E402
from userland.ledger import shell as ledger_shell  # noqa: E402
try:                                                # an image without the net task (test, dev)
    from userland.net import shell as net_shell     # has no `net` command
except ImportError:
    net_shell = None


@command("help [CMD]", "list commands, or describe one", 1)
def _help(ctx, args):
    cmds = _COMMANDS
    if args:
        c = lookup(args[0])
        if c is None:
            _unknown(ctx, args[0])
            return
        cmds = [c]
    w = max([len(c.usage) for c in _COMMANDS]) + 2
    for c in cmds:
        ctx.write(pad(c.usage, w) + c.help + "\n")


@command("version", "kernel, MicroPython, board and build", 0)
def _version(ctx, args):
    v = ctx.version_info()
    g = v.get
    ctx.write("QENEX OS %s (commit %s)\n" % (g("kernel", "?"), g("commit", "?")))
    ctx.write("MicroPython %s\n" % g("micropython", "?"))
    ctx.write("board %s\n" % g("board", "?"))
    ctx.write("built %s\n" % g("built", "?"))


@command("uptime", "time since boot, and boot-to-prompt time", 0)
def _uptime(ctx, args):
    ms = ctx.uptime_ms()
    ctx.write("up %s (%d ms)\n" % (fmt_ms(ms), ms))
    counts = ctx.boot_counts()
    if counts is not None:
        # One count of the 25 MHz FPGA counter is 40 ns; with -icount shift=0
        # QEMU runs one guest instruction per virtual ns.
        entry, n = counts
        us = n * 40 // 1000
        ctx.write("boot to prompt: %d counts at 25 MHz = %d.%03d ms"
                  " (%d guest instructions under -icount shift=0)\n"
                  % (n, us // 1000, us % 1000, n * 40))
        ctx.write("  bootloader and image check %d counts, kernel start %d counts\n"
                  % (entry, n - entry))


@command("date [set YYYY-MM-DDTHH:MM:SS[.sss]Z]",
         "the board's UTC clock, and who set it; `date set` sets it (operator)", 2)
def _date(ctx, args):
    from userland.lib import utc        # here: the shell's heap holds the module only once asked
    if args and (args[0] != "set" or len(args) != 2):
        raise UsageError()
    if args:
        try:
            ms = utc.parse_iso(args[1])
        except utc.TimeError as e:
            ctx.write("date: %s\n" % e)
            return
        try:
            ctx.clock(ms, "operator")
        except Exception as e:          # qenex.Error: BAD_ARGUMENT (implausible), NOT_PERMITTED
            hint = ""
            if getattr(e, "name", "BAD_ARGUMENT") == "BAD_ARGUMENT":
                hint = " (the kernel takes %s .. 9999-12-31 UTC)" % utc.iso_date(
                    ctx.version_info().get("built_ms") or 0)
            ctx.write("date: refused: %s%s\n" % (e, hint))
            return
    st = ctx.clock()
    if st["utc_ms"] is None:
        ctx.write("date: not set (up %s): `date set YYYY-MM-DDTHH:MM:SSZ`, the host or SNTP sets it;"
                  " until then services stamp T+<ms since boot>\n" % fmt_ms(st["uptime_ms"]))
        return
    fix = st["correction_ms"]
    ctx.write("%s (UTC; set by %s %s ago%s)\n" % (
        utc.iso(st["utc_ms"]), st["source"], fmt_ms(st["set_ago_ms"]),
        "" if fix is None else ", which moved it by %+d ms" % fix))


def _kctl(ctx, op, arg=0):
    return ctx.kctl(op, arg)


def _permille(part, whole):
    """part/whole as "12.3%" with integers only."""
    pm = part * 1000 // whole if whole > 0 else 0
    return "%d.%d%%" % (pm // 10, pm % 10)


def _pair(p):
    return "-" if p is None else "%d/%d" % (p[0], p[1])


def _ps_rows(reply, prev=None):
    """Rows of `ps`; CPU is the share since boot, or since `prev` (top)."""
    up = reply["uptime_ms"]
    before = {}
    if prev is not None:
        up -= prev["uptime_ms"]
        for t in prev["tasks"]:
            before[t["id"]] = t["cpu_ms"]
    rows = []
    for t in reply["tasks"]:
        state = t["state"] if not t["wait"] else "%s(%s)" % (t["state"], t["wait"])
        cpu = t["cpu_ms"] - before.get(t["id"], 0)
        rows.append([str(t["id"]), t["name"], state, str(t["prio"]), _pair(t["heap"]),
                     _pair(t["stack"]), str(t["restarts"]), _permille(cpu, up)])
    return rows


PS_HEADER = ["ID", "NAME", "STATE", "PRIO", "HEAP", "STACK", "RESTARTS", "CPU"]
SAFE_LINE = "safe mode: installed tasks were not started at boot\n"


@command("ps", "tasks: state, priority, heap and stack use, restarts, CPU share", 0)
def _ps(ctx, args):
    reply = _kctl(ctx, abi.KCTL_PS)
    if reply.get("safe_mode"):
        ctx.write(SAFE_LINE)
    table(ctx, PS_HEADER, _ps_rows(reply))


@command("cpu", "each task's CPU time since boot in ms, with uptime, idle and the board counter (benchmarks difference two)", 0)
def _cpu(ctx, args):
    reply = _kctl(ctx, abi.KCTL_PS)
    ctx.write("up %d ms, idle %d ms\n" % (reply["uptime_ms"], reply["idle_ms"]))
    if reply.get("counter") is not None and reply.get("idle_counts") is not None:
        # exact: instructions run = 40 x (counter - idle counts) under QEMU's -icount shift=0
        ctx.write("25 MHz counter %d, idle %d (mod 2**32)\n" % (reply["counter"], reply["idle_counts"]))
    table(ctx, ["ID", "NAME", "CPU_MS"], [[str(t["id"]), t["name"], str(t["cpu_ms"])] for t in reply["tasks"]])


@command("top [MS]", "ps refreshed every MS (default 1000) until a key is pressed", 1)
def _top(ctx, args):
    period = number(args[0]) if args else 1000
    if period < 100:
        raise UsageError()
    prev = _kctl(ctx, abi.KCTL_PS)
    while True:
        waited = 0
        while waited < period:
            if ctx.poll_byte() is not None:
                return
            ctx.sleep(50)
            waited += 50
        cur = _kctl(ctx, abi.KCTL_PS)
        ctx.write("\x1b[2J\x1b[Htop: up %s, every %d ms, any key stops\n" % (fmt_ms(cur["uptime_ms"]), period))
        table(ctx, PS_HEADER, _ps_rows(cur, prev))
        prev = cur


def _task_id(ctx, text):
    """A task id, or the id of the task with that name (the id part of its
    IPC handle: kernel/abi.py HANDLE_ID_MASK)."""
    try:
        return int(text)
    except ValueError:
        return ctx.lookup(text) & abi.HANDLE_ID_MASK


def _ipc_dest(ctx, text):
    """What to call for a task id or name: a name as it is (looked up at the
    call: the current incarnation's handle); an id through its task's name,
    so that an id still reaches a task that has restarted since."""
    try:
        tid = int(text)
    except ValueError:
        return text
    for row in _kctl(ctx, abi.KCTL_PS)["tasks"]:
        if row["id"] == tid:
            return row["name"]
    return tid                  # the kernel answers NO_SUCH_TASK


def _control(op, done):
    """A command that sends one KCTL control for the task named by its argument."""
    def fn(ctx, args):
        if len(args) != 1:
            raise UsageError()
        tid = _task_id(ctx, args[0])
        _kctl(ctx, op, tid)
        ctx.write("%s task %d\n" % (done, tid))
    return fn


@command("kill ID", "stop a task (no restart); not the shell, which is the console", 1)
def _kill(ctx, args):
    if len(args) != 1:
        raise UsageError()
    tid = _task_id(ctx, args[0])
    if tid == _kctl(ctx, abi.KCTL_PS).get("console_task"):
        ctx.write("kill: refused: %s is the console task and is never stopped (the board would have "
                  "no console); `restart %s` starts a new one\n" % (args[0], args[0]))
        return
    _kctl(ctx, abi.KCTL_KILL, tid)
    ctx.write("killed task %d\n" % tid)


register("start NAME", "start a stopped task", _control(abi.KCTL_START, "started"), 1)
register("restart ID", "stop a task if it runs, then start it", _control(abi.KCTL_RESTART, "restarted"), 1)


@command("fg NAME", "hand the console to a task that reads it (console = read); "
         "Ctrl-Z or the task's end gives it back", 1)
def _fg(ctx, args):
    if len(args) != 1:
        raise UsageError()
    _kctl(ctx, abi.KCTL_FG, _task_id(ctx, args[0]))
    ctx.wait_console()


register("fault ID", "make a task fault now, to try its restart policy", _control(abi.KCTL_FAULT, "faulted"), 1)


@command("exit", "end this shell; the kernel starts a new one at once", 0)
def _exit(ctx, args):
    ctx.exit()


@command("mem", "kernel heap, the task RAM pool and the board's memory map", 0)
def _mem(ctx, args):
    m = _kctl(ctx, abi.KCTL_MEM)
    if m.get("kernel_heap"):
        used, free = m["kernel_heap"]
        total = used + free
        pct = used * 100 // total if total else 0
        ctx.write("kernel heap: %d used (%d%%), %d free (%d%%), %d total bytes\n"
                  % (used, pct, free, 100 - pct if total else 0, total))
    ctx.write("task pool: %s at 0x%08x, %s free, largest free block %s\n"
              % (fmt_size(m["total"]), m["base"], fmt_size(m["free"]), fmt_size(m["largest"])))
    rows = [["0x%08x" % b[0], fmt_size(b[1]), "free" if b[3] is None else "%s (%d)" % (b[3], b[2])
             if b[2] is not None else b[3]] for b in m["blocks"]]
    table(ctx, ["BLOCK", "SIZE", "OWNER"], rows)
    rows = [[name, "0x%08x" % base, fmt_size(size), what]
            for name, base, size, what in ctx.memory_map()]
    table(ctx, ["NAME", "BASE", "SIZE", "WHAT"], rows)


@command("faults", "recent faults: task, reason, address, what the supervisor did", 0)
def _faults(ctx, args):
    f = _kctl(ctx, abi.KCTL_FAULTS)
    ctx.write("%d faults since boot\n" % f["total"])
    rows = [[str(x["seq"]), fmt_ms(x["t"]), "%s (%d)" % (x["name"], x["id"]), x["reason"],
             "0x%08x" % x["pc"] if x["pc"] else "-", "0x%08x" % x["addr"] if x["addr"] else "-",
             x["action"]] for x in f["faults"]]
    table(ctx, ["#", "AT", "TASK", "REASON", "PC", "ADDR", "ACTION"], rows)


@command("ipc", "message counts per task, and who waits on whom", 0)
def _ipc(ctx, args):
    rows = []
    for t in _kctl(ctx, abi.KCTL_IPC)["tasks"]:
        rows.append([str(t["id"]), t["name"], str(t["sent"]), str(t["received"]), str(t["replied"]),
                     str(t["notified"]), str(t["peer_died"]),
                     "-" if t["calling"] is None else str(t["calling"]), str(t["queued"])])
    table(ctx, ["ID", "NAME", "SENT", "RECEIVED", "REPLIED", "NOTIFIED", "PEER_DIED", "CALLING",
                "QUEUED"], rows)


@command("call TASK TEXT...", "send TEXT to a task and print its reply")
def _call(ctx, args):
    if len(args) < 2:
        raise UsageError()
    reply = ctx.call(_ipc_dest(ctx, args[0]), " ".join(args[1:]).encode())
    ctx.write("%s\n" % reply.decode())


@command("echo TEXT...", "print TEXT")
def _echo(ctx, args):
    ctx.write(" ".join(args) + "\n")


def _image_name():
    try:
        import _image          # frozen by the build (tools/gather_manifests.py)
        return _image.NAME
    except ImportError:
        return "?"


def _list(items):
    return ",".join(items) if items else "-"


def _tasks_image(ctx, t):
    """`tasks image`: the image's task and capability table as the kernel
    declares it (KCTL_TASKS), one row per built-in task: priority, memory
    block (heap + stack), the tasks it may call, the devices it maps, the
    interrupts it owns (name:notification bit), the ports it may listen on,
    the kernel and console rights, its HSM keys; then what is left for bundles."""
    rows = [r for r in t["tasks"] if not r["bundle"]]
    ctx.write("image %s: %d tasks; task ids %d used, %d free for bundles (of %d)\n" % (
        _image_name(), len(rows), len(t["tasks"]), t["max_tid"] - len(t["tasks"]), t["max_tid"]))
    table(ctx, ["ID", "NAME", "PRIO", "BLOCK", "CALLS", "DEVICES", "IRQS", "PORTS", "KERNEL", "CONSOLE",
                "HSM KEYS"],
          [[str(r["id"]), r["name"], str(r["prio"]), fmt_size(r["block"]), _list(r["calls"]),
            _list(r["devices"]), _list(r["irqs"]), _list(["%d" % p for p in r["ports"]]),
            "yes" if r["kernel"] else "-", r["console"] or "-", _list(r["hsm_keys"])]
           for r in rows])


@command("tasks [image|install NAME [SIZE]|remove NAME]",
         "installed tasks and RAM for bundles; `image`: the image's tasks and their rights; install a "
         "signed bundle (base64 lines) or remove one", 3)
def _tasks(ctx, args):
    if not args or args == ["image"]:
        t = _kctl(ctx, abi.KCTL_TASKS)
        if args:
            _tasks_image(ctx, t)
        if t.get("safe_mode"):
            ctx.write(SAFE_LINE)
        rows = [[str(r["id"]), r["name"], _version_text(r["bundle"]["version"]), str(r["bundle"]["slot"]),
                 fmt_size(r["block"]), r["state"]] for r in t["tasks"] if r["bundle"]]
        if rows:
            table(ctx, ["ID", "NAME", "VERSION", "SLOT", "BLOCK", "STATE"], rows)
        elif not args:
            ctx.write("no installed tasks\n")
        ctx.write("RAM for bundles: %s free of the %s task pool (every task's block counts, stopped ones too); "
                  "an installed task's block is at most %s\n" % (fmt_size(t["bundle_ram"]), fmt_size(t["pool"]),
                                                                  fmt_size(t["block_max"])))
        return
    if args[0] == "install" and len(args) in (2, 3):
        from userland.shell import install
        install.run(ctx, args[1], number(args[2]) if len(args) == 3 else None)
        return
    if len(args) != 2 or args[0] != "remove":
        raise UsageError()
    tid = _task_id(ctx, args[1])
    rows = [t for t in _kctl(ctx, abi.KCTL_TASKS)["tasks"] if t["id"] == tid and t["bundle"]]
    if not rows:
        ctx.write("tasks: %s is not an installed task (built-in tasks cannot be removed)\n" % args[1])
        return
    _kctl(ctx, abi.KCTL_REMOVE, tid)
    ctx.write("removed task %s\n" % args[1])


# The services' commands, from beside each service, in `help`'s order.
for _module in (hsm_shell, ledger_shell, gateway_shell, net_shell):
    for _c in _module.COMMANDS if _module is not None else ():
        register(*_c)


@command("boot [confirm]", "what the bootloader booted; `boot confirm` keeps a trial image", 1)
def _boot(ctx, args):
    if args and args[0] != "confirm":
        raise UsageError()
    if args:
        b = _kctl(ctx, abi.KCTL_CONFIRM)
        ctx.write("boot: slot %s v%s %s; security counter %d\n" % (
            b["slot"], _version_text(b["version"]), "confirmed" if b["written"] else "was confirmed already",
            b["min_counter"]))
        return
    b = _kctl(ctx, abi.KCTL_BOOT)
    if b["slot"] is None:
        ctx.write("boot: no boot information (the kernel was not started by the QENEX bootloader)\n")
        return
    ctx.write("boot: slot %s v%s, %s\n" % (b["slot"], _version_text(b["version"]), b["state"]))
    ctx.write("  security counter %d, stored minimum %d\n" % (b["counter"], b["min_counter"]))
    ctx.write("  image sha256 %s\n" % b["sha256"])
    if b["state"] == "trial":
        if b["confirm_in_ms"] is not None:
            ctx.write("  confirms itself in %d ms unless a boot task faults; `boot confirm` now\n"
                      % b["confirm_in_ms"])
        else:
            ctx.write("  not confirming itself (%s): it reverts at the next reset unless `boot confirm`\n"
                      % b["gave_up"])


def _version_text(v):
    return "%d.%d.%d+%d" % (v[0], v[1], v[2], v[3])


@command("reboot", "restart the system", 0)
def _reboot(ctx, args):
    ctx.write("rebooting...\n")
    ctx.reboot()


@command("poweroff", "stop the system", 0)
def _poweroff(ctx, args):
    ctx.write("power off\n")
    ctx.poweroff()
