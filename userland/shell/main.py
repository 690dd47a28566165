"""The shell task: the console shell of userland/shell running as an ordinary
unprivileged task. Everything it shows or does goes through syscalls: console
bytes (SYS_READ/SYS_WRITE), kernel tables and controls (SYS_KCTL, capability
`kernel`), messages to tasks (SYS_CALL). This module is only that glue."""
import json
import sys

import _build
import board
from kernel import abi
from userland.lib import qenex
from userland.shell import shell


class TaskConsole:
    def __init__(self, system):
        self.system = system

    def prompt_shown(self):
        """The first prompt is out (shell.run): note the board counter for `uptime`."""
        if self.system.prompt_counter is None:
            ps = self.system.kctl(abi.KCTL_PS)
            self.system.entry_counter = ps.get("entry_counter")
            self.system.prompt_counter = ps.get("counter")

    def read_byte(self):
        return qenex.read_byte()

    def write(self, text):
        qenex.write(text)


class TaskSystem:
    """The shell's context (userland/shell/commands.py) for a task."""

    def __init__(self):
        self.entry_counter = self.prompt_counter = None

    def write(self, text):
        qenex.write(text)

    def kctl(self, op, arg=0):
        """A query's reply as a dict; a control's (empty reply) as None."""
        reply = qenex.kctl(op, arg)
        return json.loads(reply) if reply else None

    def clock(self, set_ms=None, source="operator"):
        """The UTC clock's status (utcclock.clock); set_ms sets it first."""
        from userland.lib import utcclock     # here: only `date` needs it in the shell's heap
        return utcclock.clock(set_ms, source)

    def lookup(self, name):
        return qenex.lookup(name)

    def call(self, dest, data):
        return qenex.call(dest, data)

    def poll_byte(self):
        return qenex.poll_byte()

    def read_byte(self):
        """The next console byte, waiting (a PIN typed after its prompt)."""
        return qenex.read_byte()

    def install_step(self, step, data=b""):
        """One step of the install stream (userland/shell/install.py): the
        kernel's reply, or {"error": why} when it refused the bundle."""
        try:
            return json.loads(qenex.install_step(step, data))
        except qenex.Refused as e:
            return {"error": e.reason}

    def sleep(self, ms):
        qenex.sleep(ms)

    def ticks(self):
        return qenex.ticks()

    def wait_console(self):
        """Wait until the console is the shell's again (after `fg`)."""
        qenex.wait_console()

    def exit(self):
        qenex.exit(0)

    def version_info(self):
        v = sys.implementation.version
        return {"kernel": _build.VERSION, "commit": _build.COMMIT,
                "micropython": "%d.%d.%d" % (v[0], v[1], v[2]), "board": board.NAME,
                "built": _build.BUILT, "built_ms": _build.BUILT_MS}

    def uptime_ms(self):
        return qenex.ticks()

    def boot_counts(self):
        if self.prompt_counter is None or self.entry_counter is None:
            return None
        return self.entry_counter, self.prompt_counter

    def memory_map(self):
        return list(board.MEMORY_MAP)

    def reboot(self):
        qenex.kctl(abi.KCTL_REBOOT)

    def poweroff(self):
        qenex.kctl(abi.KCTL_POWEROFF)


def main():
    system = TaskSystem()
    if system.kctl(abi.KCTL_BOOT).get("safe_mode"):
        system.prompt = shell.SAFE_PROMPT
        system.write("safe mode: installed tasks not started; `tasks` lists them, `tasks remove NAME` "
                     "removes one, `reboot` boots normally\n")
    shell.run(TaskConsole(system), system)
