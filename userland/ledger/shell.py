"""The shell's `ledger` command: the ledger service driven from the
console, through its client (api.py). It holds the command's forms and its
output; not the shell's table or dispatcher (userland/shell/dispatch.py,
commands.py registers this command there), nor the wire format (api.py),
nor the ledger itself (state.py, service.py)."""
from userland.shell.dispatch import Refused, UsageError, number, table

LEDGER_FORMS = """ledger account new ID LEDGER CODE [history|debits_must_not_exceed_credits|credits_must_not_exceed_debits]
ledger transfer ID DEBIT CREDIT AMOUNT LEDGER CODE [linked|pending|balancing_debit|balancing_credit] [timeout=S]
ledger post ID PENDING_ID [AMOUNT]      ledger void ID PENDING_ID
ledger balance ID      ledger history ID      ledger verify      ledger stats
(amounts are integers of the ledger's minor units)
"""


def _flags(words, names):
    f = 0
    for w in words:
        if w not in names:
            raise Refused("unknown flag %s (flags: %s)" % (w, ", ".join(sorted(names))))
        f |= names[w]
    return f


def _run(ctx, op, a):
    # The client and the state machine's classes are imported when a ledger
    # command runs, not with the shell: the shell's heap holds them only then.
    from userland.ledger import api
    from userland.ledger import state as S
    call = ctx.call
    if op == "account" and len(a) >= 4 and a[0] == "new":
        acc = S.Account(number(a[1]), number(a[2]), number(a[3]), _flags(a[4:], {
            "debits_must_not_exceed_credits": S.A_DEBITS_MUST_NOT_EXCEED_CREDITS,
            "credits_must_not_exceed_debits": S.A_CREDITS_MUST_NOT_EXCEED_DEBITS, "history": S.A_HISTORY}))
        ctx.write("%s\n" % api.create_accounts([acc], call)[0])
    elif op in ("transfer", "post", "void") and a:
        if op == "transfer" and len(a) >= 6:
            timeout = 0
            words = []
            for w in a[6:]:
                if w.startswith("timeout="):
                    timeout = number(w[8:])
                else:
                    words.append(w)
            flags = _flags(words, {"linked": S.T_LINKED, "pending": S.T_PENDING, "post": S.T_POST, "void": S.T_VOID,
                                   "balancing_debit": S.T_BALANCING_DEBIT, "balancing_credit": S.T_BALANCING_CREDIT})
            t = S.Transfer(number(a[0]), number(a[1]), number(a[2]), number(a[3]), number(a[4]), number(a[5]),
                           flags, 0, timeout)
        elif op != "transfer" and len(a) in (2, 3):
            t = S.Transfer(number(a[0]), 0, 0, number(a[2]) if len(a) == 3 else 0, 0, 0,
                           S.T_POST if op == "post" else S.T_VOID, number(a[1]))
        else:
            raise UsageError()
        ctx.write("%s\n" % api.create_transfers([t], call)[0])
    elif op == "balance" and len(a) == 1:
        acc = api.account(number(a[0]), call)
        if acc is None:
            ctx.write("ledger: no account %s\n" % a[0])
            return
        ctx.write("account %d (ledger %d, code %d): debits posted %d pending %d, credits posted %d pending %d, "
                  "balance %d\n" % (acc.id, acc.ledger, acc.code, acc.debits_posted, acc.debits_pending,
                                    acc.credits_posted, acc.credits_pending, acc.credits_posted - acc.debits_posted))
    elif op == "history" and len(a) == 1:
        rows = [[str(e[0]), str(e[2]), str(e[1]), str(e[4]), str(e[3])] for e in api.history(number(a[0]), call)]
        if not rows:
            ctx.write("ledger: no history for account %s (created without the history flag?)\n" % a[0])
            return
        table(ctx, ["TIMESTAMP", "DEBITS", "PENDING", "CREDITS", "PENDING"], rows)
    elif op == "verify" and not a:
        v = api.verify(call)
        ctx.write("ledger: invariants hold; %d records chained, head %s; %d accounts, %d transfers; "
                  "%d checkpoints, %d signatures checked by the HSM\n"
                  % (v["records"], v["head"][:16], v["accounts"], v["transfers"], v["checkpoints"],
                     v["signatures_checked"]))
    elif op == "stats" and not a:
        st = api.stats(call)
        bad = api.corrupt(call) if st.get("corrupt") else None
        ctx.write("ledger: %d accounts, %d transfers, log %d records / %d bytes; recovered %d records at start%s%s\n"
                  % (st["accounts_now"], st["transfers_now"], st["log_records"], st["log_bytes"], st["records"],
                     ", torn tail skipped" if st["torn"] is not None else "",
                     "; READ-ONLY: the log is corrupt at record %d (offset 0x%x): %s" % (
                         bad["seq"], bad["offset"], bad["reason"]) if bad else ""))
    else:
        raise UsageError()


def ledger_command(ctx, args):
    if not args:
        ctx.write(LEDGER_FORMS)
        return
    from userland.ledger.api import LedgerRefused
    try:
        _run(ctx, args[0], args[1:])
    except Refused as e:
        ctx.write("%s\n" % e)
    except LedgerRefused as e:
        ctx.write("ledger: %s\n" % e)


COMMANDS = (
    ("ledger account|transfer|post|void|balance|history|verify|stats ...",
     "the double-entry ledger (`ledger` alone shows the forms)", ledger_command),
)
