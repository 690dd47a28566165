"""The shell's commands that drive the gateway task: `compliance reload`
and `audit verify` (a request is the command's word, the reply a status
byte and a line of text). It holds those commands; not the shell's table
or dispatcher (userland/shell/dispatch.py, commands.py registers them),
nor the gateway (main.py, service.py)."""
from userland.shell.dispatch import UsageError


def _gateway(ctx, request):
    r = ctx.call("gateway", request)
    ctx.write("%s%s\n" % ("" if r[:1] == b"\x00" else "gateway: ", r[1:].decode()))


def _compliance(ctx, args):
    if args != ["reload"]:
        raise UsageError()
    _gateway(ctx, b"reload")


def _audit(ctx, args):
    if args != ["verify"]:
        raise UsageError()
    _gateway(ctx, b"audit")


COMMANDS = (
    ("compliance reload", "the gateway reloads its rules file from storage", _compliance, 1),
    ("audit verify", "the gateway checks its audit log (the HSM verifies the checkpoints)", _audit, 1),
)
