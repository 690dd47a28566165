"""The gateway's storage partition (board.py: gateway_store) and the two
records kept in it, shared by the gateway task and the host tools:
sector 0 the host link key (written by `qenex hostlink provision`),
sectors 1..15 the operator's compliance rules (written by the gateway on a
reload, or by `qenex compliance push`), then the audit log.

    key record    "QXHK", the 32-byte key, SHA-256 of both (first 16 bytes)
    rules record  "QXRL", length (u32), SHA-256 of the JSON, the JSON
"""
import hashlib

KEY_OFFSET = 0x0
RULES_OFFSET = 0x1000
RULES_SPACE = 0xF000
AUDIT_OFFSET = 0x10000
KEY_MAGIC = b"QXHK"
KEY_RECORD = 52
RULES_MAGIC = b"QXRL"
RULES_HEAD = 40
RULES_MAX = RULES_SPACE - RULES_HEAD


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
