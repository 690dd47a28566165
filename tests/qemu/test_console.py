"""QEMU tests of the console's ownership and of the board's ways back
(issue 13): console input goes to one task, the shell unless the operator
hands the console to a task with `fg` (Ctrl-Z or the task's end gives it
back); the shell cannot be killed and comes back at once when it dies; a
CPU-bound installed task at the highest priority it may have does not
starve the shell, and safe mode (a key at boot) starts no installed task so
that it can be removed."""
import re
import subprocess
import sys
import time

import pytest

from test_bundles import KEY, install
from tools.layout import ROOT

pytestmark = pytest.mark.timeout(180)

READER = '''from userland.lib import qenex


def main():
    qenex.write("reader: up\\n")
    line = bytearray()
    while True:
        b = qenex.read_byte()
        if b == 0x71:                           # q
            qenex.write("reader: bye\\n")
            return
        if b in (10, 13):
            qenex.write("reader: line %s\\n" % line.decode())
            line = bytearray()
        else:
            line.append(b)
'''

SPIN = '''from userland.lib import qenex


def main():
    qenex.write("spin: up\\n")
    while True:
        pass
'''


def manifest(name, priority=4, console="read", restart="never"):
    return ("name = %s\nentry = main\npriority = %d\nheap = 16384\nstack = 4096\nrestart = %s\n"
            "console = %s\n" % (name, priority, restart, console))


