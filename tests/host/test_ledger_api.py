"""The ledger's client and wire format (userland/ledger/api.py): result
codes pinned, every request and reply encoded and decoded again, every
malformed reply refused with BadReply (never an IndexError), and the
client against the ledger's own answers (server.py over a LedgerService on
a storage image in memory), the shell's `ledger` command included.

The tests are plain functions with assert (no fixtures, no pytest.raises,
no CPython-only features), so they would run under MicroPython as well."""
from drivers.flash.region import MemoryImage, Region
from userland.ledger import api, codec, server
from userland.ledger.service import LedgerService
from userland.ledger.state import (A_HISTORY, RESULTS_ACCOUNT, RESULTS_TRANSFER, T_LINKED, T_PENDING, U128,
                                   Account, Transfer)

SIZE = 1 << 18
SECTOR = 4096


def raises(exc, fn, *args):
    """The exception fn(*args) raised, which must be an exc (and, unless exc
    is an IndexError, never an IndexError)."""
    try:
        fn(*args)
    except exc as e:
        assert not isinstance(e, IndexError) or exc is IndexError
        return e
    raise AssertionError("%s%r raised no %s" % (fn.__name__, args, exc.__name__))


def account_fields(a):
    return (a.id, a.ledger, a.code, a.flags, a.user_data, a.timestamp) + a.balances()


def transfer_fields(t):
    return (t.id, t.debit_account_id, t.credit_account_id, t.amount, t.pending_id, t.ledger, t.code, t.flags,
            t.timeout, t.user_data, t.timestamp)


# --- the result codes -------------------------------------------------------------------
PINNED = {"ok": 0, "linked_event_failed": 1, "id_must_not_be_zero": 3, "reserved_flag": 5,
          "ledger_must_not_be_zero": 14, "code_must_not_be_zero": 15, "exists_with_different_flags": 17,
          "exists_with_different_ledger": 23, "exists_with_different_code": 24, "exists": 25,
          "pending_transfer_not_found": 26, "pending_transfer_already_voided": 35, "credit_account_not_found": 38,
          "exceeds_credits": 50, "exceeds_debits": 51, "read_only": 254, "storage_failed": 255}


def test_result_codes_are_explicit_named_and_never_move():
    for name, code in PINNED.items():
        assert getattr(api, name.upper()) == code and api.code_of(name) == code and api.name_of(code) == name
    for code, name in enumerate(api.NAMES):
        assert getattr(api, name.upper()) == code
    codes = [api.code_of(n) for n in api.NAMES] + [api.READ_ONLY, api.STORAGE_FAILED]
    assert len(set(codes)) == len(codes) and max(codes) < 256


def test_every_result_the_state_machine_gives_has_a_code_of_its_own():
    for name in RESULTS_ACCOUNT + RESULTS_TRANSFER + ("read_only", "storage_failed"):
        assert api.name_of(api.code_of(name)) == name
    for code in (52, 100, 253, -1, 256):
        assert api.name_of(code) is None
    raises(ValueError, api.code_of, "no_such_result")


# --- requests ---------------------------------------------------------------------------
def test_create_requests_round_trip():
    accs = [Account(1, 1, 10, A_HISTORY, 77), Account(U128, 2**32 - 1, 2**16 - 1, 0, U128)]
    op, back = api.decode_request(api.encode_create_accounts(accs))
    assert op == api.CREATE_ACCOUNTS and [account_fields(a) for a in back] == [account_fields(a) for a in accs]
    ts = [Transfer(5, 1, 2, U128, 1, 1, T_PENDING, 0, 60, 9), Transfer(6, 2, 1, 1, 1, 1, T_LINKED, 5)]
    op, back = api.decode_request(api.encode_create_transfers(ts))
    assert op == api.CREATE_TRANSFERS and [transfer_fields(t) for t in back] == [transfer_fields(t) for t in ts]


