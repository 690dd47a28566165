"""The shell's commands that drive the gateway task: `compliance reload`,
`audit verify` and `accounts` (a request is the command's words, the reply
a status byte and a line of text). It holds those commands; not the shell's table
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


def _accounts(ctx, args):
    if not args or args == ["list"]:
        start = 0
        while True:                     # a page a reply (replies are short): "TOTAL NEXT\nlines"
            r = ctx.call("gateway", ("accounts list %d" % start).encode())
            if r[:1] != b"\x00":
                ctx.write("gateway: %s\n" % r[1:].decode())
                return
            head, _, lines = r[1:].decode().partition("\n")
            total, nxt = [int(w) for w in head.split()]
            if start == 0:
                ctx.write("%d accounts%s\n" % (total, " (IBAN, ledger account, BIC, state)" if total else ""))
            if lines:
                ctx.write(lines + "\n")
            if nxt >= total or nxt == start:
                return
            start = nxt
    if args[0] not in ("add", "open", "close", "block", "remove"):
        raise UsageError()
    _gateway(ctx, ("accounts " + " ".join(args)).encode())


COMMANDS = (
    ("compliance reload", "the gateway reloads its rules file from storage", _compliance, 1),
    ("audit verify", "the gateway checks its audit log (the HSM verifies the checkpoints)", _audit, 1),
    ("accounts [list|add|open|close|block|remove ...]",
     "the gateway's account directory (IBAN to ledger account): add IBAN ACCOUNT [BIC], open|close|block|remove IBAN",
     _accounts, 4),
)
