"""Calls a task that does not exist, then one it may not call: the kernel
refuses both with an error code; the second, uncaught, ends the task."""
from userland.lib import qenex


def main():
    try:
        qenex.call(99, b"anyone?")
    except qenex.Error as e:
        qenex.write("badcall: call 99 -> %s\n" % e.name)
    qenex.call("heartbeat", b"not allowed")
