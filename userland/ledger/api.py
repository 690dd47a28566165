"""The ledger service as other tasks call it, and its IPC protocol: the one
place a ledger request is encoded and decoded and a reply made and read.
The ledger task (main.py, through server.py) answers with it; the gateway,
the shell's `ledger` commands (shell.py) and ledgerload call it.

It holds the wire format and the result codes. It does not hold the state
machine's checks (state.py), the bytes of an account or a transfer
(codec.py), nor what a caller does when the ledger is down: the call's
qenex.Error (NOT_RUNNING, PEER_DIED, ...) goes up unchanged, the caller
knows what that means for it. `call` is how to reach the service:
qenex.call (the default) in a task, the shell's context in the shell
(which the host tests fake).

A message is at most 256 bytes; numbers are little-endian.
    request  op (1 byte), then the op's bytes
      "A" + accounts (48 bytes each, codec.py; 1 to 5)   -> a result code (1 byte) each
      "T" + transfers (116 bytes each; 1 to 2)           -> a result code (1 byte) each
      "a" + account id (16)                              -> the account (48) + 4 balances (16 each), or nothing
      "t" + transfer id (16)                             -> the transfer (116), or nothing
      "h" + account id (16) + start (4)                  -> total (4) + up to 3 entries (ts 8 + 4 x 16)
      "v"                                                -> JSON: verify(): invariants and the whole chain
      "s"                                                -> JSON: counts; "corrupt": null or offset, seq, reason
      "c"                                                -> JSON: "corrupt" alone (the whole reason)
    reply    status (1 byte: 0 ok, 1 refused) + the op's bytes, or the reason (text)

A result code's number is its ABI, as TigerBeetle's CreateAccountResult and
CreateTransferResult: given once, explicitly, never changed, never reused;
accounts and transfers share one numbering. The order in which the state
machine checks (which result an event gets when several apply) is
state.RESULTS_*, and can change without renumbering anything. READ_ONLY:
recovery found the log corrupt, nothing is written (lookups still answer,
"v" answers refused); STORAGE_FAILED: the batch could not be logged,
nothing of it was kept.

A reply that is not what its request asks for (empty, short, long, an
unknown status or result code, not JSON) raises BadReply saying what is
wrong, never an IndexError; a refusal raises LedgerRefused with the
ledger's reason. Pure Python: runs under MicroPython and CPython."""
import json

from userland.ledger import codec
from userland.ledger.state import RESULTS_ACCOUNT, RESULTS_TRANSFER

# The result codes: explicit numbers, never renumbered, never reused.
OK = 0
LINKED_EVENT_FAILED = 1
LINKED_EVENT_CHAIN_OPEN = 2
ID_MUST_NOT_BE_ZERO = 3
ID_MUST_NOT_BE_INT_MAX = 4
RESERVED_FLAG = 5
FLAGS_ARE_MUTUALLY_EXCLUSIVE = 6
DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO = 7
CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO = 8
ACCOUNTS_MUST_BE_DIFFERENT = 9
PENDING_ID_MUST_BE_ZERO = 10
PENDING_ID_MUST_NOT_BE_ZERO = 11
PENDING_ID_MUST_BE_DIFFERENT = 12
TIMEOUT_RESERVED_FOR_PENDING_TRANSFER = 13
LEDGER_MUST_NOT_BE_ZERO = 14
CODE_MUST_NOT_BE_ZERO = 15
AMOUNT_MUST_NOT_BE_ZERO = 16
EXISTS_WITH_DIFFERENT_FLAGS = 17
EXISTS_WITH_DIFFERENT_PENDING_ID = 18
EXISTS_WITH_DIFFERENT_TIMEOUT = 19
EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID = 20
EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID = 21
EXISTS_WITH_DIFFERENT_AMOUNT = 22
EXISTS_WITH_DIFFERENT_LEDGER = 23
EXISTS_WITH_DIFFERENT_CODE = 24
EXISTS = 25
PENDING_TRANSFER_NOT_FOUND = 26
PENDING_TRANSFER_NOT_PENDING = 27
PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID = 28
PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID = 29
PENDING_TRANSFER_HAS_DIFFERENT_LEDGER = 30
PENDING_TRANSFER_HAS_DIFFERENT_CODE = 31
EXCEEDS_PENDING_TRANSFER_AMOUNT = 32
PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT = 33
PENDING_TRANSFER_ALREADY_POSTED = 34
PENDING_TRANSFER_ALREADY_VOIDED = 35
PENDING_TRANSFER_EXPIRED = 36
DEBIT_ACCOUNT_NOT_FOUND = 37
CREDIT_ACCOUNT_NOT_FOUND = 38
ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER = 39
TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS = 40
DEBIT_ACCOUNT_ALREADY_CLOSED = 41
CREDIT_ACCOUNT_ALREADY_CLOSED = 42
OVERFLOWS_DEBITS_PENDING = 43
OVERFLOWS_CREDITS_PENDING = 44
OVERFLOWS_DEBITS_POSTED = 45
OVERFLOWS_CREDITS_POSTED = 46
OVERFLOWS_DEBITS = 47
OVERFLOWS_CREDITS = 48
OVERFLOWS_TIMEOUT = 49
EXCEEDS_CREDITS = 50
EXCEEDS_DEBITS = 51
READ_ONLY = 254
STORAGE_FAILED = 255

