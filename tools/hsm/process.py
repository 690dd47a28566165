"""The emulated HSM as a process (`qenex hsm serve`), for everything that
needs one running: `qenex run`, the benchmarks and the QEMU tests."""
import contextlib
import os
import subprocess
import sys
import time

from tools.layout import ROOT


def start(sock, state, timeout=20):
    """Start serving on the unix socket `sock` (state file `state`) and
    return the process once the socket is there; RuntimeError otherwise."""
    if os.path.exists(sock):
        os.unlink(sock)                     # a stale one would look ready
    proc = subprocess.Popen([sys.executable, "-m", "tools.qenex", "hsm", "serve", "--socket", sock,
                             "--state", state], cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not os.path.exists(sock):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise RuntimeError("the emulated HSM did not start on %s" % sock)
        time.sleep(0.05)
    return proc


def stop(proc):
    """Stop it (SIGTERM: it removes its socket), killed if it will not go."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def running(sock, state):
    """The emulated HSM for the length of a with block."""
    proc = start(sock, state)
    try:
        yield proc
    finally:
        stop(proc)
