"""The recovery shell's context: what the kernel's own VM can tell the shell
when no task runs (the system table was invalid): versions, uptime, the
memory map; reboot and power off. Task tables need the task system, so
`kctl` says it is not running. The shell task's context is
userland/shell/main.py."""
import sys

import _build
import _hal
import board


class System:
    def __init__(self, console):
        self.console = console
        self.prompt_counter = None

    def write(self, text):
        self.console.write(text)

    def version_info(self):
        v = sys.implementation.version
        return {
            "kernel": _build.VERSION,
            "commit": _build.COMMIT,
            "micropython": "%d.%d.%d" % (v[0], v[1], v[2]),
            "board": board.NAME,
            "built": _build.BUILT,
        }

    def uptime_ms(self):
        return _hal.ticks_ms()

    def boot_counts(self):
        if self.prompt_counter is None:
            return None
        return _hal.entry_counter(), self.prompt_counter

    def memory_map(self):
        return list(board.MEMORY_MAP)

    def kctl(self, op, arg=0):
        raise RuntimeError("the task system is not running (recovery shell)")

    lookup = call = kctl

    def poll_byte(self):
        return _hal.poll_byte()

    def sleep(self, ms):
        end = _hal.ticks_ms() + ms
        while _hal.ticks_ms() < end:
            pass

    def reboot(self):
        _hal.reset()

    def poweroff(self):
        _hal.poweroff()