# The names of codes 0 .. 51, in code order: code == index. A new result takes
# the next number, here and above. (Today this is the order of
# state.RESULTS_TRANSFER as well, which is the order of the checks and may change;
# these numbers may not.)
NAMES = (
    "ok", "linked_event_failed", "linked_event_chain_open", "id_must_not_be_zero", "id_must_not_be_int_max",
    "reserved_flag", "flags_are_mutually_exclusive", "debit_account_id_must_not_be_zero",
    "credit_account_id_must_not_be_zero", "accounts_must_be_different", "pending_id_must_be_zero",
    "pending_id_must_not_be_zero", "pending_id_must_be_different", "timeout_reserved_for_pending_transfer",
    "ledger_must_not_be_zero", "code_must_not_be_zero", "amount_must_not_be_zero",
    "exists_with_different_flags", "exists_with_different_pending_id", "exists_with_different_timeout",
    "exists_with_different_debit_account_id", "exists_with_different_credit_account_id",
    "exists_with_different_amount", "exists_with_different_ledger", "exists_with_different_code", "exists",
    "pending_transfer_not_found", "pending_transfer_not_pending",
    "pending_transfer_has_different_debit_account_id", "pending_transfer_has_different_credit_account_id",
    "pending_transfer_has_different_ledger", "pending_transfer_has_different_code",
    "exceeds_pending_transfer_amount", "pending_transfer_has_different_amount",
    "pending_transfer_already_posted", "pending_transfer_already_voided", "pending_transfer_expired",
    "debit_account_not_found", "credit_account_not_found", "accounts_must_have_the_same_ledger",
    "transfer_must_have_the_same_ledger_as_accounts", "debit_account_already_closed",
    "credit_account_already_closed", "overflows_debits_pending", "overflows_credits_pending",
    "overflows_debits_posted", "overflows_credits_posted", "overflows_debits", "overflows_credits",
    "overflows_timeout", "exceeds_credits", "exceeds_debits"
)

# Operations and reply statuses.
CREATE_ACCOUNTS = 0x41     # "A"
CREATE_TRANSFERS = 0x54    # "T"
ACCOUNT = 0x61             # "a"
TRANSFER = 0x74            # "t"
HISTORY = 0x68             # "h"
VERIFY = 0x76              # "v"
STATS = 0x73               # "s"
CORRUPT = 0x63             # "c"
REPLY_OK, REPLY_REFUSED = 0, 1
MSG_MAX = 256
ACCOUNTS_MAX = (MSG_MAX - 1) // codec.ACCOUNT_SIZE           # 5 accounts in one request
TRANSFERS_MAX = (MSG_MAX - 1) // codec.TRANSFER_SIZE         # 2 transfers
ID_SIZE = 16
BALANCES_SIZE = 4 * 16
HISTORY_PAGE = 3                                               # entries in one "h" reply
ENTRY_SIZE = 8 + BALANCES_SIZE


class LedgerRefused(OSError):
    """The ledger refused the request; the reason is its text."""


class BadReply(LedgerRefused):
    """The ledger's reply is not what the request asks for."""


def name_of(code):
    """A result code's name, or None for a number that is no code."""
    if code == READ_ONLY:
        return "read_only"
    if code == STORAGE_FAILED:
        return "storage_failed"
    return NAMES[code] if 0 <= code < len(NAMES) else None


def code_of(name):
    """A result's code (ValueError for a name that has none)."""
    if name == "read_only":
        return READ_ONLY
    if name == "storage_failed":
        return STORAGE_FAILED
    return NAMES.index(name)


