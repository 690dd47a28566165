"""The shell's command table, argument splitter and dispatcher, and the
helpers every command module uses (argument numbers, tables, times, sizes).

Holds split(), the registry of commands (name, usage, one-line help, handler)
and dispatch(), which runs one typed line against a "system" object `ctx`.
It holds no command: the kernel's are in commands.py, a service's beside the
service (userland/hsm/shell.py, userland/ledger/shell.py,
userland/gateway/shell.py), and commands.py registers them all, in the order
`help` lists them. It does not read the console or edit lines (lineedit.py,
shell.py do that).

Outcomes of dispatch, first match wins:
  blank line             nothing
  unterminated quote     "error: unterminated quote"
  unknown command        "unknown command: X (try 'help')"
  bad arguments          "usage: <usage>"   (the handler raised UsageError)
  any other exception    "error: <ExceptionName>: <message>"
Output uses "\\n"; the console driver turns it into CRLF. Integers only.
"""


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


def number(text):
    """A whole number >= 0 typed as an argument; UsageError otherwise."""
    try:
        n = int(text)
    except ValueError:
        raise UsageError()
    if n < 0:
        raise UsageError()
    return n


class Refused(Exception):
    """A service (hsm, ledger) refused a shell request: the line to print."""
