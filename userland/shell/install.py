"""`tasks install NAME [SIZE]`: the console side of the install stream
(kernel/bundles.py, one KCTL_INSTALL step each). The bundle comes as base64
lines up to an empty line; each line is decoded at once and the bytes go to
the kernel a chunk at a time, which writes them straight into a storage
slot, so the shell holds one line and one chunk, whatever the paste's
size. A refusal (from the kernel, a line that is not base64 or too long)
ends the whole paste: the rest of it is read and thrown away up to an empty
line or QUIET_MS with nothing arriving, and no line of it runs as a
command. Ctrl-C aborts (nothing installed) the same way. When the kernel
has checked the whole bundle, the operator sees what it asks for and
confirms with y. The kernel checks the bundle a bounded step per
INSTALL_END (kernel/bundles.py): the shell (priority 0) sleeps a tick
between two, so every other task runs during the check as well.

The shell runs at priority 0, above every other task, and reading a paste
costs a trip through the kernel a byte: while lines keep arriving it rests
a tick (sleeps 1 ms) after each REST_AFTER_MS of work, so a fast paste does
not hold the other tasks either (tests/qemu/test_install_hold.py).

run(ctx, name, size): ctx gives read_byte(), poll_byte(), sleep(ms),
write(str), optionally ticks() (ms; without it the shell never rests) and
install_step(step, data) -> the kernel's reply (a dict;
{"error": why} when the kernel refused the bundle with BAD_BUNDLE, the
stream is then over).
Runs under MicroPython and CPython."""
import binascii

from kernel import abi

LINE_MAX = 128          # characters of a base64 line (76 is usual)
CHUNK = 456             # bytes handed to the kernel at a time (8 lines of 57)
QUIET_MS = 1000         # nothing arriving this long ends a paste being thrown away
POLL_MS = 20
STEP_SLEEP_MS = 1       # between two steps of the kernel's check: the lower priorities run too
REST_AFTER_MS = 3       # a paste arriving faster than it is read: rest a tick after this long busy


