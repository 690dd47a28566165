"""A minimal client of QEMU's gdbstub (the GDB remote serial protocol over
a unix socket), for tests that stop the guest at an exact point: connect,
set a write watchpoint, continue, wait for the stop. Every wait has a
timeout."""
import os
import socket
import time


class GdbError(AssertionError):
    pass


class Gdb:
    def __init__(self, path, timeout=10.0):
        end = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > end:
                    raise GdbError("no gdbstub at %s after %.0f s" % (path, timeout))
                time.sleep(0.05)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _fill(self, timeout):
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return False
        if not data:
            raise GdbError("the gdbstub closed the connection")
        self.buf += data
        return True

    def send(self, data):
        """Send one packet and wait for its '+' ack."""
        self.sock.sendall(b"$" + data + b"#%02x" % (sum(data) & 0xff))
        end = time.monotonic() + 10
        while b"+" not in self.buf:
            if time.monotonic() > end:
                raise GdbError("no ack for %r" % data)
            self._fill(end - time.monotonic())
        self.buf = self.buf[self.buf.index(b"+") + 1:]

    def packet(self, timeout, poll=None):
        """The next packet's payload (acked), calling poll() while waiting;
        None on timeout."""
        end = time.monotonic() + timeout
        while True:
            i = self.buf.find(b"$")
            j = self.buf.find(b"#", i) if i >= 0 else -1
            if i >= 0 and j >= 0 and len(self.buf) >= j + 3:
                payload = self.buf[i + 1:j]
                self.buf = self.buf[j + 3:]
                self.sock.sendall(b"+")
                return payload
            left = end - time.monotonic()
            if left <= 0:
                return None
            self._fill(min(left, 0.05))
            if poll is not None:
                poll()

    def command(self, data, timeout=10):
        self.send(data)
        reply = self.packet(timeout)
        if reply is None:
            raise GdbError("no reply to %r" % data)
        return reply

    def watch_write(self, addr, length=1):
        reply = self.command(b"Z2,%x,%x" % (addr, length))
        if reply != b"OK":
            raise GdbError("write watchpoint at 0x%x refused: %r" % (addr, reply))

    def unwatch_write(self, addr, length=1):
        reply = self.command(b"z2,%x,%x" % (addr, length))
        if reply != b"OK":
            raise GdbError("write watchpoint at 0x%x not removed: %r" % (addr, reply))

    def step_past_watch(self, addr, length=1):
        """QEMU stops *before* the write a watchpoint catches, and would stop
        at it again: let that one instruction run (as gdb does: remove,
        single-step, put back)."""
        self.unwatch_write(addr, length)
        self.send(b"s")
        reply = self.packet(10)
        if reply is None or not reply.startswith((b"T", b"S")):
            raise GdbError("single step: %r" % reply)
        self.watch_write(addr, length)

    def cont(self):
        self.send(b"c")

    def wait_stop(self, timeout, poll=None):
        """After cont(): the stop reply (b"T05watch:..." for a watchpoint)."""
        reply = self.packet(timeout, poll)
        if reply is None:
            raise GdbError("the guest did not stop within %.0f s" % timeout)
        return reply


def socket_path(tmpdir, name="gdb"):
    path = os.path.join(str(tmpdir), name + ".sock")
    if os.path.exists(path):
        os.unlink(path)
    return path