def test_the_most_a_message_holds_and_no_more():
    assert len(api.encode_create_accounts([Account(i + 1, 1, 1) for i in range(api.ACCOUNTS_MAX)])) <= api.MSG_MAX
    assert len(api.encode_create_transfers([Transfer(i + 1, 1, 2, 1, 1, 1)
                                            for i in range(api.TRANSFERS_MAX)])) <= api.MSG_MAX
    e = raises(ValueError, api.encode_create_accounts, [Account(i + 1, 1, 1) for i in range(api.ACCOUNTS_MAX + 1)])
    assert "1 to 5 accounts" in str(e)
    raises(ValueError, api.encode_create_transfers, [])
    raises(ValueError, api.encode_create_transfers, [Transfer(i + 1, 1, 2, 1, 1, 1) for i in range(3)])


def test_lookup_and_history_requests_round_trip():
    assert api.decode_request(api.encode_lookup(api.ACCOUNT, U128)) == (api.ACCOUNT, U128)
    assert api.decode_request(api.encode_lookup(api.TRANSFER, 7)) == (api.TRANSFER, 7)
    assert api.decode_request(api.encode_history(3, 2**32 - 1)) == (api.HISTORY, (3, 2**32 - 1))
    for op in (api.VERIFY, api.STATS, api.CORRUPT):
        assert api.decode_request(bytes((op,))) == (op, None)
    raises(ValueError, api.encode_lookup, api.ACCOUNT, U128 + 1)
    raises(ValueError, api.encode_lookup, api.ACCOUNT, -1)


def test_malformed_requests_are_refused_saying_why():
    cases = [(b"", "empty request"), (b"a" + bytes(15), "id of 16 bytes, not 15"),
             (b"t" + bytes(17), "not 17"), (b"h" + bytes(16), "not 16 bytes"), (b"v!", "takes no bytes"),
             (b"A" + bytes(47), "whole number"), (b"A" + bytes(48 * 6), "at most 5"),
             (b"T" + bytes(116 * 3), "at most 2"), (b"Z", "unknown operation 'Z'")]
    for msg, why in cases:
        assert why in str(raises(ValueError, api.decode_request, msg)), msg


# --- replies ----------------------------------------------------------------------------
def test_replies_round_trip():
    a = Account(9, 1, 10, A_HISTORY)
    a.timestamp, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted = 5, 1, 2, 3, U128
    assert account_fields(api.decode_account(api.reply_account(a))) == account_fields(a)
    assert api.decode_account(api.reply_account(None)) is None
    t = Transfer(5, 1, 2, 100, 1, 1, T_PENDING, 0, 60)
    t.timestamp = 123
    assert transfer_fields(api.decode_transfer(api.reply_transfer(t))) == transfer_fields(t)
    assert api.decode_transfer(api.reply_transfer(None)) is None
    names = ["ok", "exists", "read_only", "storage_failed"]
    assert api.decode_results(api.reply_results(names), 4, RESULTS_ACCOUNT) == names
    entries = [(i + 1, i, 2 * i, 3 * i, U128 - i) for i in range(7)]
    assert api.decode_history(api.reply_history(entries, 0)) == (7, entries[:3])
    assert api.decode_history(api.reply_history(entries, 6)) == (7, entries[6:])
    assert api.decode_history(api.reply_history(entries, 7)) == (7, [])
    assert api.body_of(api.reply_ok(b"xyz")) == b"xyz"
    assert str(raises(api.LedgerRefused, api.body_of, api.reply_refused("no such thing"))) == "no such thing"


