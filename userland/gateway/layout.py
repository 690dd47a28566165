"""The gateway's storage partition (board.py: gateway_store) and the two
records kept in it, shared by the gateway task and the host tools:
sector 0 the host link key (written by `qenex hostlink provision`),
sectors 1..7 the operator's compliance rules (written by the gateway on a
reload, or by `qenex compliance push`), sectors 8..15 the account
directory in two copies of four sectors, then the audit log, and at the
partition's end the FIX sessions' store (fix_store.py, FIX_SPACE bytes).

    key record       "QXHK", the 32-byte key, SHA-256 of both (first 16 bytes)
    rules record     "QXRL", length (u32), SHA-256 of the JSON, the JSON
    accounts record  "QXAD", generation (u32), length (u32), SHA-256 of the
                     rest, the directory's text (userland/gateway/accounts.py)

A change of the directory is written whole into the copy not holding the
newest record, with the next generation: a reset mid-write leaves the
other copy, the last one written whole, to be read at the next start.
"""
import hashlib

KEY_OFFSET = 0x0
RULES_OFFSET = 0x1000
RULES_SPACE = 0x7000
ACCOUNTS_OFFSET = 0x8000
ACCOUNTS_COPY = 0x4000          # each of the two copies
AUDIT_OFFSET = 0x10000
FIX_SPACE = 0x20000             # at the partition's end: two halves of 64 KiB
KEY_MAGIC = b"QXHK"
KEY_RECORD = 52
RULES_MAGIC = b"QXRL"
RULES_HEAD = 40
RULES_MAX = RULES_SPACE - RULES_HEAD
ACCOUNTS_MAGIC = b"QXAD"
ACCOUNTS_HEAD = 44
ACCOUNTS_MAX = ACCOUNTS_COPY - ACCOUNTS_HEAD


def key_record(key):
    return KEY_MAGIC + key + hashlib.sha256(KEY_MAGIC + key).digest()[:16]


def key_of(record):
    """The key in a key record, or None if it is not one."""
    key = bytes(record[4:36])
    return key if bytes(record[:KEY_RECORD]) == key_record(key) else None


def rules_record(text):
    if len(text) > RULES_MAX:
        raise ValueError("larger than %d bytes" % RULES_MAX)
    return RULES_MAGIC + len(text).to_bytes(4, "little") + hashlib.sha256(text).digest() + text


def rules_of(read):
    """The JSON of the rules record read(offset, n) reads from the rules
    area's start, or None if there is none whole."""
    head = read(0, RULES_HEAD)
    if head[:4] != RULES_MAGIC:
        return None
    n = int.from_bytes(head[4:8], "little")
    if n > RULES_MAX:
        return None
    text = read(RULES_HEAD, n)
    return text if hashlib.sha256(text).digest() == head[8:40] else None


def accounts_record(generation, text):
    if len(text) > ACCOUNTS_MAX:
        raise ValueError("the account directory is larger than %d bytes" % ACCOUNTS_MAX)
    body = generation.to_bytes(4, "little") + len(text).to_bytes(4, "little")
    return ACCOUNTS_MAGIC + body + hashlib.sha256(body + text).digest() + text


def accounts_of(read):
    """(generation, copy offset, text) of the newest whole accounts record
    of the two copies read(offset, n) reads from the accounts area's start,
    or None."""
    best = None
    for copy in (0, ACCOUNTS_COPY):
        head = read(copy, ACCOUNTS_HEAD)
        if head[:4] != ACCOUNTS_MAGIC:
            continue
        gen, n = int.from_bytes(head[4:8], "little"), int.from_bytes(head[8:12], "little")
        if n > ACCOUNTS_MAX:
            continue
        text = read(copy + ACCOUNTS_HEAD, n)
        if hashlib.sha256(head[4:12] + text).digest() == head[12:44] and (best is None or gen > best[0]):
            best = (gen, copy, text)
    return None if best is None else best


def accounts_slot(newest):
    """Where the next record goes: the copy that does not hold `newest`
    (accounts_of's answer, or None)."""
    return ACCOUNTS_COPY if newest is not None and newest[1] == 0 else 0


def audit_size(partition):
    """The audit log's bytes in a gateway partition of `partition` bytes."""
    return partition - AUDIT_OFFSET - FIX_SPACE


def fix_offset(partition):
    return partition - FIX_SPACE
