"""benchpeer: bench's partner. Says hello to bench as soon as it runs (task
start timing), then exits, yields forever (switch timing) or echoes calls
with raw syscalls and one buffer (the IPC mechanism without library work)."""
import _qx
from kernel import abi
from userland.lib import qenex


def echo():
    sc, recv, reply = _qx.syscall, abi.SYS_RECV, abi.SYS_REPLY
    buf = bytearray(abi.MSG_MAX)
    a = _qx.addr(buf)
    n, sender = sc(recv, a, abi.MSG_MAX)
    while True:
        sc(reply, sender, a, n)
        n, sender = sc(recv, a, abi.MSG_MAX)


def main():
    mode = qenex.call("bench", b"hello")
    if mode == b"yield":
        while True:
            _qx.syscall(abi.SYS_YIELD)
    elif mode == b"echo":
        echo()
