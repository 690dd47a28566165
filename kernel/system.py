"""What the kernel tells the shell about the running system: versions, uptime,
memory, tasks; and the two board actions, reboot and power off. One object,
handed to the shell as its context; host tests replace it with a fake."""
import gc
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

    def heap(self):
        return gc.mem_alloc(), gc.mem_free()

    def memory_map(self):
        return list(board.MEMORY_MAP)

    def tasks(self):
        # One VM for now: the kernel runs the shell in its own context.
        return [
            {"id": 0, "name": "kernel", "state": "running", "prio": 0},
            {"id": 1, "name": "shell", "state": "running", "prio": 1},
        ]

    def reboot(self):
        _hal.reset()

    def poweroff(self):
        _hal.poweroff()
