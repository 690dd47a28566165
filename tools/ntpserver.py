"""A real NTP server for the tests and `make run`: Debian's chronyd, started
on 127.0.0.1 at a free UDP port with a configuration of its own (never the
system's, never port 123, never touching the host's clock) and stopped
afterwards. Under QEMU's user network the board reaches it as 10.0.2.2 at
the same port.

It serves the host's clock as a local reference (`local stratum`), which
is what a board provisioned from this host should agree with.

    with NtpServer() as ntp:      # ntp.port: where it answers
        ...
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

CHRONYD = "/usr/sbin/chronyd"
STRATUM = 8


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _answers(port, timeout):
    """Does something answer an NTP client request on 127.0.0.1:port?"""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(b"\x23" + bytes(47), ("127.0.0.1", port))
        data, _ = s.recvfrom(512)
        return len(data) >= 48 and data[1] != 0
    except OSError:
        return False
    finally:
        s.close()


class NtpServer:
    def __init__(self, port=None, start_timeout=10.0):
        if not os.access(CHRONYD, os.X_OK):
            raise RuntimeError("%s is missing: Debian's chrony package (tools/deps/apt-packages.txt; "
                               "`make build` installs it)" % CHRONYD)
        self.port = port or free_udp_port()
        self.start_timeout = start_timeout
        self.dir = None
        self.proc = None

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="qenex-chrony-")
        conf = os.path.join(self.dir, "chrony.conf")
        with open(conf, "w") as f:
            f.write("port %d\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum %d\n"
                    "cmdport 0\npidfile %s\ndriftfile %s\n"
                    % (self.port, STRATUM, os.path.join(self.dir, "chronyd.pid"), os.path.join(self.dir, "drift")))
        # -d: stay in the foreground (so we own the process); -x: never set
        # the host's clock. As root chronyd would drop to its own user, which
        # cannot read our temporary directory: keep root (-u root); as
        # another user, -U lets it start without root.
        args = [CHRONYD, "-f", conf, "-d", "-x"]
        args += ["-u", "root"] if os.geteuid() == 0 else ["-U"]
        self.log = open(os.path.join(self.dir, "chronyd.log"), "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("chronyd exited (%d): %s" % (self.proc.returncode, self.output()))
            if _answers(self.port, 0.3):
                return self
        self.stop()
        raise RuntimeError("chronyd did not answer on 127.0.0.1:%d within %.0f s" % (self.port, self.start_timeout))

    def output(self):
        try:
            with open(os.path.join(self.dir, "chronyd.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self.dir is not None:
            self.log.close()
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
