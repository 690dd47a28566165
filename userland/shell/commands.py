"""The shell's command table, argument splitter and dispatcher.

Holds split(), the registry of commands (name, usage, one-line help, handler)
and dispatch(), which runs one typed line against a "system" object `ctx`.
It does not read the console or edit lines (lineedit.py, shell.py do that).

`ctx` provides: write(str), version_info() -> dict, uptime_ms() -> int,
boot_counts() -> (kernel_entry, prompt) 25 MHz counter values or None, heap() -> (used, free), memory_map() -> list of
(name, base, size, what), tasks() -> list of dicts (id, name, state, prio),
reboot(), poweroff().

Outcomes of dispatch, first match wins:
  blank line             nothing
  unterminated quote     "error: unterminated quote"
  unknown command        "unknown command: X (try 'help')"
  bad arguments          "usage: <usage>"   (the handler raised UsageError)
  any other exception    "error: <ExceptionName>: <message>"
Output uses "\\n"; the console driver turns it into CRLF. Integers only.
"""


import json

from kernel import abi


class UsageError(Exception):
    pass


class Command:
    def __init__(self, name, usage, help, fn, maxargs):
        self.name = name
        self.usage = usage
        self.help = help
        self.fn = fn
        self.maxargs = maxargs   # -1: any number


_COMMANDS = []  # registration order is the order `help` lists them in


def register(usage, help, fn, maxargs=-1):
    """Add a command; its name is the first word of `usage`. fn(ctx, args)."""
    name = usage.split()[0]
    for i in range(len(_COMMANDS)):
        if _COMMANDS[i].name == name:
            _COMMANDS.pop(i)
            break
    _COMMANDS.append(Command(name, usage, help, fn, maxargs))


def command(usage, help, maxargs=-1):
    """Decorator form of register()."""
    def deco(fn):
        register(usage, help, fn, maxargs)
        return fn
    return deco


def lookup(name):
    for c in _COMMANDS:
        if c.name == name:
            return c
    return None


def commands():
    return list(_COMMANDS)


def split(line):
    """Split on spaces/tabs; "double quotes" keep spaces (no escapes inside)."""
    args = []
    cur = None      # None: between words
    quoted = False
    for ch in line:
        if quoted:
            if ch == '"':
                quoted = False
            else:
                cur += ch
        elif ch == '"':
            quoted = True
            if cur is None:
                cur = ""
        elif ch == " " or ch == "\t":
            if cur is not None:
                args.append(cur)
                cur = None
        else:
            cur = ch if cur is None else cur + ch
    if quoted:
        raise UsageError("unterminated quote")
    if cur is not None:
        args.append(cur)
    return args


def _unknown(ctx, name):
    ctx.write("unknown command: %s (try 'help')\n" % name)


def dispatch(line, ctx):
    """Run one line. Never raises (except BaseExceptions such as SystemExit)."""
    try:
        args = split(line)
    except UsageError as e:
        ctx.write("error: %s\n" % e)
        return
    if not args:
        return
    cmd = lookup(args[0])
    if cmd is None:
        _unknown(ctx, args[0])
        return
    try:
        if 0 <= cmd.maxargs < len(args) - 1:
            raise UsageError()
        cmd.fn(ctx, args[1:])
    except UsageError:
        ctx.write("usage: %s\n" % cmd.usage)
    except Exception as e:
        ctx.write(error_line(e))


def error_line(e):
    msg = str(e)
    name = type(e).__name__
    return "error: %s: %s\n" % (name, msg) if msg else "error: %s\n" % name


# ---- formatting helpers (integers only) ------------------------------------

def pad(s, width):
    """s left-justified in width columns (MicroPython has no str.ljust)."""
    return s + " " * (width - len(s))


def table(ctx, header, rows):
    """Write rows of str cells in columns two spaces apart; last is unpadded."""
    widths = [len(h) for h in header]
    for r in rows:
        for i in range(len(r)):
            if len(r[i]) > widths[i]:
                widths[i] = len(r[i])
    for r in [header] + rows:
        cells = [pad(r[i], widths[i]) for i in range(len(r) - 1)]
        ctx.write("  ".join(cells + [r[-1]]) + "\n")


