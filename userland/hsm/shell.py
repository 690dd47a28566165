"""The shell's `hsm` command: the HSM service driven from the console
(userland/hsm/api.py is how it calls the service). It holds the command's
forms, its output and the PIN prompts; not the shell's table or dispatcher
(userland/shell/dispatch.py, commands.py registers this command there),
nor the service (main.py, policy.py)."""
import json

from userland.shell.dispatch import Refused, UsageError, number, table


def _hsm(ctx, *args):
    """Call the hsm service; its answer's fields (HsmRefused otherwise)."""
    from userland.hsm import api
    return api.request(*args, call=ctx.call)


def _hsm_whole(ctx, first):
    from userland.hsm import api
    return api.whole(first, ctx.call)


def _hexs(b):
    return "".join("%02x" % x for x in b)


PIN_MIN, PIN_MAX = 6, 32


def _ask(ctx, prompt):
    """A PIN typed with no echo (lineedit.read_secret); Refused on Ctrl-C."""
    from userland.shell.lineedit import read_secret
    pin = read_secret(ctx.read_byte, ctx.write, prompt)
    if pin is None:
        raise Refused("cancelled")
    return pin


def _new_pin(ctx, a):
    """The old and the new PIN: typed after prompts (twice the new one), or
    given on the line (`hsm pin OLD NEW`, echoed as stars)."""
    if a:
        old, new = a
    else:
        old = _ask(ctx, "old PIN: ")
        new = _ask(ctx, "new PIN: ")
        if _ask(ctx, "repeat new PIN: ") != new:
            raise Refused("the new PINs differ; PIN unchanged")
    if not PIN_MIN <= len(new) <= PIN_MAX:
        raise Refused("a PIN is %d to %d characters; PIN unchanged" % (PIN_MIN, PIN_MAX))
    return old, new


def hsm_command(ctx, args):
    from userland.hsm.api import HsmRefused
    from drivers.hsm import frame as F
    if not args:
        raise UsageError()
    op, a = args[0], args[1:]
    try:
        if op == "info" and not a:
            got = _hsm(ctx, "info")
            model, fw, serial, free, locked = got[:5]
            factory = len(got) > 5 and got[5][:1] == b"\x01"
            ctx.write("hsm: %s, firmware %s, serial %s, %d free key slots%s%s\n" % (
                model.decode(), fw.decode(), serial.decode(), F.u32(free, 0),
                ", factory PIN (change it: hsm pin)" if factory else "", ", LOCKED" if locked[0] else ""))
        elif op == "login" and len(a) <= 1:
            _hsm(ctx, "login", a[0] if a else _ask(ctx, "PIN: "))
            ctx.write("hsm: logged in\n")
        elif op == "pin" and len(a) in (0, 2):
            old, new = _new_pin(ctx, a)
            _hsm(ctx, "pin", old, new)
            ctx.write("hsm: PIN changed\n")
        elif op == "keys" and not a:
            items = F.unfields(_hsm_whole(ctx, _hsm(ctx, "keys")))
            rows = [[items[i].decode(), F.ALGS[items[i + 1][0]], ",".join(F.usage_names(items[i + 1][1]))]
                    for i in range(0, len(items), 2)]
            table(ctx, ["LABEL", "ALGORITHM", "USAGE"], rows)
        elif op == "gen" and len(a) >= 3 and a[0] in F.ALGS:
            bad = [u for u in a[2:] if u not in F.USAGE and u != "exportable"]
            if bad:
                raise Refused("usage %s is not one of %s, exportable" % (bad[0], ", ".join(F.USAGE)))
            pub = _hsm_whole(ctx, _hsm(ctx, "gen", bytes((F.ALGS.index(a[0]),)), a[1],
                                       bytes((F.usage_bits(a[2:]),))))
            ctx.write("hsm: key %s (%s) generated; public key %d bytes\n" % (a[1], a[0], len(pub)))
        elif op == "pubkey" and len(a) == 1:
            ctx.write("%s\n" % _hexs(_hsm_whole(ctx, _hsm(ctx, "pubkey", a[0]))))
        elif op == "sign" and len(a) >= 2:
            sig = _hsm_whole(ctx, _hsm(ctx, "sign", a[0], " ".join(a[1:])))
            ctx.write("%s\n" % _hexs(sig))
        elif op == "verify" and len(a) == 3:
            try:
                sig = bytes(int(a[2][i:i + 2], 16) for i in range(0, len(a[2]), 2))
            except ValueError:
                raise Refused("the signature is not hex")
            ok = _hsm(ctx, "verify", a[0], a[1], sig)[0]
            ctx.write("hsm: signature %s\n" % ("valid" if ok[0] else "INVALID"))
        elif op == "audit" and len(a) <= 1:
            n = number(a[0]) if a else 10
            total = F.u32(_hsm(ctx, "audit", "0")[0], 0)
            head = "-"
            for i in range(max(0, total - n), total):
                e = json.loads(_hsm(ctx, "audit", str(i))[1])
                head = e["hash"][:16]
                ctx.write("%4d  %-8s %-16s %-14s %s\n" % (e["seq"], e["op"], e["label"] or "-", e["result"],
                                                         e["note"]))
            ctx.write("hsm: %d audit entries%s\n" % (total, ", last %s" % head if head != "-" else ""))
        elif op == "zeroize" and len(a) == 2 and a[0] == "ZEROIZE":
            n = F.u32(_hsm(ctx, "zeroize", "ZEROIZE " + a[1])[0], 0)
            ctx.write("hsm: zeroized, %d keys destroyed\n" % n)
        else:
            raise UsageError()
    except (Refused, HsmRefused) as e:
        ctx.write("hsm: %s\n" % e)


COMMANDS = (
    ("hsm info|login|pin|keys|gen|pubkey|sign|verify|audit|zeroize ...",
     "the HSM: login, pin (ask for PINs), gen ALG LABEL USAGE.., sign LABEL TEXT, verify LABEL TEXT SIG, audit [N]",
     hsm_command),
)
