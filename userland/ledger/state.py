"""The ledger's state machine: accounts and transfers in the manner of
TigerBeetle, in plain Python (MicroPython on the device, CPython in the
tests and in `qenex ledger verify`). Amounts are unsigned 128-bit integers
of a ledger's minor units (userland/lib/money.py); there are no floats.

create_accounts(events) and create_transfers(events) take a batch and
return one result code per event, from RESULTS_* below, which are listed in
the order the checks run (the first failing check is the result). The same
id again returns `exists` (or exists_with_different_*), never a second
posting. Events flagged `linked` form a chain with the next: if one fails,
every event of the chain fails (the others with linked_event_failed) and
nothing of it stays applied. Transfers are immutable; a correction is a new
transfer. Invariant per ledger: sum of debits = sum of credits, pending and
posted (check()).

Two-phase transfers: a `pending` transfer reserves the amount (debits and
credits pending); `post_pending_transfer` (amount 0: all of it, else at most
it) posts it, `void_pending_transfer` releases it; a pending transfer with a
timeout (seconds) expires at timestamp + timeout (expire(now)).
Timestamps are the caller's clock (ns), strictly increasing per event.
"""

U128 = (1 << 128) - 1
U64 = (1 << 64) - 1

# account flags (TigerBeetle's bits)
A_LINKED, A_DEBITS_MUST_NOT_EXCEED_CREDITS, A_CREDITS_MUST_NOT_EXCEED_DEBITS, A_HISTORY, A_CLOSED = 1, 2, 4, 8, 32
A_FLAGS = A_LINKED | A_DEBITS_MUST_NOT_EXCEED_CREDITS | A_CREDITS_MUST_NOT_EXCEED_DEBITS | A_HISTORY | A_CLOSED
# transfer flags
T_LINKED, T_PENDING, T_POST, T_VOID, T_BALANCING_DEBIT, T_BALANCING_CREDIT = 1, 2, 4, 8, 16, 32
T_FLAGS = T_LINKED | T_PENDING | T_POST | T_VOID | T_BALANCING_DEBIT | T_BALANCING_CREDIT

RESULTS_ACCOUNT = (
    "ok", "linked_event_failed", "linked_event_chain_open", "id_must_not_be_zero", "id_must_not_be_int_max",
    "reserved_flag", "flags_are_mutually_exclusive", "ledger_must_not_be_zero", "code_must_not_be_zero",
    "exists_with_different_flags", "exists_with_different_ledger", "exists_with_different_code", "exists",
)
RESULTS_TRANSFER = (
    "ok", "linked_event_failed", "linked_event_chain_open", "id_must_not_be_zero", "id_must_not_be_int_max",
    "reserved_flag", "flags_are_mutually_exclusive", "debit_account_id_must_not_be_zero",
    "credit_account_id_must_not_be_zero", "accounts_must_be_different", "pending_id_must_be_zero",
    "pending_id_must_not_be_zero", "pending_id_must_be_different", "timeout_reserved_for_pending_transfer",
    "ledger_must_not_be_zero", "code_must_not_be_zero", "amount_must_not_be_zero",
    "exists_with_different_flags", "exists_with_different_pending_id", "exists_with_different_timeout",
    "exists_with_different_debit_account_id", "exists_with_different_credit_account_id",
    "exists_with_different_amount", "exists_with_different_ledger", "exists_with_different_code", "exists",
    "pending_transfer_not_found", "pending_transfer_not_pending", "pending_transfer_has_different_debit_account_id",
    "pending_transfer_has_different_credit_account_id", "pending_transfer_has_different_ledger",
    "pending_transfer_has_different_code", "exceeds_pending_transfer_amount",
    "pending_transfer_has_different_amount", "pending_transfer_already_posted", "pending_transfer_already_voided",
    "pending_transfer_expired", "debit_account_not_found", "credit_account_not_found",
    "accounts_must_have_the_same_ledger", "transfer_must_have_the_same_ledger_as_accounts",
    "debit_account_already_closed", "credit_account_already_closed",
    "overflows_debits_pending", "overflows_credits_pending", "overflows_debits_posted", "overflows_credits_posted",
    "overflows_debits", "overflows_credits", "overflows_timeout", "exceeds_credits", "exceeds_debits",
)


class Account:
    __slots__ = ("id", "ledger", "code", "flags", "timestamp", "debits_pending", "debits_posted",
                 "credits_pending", "credits_posted", "user_data")

    def __init__(self, id, ledger, code, flags=0, user_data=0):
        self.id, self.ledger, self.code, self.flags, self.user_data = id, ledger, code, flags, user_data
        self.timestamp = 0
        self.debits_pending = self.debits_posted = self.credits_pending = self.credits_posted = 0

    def balances(self):
        return (self.debits_pending, self.debits_posted, self.credits_pending, self.credits_posted)


