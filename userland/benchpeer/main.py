"""benchpeer: bench's partner. Says hello to bench as soon as it runs (task
start timing), then either exits or yields forever (switch timing)."""
import _qx
from kernel import abi
from userland.lib import qenex


def main():
    if qenex.call("bench", b"hello") == b"yield":
        while True:
            _qx.syscall(abi.SYS_YIELD)
