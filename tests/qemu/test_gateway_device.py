"""The gateway's parsers on the device (gatewaycheck) make of the sample
messages exactly what they make of them on the host."""
import os

import pytest

from userland.gateway import iso20022, mt103

pytestmark = pytest.mark.timeout(120)
VEC = os.path.join(os.path.dirname(os.path.dirname(__file__)), "vectors", "gateway")


def expected():
    lines = []
    for name in ("pacs008.xml", "pain001.xml"):
        kind, msg_id, pays = iso20022.parse(open(os.path.join(VEC, name)).read())
        lines += [(kind, msg_id, p) for p in pays]
    ref, pays = mt103.parse(open(os.path.join(VEC, "mt103.txt")).read())
    lines += [("MT103", ref, p) for p in pays]
    return ["gatewaycheck: %s %s %s %s %s %s -> %s %s" % (k, m, p.end_to_end_id, p.amount, p.charge_bearer,
                                                          p.debtor, p.creditor, p.creditor_agent)
            for k, m, p in lines] + ["gatewaycheck: rejected AM18 GrpHdr/NbOfTxs",
                                    "gatewaycheck: rejected T08 71A: 'ALL' is not one of BEN, OUR, SHA"]


def test_the_device_parses_the_samples_as_the_host_does(device):
    mark = device.mark()
    device.cmd("start gatewaycheck")
    device.wait_line(r"gatewaycheck: done", since=mark, timeout=60)
    lines = device.text[mark:].replace("\r\n", "\n").split("\n")
    got = [line[line.index("gatewaycheck: "):] for line in lines if "gatewaycheck: " in line]   # may follow a prompt
    got = [g for g in got if g != "gatewaycheck: done"]
    assert got == expected()
