"""ledgerload: a stream of transfers into the ledger, in linked pairs, each
pair acknowledged on the console ("ledgerload: ack ID ID") once the ledger
has answered ok, that is once it is in the log. The crash tests kill the
board anywhere in this stream and check every acknowledged transfer is
there after a reboot. Its ids continue after the ledger's transfer count."""
from userland.ledger import api
from userland.ledger.state import T_LINKED, Account, Transfer
from userland.lib import qenex

BASE = 1000000


def main():
    api.create_accounts([Account(1, 1, 10), Account(2, 1, 10), Account(3, 1, 10)])
    n = api.stats()["transfers_now"]
    tid = BASE + n + 1
    i = 0
    while True:
        a = Transfer(tid, 1 + i % 3, 1 + (i + 1) % 3, 100 + i, 1, 1, T_LINKED)
        b = Transfer(tid + 1, 1 + (i + 1) % 3, 1 + (i + 2) % 3, 7 + i % 50, 1, 1)
        r = api.create_transfers([a, b])
        if r != ["ok", "ok"]:
            qenex.write("ledgerload: refused %d %d: %s\n" % (tid, tid + 1, ", ".join(r)))
            return
        qenex.write("ledgerload: ack %d %d\n" % (tid, tid + 1))
        tid += 2
        i += 1