def fmt_ms(ms):
    """3723004 -> "1:02:03.004" (hours are not wrapped into days)."""
    s, ms = divmod(ms, 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return "%d:%02d:%02d.%03d" % (h, m, s, ms)


def fmt_size(n):
    """Bytes as KiB when exact ("64K"), else bytes ("512B")."""
    return "%dK" % (n // 1024) if n % 1024 == 0 else "%dB" % n


# ---- the commands -----------------------------------------------------------

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


@command("top [MS]", "ps refreshed every MS (default 1000) until a key is pressed", 1)
def _top(ctx, args):
    period = _number(args[0]) if args else 1000
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


def _number(text):
    try:
        n = int(text)
    except ValueError:
        raise UsageError()
    if n < 0:
        raise UsageError()
    return n


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
    kernel and console rights, its HSM keys; then what is left for bundles."""
    rows = [r for r in t["tasks"] if not r["bundle"]]
    ctx.write("image %s: %d tasks; task ids %d used, %d free for bundles (of %d)\n" % (
        _image_name(), len(rows), len(t["tasks"]), t["max_tid"] - len(t["tasks"]), t["max_tid"]))
    table(ctx, ["ID", "NAME", "PRIO", "BLOCK", "CALLS", "DEVICES", "KERNEL", "CONSOLE", "HSM KEYS"],
          [[str(r["id"]), r["name"], str(r["prio"]), fmt_size(r["block"]), _list(r["calls"]),
            _list(r["devices"]), "yes" if r["kernel"] else "-", r["console"] or "-", _list(r["hsm_keys"])]
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
        install.run(ctx, args[1], _number(args[2]) if len(args) == 3 else None)
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


def _hsm(ctx, *args):
    """Call the hsm service; its answer's fields (HsmRefused otherwise)."""
    from userland.hsm import api
    return api.request(*args, call=ctx.call)


def _hsm_whole(ctx, first):
    from userland.hsm import api
    return api.whole(first, ctx.call)


class Refused(Exception):
    """A service (hsm, ledger) refused a shell request: the line to print."""


def _hexs(b):
    return "".join("%02x" % x for x in b)


PIN_MIN, PIN_MAX = 6, 32


def _ask(ctx, prompt):
    """A PIN typed with no echo (lineedit.read_secret); Refused on Ctrl-C."""
    from userland.shell.lineedit import read_secret
    pin = read_secret(ctx.read_byte, ctx.write, prompt)
    if pin is None:
        raise Refused("cancelled")
    return pin


def _new_pin(ctx, a):
    """The old and the new PIN: typed after prompts (twice the new one), or
    given on the line (`hsm pin OLD NEW`, echoed as stars)."""
    if a:
        old, new = a
    else:
        old = _ask(ctx, "old PIN: ")
        new = _ask(ctx, "new PIN: ")
        if _ask(ctx, "repeat new PIN: ") != new:
            raise Refused("the new PINs differ; PIN unchanged")
    if not PIN_MIN <= len(new) <= PIN_MAX:
        raise Refused("a PIN is %d to %d characters; PIN unchanged" % (PIN_MIN, PIN_MAX))
    return old, new


@command("hsm info|login|pin|keys|gen|pubkey|sign|verify|audit|zeroize ...",
         "the HSM: login, pin (ask for PINs), gen ALG LABEL USAGE.., sign LABEL TEXT, verify LABEL TEXT SIG, audit [N]")
def _hsm_cmd(ctx, args):
    from userland.hsm.api import HsmRefused
    from drivers.hsm import frame as F
    if not args:
        raise UsageError()
    op, a = args[0], args[1:]
    try:
        if op == "info" and not a:
            got = _hsm(ctx, "info")
            model, fw, serial, free, locked = got[:5]
            factory = len(got) > 5 and got[5][:1] == b"\x01"
            ctx.write("hsm: %s, firmware %s, serial %s, %d free key slots%s%s\n" % (
                model.decode(), fw.decode(), serial.decode(), F.u32(free, 0),
                ", factory PIN (change it: hsm pin)" if factory else "", ", LOCKED" if locked[0] else ""))
        elif op == "login" and len(a) <= 1:
            _hsm(ctx, "login", a[0] if a else _ask(ctx, "PIN: "))
            ctx.write("hsm: logged in\n")
        elif op == "pin" and len(a) in (0, 2):
            old, new = _new_pin(ctx, a)
            _hsm(ctx, "pin", old, new)
            ctx.write("hsm: PIN changed\n")
        elif op == "keys" and not a:
            items = F.unfields(_hsm_whole(ctx, _hsm(ctx, "keys")))
            rows = [[items[i].decode(), F.ALGS[items[i + 1][0]], ",".join(F.usage_names(items[i + 1][1]))]
                    for i in range(0, len(items), 2)]
            table(ctx, ["LABEL", "ALGORITHM", "USAGE"], rows)
        elif op == "gen" and len(a) >= 3 and a[0] in F.ALGS:
            bad = [u for u in a[2:] if u not in F.USAGE and u != "exportable"]
            if bad:
                raise Refused("usage %s is not one of %s, exportable" % (bad[0], ", ".join(F.USAGE)))
            pub = _hsm_whole(ctx, _hsm(ctx, "gen", bytes((F.ALGS.index(a[0]),)), a[1],
                                       bytes((F.usage_bits(a[2:]),))))
            ctx.write("hsm: key %s (%s) generated; public key %d bytes\n" % (a[1], a[0], len(pub)))
        elif op == "pubkey" and len(a) == 1:
            ctx.write("%s\n" % _hexs(_hsm_whole(ctx, _hsm(ctx, "pubkey", a[0]))))
        elif op == "sign" and len(a) >= 2:
            sig = _hsm_whole(ctx, _hsm(ctx, "sign", a[0], " ".join(a[1:])))
            ctx.write("%s\n" % _hexs(sig))
        elif op == "verify" and len(a) == 3:
            try:
                sig = bytes(int(a[2][i:i + 2], 16) for i in range(0, len(a[2]), 2))
            except ValueError:
                raise Refused("the signature is not hex")
            ok = _hsm(ctx, "verify", a[0], a[1], sig)[0]
            ctx.write("hsm: signature %s\n" % ("valid" if ok[0] else "INVALID"))
        elif op == "audit" and len(a) <= 1:
            n = _number(a[0]) if a else 10
            total = F.u32(_hsm(ctx, "audit", "0")[0], 0)
            head = "-"
            for i in range(max(0, total - n), total):
                e = json.loads(_hsm(ctx, "audit", str(i))[1])
                head = e["hash"][:16]
                ctx.write("%4d  %-8s %-16s %-14s %s\n" % (e["seq"], e["op"], e["label"] or "-", e["result"],
                                                         e["note"]))
            ctx.write("hsm: %d audit entries%s\n" % (total, ", last %s" % head if head != "-" else ""))
        elif op == "zeroize" and len(a) == 2 and a[0] == "ZEROIZE":
            n = F.u32(_hsm(ctx, "zeroize", "ZEROIZE " + a[1])[0], 0)
            ctx.write("hsm: zeroized, %d keys destroyed\n" % n)
        else:
            raise UsageError()
    except (Refused, HsmRefused) as e:
        ctx.write("hsm: %s\n" % e)


# --- ledger -----------------------------------------------------------------------

LEDGER_FLAGS = {"linked": 1, "pending": 2, "post": 4, "void": 8, "balancing_debit": 16, "balancing_credit": 32}
ACCOUNT_FLAGS = {"debits_must_not_exceed_credits": 2, "credits_must_not_exceed_debits": 4, "history": 8}


def _ledger(ctx, msg):
    r = ctx.call("ledger", msg)
    if r[0] != 0:
        raise Refused("ledger: " + r[1:].decode())
    return r[1:]


def _flags(words, table):
    f = 0
    for w in words:
        if w not in table:
            raise Refused("unknown flag %s (flags: %s)" % (w, ", ".join(sorted(table))))
        f |= table[w]
    return f


def _ledger_cmd(ctx, args):
    from userland.ledger import codec
    from userland.ledger.state import RESULTS_ACCOUNT, RESULTS_TRANSFER, Account, Transfer
    op, a = args[0] if args else "", args[1:]

    def result(code, table):
        return "storage_failed" if code == 255 else "read_only" if code == 254 else table[code]

    if op == "account" and len(a) >= 4 and a[0] == "new":
        acc = Account(_number(a[1]), _number(a[2]), _number(a[3]), _flags(a[4:], ACCOUNT_FLAGS))
        ctx.write("%s\n" % result(_ledger(ctx, b"A" + codec.encode_account(acc))[0], RESULTS_ACCOUNT))
    elif op in ("transfer", "post", "void") and a:
        if op == "transfer" and len(a) >= 6:
            timeout = 0
            words = []
            for w in a[6:]:
                if w.startswith("timeout="):
                    timeout = _number(w[8:])
                else:
                    words.append(w)
            t = Transfer(_number(a[0]), _number(a[1]), _number(a[2]), _number(a[3]), _number(a[4]), _number(a[5]),
                         _flags(words, LEDGER_FLAGS), 0, timeout)
        elif op != "transfer" and len(a) in (2, 3):
            t = Transfer(_number(a[0]), 0, 0, _number(a[2]) if len(a) == 3 else 0, 0, 0,
                         LEDGER_FLAGS[op], _number(a[1]))
        else:
            raise UsageError()
        ctx.write("%s\n" % result(_ledger(ctx, b"T" + codec.encode_transfer(t))[0], RESULTS_TRANSFER))
    elif op == "balance" and len(a) == 1:
        r = _ledger(ctx, b"a" + _number(a[0]).to_bytes(16, "little"))
        if not r:
            ctx.write("ledger: no account %s\n" % a[0])
            return
        acc = codec.decode_account(r)
        b = [int.from_bytes(r[48 + 16 * i:64 + 16 * i], "little") for i in range(4)]
        ctx.write("account %d (ledger %d, code %d): debits posted %d pending %d, credits posted %d pending %d, "
                  "balance %d\n" % (acc.id, acc.ledger, acc.code, b[1], b[0], b[3], b[2], b[3] - b[1]))
    elif op == "history" and len(a) == 1:
        start, total = 0, None
        rows = []
        while total is None or start < total:
            r = _ledger(ctx, b"h" + _number(a[0]).to_bytes(16, "little") + start.to_bytes(4, "little"))
            total = int.from_bytes(r[:4], "little")
            n = (len(r) - 4) // 72
            if n == 0:
                break
            for i in range(n):
                e = r[4 + 72 * i:4 + 72 * (i + 1)]
                v = [int.from_bytes(e[8 + 16 * k:24 + 16 * k], "little") for k in range(4)]
                rows.append([str(int.from_bytes(e[:8], "little")), str(v[1]), str(v[0]), str(v[3]), str(v[2])])
            start += n
        if not rows:
            ctx.write("ledger: no history for account %s (created without the history flag?)\n" % a[0])
            return
        table(ctx, ["TIMESTAMP", "DEBITS", "PENDING", "CREDITS", "PENDING"], rows)
    elif op == "verify" and not a:
        v = json.loads(_ledger(ctx, b"v"))
        ctx.write("ledger: invariants hold; %d records chained, head %s; %d accounts, %d transfers; "
                  "%d checkpoints, %d signatures checked by the HSM\n"
                  % (v["records"], v["head"][:16], v["accounts"], v["transfers"], v["checkpoints"],
                     v["signatures_checked"]))
    elif op == "stats" and not a:
        st = json.loads(_ledger(ctx, b"s"))
        bad = json.loads(_ledger(ctx, b"c")) if st.get("corrupt") else None
        ctx.write("ledger: %d accounts, %d transfers, log %d records / %d bytes; recovered %d records at start%s%s\n"
                  % (st["accounts_now"], st["transfers_now"], st["log_records"], st["log_bytes"], st["records"],
                     ", torn tail skipped" if st["torn"] is not None else "",
                     "; READ-ONLY: the log is corrupt at record %d (offset 0x%x): %s" % (
                         bad["seq"], bad["offset"], bad["reason"]) if bad else ""))
    else:
        raise UsageError()


LEDGER_FORMS = """ledger account new ID LEDGER CODE [history|debits_must_not_exceed_credits|credits_must_not_exceed_debits]
ledger transfer ID DEBIT CREDIT AMOUNT LEDGER CODE [linked|pending|balancing_debit|balancing_credit] [timeout=S]
ledger post ID PENDING_ID [AMOUNT]      ledger void ID PENDING_ID
ledger balance ID      ledger history ID      ledger verify      ledger stats
(amounts are integers of the ledger's minor units)
"""


@command("ledger account|transfer|post|void|balance|history|verify|stats ...",
         "the double-entry ledger (`ledger` alone shows the forms)")
def _ledger_shell(ctx, args):
    if not args:
        ctx.write(LEDGER_FORMS)
        return
    try:
        _ledger_cmd(ctx, args)
    except Refused as e:
        ctx.write("%s\n" % e)


def _gateway(ctx, request):
    r = ctx.call("gateway", request)
    ctx.write("%s%s\n" % ("" if r[:1] == b"\x00" else "gateway: ", r[1:].decode()))


@command("compliance reload", "the gateway reloads its rules file from storage", 1)
def _compliance(ctx, args):
    if args != ["reload"]:
        raise UsageError()
    _gateway(ctx, b"reload")


@command("audit verify", "the gateway checks its audit log (the HSM verifies the checkpoints)", 1)
def _audit(ctx, args):
    if args != ["verify"]:
        raise UsageError()
    _gateway(ctx, b"audit")


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
