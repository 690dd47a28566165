"""QEMU tests of the shell on the console: every command's output, argument
errors, and the line editor fed by a real UART (editing keys, history, Ctrl-C,
over-long lines, binary garbage)."""
import random
import re
import time

import pytest

pytestmark = pytest.mark.timeout(120)

PROMPT = "qenex> "
UP, DOWN = "\x1b[A", "\x1b[B"
RUBOUT = "\b \b"
BELL = "\x07"

HELP = [
    ("help [CMD]", "list commands, or describe one"),
    ("version", "kernel, MicroPython, board and build"),
    ("uptime", "time since boot, and boot-to-prompt time"),
    ("mem", "heap use and the memory map"),
    ("ps", "list tasks"),
    ("echo TEXT...", "print TEXT"),
    ("reboot", "restart the system"),
    ("poweroff", "stop the system"),
]


def norm(text):
    return text.replace("\r\n", "\n")


def typed(dev, data, timeout=10):
    """Send raw input (ending in Enter) and return everything up to the next
    prompt: the editor's echo, then the command's output ("\\n" line ends)."""
    dev.send(data)
    return norm(dev.expect_exact(PROMPT, timeout=timeout))


# ---- commands ---------------------------------------------------------------

def test_help_lists_all_commands(device):
    assert device.cmd("help") == "".join("%-14s%s\n" % row for row in HELP)


def test_help_one_command(device):
    assert device.cmd("help echo") == "echo TEXT...  print TEXT\n"
    assert device.cmd("help poweroff") == "poweroff      stop the system\n"
    assert device.cmd("help nosuch") == "unknown command: nosuch (try 'help')\n"


def test_version(device, version):
    out = device.cmd("version")
    m = re.fullmatch(r"QENEX OS (\S+) \(commit ([0-9a-f]{12}(?:-dirty)?|unknown)\)\n"
                     r"MicroPython 1\.25\.0\n"
                     r"board mps2-an385\n"
                     r"built (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\n", out)
    assert m, out
    assert m.group(1) == version
    # The same build as the boot banner says.
    assert "kernel: QENEX OS %s (commit %s) on mps2-an385" % (version, m.group(2)) in device.boot_output


UPTIME = re.compile(r"up (\d+):(\d\d):(\d\d)\.(\d\d\d) \((\d+) ms\)\n"
                    r"boot to prompt: (\d+) counts at 25 MHz = (\d+)\.(\d\d\d) ms "
                    r"\((\d+) guest instructions under -icount shift=0\)\n"
                    # the split of that, when the kernel reports it
                    r"(?:  bootloader and image check (\d+) counts, kernel start (\d+) counts\n)?")


