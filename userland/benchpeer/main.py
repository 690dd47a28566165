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
    if mode == b"yield":                  # as bench's yield loops: raw syscall, then yield_()
        sc, no = _qx.syscall, abi.SYS_YIELD
        while True:
            sc(no)
    elif mode == b"yield_":
        y = qenex.yield_
        while True:
            y()
    elif mode == b"echo":
        echo()
