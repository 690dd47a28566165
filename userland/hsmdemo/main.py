"""hsmdemo / hsmrogue: a task that asks the hsm service to sign the digest
of a transaction with key txn-sign and prints the digest and signature (or
the refusal). hsmdemo's manifest grants it txn-sign:sign; hsmrogue runs the
same code without that policy, and is refused."""
import hashlib

from userland.hsm import api as hsm
from userland.lib import qenex

TRANSACTION = b"transfer 1000.00 USD from account 1 to account 2"


def hexs(b):
    return "".join("%02x" % x for x in b)


def main():
    digest = hashlib.sha256(TRANSACTION).digest()
    try:
        sig = hsm.sign("txn-sign", digest)
    except hsm.HsmRefused as e:
        qenex.write("hsmdemo: refused: %s\n" % e)
        return
    qenex.write("hsmdemo: digest %s signature %s (%d bytes)\n" % (hexs(digest), hexs(sig), len(sig)))