def make(tmp_path, name, source, text):
    src = tmp_path / ("%s.py" % name)
    src.write_text(source)
    man = tmp_path / ("%s.manifest" % name)
    man.write_text(text)
    out = tmp_path / ("%s.qxb" % name)
    r = subprocess.run([sys.executable, "-m", "tools.qenex", "bundle", "make", "--key", KEY, "--version", "1.0.0",
                        str(man), str(src), str(out)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


@pytest.fixture
def reader(device, tmp_path):
    """The board with `reader` installed and waiting for console bytes."""
    mark = device.mark()
    out = install(device, make(tmp_path, "reader", READER, manifest("reader")), name="reader")
    assert "installed reader v1.0.0+0" in out, out
    device.wait_line(r"reader: up", since=mark)
    end = time.monotonic() + 10
    while device.ps()["reader"]["STATE"] != "blocked(read)":
        assert time.monotonic() < end, "reader never waits for the console"
    return device


def test_a_console_reading_task_gets_nothing_while_the_shell_is_foreground(reader):
    dev = reader
    assert dev.cmd("echo hsm login 123456") == "hsm login 123456\n"
    for _ in range(3):
        assert dev.cmd("echo abcdefghijklmnopqrstuvwxyz 0123456789") == "abcdefghijklmnopqrstuvwxyz 0123456789\n"
    dev.expect_absent(r"reader: line", seconds=1.0)
    assert not dev.lines(r"reader: line.*")
    assert dev.ps()["reader"]["STATE"] == "blocked(read)"


def test_fg_hands_the_console_over_ctrl_z_and_the_task_s_exit_give_it_back(reader):
    dev = reader
    tid = dev.tid("reader")
    dev.send("fg reader\r")
    dev.wait_line(r"kernel: console to reader \(id %d\); Ctrl-Z gives it back" % tid)
    dev.send("abc def\r")
    dev.wait_line(r"reader: line abc def")
    dev.send("\x1a")
    dev.wait_line(r"kernel: console back to shell \(Ctrl-Z; reader keeps running\)")
    dev.wait_prompt(timeout=10)
    assert dev.cmd("echo shell again") == "shell again\n"
    dev.expect_absent(r"reader: line", seconds=0.5)
    assert dev.ps()["reader"]["STATE"] == "blocked(read)"
    mark = dev.mark()
    dev.send("fg reader\r")
    dev.wait_line(r"kernel: console to reader .*", since=mark)
    dev.send("xyz\rq")
    dev.wait_line(r"reader: line xyz", since=mark)
    dev.wait_line(r"reader: bye", since=mark)
    dev.wait_line(r"kernel: console back to shell \(reader ended\)", since=mark)
    dev.wait_prompt(timeout=10)
    assert dev.cmd("echo back") == "back\n"
    assert dev.ps()["reader"]["STATE"] == "exited"


def test_fg_refuses_a_task_that_only_writes(device):
    out = device.cmd("fg heartbeat")
    assert out.startswith("error: Error: NOT_PERMITTED"), out
    assert device.cmd("echo still the shell") == "still the shell\n"


def test_kill_shell_is_refused_with_a_reason(device):
    out = device.cmd("kill shell")
    assert out.startswith("kill: refused: shell is the console task and is never stopped"), out
    tid = device.tid("shell")
    assert device.cmd("kill %d" % tid).startswith("kill: refused")
    assert device.ps()["shell"]["STATE"] == "running"
    assert device.cmd("echo alive") == "alive\n"


@pytest.mark.parametrize("how", ["fault", "exit"])
def test_a_shell_that_faults_or_exits_comes_back_at_once(device, how):
    tid = device.tid("shell")
    mark = device.mark()
    device.send("%s\r" % ("fault shell" if how == "fault" else "exit"))
    if how == "fault":
        device.wait_line(r"fault: task shell \(id %d\): injected by the operator; restart now \(the console task\)"
                         % tid, since=mark)
    else:
        device.wait_line(r"exit: task shell \(id %d\): code 0; restart now \(the console task\)" % tid, since=mark)
    device.wait_line(r"restart: task shell \(id %d\): restart 1" % tid, since=mark)
    device.wait_prompt(timeout=10)
    assert device.cmd("echo new shell") == "new shell\n"
    assert device.ps()["shell"]["RESTARTS"] == "1"


def install_spinner(dev, tmp_path):
    """A `while True` bundle at the highest priority the installer lets it
    have (0 if it caps nothing): its priority."""
    for prio in range(8):
        mark = dev.mark()
        out = install(dev, make(tmp_path, "spin%d" % prio, SPIN.replace("spin:", "spin%d:" % prio),
                                manifest("spin%d" % prio, priority=prio, console="write", restart="always")),
                      name="spin%d" % prio)
        if "installed spin%d" % prio in out:
            dev.wait_line(r"spin%d: up" % prio, since=mark, timeout=20)
            return prio
        assert "refused" in out, out
    raise AssertionError("no priority accepted")


def test_a_spinning_bundle_does_not_starve_the_shell_and_safe_mode_removes_it(device, boot, tmp_path):
    prio = install_spinner(device, tmp_path)
    name = "spin%d" % prio
    for i in range(5):
        assert device.cmd("echo answer %d" % i, timeout=20) == "answer %d\n" % i
    assert device.ps()[name]["STATE"] in ("running", "ready")
    # A held key at reset: "s" waits in the UART before the kernel looks.
    # A key held at reset: "s" repeated, as a held key sends it, from before
    # the reset until the kernel has seen it.
    device.send("reboot\r")
    device.expect_exact("rebooting...", timeout=20)
    mark = device.mark()
    end = time.monotonic() + 30
    while not device.lines(r"kernel: SAFE MODE: installed tasks not started: %s" % name, since=mark):
        assert time.monotonic() < end, device.text[mark:]
        device.send("s")
        time.sleep(0.05)
    device.wait_line(r"safe mode: installed tasks not started; .*", since=mark, timeout=30)
    device.expect_exact("[safe mode] qenex> ", timeout=30)
    time.sleep(0.3)
    device.send("\x15")                # Ctrl-U: drop the repeated "s" the shell got
    out = device.cmd("ps")
    assert out.startswith("safe mode: installed tasks were not started at boot\n"), out
    assert re.search(r"\n\d+ +%s +stopped " % name, out), out
    out = device.cmd("tasks")
    assert "safe mode" in out and name in out
    assert device.cmd("tasks remove %s" % name).startswith("removed task %s" % name)
    # No bundle left: a normal boot, with no window.
    mark = device.mark()
    device.send("reboot\r")
    out = device.wait_prompt()
    assert "press s" not in out and "SAFE MODE" not in out, out
    assert name not in device.ps()


def test_the_window_is_offered_only_with_bundles_and_another_key_boots_normally(reader):
    dev = reader
    assert "press s" not in dev.boot_output
    mark = dev.mark()
    dev.send("reboot\r")
    dev.wait_line(r"kernel: 1 installed task \(reader\); press s within 1000 ms for safe mode "
                  r"\(installed tasks not started\)", since=mark, timeout=30)
    t0 = time.monotonic()
    dev.send("\r")                      # another key: no wait, a normal boot
    dev.wait_line(r"kernel: \d+ tasks, \d+ started: .*\breader\b.*", since=mark, timeout=30)
    assert time.monotonic() - t0 < 5
    dev.wait_line(r"reader: up", since=mark, timeout=30)
    assert dev.cmd("echo normal") == "normal\n"
    assert "SAFE MODE" not in dev.text[mark:]
