"""Fixtures of the QEMU integration tests: boot the firmware on the emulated
mps2-an385 and talk to its console (UART0 on QEMU's stdio) through pexpect.

`device` is a booted board waiting at the shell prompt; `boot(flash)` boots any
flash image (a corrupted one, say) and leaves the waiting to the test. Every
QEMU started here is killed at teardown, and every wait has a timeout.

The console runs over a pseudo-terminal that is put in raw mode before QEMU
starts (in the child, before exec). That matters: in cooked mode the pty's line
discipline would turn Ctrl-C into SIGINT for QEMU (QEMU's stdio chardev keeps
ISIG), eat DEL/^U as editing keys, cap a line at 4096 bytes and add a CR to
every LF QEMU writes.
"""
import io
import os
import sys
import termios
import time

import pexpect
import pytest

from tools import qemu
from tools.layout import ROOT, load_board

BOARD = "mps2-an385"
PROMPT = "qenex> "
BOOT_TIMEOUT = 30      # seconds from spawn to the prompt
FLASH = qemu.flash_path(BOARD)


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


class Device:
    """One QEMU running the firmware, and its console.

    child: the pexpect.spawn object (str mode, utf-8, undecodable bytes
    replaced). transcript: everything read from the console so far."""

    def __init__(self, flash):
        self.flash = flash
        self.transcript = io.StringIO()
        cmd = qemu.command(BOARD, flash, serial="stdio")
        self.child = pexpect.spawn(cmd[0], cmd[1:], timeout=10, encoding="utf-8",
                                   codec_errors="replace", echo=False, preexec_fn=_raw_stdio,
                                   cwd=ROOT)
        self.child.delaybeforesend = None
        self.child.delayafterterminate = 0.02
        self.child.logfile_read = self.transcript

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
        (so neither side's buffers fill up); return what was read."""
        if isinstance(data, str):
            data = data.encode("latin-1")
        got = []
        for i in range(0, len(data), chunk):
            self.send(data[i:i + chunk])
            time.sleep(delay)
            got.append(self.read_available())
        return "".join(got)

    # -- output -----------------------------------------------------------
    def read_available(self, wait=0.0):
        """Whatever the console has written, waiting at most `wait` seconds
        for the first byte. Bypasses (and must not follow unconsumed) pexpect
        buffer contents, so it is called only right after an expect."""
        got = []
        timeout = wait
        while True:
            try:
                got.append(self.child.read_nonblocking(4096, timeout=timeout))
            except pexpect.TIMEOUT:
                break
            timeout = 0
        return "".join(got)

    def drain(self, quiet=1.0, limit=30.0):
        """Read until the console has been silent for `quiet` seconds (at
        most `limit` seconds in all); return what was read."""
        got, end = [], time.monotonic() + limit
        while time.monotonic() < end:
            try:
                got.append(self.child.read_nonblocking(4096, timeout=quiet))
            except pexpect.TIMEOUT:
                return "".join(got)
        raise AssertionError("console still busy after %.0f s" % limit)

    def expect_exact(self, text, timeout=10):
        self.child.expect_exact(text, timeout=timeout)
        return self.child.before

    def expect(self, pattern, timeout=10):
        self.child.expect(pattern, timeout=timeout)
        return self.child.match

    def expect_absent(self, pattern, seconds=3.0):
        """Assert `pattern` (a regex) does not appear within `seconds`;
        return what the console wrote meanwhile."""
        i = self.child.expect([pattern, pexpect.TIMEOUT, pexpect.EOF], timeout=seconds)
        seen = self.child.before
        assert i == 1, "unexpected %r (or QEMU exited) after: %r" % (
            self.child.after if i == 0 else "EOF", seen)
        return seen

    def wait_prompt(self, timeout=BOOT_TIMEOUT):
        """Wait for the shell prompt; return the boot output before it."""
        return norm(self.expect_exact(PROMPT, timeout=timeout))

    # -- shell ------------------------------------------------------------
    def cmd(self, line, timeout=10):
        """Type `line` and Enter at the prompt; return the command's output
        (between the echoed line and the next prompt), with "\\n" line ends."""
        self.send(line + "\r")
        self.child.expect_exact(line + "\r\n", timeout=timeout)
        return norm(self.expect_exact(PROMPT, timeout=timeout))

    def terminate(self):
        if self.child.isalive():
            self.child.terminate(force=True)
        try:
            self.child.close(force=True)
        except Exception:
            pass


@pytest.fixture(scope="session")
def flash_bin():
    """Path of the built flash image (boot + slot A)."""
    if not os.path.isfile(FLASH):
        pytest.fail("%s does not exist: run `make build` first" % os.path.relpath(FLASH, ROOT),
                    pytrace=False)
    return FLASH


@pytest.fixture(scope="session")
def board():
    return load_board(BOARD)


@pytest.fixture(scope="session")
def version():
    with open(os.path.join(ROOT, "VERSION")) as f:
        return f.read().strip()


@pytest.fixture
def boot(flash_bin):
    """Factory: boot(flash=None) starts QEMU on `flash` (default: the built
    flash.bin) and returns its Device without waiting for anything."""
    devices = []

    def start(flash=None):
        dev = Device(flash or flash_bin)
        devices.append(dev)
        return dev

    yield start
    for dev in devices:
        dev.terminate()
        # Shown by pytest only when the test failed.
        sys.stdout.write("---- console of %s ----\n%s\n" % (
            os.path.basename(dev.flash), dev.transcript.getvalue()))


@pytest.fixture
def device(boot):
    """A freshly booted board at the shell prompt; `.boot_output` holds what
    the bootloader and kernel printed before it."""
    dev = boot()
    dev.boot_output = dev.wait_prompt()
    return dev
