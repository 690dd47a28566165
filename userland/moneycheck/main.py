"""moneycheck: the money vectors on the device, as on the host."""
import _vectors
from userland.lib import money_vectors, qenex


def main():
    failures, count = money_vectors.run(_vectors.MONEY)
    for f in failures:
        qenex.write("moneycheck: FAIL %s\n" % f)
    qenex.write("moneycheck: %d vectors, %d failures\n" % (count, len(failures)))
