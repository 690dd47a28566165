"""The ledger's state machine (userland/ledger/state.py): every result code
reached by a scenario of its own, idempotent retries, linked-chain
atomicity, two-phase post/void/expiry, the balance-limit flags, history,
and random operation streams against a plain reference model."""
import random

import pytest

from userland.ledger.state import (A_CLOSED, A_CREDITS_MUST_NOT_EXCEED_DEBITS, A_DEBITS_MUST_NOT_EXCEED_CREDITS,
                                   A_HISTORY, A_LINKED, RESULTS_ACCOUNT, RESULTS_TRANSFER, T_BALANCING_CREDIT,
                                   T_BALANCING_DEBIT, T_LINKED, T_PENDING, T_POST, T_VOID, U128, Account, Ledger,
                                   Transfer)

SEC = 1000000000


def book():
    """Accounts 1, 2 (plain), 3 (debits <= credits), 4 (credits <= debits),
    5 (other ledger), 6 (closed), 7 (history); transfer 100 pending 1 -> 2."""
    L = Ledger()
    assert L.create_accounts([Account(1, 1, 1), Account(2, 1, 1), Account(3, 1, 1, A_DEBITS_MUST_NOT_EXCEED_CREDITS),
                              Account(4, 1, 1, A_CREDITS_MUST_NOT_EXCEED_DEBITS), Account(5, 2, 1),
                              Account(6, 1, 1, A_CLOSED), Account(7, 1, 1, A_HISTORY)], now=1) == ["ok"] * 7
    assert L.create_transfers([Transfer(100, 1, 2, 50, 1, 1, T_PENDING, timeout=5)], now=2) == ["ok"]
    return L


def T(id, dr, cr, amount, flags=0, pending_id=0, timeout=0, ledger=1, code=1):
    return Transfer(id, dr, cr, amount, ledger, code, flags, pending_id, timeout)