def _le(v, n):
    return v.to_bytes(n, "little")


def _int(b, i, n):
    return int.from_bytes(b[i:i + n], "little")


def _id(v):
    if not 0 <= v < 1 << 128:
        raise ValueError("an id is 0 .. 2**128 - 1, not %d" % v)
    return _le(v, ID_SIZE)


# --- requests: made by a caller (encode_*), read by the ledger (decode_request) --------
def encode_create_accounts(accounts):
    if not 1 <= len(accounts) <= ACCOUNTS_MAX:
        raise ValueError("a request creates 1 to %d accounts, not %d" % (ACCOUNTS_MAX, len(accounts)))
    return bytes((CREATE_ACCOUNTS,)) + codec.encode_many(accounts, codec.encode_account)


def encode_create_transfers(transfers):
    if not 1 <= len(transfers) <= TRANSFERS_MAX:
        raise ValueError("a request creates 1 to %d transfers, not %d" % (TRANSFERS_MAX, len(transfers)))
    return bytes((CREATE_TRANSFERS,)) + codec.encode_many(transfers, codec.encode_transfer)


def encode_lookup(op, id):
    """An "a" (ACCOUNT) or "t" (TRANSFER) request for one id."""
    return bytes((op,)) + _id(id)


def encode_history(id, start):
    return bytes((HISTORY,)) + _id(id) + _le(start, 4)


def decode_request(msg):
    """(op, argument) of a request: the accounts or transfers to create, the
    id to look up, (id, start) of a history page, or None. ValueError,
    saying what is wrong, for a request that is none of these."""
    if not msg:
        raise ValueError("empty request")
    op, body = msg[0], msg[1:]
    if op == CREATE_ACCOUNTS or op == CREATE_TRANSFERS:
        size, dec, most = (codec.ACCOUNT_SIZE, codec.decode_account, ACCOUNTS_MAX) if op == CREATE_ACCOUNTS \
            else (codec.TRANSFER_SIZE, codec.decode_transfer, TRANSFERS_MAX)
        events = codec.decode_many(body, size, dec)
        if len(events) > most:
            raise ValueError("%d events; a request holds at most %d" % (len(events), most))
        return op, events
    if op == ACCOUNT or op == TRANSFER:
        if len(body) != ID_SIZE:
            raise ValueError("a lookup is an id of %d bytes, not %d" % (ID_SIZE, len(body)))
        return op, _int(body, 0, ID_SIZE)
    if op == HISTORY:
        if len(body) != ID_SIZE + 4:
            raise ValueError("a history request is an id and a start (%d bytes), not %d bytes" % (
                ID_SIZE + 4, len(body)))
        return op, (_int(body, 0, ID_SIZE), _int(body, ID_SIZE, 4))
    if op in (VERIFY, STATS, CORRUPT):
        if body:
            raise ValueError("operation %r takes no bytes" % chr(op))
        return op, None
    raise ValueError("unknown operation %r" % chr(op))


# --- replies: made by the ledger (reply_*), read by a caller (decode_*) ------------------
def reply_ok(body):
    return bytes((REPLY_OK,)) + body


def reply_refused(reason):
    return bytes((REPLY_REFUSED,)) + reason.encode()


def reply_results(names):
    return bytes(code_of(r) for r in names)


def reply_account(a):
    if a is None:
        return b""
    return codec.encode_account(a) + b"".join(_le(v, 16) for v in a.balances())


def reply_transfer(t):
    return codec.encode_transfer(t) if t is not None else b""


def reply_history(entries, start):
    """entries: the account's whole history, [(timestamp, debits_pending,
    debits_posted, credits_pending, credits_posted)]; the page from start."""
    out = _le(len(entries), 4)
    for e in entries[start:start + HISTORY_PAGE]:
        out += _le(e[0], 8) + b"".join(_le(v, 16) for v in e[1:])
    return out


def body_of(reply):
    """The op's bytes of an ok reply; LedgerRefused with the ledger's reason,
    BadReply for a reply that is neither."""
    if not reply:
        raise BadReply("the ledger gave an empty reply")
    if reply[0] == REPLY_REFUSED:
        raise LedgerRefused(bytes(reply[1:]).decode())
    if reply[0] != REPLY_OK:
        raise BadReply("the ledger's reply has status %d (0 ok, 1 refused)" % reply[0])
    return reply[1:]


