"""The ledger's requests answered: one message in (api.py's wire format),
one reply out, against a LedgerService (service.py). Plain Python, so the
host tests drive the ledger's callers (the shell, the gateway) through the
same bytes the task sends. It does not receive or reply (main.py does:
the task's loop) and does not decide anything about the ledger itself."""
import json

from userland.ledger import api

REASON_MAX = 200        # a refusal's text, cut to fit a message


def answer(s, msg, verify_sig=None):
    """The reply to msg; a refusal (status 1 + reason) for a request that
    is not one, or that the service refuses (verify() failing)."""
    try:
        return api.reply_ok(_body(s, msg, verify_sig))
    except (ValueError, IndexError, AssertionError) as e:
        return api.reply_refused(str(e)[:REASON_MAX])


def _body(s, msg, verify_sig):
    op, arg = api.decode_request(msg)
    if op == api.CREATE_ACCOUNTS:
        return api.reply_results(s.create_accounts(arg))
    if op == api.CREATE_TRANSFERS:
        return api.reply_results(s.create_transfers(arg))
    if op == api.ACCOUNT:
        return api.reply_account(s.ledger.accounts.get(arg))
    if op == api.TRANSFER:
        return api.reply_transfer(s.ledger.transfer(arg))
    if op == api.HISTORY:
        return api.reply_history(s.ledger.balances_of(arg[0]), arg[1])
    if op == api.VERIFY:
        v = s.verify(verify_sig)
        v["head"] = "".join("%02x" % b for b in v["head"])
        return json.dumps(v).encode()
    if op == api.CORRUPT:
        bad = s.stats["corrupt"]
        return _fit(dict(bad) if bad else bad, None)
    st = dict(s.stats)          # api.STATS
    st.update({"accounts_now": len(s.ledger.accounts), "transfers_now": s.index.count,
               "log_bytes": s.wal.end, "log_records": s.wal.seq, "read_only": s.corrupt is not None})
    if st["corrupt"]:
        st["corrupt"] = dict(st["corrupt"])
    return _fit(st, "corrupt")


def _fit(v, key):
    """v as JSON in one reply: when too long, the corruption's reason (v's,
    or v[key]'s) shortened, ending in "..." ("c" has room for more of it
    than "s")."""
    out = json.dumps(v).encode()
    over = len(out) - (api.MSG_MAX - 1)
    bad = v if key is None else v[key]
    if over > 0 and bad:
        r = bad["reason"]
        bad["reason"] = r[:max(0, len(r) - over - 3)] + "..."
        out = json.dumps(v).encode()
    return out
