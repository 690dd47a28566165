"""gatewaycheck: the sample pacs.008, pain.001 and MT103 parsed on the
device, and one rejection of each kind, printed for the QEMU test to
compare with what the host makes of the same files."""
import _vectors
from userland.gateway import iso20022, mt103
from userland.gateway.mt103 import MtError
from userland.gateway.payment import Rejected
from userland.lib import qenex


def show(kind, msg_id, pays):
    for p in pays:
        qenex.write("gatewaycheck: %s %s %s %s %s %s -> %s %s\n" % (
            kind, msg_id, p.end_to_end_id, p.amount, p.charge_bearer, p.debtor, p.creditor, p.creditor_agent))


def main():
    for text in (_vectors.PACS008, _vectors.PAIN001):
        show(*iso20022.parse(text))
    ref, pays = mt103.parse(_vectors.MT103)
    show("MT103", ref, pays)
    try:
        iso20022.parse(_vectors.PACS008.replace("<NbOfTxs>2</NbOfTxs>", "<NbOfTxs>3</NbOfTxs>"))
    except Rejected as e:
        qenex.write("gatewaycheck: rejected %s %s\n" % (e.code, e.where))
    try:
        mt103.parse(_vectors.MT103.replace(":71A:SHA", ":71A:ALL"))
    except MtError as e:
        qenex.write("gatewaycheck: rejected %s\n" % e)
    qenex.write("gatewaycheck: done\n")
