"""Interrupts reach the tasks that own them, on the emulated board (the dev
image, images/<board>/flash-dev.bin: production and userland/irqtest/):

- a 1 MiB burst into a task-owned UART (UART3, QEMU's fourth serial port on
  a unix socket this test drives) comes back through uartecho's rings,
  nothing lost, nothing reordered: the receive ring holds the sender back
  when it is full, and the task waits on its notification bit between reads;
- a raw interrupt (timer 1, driven by irqtimer) reaches its owner, again
  after each acknowledgement; irqsnoop, granted neither, can neither
  acknowledge it nor see its bit, nor use any task UART (NOT_PERMITTED),
  and its read of UART3's registers is a MemManage fault;
- the owner's restart masks and reopens its UART: the echo works again."""
import os
import re
import socket
import tempfile
import threading
import time

import pytest

from qemu_console import BOARD, Device, norm
from tools import qemu

DEV_FLASH = qemu.flash_path(BOARD, "dev")
BURST = 1 << 20


@pytest.fixture
def dev_board():
    if not os.path.isfile(DEV_FLASH):
        pytest.fail("%s does not exist: run `make build` first" % DEV_FLASH, pytrace=False)
    tmp = tempfile.mkdtemp(prefix="qenex-irq-")
    path = os.path.join(tmp, "uart3.sock")
    d = Device(DEV_FLASH, qemu_args=["-serial", "chardev:u3",
                                      "-chardev", "socket,id=u3,path=%s,server=on,wait=off" % path])
    try:
        d.boot_output = d.wait_prompt()
        deadline = time.time() + 10
        while not os.path.exists(path):
            assert time.time() < deadline, "QEMU did not open %s" % path
            time.sleep(0.05)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.settimeout(900)                   # QEMU takes a byte per main-loop turn: minutes on a loaded host
        d.uart3 = s
        yield d
    finally:
        d.terminate()
        print("---- console ----\n%s" % norm(d.text))
        if os.path.exists(path):
            os.unlink(path)
        os.rmdir(tmp)


def echo(s, data, timeout=900):
    """Send data into UART3 from a thread, read the echo here: what came back."""
    err = []

    def send():
        try:
            s.sendall(data)
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=send, daemon=True)
    t.start()
    got = bytearray()
    deadline = time.time() + timeout
    while len(got) < len(data) and time.time() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        got += chunk
    t.join(5)
    assert not err, err
    return bytes(got)


def test_a_1mib_burst_through_a_task_uart_loses_nothing(dev_board):
    d = dev_board
    d.wait_line(r"uartecho: up", timeout=20, since=0)
    data = os.urandom(BURST)
    t0 = time.time()
    got = echo(d.uart3, data)
    took = time.time() - t0
    assert len(got) == len(data), "%d of %d bytes came back in %.1f s" % (len(got), len(data), took)
    assert got == data, "the echo differs first at byte %d" % next(i for i in range(len(data)) if got[i] != data[i])
    print("1 MiB echoed in %.1f s" % took)
    # Nothing else broke: the shell answers, nobody faulted.
    assert d.cmd("echo alive") == "alive\n"
    assert "fault: task uartecho" not in d.text
    # Its restart closes the UART (masked, rings forgotten) and opens it again.
    mark = d.mark()
    d.cmd("restart uartecho")
    d.wait_line(r"uartecho: up", timeout=20, since=mark)
    assert echo(d.uart3, b"again", timeout=20) == b"again"


def test_an_irq_reaches_its_owner_only(dev_board):
    d = dev_board
    m = d.wait_line(r"irqtimer: (\d+) irqs, latency ticks min (\d+) median (\d+) max (\d+) \(spurious (\d+)\)",
                    timeout=30, since=0)
    assert int(m.group(1)) == 100                   # every one, each after the last acknowledgement
    assert 0 <= int(m.group(2)) <= int(m.group(3)) <= int(m.group(4))
    want = [("owned", "0"), ("ack bit 4", "NOT_PERMITTED"), ("wait bit 4", "0")]
    for dev in (1, 2, 3):
        want += [("read uart%d" % dev, "NOT_PERMITTED"), ("write uart%d" % dev, "NOT_PERMITTED")]
    for what, result in want:
        got = d.wait_line(r"irqsnoop: %s -> (\S+)" % re.escape(what), timeout=20, since=0)
        assert got.group(1) == result, got.group(0)
    f = d.wait_line(r"fault: task irqsnoop \(id \d+\): (\S+) .*addr=0x(\w+);.*", timeout=20, since=0)
    assert f.group(1) == "MemManage" and f.group(2) == "40007004", f.group(0)
    assert "isolation broken" not in d.text
    assert d.cmd("echo alive") == "alive\n"