def test_malformed_replies_are_refused_never_an_index_error():
    acc = api.reply_account(Account(1, 1, 1))
    hist = api.reply_history([(1, 0, 0, 0, 0)] * 3, 0)
    bad = [(api.body_of, b""), (api.body_of, b"\x02ok"),
           (api.decode_results, b"", 1, RESULTS_TRANSFER), (api.decode_results, b"\x00\x00", 1, RESULTS_TRANSFER),
           (api.decode_results, b"\x34", 1, RESULTS_TRANSFER),                          # 52: no code
           (api.decode_results, bytes((api.EXCEEDS_CREDITS,)), 1, RESULTS_ACCOUNT),      # no account result
           (api.decode_transfer, bytes(115)), (api.decode_transfer, bytes(117)),
           (api.decode_history, b""), (api.decode_history, b"\x01\x00\x00"), (api.decode_history, hist + b"\x00"),
           (api.decode_history, hist + hist[4:4 + 72]),                                  # 4 entries in a page
           (api.decode_json, b"{not json"), (api.decode_json, b"\xff\xfe"), (api.decode_object, b"[1, 2]")]
    bad += [(api.decode_account, acc[:n]) for n in range(1, len(acc))] + [(api.decode_account, acc + b"\x00")]
    for case in bad:
        e = raises(api.BadReply, case[0], *case[1:])
        assert isinstance(e, api.LedgerRefused) and str(e), case


def test_a_call_that_answers_garbage_is_a_bad_reply_for_every_operation():
    def garbage(dest, msg):
        assert dest == "ledger"
        return b"\x00\xfd\xfd\xfd"
    for fn, args in ((api.create_accounts, ([Account(1, 1, 1)],)),
                     (api.create_transfers, ([Transfer(1, 1, 2, 1, 1, 1)],)), (api.account, (1,)), (api.transfer, (1,)), (api.history, (1,)), (api.verify, ()),
                     (api.stats, ()), (api.corrupt, ())):
        raises(api.BadReply, fn, *(args + (garbage,)))


# --- against the ledger's own answers ----------------------------------------------------
def ledger():
    """A fresh LedgerService on a storage image in memory, and a `call` that
    reaches it through server.answer as the ledger task's loop does."""
    img = MemoryImage(bytearray(b"\xff" * SIZE), 0)
    s = LedgerService(Region(0, SIZE, SECTOR, img.read, img.write), lambda: 0, 1024)
    s.recover()
    sent = []

    def call(dest, msg):
        assert dest == "ledger" and len(msg) <= api.MSG_MAX
        sent.append(msg)
        reply = server.answer(s, msg)
        assert len(reply) <= api.MSG_MAX
        return reply
    return s, call, sent


def test_the_client_against_the_ledger():
    s, call, sent = ledger()
    assert api.create_accounts([Account(1, 1, 10, A_HISTORY), Account(2, 1, 10), Account(2, 1, 11)], call) == \
        ["ok", "ok", "exists_with_different_code"]
    assert api.create_transfers([Transfer(100, 1, 2, 12550, 1, 1), Transfer(101, 1, 9, 5, 1, 1)], call) == \
        ["ok", "credit_account_not_found"]
    for i in range(6):
        assert api.create_transfers([Transfer(200 + i, 2, 1, 1 + i, 1, 1)], call) == ["ok"]
    a = api.account(1, call)
    assert (a.id, a.code, a.debits_posted, a.credits_posted) == (1, 10, 12550, 21)
    assert api.account(99, call) is None
    t = api.transfer(100, call)
    assert (t.amount, t.debit_account_id) == (12550, 1) and t.timestamp > 0
    assert api.transfer(999, call) is None
    h = api.history(1, call)                                    # 7 entries: three pages
    assert len(h) == 7 and h[0][2] == 12550 and h[-1][4] == 21
    assert sum(1 for m in sent if m[0] == api.HISTORY) == 3
    assert api.history(2, call) == []                           # no history flag
    v = api.verify(call)
    assert v["accounts"] == 2 and v["transfers"] == 7 and len(v["head"]) == 64
    st = api.stats(call)
    assert st["transfers_now"] == 7 and st["read_only"] is False and api.corrupt(call) is None