class Transfer:
    __slots__ = ("id", "debit_account_id", "credit_account_id", "amount", "pending_id", "ledger", "code",
                 "flags", "timeout", "timestamp", "user_data")

    def __init__(self, id, debit_account_id, credit_account_id, amount, ledger, code, flags=0, pending_id=0,
                 timeout=0, user_data=0):
        self.id, self.debit_account_id, self.credit_account_id = id, debit_account_id, credit_account_id
        self.amount, self.ledger, self.code, self.flags = amount, ledger, code, flags
        self.pending_id, self.timeout, self.user_data = pending_id, timeout, user_data
        self.timestamp = 0

    def key(self):
        return (self.id, self.debit_account_id, self.credit_account_id, self.amount, self.ledger, self.code,
                self.flags, self.pending_id, self.timeout, self.user_data)


PENDING, POSTED, VOIDED, EXPIRED = "pending", "posted", "voided", "expired"


class Ledger:
    def __init__(self):
        self.accounts = {}          # id -> Account
        self.transfers = {}         # id -> Transfer (as stored: a post/void's amount is what it moved)
        self.pending_status = {}    # pending transfer id -> PENDING / POSTED / VOIDED / EXPIRED
        self.expiries = {}          # pending id -> expiry timestamp (ns)
        self.history = {}           # account id -> [(timestamp, dp, dP, cp, cP)]
        self.timestamp = 0          # the last timestamp given out
        self.created = []           # objects stored by the current batch (for the write-ahead log)
        self.last_undo = []
        self.index = None           # durable mode: finds transfers no longer kept in RAM (get(id))
        self._undo = None

    # --- undo (for linked chains) ------------------------------------------------------
    def _save(self, obj, attr):
        if self._undo is not None:
            self._undo.append((obj, attr, getattr(obj, attr) if not isinstance(obj, dict) else obj.get(attr, _GONE)))

    def _set(self, obj, attr, value):
        self._save(obj, attr)
        if isinstance(obj, dict):
            obj[attr] = value
        else:
            setattr(obj, attr, value)

    def _rollback(self, undo):
        for obj, attr, old in reversed(undo):
            if isinstance(obj, list):               # an append: cut the list back
                del obj[attr:]
            elif isinstance(obj, dict):
                if old is _GONE:
                    obj.pop(attr, None)
                else:
                    obj[attr] = old
            else:
                setattr(obj, attr, old)

    def _batch(self, events, one, linked_flag, codes):
        """Run a batch with linked-chain atomicity; results as codes."""
        results = [None] * len(events)
        kept = []                           # the undo of everything the batch applied
        i = 0
        while i < len(events):
            j = i                               # the chain: i .. j
            while j < len(events) and events[j].flags & linked_flag:
                j += 1
            if j == len(events):                # the batch ends inside a chain: nothing of it runs
                for k in range(i, len(events)):
                    results[k] = "linked_event_failed"
                results[-1] = "linked_event_chain_open"
                break
            undo = []
            self._undo = undo
            failed = None
            for k in range(i, j + 1):
                r = one(events[k])
                results[k] = r
                if r != "ok":
                    failed = k
                    break
            self._undo = None
            if failed is not None and j > i:
                self._rollback(undo)
                for k in range(i, j + 1):
                    if k != failed:
                        results[k] = "linked_event_failed"
            else:
                kept.extend(undo)
            i = j + 1
        self.last_undo = kept
        return results

    def undo_batch(self):
        """Take back everything the last batch applied (its log write failed)."""
        self._rollback(self.last_undo)
        self.last_undo = []

    def _tick(self, now):
        ts = now if now > self.timestamp else self.timestamp + 1
        self._set(self, "timestamp", ts)
        return ts

    # --- accounts ----------------------------------------------------------------------
    def create_accounts(self, events, now=0):
        return self._batch(events, lambda a: self._create_account(a, now), A_LINKED, RESULTS_ACCOUNT)

    def _create_account(self, a, now):
        if a.id == 0:
            return "id_must_not_be_zero"
        if a.id >= U128:
            return "id_must_not_be_int_max"
        if a.flags & ~A_FLAGS:
            return "reserved_flag"
        if a.flags & A_DEBITS_MUST_NOT_EXCEED_CREDITS and a.flags & A_CREDITS_MUST_NOT_EXCEED_DEBITS:
            return "flags_are_mutually_exclusive"
        if a.ledger == 0:
            return "ledger_must_not_be_zero"
        if a.code == 0:
            return "code_must_not_be_zero"
        e = self.accounts.get(a.id)
        if e is not None:
            if e.flags != a.flags & ~A_LINKED:
                return "exists_with_different_flags"
            if e.ledger != a.ledger:
                return "exists_with_different_ledger"
            if e.code != a.code:
                return "exists_with_different_code"
            return "exists"
        acc = Account(a.id, a.ledger, a.code, a.flags & ~A_LINKED, a.user_data)
        acc.timestamp = self._tick(now)
        self._add_account(acc)
        self._created(acc)
        return "ok"

    def _created(self, obj):
        if self._undo is not None:
            self._undo.append((self.created, len(self.created), None))
        self.created.append(obj)

    def _add_account(self, acc):
        self._set(self.accounts, acc.id, acc)
        if acc.flags & A_HISTORY:
            self._set(self.history, acc.id, [])

    # --- transfers ---------------------------------------------------------------------
    def create_transfers(self, events, now=0):
        return self._batch(events, lambda t: self._create_transfer(t, now), T_LINKED, RESULTS_TRANSFER)

    def _create_transfer(self, t, now):
        f = t.flags
        if t.id == 0:
            return "id_must_not_be_zero"
        if t.id >= U128:
            return "id_must_not_be_int_max"
        if f & ~T_FLAGS:
            return "reserved_flag"
        phase = (1 if f & T_PENDING else 0) + (1 if f & T_POST else 0) + (1 if f & T_VOID else 0)
        if phase > 1 or (f & (T_BALANCING_DEBIT | T_BALANCING_CREDIT) and f & (T_POST | T_VOID)):
            return "flags_are_mutually_exclusive"
        second = f & (T_POST | T_VOID)
        if not second:
            if t.debit_account_id == 0:
                return "debit_account_id_must_not_be_zero"
            if t.credit_account_id == 0:
                return "credit_account_id_must_not_be_zero"
            if t.debit_account_id == t.credit_account_id:
                return "accounts_must_be_different"
            if t.pending_id != 0:
                return "pending_id_must_be_zero"
            if t.timeout and not f & T_PENDING:
                return "timeout_reserved_for_pending_transfer"
            if t.ledger == 0:
                return "ledger_must_not_be_zero"
            if t.code == 0:
                return "code_must_not_be_zero"
            if t.amount == 0 and not f & (T_BALANCING_DEBIT | T_BALANCING_CREDIT):
                return "amount_must_not_be_zero"
        else:
            if t.pending_id == 0:
                return "pending_id_must_not_be_zero"
            if t.pending_id == t.id:
                return "pending_id_must_be_different"
            if t.timeout:
                return "timeout_reserved_for_pending_transfer"
        e = self.transfer(t.id)
        if e is not None:
            return self._exists(t, e)
        if second:
            return self._post_or_void(t, now)
        dr = self.accounts.get(t.debit_account_id)
        if dr is None:
            return "debit_account_not_found"
        cr = self.accounts.get(t.credit_account_id)
        if cr is None:
            return "credit_account_not_found"
        if dr.ledger != cr.ledger:
            return "accounts_must_have_the_same_ledger"
        if t.ledger != dr.ledger:
            return "transfer_must_have_the_same_ledger_as_accounts"
        if dr.flags & A_CLOSED:
            return "debit_account_already_closed"
        if cr.flags & A_CLOSED:
            return "credit_account_already_closed"
        amount = t.amount
        if f & T_BALANCING_DEBIT:
            room = dr.credits_posted - dr.debits_posted - dr.debits_pending
            amount = min(amount, room if room > 0 else 0)
        if f & T_BALANCING_CREDIT:
            room = cr.debits_posted - cr.credits_posted - cr.credits_pending
            amount = min(amount, room if room > 0 else 0)
        pending = f & T_PENDING
        if pending:
            if dr.debits_pending + amount > U128:
                return "overflows_debits_pending"
            if cr.credits_pending + amount > U128:
                return "overflows_credits_pending"
        if dr.debits_posted + amount > U128:
            return "overflows_debits_posted"
        if cr.credits_posted + amount > U128:
            return "overflows_credits_posted"
        if dr.debits_pending + dr.debits_posted + amount > U128:
            return "overflows_debits"
        if cr.credits_pending + cr.credits_posted + amount > U128:
            return "overflows_credits"
        ts = max(now, self.timestamp + 1)
        if pending and t.timeout and ts + t.timeout * 1000000000 > U64:
            return "overflows_timeout"
        if dr.flags & A_DEBITS_MUST_NOT_EXCEED_CREDITS and \
                dr.debits_pending + dr.debits_posted + amount > dr.credits_posted:
            return "exceeds_credits"
        if cr.flags & A_CREDITS_MUST_NOT_EXCEED_DEBITS and \
                cr.credits_pending + cr.credits_posted + amount > cr.debits_posted:
            return "exceeds_debits"
        stored = Transfer(t.id, t.debit_account_id, t.credit_account_id, amount, t.ledger, t.code,
                          t.flags & ~T_LINKED, 0, t.timeout, t.user_data)
        stored.timestamp = self._tick(now)
        self._apply(stored)
        return "ok"

    def _apply(self, stored):
        """The effects of a stored transfer (checked already, or replayed
        from the log): balances, pending state, history."""
        dr, cr = self.accounts[stored.debit_account_id], self.accounts[stored.credit_account_id]
        amount = stored.amount
        if stored.flags & (T_POST | T_VOID):
            p = self.transfers[stored.pending_id]
            self._set(dr, "debits_pending", dr.debits_pending - p.amount)
            self._set(cr, "credits_pending", cr.credits_pending - p.amount)
            if stored.flags & T_POST:
                self._set(dr, "debits_posted", dr.debits_posted + amount)
                self._set(cr, "credits_posted", cr.credits_posted + amount)
            self._set(self.pending_status, p.id, POSTED if stored.flags & T_POST else VOIDED)
            if p.id in self.expiries:
                self._save(self.expiries, p.id)
                del self.expiries[p.id]
        elif stored.flags & T_PENDING:
            self._set(dr, "debits_pending", dr.debits_pending + amount)
            self._set(cr, "credits_pending", cr.credits_pending + amount)
            self._set(self.pending_status, stored.id, PENDING)
            if stored.timeout:
                self._set(self.expiries, stored.id, stored.timestamp + stored.timeout * 1000000000)
        else:
            self._set(dr, "debits_posted", dr.debits_posted + amount)
            self._set(cr, "credits_posted", cr.credits_posted + amount)
        self._set(self.transfers, stored.id, stored)
        self._created(stored)
        self._record(stored.timestamp, dr, cr)

    def transfer(self, id):
        """The stored transfer with this id, or None."""
        t = self.transfers.get(id)
        if t is None and self.index is not None:
            t = self.index.get(id)
        return t

    def restore(self, objs):
        """Apply objects stored by an earlier batch (from the log), in order:
        each goes through the same checks as when it was created, at its own
        timestamp, and must come out "ok" and equal to what those checks
        store (so ids are unique, accounts and pending transfers exist,
        ledgers match, nothing overflows, timestamps increase). Returns None,
        or why the objects cannot be replayed; then nothing of them stays
        applied. (They join `created`, for spill().)"""
        undo = []
        self._undo = undo
        why = None
        try:
            for o in objs:
                if isinstance(o, Account):
                    what, r = "account", self._create_account(o, o.timestamp)
                else:
                    what, r = "transfer", self._create_transfer(o, o.timestamp)
                if r != "ok":
                    why = "%s %d cannot be replayed: %s" % (what, o.id, r)
                    break
                if o.timestamp >= 1 << 63:
                    why = "%s %d has a timestamp beyond the ledger's clock (2**63 ns)" % (what, o.id)
                    break
                if _stored(self.created[-1]) != _stored(o):
                    why = "%s %d differs from what its checks store" % (what, o.id)
                    break
        except BaseException:
            self._undo = None
            self._rollback(undo)
            raise
        self._undo = None
        if why is not None:
            self._rollback(undo)
        return why

    def spill(self):
        """Durable mode, after the batch is in the log: forget the stored
        transfers that need not stay in RAM (the index finds them in the
        log); pending ones stay until they are resolved."""
        for o in self.created:
            if isinstance(o, Transfer):
                if o.flags & (T_POST | T_VOID):
                    self.transfers.pop(o.pending_id, None)
                if not (o.flags & T_PENDING and self.pending_status.get(o.id) == PENDING):
                    self.transfers.pop(o.id, None)
        self.created = []

    def _exists(self, t, e):
        if (t.flags & ~T_LINKED) != e.flags:
            return "exists_with_different_flags"
        if t.pending_id != e.pending_id:
            return "exists_with_different_pending_id"
        if t.timeout != e.timeout:
            return "exists_with_different_timeout"
        if t.flags & (T_POST | T_VOID):
            if t.amount and t.amount != e.amount:
                return "exists_with_different_amount"
            return "exists"
        if t.debit_account_id != e.debit_account_id:
            return "exists_with_different_debit_account_id"
        if t.credit_account_id != e.credit_account_id:
            return "exists_with_different_credit_account_id"
        if t.amount != e.amount and not t.flags & (T_BALANCING_DEBIT | T_BALANCING_CREDIT):
            return "exists_with_different_amount"
        if t.ledger != e.ledger:
            return "exists_with_different_ledger"
        if t.code != e.code:
            return "exists_with_different_code"
        return "exists"

    def _post_or_void(self, t, now):
        p = self.transfer(t.pending_id)
        if p is None:
            return "pending_transfer_not_found"
        if not p.flags & T_PENDING:
            return "pending_transfer_not_pending"
        if t.debit_account_id and t.debit_account_id != p.debit_account_id:
            return "pending_transfer_has_different_debit_account_id"
        if t.credit_account_id and t.credit_account_id != p.credit_account_id:
            return "pending_transfer_has_different_credit_account_id"
        if t.ledger and t.ledger != p.ledger:
            return "pending_transfer_has_different_ledger"
        if t.code and t.code != p.code:
            return "pending_transfer_has_different_code"
        amount = t.amount or p.amount
        if t.flags & T_POST and amount > p.amount:
            return "exceeds_pending_transfer_amount"
        if t.flags & T_VOID and amount != p.amount:
            return "pending_transfer_has_different_amount"
        status = self.pending_status.get(p.id)
        if status == POSTED:
            return "pending_transfer_already_posted"
        if status == VOIDED:
            return "pending_transfer_already_voided"
        expiry = self.expiries.get(p.id)
        if status == EXPIRED or (expiry is not None and max(now, self.timestamp + 1) >= expiry):
            return "pending_transfer_expired"
        if p.id not in self.transfers:        # resolved long ago, or expired and spilled
            return "pending_transfer_expired"
        stored = Transfer(t.id, p.debit_account_id, p.credit_account_id, amount, p.ledger, p.code,
                          t.flags & ~T_LINKED, p.id, 0, t.user_data)
        stored.timestamp = self._tick(now)
        self._apply(stored)
        return "ok"

    def expire(self, now):
        """Release the pending transfers whose timeout has passed by `now`;
        returns their ids."""
        due = sorted(pid for pid, at in self.expiries.items() if at <= now)
        for pid in due:
            p = self.transfers[pid]
            dr, cr = self.accounts[p.debit_account_id], self.accounts[p.credit_account_id]
            dr.debits_pending -= p.amount
            cr.credits_pending -= p.amount
            self.pending_status[pid] = EXPIRED
            del self.expiries[pid]
            self._record(now, dr, cr)
        return due

    def _record(self, ts, *accounts):
        for a in accounts:
            h = self.history.get(a.id)
            if h is not None:
                if self._undo is not None:
                    self._undo.append((h, len(h), None))
                h.append((ts,) + a.balances())

    # --- lookups and invariants ----------------------------------------------------------
    def lookup_accounts(self, ids):
        return [self.accounts[i] for i in ids if i in self.accounts]

    def lookup_transfers(self, ids):
        return [t for t in (self.transfer(i) for i in ids) if t is not None]

    def balances_of(self, account_id):
        return list(self.history.get(account_id, ()))

    def check(self):
        """The invariants; raises AssertionError naming the broken one."""
        sums = {}
        for a in self.accounts.values():
            s = sums.setdefault(a.ledger, [0, 0, 0, 0])
            s[0] += a.debits_pending
            s[1] += a.debits_posted
            s[2] += a.credits_pending
            s[3] += a.credits_posted
            assert min(a.balances()) >= 0 and max(a.balances()) <= U128, "account %d out of range" % a.id
            if a.flags & A_DEBITS_MUST_NOT_EXCEED_CREDITS:
                assert a.debits_pending + a.debits_posted <= a.credits_posted, "account %d: debits > credits" % a.id
            if a.flags & A_CREDITS_MUST_NOT_EXCEED_DEBITS:
                assert a.credits_pending + a.credits_posted <= a.debits_posted, "account %d: credits > debits" % a.id
        for ledger, s in sums.items():
            assert s[0] == s[2], "ledger %d: pending debits %d != pending credits %d" % (ledger, s[0], s[2])
            assert s[1] == s[3], "ledger %d: posted debits %d != posted credits %d" % (ledger, s[1], s[3])
        return True


_GONE = object()


def _stored(o):
    """Everything a stored object holds, to compare one replayed from the
    log with what the checks store."""
    if isinstance(o, Account):
        return (o.id, o.ledger, o.code, o.flags, o.user_data, o.timestamp)
    return o.key() + (o.timestamp,)
