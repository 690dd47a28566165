"""The console of QENEX OS running in QEMU (mps2-an385), for the QEMU tests:
Device starts QEMU with UART0 on its stdio through a pty, and reads, waits
for and parses what the board writes. conftest.py's fixtures use it.

The console is one growing text (Device.text, "\\r\\n" line ends as the board
writes them) and a cursor into it. expect()/expect_exact()/cmd() search from
the cursor and move it past what they matched, like pexpect. The kernel
prints some lines asynchronously ("fault: ...", "exit: ...", "restart: ...",
and whatever a task writes): they can come right after a "qenex> " prompt,
which the shell does not print again. wait_line() finds such a line wherever
it is in the text read since a mark() (even if a cmd() already went past it),
and lines() lists those already read.

The console runs over a pseudo-terminal that is put in raw mode before QEMU
starts (in the child, before exec). That matters: in cooked mode the pty's line
discipline would turn Ctrl-C into SIGINT for QEMU (QEMU's stdio chardev keeps
ISIG), eat DEL/^U as editing keys, cap a line at 4096 bytes and add a CR to
every LF QEMU writes.
"""
import os
import re
import tempfile
import termios
import time

import pexpect

from tools import qemu
from tools.layout import ROOT

BOARD = "mps2-an385"
PROMPT = "qenex> "
OPERATOR_PIN = "246810"  # what hsm_ready() changes a new HSM's factory PIN to
BOOT_TIMEOUT = 30      # seconds from spawn to the prompt
IMAGE = "test"         # the tests boot the test image (hal/board/<board>/images.py) ...
FLASH = qemu.flash_path(BOARD, IMAGE)
BUILD = qemu.build_path(BOARD, IMAGE)
DEV_FLASH = qemu.flash_path(BOARD, "dev")   # ... and the dev image for the network's
PRODUCTION_FLASH = qemu.flash_path(BOARD)   # ... but for those of production (test_readme, test_images)


def _raw_stdio():
    """preexec_fn: make the child's terminal (the pty slave) raw, as cfmakeraw."""
    attrs = termios.tcgetattr(0)
    iflag, oflag, cflag, lflag = attrs[:4]
    iflag &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP | termios.INLCR
               | termios.IGNCR | termios.ICRNL | termios.IXON | termios.IXOFF)
    oflag &= ~(termios.OPOST | termios.ONLCR)
    lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    cflag = (cflag & ~(termios.CSIZE | termios.PARENB)) | termios.CS8
    attrs[:4] = iflag, oflag, cflag, lflag
    attrs[6][termios.VMIN] = 1
    attrs[6][termios.VTIME] = 0
    termios.tcsetattr(0, termios.TCSANOW, attrs)


def norm(text):
    """Console text with "\\r\\n" line ends turned into "\\n"."""
    return text.replace("\r\n", "\n")


def _line_re(pattern):
    """A whole console line matching `pattern` (a regex without line ends):
    it starts at a line start or right after a prompt, and its "\\r\\n" has
    arrived. Group numbering is the pattern's."""
    return re.compile(r"(?:\A|(?<=\n)|(?<=%s))(?:%s)(?=\r\n)" % (re.escape(PROMPT), pattern))


def split_row(line):
    """Cells of a shell table row (columns are two or more spaces apart;
    no cell holds two spaces in a row)."""
    return re.split(r"  +", line.rstrip())


def parse_table(text, header):
    """The rows (dicts by column name) of a shell table in `text`: the line
    equal to `header`'s columns, then every line with as many cells."""
    lines = text.split("\n")
    cols = None
    rows = []
    for line in lines:
        cells = split_row(line)
        if cols is None:
            if cells == header:
                cols = header
            continue
        if len(cells) != len(cols):
            break
        rows.append(dict(zip(cols, cells)))
    assert cols is not None, "no table %r in %r" % (header, text)
    return rows


PS_HEADER = ["ID", "NAME", "STATE", "PRIO", "HEAP", "STACK", "RESTARTS", "CPU"]
MEM_HEADER = ["BLOCK", "SIZE", "OWNER"]
FAULTS_HEADER = ["#", "AT", "TASK", "REASON", "PC", "ADDR", "ACTION"]
IPC_HEADER = ["ID", "NAME", "SENT", "RECEIVED", "REPLIED", "NOTIFIED", "PEER_DIED", "CALLING",
              "QUEUED"]


def size_of(text):
    """"16K" -> 16384, "512B" -> 512 (the shell's fmt_size)."""
    m = re.fullmatch(r"(\d+)([KB])", text)
    assert m, text
    return int(m.group(1)) * (1024 if m.group(2) == "K" else 1)