def uptime(dev):
    out = dev.cmd("uptime")
    m = UPTIME.fullmatch(out)
    assert m, out
    h, mi, s, ms, total, counts, bms, bus, instr = map(int, m.groups()[:9])
    assert total == ((h * 60 + mi) * 60 + s) * 1000 + ms
    assert mi < 60 and s < 60
    us = counts * 40 // 1000
    assert (bms, bus, instr) == (us // 1000, us % 1000, counts * 40)
    if m.group(10) is not None:
        entry, kernel = int(m.group(10)), int(m.group(11))
        assert entry + kernel == counts and entry > 0 and kernel > 0
    return total, counts


def test_uptime_advances(device):
    first, counts1 = uptime(device)
    time.sleep(0.5)
    second, counts2 = uptime(device)
    assert 300 <= second - first <= 30000, (first, second)
    assert counts1 == counts2 > 0              # boot-to-prompt is a fixed fact


def test_mem(device, board):
    out = device.cmd("mem")
    head, rest = out.split("\n", 1)
    m = re.fullmatch(r"heap: (\d+) used \((\d+)%\), (\d+) free \((\d+)%\), (\d+) total bytes", head)
    assert m, head
    used, upct, free, fpct, total = map(int, m.groups())
    assert used + free == total
    assert 0 < used < total <= board.KERNEL_HEAP_SIZE
    assert upct == used * 100 // total and fpct == 100 - upct

    rows = [("NAME", "BASE", "SIZE", "WHAT")]
    for name, base, size, what in board.MEMORY_MAP:
        rows.append((name, "0x%08x" % base,
                     "%dK" % (size // 1024) if size % 1024 == 0 else "%dB" % size, what))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    expected = "".join("  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] + "\n"
                       for r in rows)
    assert rest == expected
    assert "\nslot A   0x00010000  1536K  kernel image (flash)\n" in rest


def test_ps(device):
    assert device.cmd("ps") == ("ID  NAME    STATE    PRIO\n"
                                "0   kernel  running  0\n"
                                "1   shell   running  1\n")


@pytest.mark.parametrize("line, out", [
    ("echo hi  there", "hi there\n"),
    ("echo", "\n"),
    ("echo hello", "hello\n"),
    ('echo "a  b"', "a  b\n"),
    ('echo "a  b"  c', "a  b c\n"),
    ('echo x"y z"w', "xy zw\n"),
    ('echo ""', "\n"),
    ("   echo   spaced   out   ", "spaced out\n"),
    ('echo "open', "error: unterminated quote\n"),
])
def test_echo(device, line, out):
    assert device.cmd(line) == out


def test_unknown_and_blank_lines(device):
    assert device.cmd("foo") == "unknown command: foo (try 'help')\n"
    assert device.cmd("HELP") == "unknown command: HELP (try 'help')\n"
    assert device.cmd("foo bar baz") == "unknown command: foo (try 'help')\n"
    assert device.cmd("") == ""
    assert device.cmd("     ") == ""


def test_bad_arguments_give_usage(device):
    for line, usage in [("uptime now", "uptime"), ("ps -a", "ps"), ("mem x", "mem"),
                        ("version x", "version"), ("help a b", "help [CMD]"),
                        ("reboot now", "reboot"), ("poweroff now", "poweroff")]:
        assert device.cmd(line) == "usage: %s\n" % usage, line
    # Neither `reboot now` nor `poweroff now` did anything.
    assert device.cmd("echo still here") == "still here\n"
    assert device.child.isalive()
    assert "boot:" not in device.transcript.getvalue().split("qenex> ", 1)[1]


def test_type_ahead(device):
    """Several lines in one write are all run, in order."""
    out = typed(device, "echo a\recho b\recho c\r")
    assert out == "echo a\na\n"
    assert typed(device, "") == "echo b\nb\n"
    assert typed(device, "") == "echo c\nc\n"


def test_pasted_lines_are_not_lost(device):
    """400 lines in one write (no pauses): the UART's flow control holds the
    input back while the shell works, so every line is run, in order."""
    device.send("".join("echo L%03d\r" % i for i in range(400)))
    out = norm(device.drain(quiet=1.0))
    assert out == "".join("echo L%03d\nL%03d\n%s" % (i, i, PROMPT) for i in range(400))


# ---- line editor ------------------------------------------------------------

def test_line_endings(device):
    # CR LF is one Enter, not two; LF alone is an Enter too.
    assert typed(device, "echo crlf\r\n") == "echo crlf\ncrlf\n"
    assert typed(device, "echo next\r") == "echo next\nnext\n"
    assert typed(device, "echo lf\n") == "echo lf\nlf\n"
    assert typed(device, "\n") == "\n"


def test_backspace(device):
    assert typed(device, "echo abx\x7fc\r") == "echo abx%sc\nabc\n" % RUBOUT
    assert typed(device, "echo abx\x08c\r") == "echo abx%sc\nabc\n" % RUBOUT
    # Backspace on an empty line writes nothing.
    assert typed(device, "\x7f\x7fecho e\r") == "echo e\ne\n"


def test_ctrl_u_erases_line(device):
    assert typed(device, "echo junk\x15echo clean\r") == "echo junk%secho clean\nclean\n" % (RUBOUT * 9)


def test_ctrl_c_clears_half_typed_line(device):
    device.send("echo partial")
    device.expect_exact("echo partial")
    device.send("\x03")                          # reaches the guest: it answers ^C
    device.expect_exact("^C\r\n" + PROMPT)
    assert device.cmd("echo fresh") == "fresh\n"
    device.send("\x03")                          # on an empty line too
    device.expect_exact("^C\r\n" + PROMPT)
    assert device.child.isalive()


def test_up_arrow_recalls_previous_command(device):
    assert device.cmd("echo one") == "one\n"
    assert typed(device, UP + "\r") == "echo one\none\n"


def test_history_up_and_down(device):
    device.cmd("echo one")
    device.cmd("echo two")
    # Up twice: "echo two" is shown, erased and replaced by "echo one".
    assert typed(device, UP + UP + "\r") == "echo two%secho one\none\n" % (RUBOUT * 8)
    # History is now one, two, one. Up, then down past the newest: empty line.
    assert typed(device, UP + DOWN + "\r") == "echo one%s\n" % (RUBOUT * 8)
    # Up at the oldest entry stays there.
    out = typed(device, UP * 10 + "\r")
    assert out.endswith("echo one\none\n")


def test_other_escape_sequences_are_ignored(device):
    # Left/right arrows, SS3 arrows, CSI with parameters (e.g. Delete): dropped.
    assert typed(device, "echo a\x1b[Db\x1b[Cc\x1bOAd\x1b[3~e\x1b[1;5Af\r") == "echo abcdef\nabcdef\n"


def test_control_and_high_bytes_are_ignored(device):
    ignored = bytes(b for b in range(0x20) if b not in (0x03, 0x08, 0x0A, 0x0D, 0x15, 0x1B))
    data = bytearray(b"echo ")
    for i, c in enumerate(b"abcdefgh"):
        data.append(c)
        data += ignored[i::8]
        data += bytes(range(0x80 + i, 0x100, 8))
    data += b"\r"
    assert typed(device, bytes(data)) == "echo abcdefgh\nabcdefgh\n"


def test_line_of_exactly_200_chars(device):
    line = "echo " + "z" * 195
    assert len(line) == 200
    assert device.cmd(line) == "z" * 195 + "\n"


def test_overlong_line_rings_bell_and_is_capped(device):
    data = "echo " + "y" * 995                   # 1000 characters
    echoed = device.send_chunked(data) + device.drain(quiet=0.5)
    assert echoed == "echo " + "y" * 195 + BELL * 800
    device.send("\r")
    device.expect_exact("\r\n" + "y" * 195 + "\r\n" + PROMPT)
    assert device.cmd("echo ok") == "ok\n"
    # Still editable after hitting the cap.
    out = typed(device, "echo " + "w" * 198 + "\x7f\x7f\x7fv\r")
    assert out == "echo " + "w" * 195 + BELL * 3 + RUBOUT * 3 + "v\n" + "w" * 192 + "v\n"


def test_binary_garbage_then_ctrl_c(device):
    rng = random.Random(20261125)
    garbage = b"".join(bytes(rng.sample(range(256), 256)) for _ in range(24))   # 6 KiB
    out = device.send_chunked(garbage) + device.drain(quiet=1.0)
    device.send("\x03")
    device.expect_exact("^C\r\n" + PROMPT)
    assert device.cmd("echo alive") == "alive\n"
    assert device.child.isalive()

    out = norm(out)
    for bad in ("kernel:", "boot:", "panic", "Traceback", "power off", "rebooting"):
        assert bad not in out, bad
    errors = set(re.findall(r"error: [^\n]*", out))
    assert errors <= {"error: unterminated quote"}, errors
    # Every line the garbage completed was answered (mostly "unknown command").
    assert "unknown command: " in out
