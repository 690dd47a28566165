"""ledgerload: a stream of transfers into the ledger, in linked pairs, each
pair acknowledged on the console ("ledgerload: ack ID ID") once the ledger
has answered ok, that is once it is in the log. The crash tests kill the
board anywhere in this stream and check every acknowledged transfer is
there after a reboot. Its ids continue after the ledger's transfer count."""
import json

from userland.ledger import codec
from userland.ledger.state import T_LINKED, Account, Transfer
from userland.lib import qenex

BASE = 1000000


def call(msg):
    r = qenex.call("ledger", msg)
    if r[0] != 0:
        raise ValueError(r[1:].decode())
    return r[1:]


def main():
    call(b"A" + codec.encode_account(Account(1, 1, 10)) + codec.encode_account(Account(2, 1, 10))
         + codec.encode_account(Account(3, 1, 10)))
    n = json.loads(call(b"s"))["transfers_now"]
    tid = BASE + n + 1
    i = 0
    while True:
        a = Transfer(tid, 1 + i % 3, 1 + (i + 1) % 3, 100 + i, 1, 1, T_LINKED)
        b = Transfer(tid + 1, 1 + (i + 1) % 3, 1 + (i + 2) % 3, 7 + i % 50, 1, 1)
        r = call(b"T" + codec.encode_transfer(a) + codec.encode_transfer(b))
        if r != b"\x00\x00":
            qenex.write("ledgerload: refused %d %d: %r\n" % (tid, tid + 1, r))
            return
        qenex.write("ledgerload: ack %d %d\n" % (tid, tid + 1))
        tid += 2
        i += 1