class Device:
    """One QEMU running the firmware, and its console.

    child: the pexpect.spawn object (str mode, utf-8, undecodable bytes
    replaced), used only to read and to end the process. text: everything
    read from the console so far; pos: the cursor."""

    def __init__(self, flash, storage=None, hsm=None, hostlink=None, qemu_args=(), net=None):
        """storage: the storage file (tools/qemu.py) to boot with; default a
        new, erased one of its own (factory state), removed at terminate().
        qemu_args: more QEMU options (e.g. "-S", "-gdb" for gdb_remote).
        net: True to forward the board's services (tools/qemu.py SERVICES)
        from free host ports, in self.ports {(proto, board port): host port}."""
        self.flash = flash
        self.text = ""
        self.pos = 0
        self.eof = False
        self.own_storage = storage is None
        if storage is None:
            fd, storage = tempfile.mkstemp(prefix="qenex-storage-", suffix=".bin")
            os.close(fd)
            os.unlink(storage)
        self.storage = storage
        self.ports = qemu.forwards() if net else {}
        cmd = qemu.command(BOARD, flash, serial="stdio", storage=storage, hsm=hsm, hostlink=hostlink,
                           net=self.ports)
        cmd += list(qemu_args)
        self.child = pexpect.spawn(cmd[0], cmd[1:], timeout=10, encoding="utf-8",
                                   codec_errors="replace", echo=False, preexec_fn=_raw_stdio,
                                   cwd=ROOT)
        self.child.delaybeforesend = None
        self.child.delayafterterminate = 0.02

    # -- input ------------------------------------------------------------
    def send(self, data):
        """Send str (ASCII) or bytes as they are, with no line end added."""
        if isinstance(data, str):
            data = data.encode("latin-1")
        view = memoryview(data)
        while view:
            n = os.write(self.child.child_fd, view)
            view = view[n:]

    def send_chunked(self, data, chunk=64, delay=0.002):
        """Send a long input a chunk at a time, reading the console as it goes
        (so neither side's buffers fill up); return what was read (from the
        cursor on; the cursor moves to the end)."""
        if isinstance(data, str):
            data = data.encode("latin-1")
        for i in range(0, len(data), chunk):
            self.send(data[i:i + chunk])
            time.sleep(delay)
            self._read_all()
        return self._take()

    # -- reading ----------------------------------------------------------
    def _read(self, timeout):
        """Read what the console has, waiting at most `timeout` s for the
        first byte; False on timeout or when QEMU has exited."""
        if self.eof:
            return False
        try:
            self.text += self.child.read_nonblocking(65536, timeout=max(timeout, 0))
            return True
        except pexpect.TIMEOUT:
            return False
        except pexpect.EOF:
            self.eof = True
            return False

    def _read_all(self):
        while self._read(0):
            pass

    def _take(self):
        out = self.text[self.pos:]
        self.pos = len(self.text)
        return out

    def _fail(self, what, start):
        tail = self.text[start:]
        if len(tail) > 3000:
            tail = "..." + tail[-3000:]
        raise AssertionError("%s%s; console after the cursor:\n%s" % (
            what, " (QEMU exited)" if self.eof else "", norm(tail)))

    def _search(self, rx, start, timeout, what):
        end = time.monotonic() + timeout
        while True:
            m = rx.search(self.text, start)
            if m:
                return m
            left = end - time.monotonic()
            if left <= 0 or self.eof:
                self._fail("timeout (%.0f s) waiting for %s" % (timeout, what), start)
            self._read(min(left, 0.5))

    def mark(self):
        """A position for wait_line(since=...): what the console writes
        from now on is after it. Take it *before* the command whose
        asynchronous output you will wait for."""
        self._read_all()
        return len(self.text)

    def expect_exact(self, text, timeout=10):
        """Wait for `text` after the cursor; move the cursor past it and
        return what came before it (raw)."""
        m = self._search(re.compile(re.escape(text)), self.pos, timeout, repr(text))
        before = self.text[self.pos:m.start()]
        self.pos = m.end()
        return before

    def expect(self, pattern, timeout=10):
        """Wait for the regex after the cursor; move the cursor past it and
        return the match (self.before: the text before it)."""
        rx = pattern if hasattr(pattern, "search") else re.compile(pattern)
        m = self._search(rx, self.pos, timeout, "/%s/" % rx.pattern)
        self.before = self.text[self.pos:m.start()]
        self.pos = m.end()
        return m

    def wait_line(self, pattern, timeout=10, since=None):
        """Wait for a whole console line matching `pattern` (may follow a
        prompt) read after `since` (a mark(); default the cursor), and
        return its match. The cursor moves past it if it was behind."""
        start = self.pos if since is None else since
        m = self._search(_line_re(pattern), start, timeout, "a line /%s/" % pattern)
        self.pos = max(self.pos, m.end() + 2)
        return m

    def lines(self, pattern, since=0):
        """Matches of every whole line matching `pattern` read so far after
        `since` (no waiting)."""
        self._read_all()
        return list(_line_re(pattern).finditer(self.text, since))

    def expect_absent(self, pattern, seconds=3.0):
        """Assert `pattern` (a regex) does not appear after the cursor
        within `seconds`, and QEMU does not exit; return what the console
        wrote meanwhile (the cursor moves to the end)."""
        rx = re.compile(pattern)
        end = time.monotonic() + seconds
        while True:
            m = rx.search(self.text, self.pos)
            assert not m, "unexpected %r after: %r" % (m.group(0), self.text[self.pos:m.start()])
            left = end - time.monotonic()
            if left <= 0:
                break
            assert not self.eof, "QEMU exited after: %r" % self.text[self.pos:]
            self._read(min(left, 0.2))
        return self._take()

    def read_available(self, wait=0.0):
        """What the console has written after the cursor, waiting at most
        `wait` seconds for more; the cursor moves to the end."""
        self._read(wait)
        self._read_all()
        return self._take()

    def drain(self, quiet=1.0, limit=30.0):
        """Read until the console has been silent for `quiet` seconds (at
        most `limit` seconds in all); return the text after the cursor
        (which moves to the end)."""
        end = time.monotonic() + limit
        while time.monotonic() < end:
            if not self._read(quiet):
                return self._take()
        raise AssertionError("console still busy after %.0f s" % limit)

    def wait_prompt(self, timeout=BOOT_TIMEOUT):
        """Wait for the shell prompt; return the output before it."""
        return norm(self.expect_exact(PROMPT, timeout=timeout))

    def wait_exit(self, timeout=10):
        """Wait for QEMU to exit; return (exit status, signal)."""
        end = time.monotonic() + timeout
        while not self.eof:
            if time.monotonic() > end:
                self._fail("timeout (%.0f s) waiting for QEMU to exit" % timeout, self.pos)
            self._read(min(end - time.monotonic(), 0.5))
        self.child.close()
        return self.child.exitstatus, self.child.signalstatus

    # -- shell ------------------------------------------------------------
    def cmd(self, line, timeout=10):
        """Type `line` and Enter at the prompt; return the command's output
        (between the echoed line and the next prompt), with "\\n" line ends.
        Kernel lines printed meanwhile are part of it."""
        self.send(line + "\r")
        self.expect_exact(line + "\r\n", timeout=timeout)
        return norm(self.expect_exact(PROMPT, timeout=timeout))

    def secret_cmd(self, line, *secrets, timeout=10):
        """Type `line`, then each of `secrets` after the prompt it waits
        for (one ending in "PIN: ", read by the board with no echo); return
        the output after the last one, as cmd() does."""
        self.send(line + "\r")
        self.expect_exact(line + "\r\n", timeout=timeout)
        for s in secrets:
            self.expect_exact("PIN: ", timeout=timeout)
            self.send(s + "\r")
        out = norm(self.expect_exact(PROMPT, timeout=timeout))
        return out[1:] if secrets and out.startswith("\n") else out

    def hsm_login(self, pin, timeout=10):
        """`hsm login`, the PIN typed at its prompt: the board's answer."""
        return self.secret_cmd("hsm login", pin, timeout=timeout)

    def hsm_ready(self, pin=OPERATOR_PIN, factory="123456"):
        """A new HSM made ready for keys: logged in with the factory PIN,
        which is then changed to `pin` (no key is made under the factory one)."""
        assert self.hsm_login(factory) == "hsm: logged in\n"
        assert self.secret_cmd("hsm pin", factory, pin, pin) == "hsm: PIN changed\n"

    def table(self, line, header, timeout=10):
        return parse_table(self.cmd(line, timeout), header)

    def ps(self):
        """`ps` rows by task name (dicts by column)."""
        return {r["NAME"]: r for r in self.table("ps", PS_HEADER)}

    def tid(self, name):
        return int(self.ps()[name]["ID"])

    def settle(self, names=("ledger", "hsm", "heartbeat"), timeout=60):
        """Wait until each named task waits in a receive: done with the work
        it does at boot (the ledger's first checkpoint, for one). The last `ps`."""
        end = time.monotonic() + timeout
        while True:
            ps = self.ps()
            busy = [n for n in names if not ps[n]["STATE"].startswith("blocked")]
            if not busy:
                return ps
            if time.monotonic() > end:
                raise AssertionError("still busy after %d s: %s" % (timeout, busy))
            time.sleep(0.2)

    def mem(self):
        """`mem`: {"free", "largest", "total", "base" (ints), "blocks":
        [(addr, size, owner text), ...], "text"}."""
        out = self.cmd("mem")
        m = re.search(r"^task pool: (\d+[KB]) at 0x([0-9a-f]{8}), (\d+[KB]) free, "
                      r"largest free block (\d+[KB])$", out, re.M)
        assert m, out
        blocks = [(int(r["BLOCK"], 16), size_of(r["SIZE"]), r["OWNER"])
                  for r in parse_table(out, MEM_HEADER)]
        return {"total": size_of(m.group(1)), "base": int(m.group(2), 16),
                "free": size_of(m.group(3)), "largest": size_of(m.group(4)),
                "blocks": blocks, "text": out}

    def faults(self):
        """`faults`: (total since boot, rows)."""
        out = self.cmd("faults")
        m = re.match(r"(\d+) faults since boot\n", out)
        assert m, out
        return int(m.group(1)), parse_table(out, FAULTS_HEADER)

    def ipc(self):
        """`ipc` rows by task name."""
        return {r["NAME"]: r for r in self.table("ipc", IPC_HEADER)}

    def terminate(self):
        if self.child.isalive():
            self.child.terminate(force=True)
        try:
            self.child.close(force=True)
        except Exception:
            pass
        if self.own_storage and os.path.exists(self.storage):
            os.unlink(self.storage)