def fmt_size(n):
    return "%dK" % (n // 1024) if n % 1024 == 0 else "%dB" % n


def swallow(ctx, prev=13):
    """Throw console input away up to an empty line (CR, LF or CRLF ends)
    or QUIET_MS of silence: the kernel drops what has arrived
    (INSTALL_DISCARD, bundles.discard) without a trip through it per byte.
    Returns the number of bytes dropped."""
    idle = 0
    n = 0
    first = True
    while idle < QUIET_MS:
        r = _step(ctx, abi.INSTALL_DISCARD, b"%d" % prev if first else b"")
        first = False
        n += r["n"]
        if r["end"]:
            return n
        if r["n"]:
            idle = 0
        else:
            ctx.sleep(POLL_MS)
            idle += POLL_MS
    return n


def _refused(ctx, name, why, prev):
    ctx.write("tasks: %s: %s\n" % (name, why))
    swallow(ctx, prev)
    ctx.write("tasks: the rest of the paste was thrown away; nothing installed\n")


def _step(ctx, step, data=b""):
    return ctx.install_step(step, data)


def rights_text(r):
    """calls=..., priority=..., memory=..., console=... of a requested-rights dict."""
    return "calls=%s, priority=%d, memory=%s, console=%s, start=%s" % (
        ",".join(r["calls"]) or "-", r["priority"], fmt_size(r["memory"]), r["console"], r["start"])


def _answer(ctx):
    """A line typed after the confirmation prompt (echoed); None on Ctrl-C."""
    buf = ""
    first = True
    while True:
        c = ctx.read_byte()
        if first and c == 10:
            first = False
            continue
        first = False
        if c == 3:
            ctx.write("^C\n")
            return None
        if c == 10 or c == 13:
            ctx.write("\n")
            return buf
        if 32 <= c < 127 and len(buf) < 16:
            buf += chr(c)
            ctx.write(chr(c))
        elif c in (8, 127) and buf:
            buf = buf[:-1]
            ctx.write("\b \b")


def run(ctx, name, size=None):
    r = _step(ctx, abi.INSTALL_BEGIN, (name if size is None else "%s %d" % (name, size)).encode())
    if "error" in r:
        _refused(ctx, name, r["error"], 13)
        return
    ctx.write("send the bundle as base64 lines, then an empty line\n")
    line = bytearray()
    chunk = bytearray()
    prev = 13                           # the command line ended with CR
    lineno = 0
    ticks = getattr(ctx, "ticks", None)
    rested = ticks() if ticks else 0
    got = 0
    while True:
        c = ctx.read_byte()
        got += 1
        if ticks and got & 15 == 0 and ticks() - rested >= REST_AFTER_MS:
            ctx.sleep(1)
            rested = ticks()
        if c == 3:                      # Ctrl-C
            _step(ctx, abi.INSTALL_ABORT)
            ctx.write("^C\ntasks: install aborted; nothing installed\n")
            swallow(ctx, prev)
            return
        if c == 10 and prev == 13:      # CRLF: one line end
            prev = c
            continue
        prev = c
        if c != 10 and c != 13:
            if len(line) >= LINE_MAX:
                _step(ctx, abi.INSTALL_ABORT)
                _refused(ctx, name, "line %d is longer than %d characters" % (lineno + 1, LINE_MAX), prev)
                return
            line.append(c)
            continue
        if not line:
            break
        lineno += 1
        try:
            chunk += binascii.a2b_base64(bytes(line))
        except ValueError:
            _step(ctx, abi.INSTALL_ABORT)
            _refused(ctx, name, "line %d is not base64" % lineno, prev)
            return
        line = bytearray()
        if len(chunk) >= CHUNK:
            r = _step(ctx, abi.INSTALL_DATA, chunk)
            chunk = bytearray()
            if "error" in r:
                _refused(ctx, name, r["error"], prev)
                return
    if chunk:
        r = _step(ctx, abi.INSTALL_DATA, chunk)
        if "error" in r:
            ctx.write("tasks: %s: %s\n" % (name, r["error"]))
            return
    r = _step(ctx, abi.INSTALL_END)
    while "busy" in r:                  # the kernel checks a bounded step a call
        ctx.sleep(STEP_SLEEP_MS)
        r = _step(ctx, abi.INSTALL_END)
    if "error" in r:
        ctx.write("tasks: %s: %s\n" % (name, r["error"]))
        return
    if r.get("check_counts") is not None:   # the board's 25 MHz counter: 40 ns a count
        us = r["check_counts"] * 40 // 1000
        ctx.write("tasks: %s: signature checked in %d steps over %d.%d ms, the longest %d us\n" % (
            name, r["steps"], us // 1000, us % 1000 // 100, r["longest_step_counts"] * 40 // 1000))
    ctx.write("install %s v%s%s with %s (%s free for bundles)? [y/N] " % (
        r["name"], version_text(r["version"]), " (replacing v%s)" % version_text(r["replaces"])
        if r["replaces"] else "", rights_text(r["rights"]), fmt_size(r["free"])))
    a = _answer(ctx)
    if a not in ("y", "Y", "yes"):
        _step(ctx, abi.INSTALL_ABORT)
        ctx.write("tasks: %s not installed\n" % r["name"])
        return
    r = _step(ctx, abi.INSTALL_COMMIT)
    if "error" in r:
        ctx.write("tasks: %s: %s\n" % (name, r["error"]))
        return
    ctx.write("installed %s v%s as task %d (bundle slot %d)%s%s\n" % (
        r["name"], version_text(r["version"]), r["id"], r["slot"], ", replacing the old version"
        if r["replaced"] else "", ", started" if r["started"] else ""))


def version_text(v):
    return "%d.%d.%d+%d" % (v[0], v[1], v[2], v[3])