def decode_results(body, n, table):
    """The result names of a batch of n events (table: state.RESULTS_ACCOUNT
    or RESULTS_TRANSFER, the results such an event can have)."""
    if len(body) != n:
        raise BadReply("the ledger answered %d results for %d events" % (len(body), n))
    out = []
    for c in body:
        name = name_of(c)
        if name is None or (name in NAMES and name not in table):
            raise BadReply("result code %d is not one of this request's" % c)
        out.append(name)
    return out


def decode_account(body):
    """The account with its balances, or None (no such account)."""
    if not body:
        return None
    if len(body) != codec.ACCOUNT_SIZE + BALANCES_SIZE:
        raise BadReply("an account reply is %d bytes, not %d" % (codec.ACCOUNT_SIZE + BALANCES_SIZE, len(body)))
    a = codec.decode_account(body)
    i = codec.ACCOUNT_SIZE
    a.debits_pending, a.debits_posted = _int(body, i, 16), _int(body, i + 16, 16)
    a.credits_pending, a.credits_posted = _int(body, i + 32, 16), _int(body, i + 48, 16)
    return a


def decode_transfer(body):
    """The transfer, or None (no such transfer)."""
    if not body:
        return None
    if len(body) != codec.TRANSFER_SIZE:
        raise BadReply("a transfer reply is %d bytes, not %d" % (codec.TRANSFER_SIZE, len(body)))
    return codec.decode_transfer(body)


def decode_history(body):
    """(total, entries) of a history page; an entry is (timestamp,
    debits_pending, debits_posted, credits_pending, credits_posted)."""
    if len(body) < 4 or (len(body) - 4) % ENTRY_SIZE or (len(body) - 4) // ENTRY_SIZE > HISTORY_PAGE:
        raise BadReply("a history reply is a count and up to %d entries of %d bytes, not %d bytes" % (
            HISTORY_PAGE, ENTRY_SIZE, len(body)))
    entries = []
    for i in range(4, len(body), ENTRY_SIZE):
        entries.append((_int(body, i, 8),) + tuple(_int(body, i + 8 + 16 * k, 16) for k in range(4)))
    return _int(body, 0, 4), entries


def decode_json(body):
    try:
        return json.loads(bytes(body).decode())
    except (ValueError, UnicodeError):
        raise BadReply("the ledger's reply is not JSON: %r" % bytes(body[:40]))


def decode_object(body):
    """A JSON object reply ("v", "s"); BadReply for anything else."""
    v = decode_json(body)
    if not isinstance(v, dict):
        raise BadReply("the ledger's reply is not a JSON object")
    return v


# --- calls ----------------------------------------------------------------------------
def request(msg, call=None):
    """The op's bytes of the ledger's answer to msg (LedgerRefused,
    BadReply; the call's own errors go up unchanged)."""
    if call is None:
        from userland.lib import qenex
        call = qenex.call
    return body_of(call("ledger", msg))


def create_accounts(accounts, call=None):
    """A result name per account ("ok", "exists", ...)."""
    return decode_results(request(encode_create_accounts(accounts), call), len(accounts), RESULTS_ACCOUNT)


def create_transfers(transfers, call=None):
    """A result name per transfer ("ok", "exceeds_credits", ...)."""
    return decode_results(request(encode_create_transfers(transfers), call), len(transfers), RESULTS_TRANSFER)


def account(id, call=None):
    """The account with its balances, or None."""
    return decode_account(request(encode_lookup(ACCOUNT, id), call))


def transfer(id, call=None):
    """The transfer, or None."""
    return decode_transfer(request(encode_lookup(TRANSFER, id), call))


def history(id, call=None):
    """The account's whole balance history, page after page (empty: no
    history, or an account created without the history flag)."""
    out = []
    while True:
        total, page = decode_history(request(encode_history(id, len(out)), call))
        out += page
        if not page or len(out) >= total:
            return out


def verify(call=None):
    """verify()'s figures: records, checkpoints, signatures_checked,
    accounts, transfers, pending, torn, head (hex); LedgerRefused when it fails."""
    return decode_object(request(bytes((VERIFY,)), call))


def stats(call=None):
    return decode_object(request(bytes((STATS,)), call))


def corrupt(call=None):
    """Where recovery found the log corrupt (offset, seq, reason), or None."""
    v = decode_json(request(bytes((CORRUPT,)), call))
    if v is not None and not isinstance(v, dict):
        raise BadReply("the ledger's corruption reply is not a JSON object")
    return v
