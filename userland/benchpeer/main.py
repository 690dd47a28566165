"""benchpeer: bench's partner. Says hello to bench as soon as it runs (task
start timing), then exits, yields forever (switch timing) or echoes calls
with raw syscalls and one buffer (the IPC mechanism without library work)."""
import _qx
from kernel import abi
from userland.lib import qenex


def echo():
    sc, r1, recv, reply = _qx.syscall, _qx.r1, abi.SYS_RECV, abi.SYS_REPLY
    buf = bytearray(abi.MSG_MAX)
    a = _qx.addr(buf)
    n = sc(recv, a, abi.MSG_MAX)
    while True:
        sc(reply, r1(), a, n)
        n = sc(recv, a, abi.MSG_MAX)


def main():
    mode = qenex.call("bench", b"hello")
    # As bench's yield loops, raw syscall then yield_(), and the same loop
    # (for over a range): bench's switch figure is its loop's time less its
    # yield-alone loop's, so our iterations must cost what its do (a
    # `while True` iteration is 144 instructions cheaper, and made the
    # switch look 72 cheaper than it is).
    if mode == b"yield":
        sc, no = _qx.syscall, abi.SYS_YIELD
        while True:
            for _ in range(1 << 29):
                sc(no)
    elif mode == b"yield_":
        y = qenex.yield_
        while True:
            for _ in range(1 << 29):
                y()
    elif mode == b"echo":
        echo()
