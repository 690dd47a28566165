"""Fakes for the shell's host tests: a scripted console and a fake system.

FakeConsole replays a byte script (items may also be exceptions, which
read_byte raises) and records everything written. FakeSystem is the `ctx` the
commands run against; it records reboot/poweroff calls. Its kernel queries
and controls (kctl) are answered by a real kernel.kernel.Kernel running on the
simulated trap layer, through a JSON round trip as on the device, so the
shell's tables are tested against the kernel's real reply shapes.
"""
import json

from kernel import abi, manifest
from kernel import kctl
from kernel.kernel import Kernel
from kernel.sim import Sim

POOL = 0x20000000


def server(sys):
    while True:
        sender, msg = yield from sys.recv()
        yield from sys.reply(sender, b"re:" + msg)


def sim_kernel():
    """A small system: `echo` (prio 2, a server) and `idle` (manual start)."""
    sim = Sim(0)
    sim.program("server", server)
    ms = [manifest.parse("name = echo\nentry = server\npriority = 2\nheap = 4096\nstack = 1024\n"
                         "restart = always\n", "userland/echo/manifest"),
          manifest.parse("name = idle\nentry = server\npriority = 3\nheap = 4096\nstack = 1024\n"
                         "restart = never\nstart = manual\n", "userland/idle/manifest")]
    k = Kernel(sim, POOL, 1 << 16, ms)
    k.start_all()
    for _ in range(20):
        k.step()
    return k


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
                        "built": "2026-11-25T23:00:00Z", "built_ms": 1795647600000}
        self.ms = 62345
        self.counts = None
        self.heap_used_free = (1000, 2000)
        self.map = [("boot", 0x00000000, 0x10000, "bootloader"),
                    ("slot A", 0x00010000, 0x180000, "kernel image"),
                    ("ram", 0x20000000, 0x400000, "SRAM")]
        self.kernel = None            # made on first use: sim_kernel()
        self.kctl_error = None        # an exception kctl raises instead
        self.polls = []               # poll_byte() results, in order (then None)
        self.keys = []                # read_byte() results (bytes typed after a prompt), then None
        self.slept = 0
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

    def memory_map(self):
        return list(self.map)

    def kctl(self, op, arg=0):
        if self.kctl_error is not None:
            raise self.kctl_error
        if self.kernel is None:
            self.kernel = sim_kernel()
        k = self.kernel
        if op == abi.KCTL_FG:
            k.give_console(arg)
            return None
        if op in (abi.KCTL_KILL, abi.KCTL_START, abi.KCTL_RESTART):
            (k.kill if op == abi.KCTL_KILL else k.start if op == abi.KCTL_START else k.restart)(arg)
            return None
        reply = {abi.KCTL_PS: kctl.ps, abi.KCTL_MEM: kctl.mem, abi.KCTL_FAULTS: lambda k: k.fault_log.reply(),
                 abi.KCTL_IPC: kctl.ipc_table}[op](k)
        if op == abi.KCTL_MEM:
            reply["kernel_heap"] = list(self.heap_used_free)
        return json.loads(json.dumps(reply))

    def clock(self, set_ms=None, source="operator"):
        """KCTL_TIME on the simulated kernel (its refusals as ValueError)."""
        if self.kernel is None:
            self.kernel = sim_kernel()
        if set_ms is not None:
            self.kernel.clock.set(set_ms, source)
        return json.loads(json.dumps(self.kernel.clock.status()))

    def lookup(self, name):
        if self.kernel is None:
            self.kernel = sim_kernel()
        return self.kernel.lookup(name)

    def call(self, dest, data):
        return b"re:" + data

    def poll_byte(self):
        return self.polls.pop(0) if self.polls else None

    def read_byte(self):
        return self.keys.pop(0) if self.keys else None

    def sleep(self, ms):
        self.slept += ms

    def wait_console(self):
        self.calls.append(("wait_console", len(self.out)))

    def exit(self):
        self.calls.append(("exit", len(self.out)))

    def reboot(self):
        self.calls.append(("reboot", len(self.out)))

    def poweroff(self):
        self.calls.append(("poweroff", len(self.out)))
