"""Fakes for the shell's host tests: a scripted console and a fake system.

FakeConsole replays a byte script (items may also be exceptions, which
read_byte raises) and records everything written. FakeSystem is the `ctx` the
commands run against; it records reboot/poweroff calls.
"""


class FakeConsole:
    def __init__(self, script):
        self.script = list(script)
        self.out = []

    def read_byte(self):
        if not self.script:
            return None
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    def write(self, s):
        self.out.append(s)

    def text(self):
        return "".join(self.out)


class FakeSystem:
    def __init__(self, **over):
        self.out = []
        self.calls = []
        self.version = {"kernel": "0.1.0", "commit": "abc1234",
                        "micropython": "1.25.0", "board": "mps2-an385",
                        "built": "2026-11-25T23:00:00Z"}
        self.ms = 62345
        self.counts = None
        self.heap_used_free = (1000, 2000)
        self.map = [("boot", 0x00000000, 0x10000, "bootloader"),
                    ("slot A", 0x00010000, 0x180000, "kernel image"),
                    ("ram", 0x20000000, 0x400000, "SRAM")]
        self.task_list = [{"id": 0, "name": "kernel", "state": "running", "prio": 0},
                          {"id": 1, "name": "shell", "state": "ready", "prio": 3}]
        self.__dict__.update(over)

    def write(self, s):
        self.out.append(s)

    def text(self):
        return "".join(self.out)

    def version_info(self):
        return dict(self.version)

    def uptime_ms(self):
        return self.ms

    def boot_counts(self):
        return self.counts

    def heap(self):
        return self.heap_used_free

    def memory_map(self):
        return list(self.map)

    def tasks(self):
        if isinstance(self.task_list, BaseException):
            raise self.task_list
        return self.task_list

    def reboot(self):
        self.calls.append(("reboot", len(self.out)))

    def poweroff(self):
        self.calls.append(("poweroff", len(self.out)))