def test_the_ledger_refuses_what_is_not_a_request_and_the_client_says_so():
    s, call, sent = ledger()
    e = raises(api.LedgerRefused, api.request, b"a" + bytes(3), call)
    assert not isinstance(e, api.BadReply) and "id of 16 bytes" in str(e)
    assert "unknown operation" in str(raises(api.LedgerRefused, api.request, b"?", call))


def test_a_corrupt_ledger_answers_read_only_and_a_reason_that_fits():
    s, call, sent = ledger()
    api.create_accounts([Account(1, 1, 1), Account(2, 1, 1)], call)
    s.corrupt = (0x1000, 7, "x" * 600)
    s.stats["corrupt"] = {"offset": 0x1000, "seq": 7, "reason": "x" * 600}
    assert api.create_transfers([Transfer(5, 1, 2, 1, 1, 1)], call) == ["read_only"]
    st = api.stats(call)
    bad = api.corrupt(call)
    assert st["read_only"] is True and st["corrupt"]["reason"].endswith("...")
    assert bad["seq"] == 7 and bad["reason"].endswith("...") and len(bad["reason"]) > len(st["corrupt"]["reason"])


# --- the shell's `ledger` command ---------------------------------------------------------
class Console:
    def __init__(self, call):
        self.call, self.out = call, []

    def write(self, s):
        self.out.append(s)


def shell(lines, call):
    from userland.shell import commands
    ctx = Console(call)
    out = []
    for line in lines:
        ctx.out = []
        commands.dispatch(line, ctx)
        out.append("".join(ctx.out))
    return out


def test_the_shell_ledger_command_against_the_ledger():
    s, call, sent = ledger()
    out = shell(["ledger account new 1 1 10 history", "ledger account new 2 1 10", "ledger account new 2 1 11",
                 "ledger transfer 100 1 2 12550 1 1", "ledger transfer 100 1 2 99 1 1",
                 "ledger transfer 101 1 2 5 1 1 frob", "ledger transfer 101 1 2 500 1 1 pending timeout=60",
                 "ledger void 102 101", "ledger void 103 101", "ledger post 104 999", "ledger balance 1",
                 "ledger balance 5", "ledger history 2", "ledger stats", "ledger frob"], call)
    assert out[:10] == ["ok\n", "ok\n", "exists_with_different_code\n", "ok\n", "exists_with_different_amount\n",
                        "unknown flag frob (flags: balancing_credit, balancing_debit, linked, pending, post, void)\n",
                        "ok\n", "ok\n", "pending_transfer_already_voided\n", "pending_transfer_not_found\n"]
    assert out[10] == ("account 1 (ledger 1, code 10): debits posted 12550 pending 0, credits posted 0 pending 0, "
                       "balance -12550\n")
    assert out[11] == "ledger: no account 5\n"
    assert out[12] == "ledger: no history for account 2 (created without the history flag?)\n"
    assert out[13].startswith("ledger: 2 accounts, 3 transfers, log ")
    assert out[14].startswith("usage: ledger account|transfer")
    hist = shell(["ledger history 1"], call)[0].splitlines()
    assert hist[0].split() == ["TIMESTAMP", "DEBITS", "PENDING", "CREDITS", "PENDING"] and len(hist) == 1 + 3
    assert hist[1].split()[1:] == ["12550", "0", "0", "0"] and hist[2].split()[1:] == ["12550", "500", "0", "0"]


def test_the_shell_says_what_is_wrong_with_a_bad_ledger_reply():
    for reply, line in ((b"", "ledger: the ledger gave an empty reply\n"),
                        (b"\x00", "ledger: the ledger answered 0 results for 1 events\n"),
                        (b"\x01log full", "ledger: log full\n")):
        assert shell(["ledger account new 1 1 1"], lambda dest, msg: reply) == [line]
    assert shell(["ledger balance 1"], lambda d, m: b"\x00" + bytes(50)) == [
        "ledger: an account reply is 112 bytes, not 50\n"]