TRANSFER_CASES = {
    "ok": [T(1, 1, 2, 10)],
    "id_must_not_be_zero": [T(0, 1, 2, 10)],
    "id_must_not_be_int_max": [T(U128, 1, 2, 10)],
    "reserved_flag": [T(1, 1, 2, 10, flags=1 << 12)],
    "flags_are_mutually_exclusive": [T(1, 1, 2, 10, flags=T_PENDING | T_POST)],
    "debit_account_id_must_not_be_zero": [T(1, 0, 2, 10)],
    "credit_account_id_must_not_be_zero": [T(1, 1, 0, 10)],
    "accounts_must_be_different": [T(1, 1, 1, 10)],
    "pending_id_must_be_zero": [T(1, 1, 2, 10, pending_id=100)],
    "pending_id_must_not_be_zero": [T(1, 0, 0, 0, flags=T_POST)],
    "pending_id_must_be_different": [T(1, 0, 0, 0, flags=T_POST, pending_id=1)],
    "timeout_reserved_for_pending_transfer": [T(1, 1, 2, 10, timeout=3)],
    "ledger_must_not_be_zero": [T(1, 1, 2, 10, ledger=0)],
    "code_must_not_be_zero": [T(1, 1, 2, 10, code=0)],
    "amount_must_not_be_zero": [T(1, 1, 2, 0)],
    "exists_with_different_flags": [T(100, 1, 2, 50)],
    "exists_with_different_pending_id": [T(9, 0, 0, 0, flags=T_POST, pending_id=100), T(9, 0, 0, 0, flags=T_POST,
                                                                                          pending_id=101)],
    "exists_with_different_timeout": [T(100, 1, 2, 50, flags=T_PENDING, timeout=6)],
    "exists_with_different_debit_account_id": [T(100, 7, 2, 50, flags=T_PENDING, timeout=5)],
    "exists_with_different_credit_account_id": [T(100, 1, 7, 50, flags=T_PENDING, timeout=5)],
    "exists_with_different_amount": [T(100, 1, 2, 51, flags=T_PENDING, timeout=5)],
    "exists_with_different_ledger": [T(100, 1, 2, 50, flags=T_PENDING, timeout=5, ledger=2)],
    "exists_with_different_code": [T(100, 1, 2, 50, flags=T_PENDING, timeout=5, code=2)],
    "exists": [T(100, 1, 2, 50, flags=T_PENDING, timeout=5)],
    "pending_transfer_not_found": [T(1, 0, 0, 0, flags=T_POST, pending_id=999)],
    "pending_transfer_not_pending": [T(1, 1, 2, 5), T(2, 0, 0, 0, flags=T_POST, pending_id=1)],
    "pending_transfer_has_different_debit_account_id": [T(1, 7, 0, 0, flags=T_POST, pending_id=100)],
    "pending_transfer_has_different_credit_account_id": [T(1, 0, 7, 0, flags=T_POST, pending_id=100)],
    "pending_transfer_has_different_ledger": [T(1, 0, 0, 0, flags=T_POST, pending_id=100, ledger=2)],
    "pending_transfer_has_different_code": [T(1, 0, 0, 0, flags=T_POST, pending_id=100, code=2)],
    "exceeds_pending_transfer_amount": [T(1, 0, 0, 51, flags=T_POST, pending_id=100)],
    "pending_transfer_has_different_amount": [T(1, 0, 0, 49, flags=T_VOID, pending_id=100)],
    "pending_transfer_already_posted": [T(1, 0, 0, 0, flags=T_POST, pending_id=100),
                                        T(2, 0, 0, 0, flags=T_VOID, pending_id=100)],
    "pending_transfer_already_voided": [T(1, 0, 0, 0, flags=T_VOID, pending_id=100),
                                        T(2, 0, 0, 0, flags=T_POST, pending_id=100)],
    "pending_transfer_expired": "expired",
    "debit_account_not_found": [T(1, 99, 2, 10)],
    "credit_account_not_found": [T(1, 1, 99, 10)],
    "accounts_must_have_the_same_ledger": [T(1, 1, 5, 10)],
    "transfer_must_have_the_same_ledger_as_accounts": [T(1, 1, 2, 10, ledger=2)],
    "debit_account_already_closed": [T(1, 6, 2, 10)],
    "credit_account_already_closed": [T(1, 1, 6, 10)],
    "overflows_debits_pending": [T(1, 1, 2, U128, flags=T_PENDING)],
    "overflows_credits_pending": [T(1, 7, 2, U128 - 49, flags=T_PENDING)],
    "overflows_debits_posted": [T(1, 2, 7, U128), T(2, 2, 7, 1)],
    "overflows_credits_posted": [T(1, 7, 1, U128), T(2, 2, 1, 1)],
    "overflows_debits": [T(1, 1, 7, U128 - 49)],
    "overflows_credits": [T(1, 7, 2, U128 - 49)],
    "overflows_timeout": [T(1, 1, 2, 1, flags=T_PENDING, timeout=(1 << 64) // SEC + 1)],
    "exceeds_credits": [T(1, 3, 2, 1)],
    "exceeds_debits": [T(1, 1, 4, 1)],
    "linked_event_failed": [T(1, 1, 2, 1, flags=T_LINKED), T(2, 3, 2, 1)],
    "linked_event_chain_open": [T(1, 1, 2, 1, flags=T_LINKED)],
}


@pytest.mark.parametrize("code", RESULTS_TRANSFER)
def test_every_transfer_result_code_is_reached(code):
    L = book()
    events = TRANSFER_CASES[code]
    if events == "expired":
        assert L.create_transfers([T(1, 0, 0, 0, flags=T_POST, pending_id=100)], now=100 * SEC) == [code]
        return
    got = L.create_transfers(events, now=3)
    where = 0 if code in ("linked_event_failed",) else -1
    assert got[where] == code, got
    L.check()


ACCOUNT_CASES = {
    "ok": Account(10, 1, 1),
    "id_must_not_be_zero": Account(0, 1, 1),
    "id_must_not_be_int_max": Account(U128, 1, 1),
    "reserved_flag": Account(10, 1, 1, 1 << 10),
    "flags_are_mutually_exclusive": Account(10, 1, 1, A_DEBITS_MUST_NOT_EXCEED_CREDITS
                                            | A_CREDITS_MUST_NOT_EXCEED_DEBITS),
    "ledger_must_not_be_zero": Account(10, 0, 1),
    "code_must_not_be_zero": Account(10, 1, 0),
    "exists_with_different_flags": Account(1, 1, 1, A_HISTORY),
    "exists_with_different_ledger": Account(1, 2, 1),
    "exists_with_different_code": Account(1, 1, 2),
    "exists": Account(1, 1, 1),
}


@pytest.mark.parametrize("code", RESULTS_ACCOUNT)
def test_every_account_result_code_is_reached(code):
    L = book()
    if code == "linked_event_failed":
        assert L.create_accounts([Account(10, 1, 1, A_LINKED), Account(0, 1, 1)]) == [code, "id_must_not_be_zero"]
        assert 10 not in L.accounts
    elif code == "linked_event_chain_open":
        assert L.create_accounts([Account(10, 1, 1, A_LINKED)]) == [code]
    else:
        assert L.create_accounts([ACCOUNT_CASES[code]]) == [code]


def test_a_retry_returns_exists_and_never_posts_twice():
    L = book()
    for _ in range(3):
        L.create_transfers([T(1, 1, 2, 10)])
    assert L.accounts[1].debits_posted == 10 and L.accounts[2].credits_posted == 10


def test_a_failed_chain_leaves_nothing_behind_not_even_history():
    L = book()
    before = ({i: a.balances() for i, a in L.accounts.items()}, dict(L.transfers), L.timestamp, list(L.balances_of(7)))
    assert L.create_transfers([T(1, 7, 2, 5, flags=T_LINKED), T(2, 1, 7, 5, flags=T_LINKED | T_PENDING),
                               T(3, 3, 2, 1)]) == ["linked_event_failed", "linked_event_failed", "exceeds_credits"]
    after = ({i: a.balances() for i, a in L.accounts.items()}, dict(L.transfers), L.timestamp, list(L.balances_of(7)))
    assert before == after


def test_two_phase_post_partial_and_void_and_expiry():
    L = book()
    assert L.create_transfers([T(1, 0, 0, 20, flags=T_POST, pending_id=100)], now=3) == ["ok"]
    a1, a2 = L.accounts[1], L.accounts[2]
    assert a1.balances() == (0, 20, 0, 0) and a2.balances() == (0, 0, 0, 20)
    assert L.create_transfers([T(2, 1, 2, 30, flags=T_PENDING, timeout=1)], now=SEC) == ["ok"]
    assert a1.debits_pending == 30
    assert L.expire(2 * SEC - 1) == [] and L.expire(2 * SEC) == [2] and a1.debits_pending == 0
    assert L.create_transfers([T(3, 0, 0, 0, flags=T_VOID, pending_id=2)], now=3 * SEC) == ["pending_transfer_expired"]
    L.check()


def test_balancing_transfers_take_only_what_the_limit_allows():
    L = book()
    L.create_transfers([T(1, 1, 3, 70)])                  # 3 has 70 of credits
    assert L.create_transfers([T(2, 3, 2, 1000, flags=T_BALANCING_DEBIT)]) == ["ok"]
    assert L.transfers[2].amount == 70 and L.accounts[3].balances() == (0, 70, 0, 70)
    L.create_transfers([T(3, 4, 1, 40)])                  # 4 has 40 of debits
    assert L.create_transfers([T(4, 2, 4, 100, flags=T_BALANCING_CREDIT)]) == ["ok"]
    assert L.transfers[4].amount == 40
    L.check()


def test_history_records_balances_after_each_transfer():
    L = book()
    L.create_transfers([T(1, 7, 2, 5), T(2, 1, 7, 8)], now=10)
    assert [h[1:] for h in L.balances_of(7)] == [(0, 5, 0, 0), (0, 5, 0, 8)]


class Model:
    """Plain bookkeeping of simple and two-phase transfers between plain
    accounts: what the ledger must agree with."""

    def __init__(self, n):
        self.bal = {i: [0, 0, 0, 0] for i in range(1, n + 1)}
        self.seen = {}
        self.pending = {}

    def apply(self, kind, tid, dr, cr, amount, pid):
        if tid in self.seen:
            return "exists" if self.seen[tid] == (kind, dr, cr, amount, pid) else None
        if kind == "post" or kind == "void":
            p = self.pending.get(pid)
            if p is None or p[2] is not None:
                return None
            pdr, pcr, _, pamount = p[0], p[1], p[2], p[3]
            self.bal[pdr][0] -= pamount
            self.bal[pcr][2] -= pamount
            if kind == "post":
                self.bal[pdr][1] += pamount
                self.bal[pcr][3] += pamount
            self.pending[pid] = (pdr, pcr, kind, pamount)
        elif kind == "pending":
            self.bal[dr][0] += amount
            self.bal[cr][2] += amount
            self.pending[tid] = (dr, cr, None, amount)
        else:
            self.bal[dr][1] += amount
            self.bal[cr][3] += amount
        self.seen[tid] = (kind, dr, cr, amount, pid)
        return "ok"


@pytest.mark.parametrize("seed", range(8))
def test_random_streams_agree_with_the_model(seed):
    rng = random.Random(seed)
    n = 6
    L = Ledger()
    L.create_accounts([Account(i, 1, 1) for i in range(1, n + 1)])
    model = Model(n)
    ids = []
    for step in range(600):
        kind = rng.choice(["simple", "simple", "pending", "post", "void", "retry"])
        if kind == "retry" and ids:
            tid, args = rng.choice(ids)
            kind, dr, cr, amount, pid = args
        else:
            if kind == "retry":
                kind = "simple"
            tid = len(ids) + 1000
            dr, cr = rng.sample(range(1, n + 1), 2)
            amount = rng.randint(1, 10 ** rng.randint(1, 30))
            pid = rng.choice([t for t, a in ids if a[0] == "pending"] or [0]) if kind in ("post", "void") else 0
            ids.append((tid, (kind, dr, cr, amount, pid)))
        flags = {"simple": 0, "pending": T_PENDING, "post": T_POST, "void": T_VOID}[kind]
        if kind in ("post", "void"):
            event = T(tid, 0, 0, 0, flags=flags, pending_id=pid)
        else:
            event = T(tid, dr, cr, amount, flags=flags)
        got = L.create_transfers([event], now=step + 10)[0]
        want = model.apply(kind, tid, dr, cr, amount, pid)
        if want is None:
            assert got != "ok", (step, kind)
        else:
            assert got == want, (step, kind, got)
        for i in range(1, n + 1):
            assert list(L.accounts[i].balances()) == model.bal[i]
        L.check()
