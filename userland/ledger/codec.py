"""Binary encodings of accounts and transfers, little-endian, fixed size:
the ledger's IPC protocol and its write-ahead log use the same ones.

    account   id 16, ledger 4, code 2, flags 2, user_data 16, timestamp 8     = 48 bytes
    transfer  id 16, debit 16, credit 16, amount 16, pending_id 16, ledger 4,
              code 2, flags 2, timeout 4, user_data 16, timestamp 8          = 116 bytes
(timestamp: 0 in a request; set by the ledger in a stored object)."""
from userland.ledger.state import Account, Transfer

ACCOUNT_SIZE = 48
TRANSFER_SIZE = 116


def _int(b, i, n):
    return int.from_bytes(b[i:i + n], "little")


def _put(out, v, n):
    out += v.to_bytes(n, "little")


def encode_account(a):
    out = bytearray()
    for v, n in ((a.id, 16), (a.ledger, 4), (a.code, 2), (a.flags, 2), (a.user_data, 16), (a.timestamp, 8)):
        _put(out, v, n)
    return bytes(out)


def decode_account(b, i=0):
    a = Account(_int(b, i, 16), _int(b, i + 16, 4), _int(b, i + 20, 2), _int(b, i + 22, 2), _int(b, i + 24, 16))
    a.timestamp = _int(b, i + 40, 8)
    return a


def encode_transfer(t):
    out = bytearray()
    for v, n in ((t.id, 16), (t.debit_account_id, 16), (t.credit_account_id, 16), (t.amount, 16),
                 (t.pending_id, 16), (t.ledger, 4), (t.code, 2), (t.flags, 2), (t.timeout, 4), (t.user_data, 16),
                 (t.timestamp, 8)):
        _put(out, v, n)
    return bytes(out)


def decode_transfer(b, i=0):
    t = Transfer(_int(b, i, 16), _int(b, i + 16, 16), _int(b, i + 32, 16), _int(b, i + 48, 16),
                 _int(b, i + 80, 4), _int(b, i + 84, 2), _int(b, i + 86, 2), _int(b, i + 64, 16),
                 _int(b, i + 88, 4), _int(b, i + 92, 16))
    t.timestamp = _int(b, i + 108, 8)
    return t


def encode_many(objs, enc):
    return b"".join(enc(o) for o in objs)


def decode_many(b, size, dec):
    if len(b) % size:
        raise ValueError("%d bytes is not a whole number of %d-byte events" % (len(b), size))
    return [dec(b, i) for i in range(0, len(b), size)]
