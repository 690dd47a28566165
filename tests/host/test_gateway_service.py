"""The gateway's decisions (userland/gateway/service.py) with the real
compliance engine, risk limits and ledger state machine behind it, and the
host link (userland/gateway/link.py) logged into by tools/hostlink.py's
client code, on the host."""
import json
import os
import xml.etree.ElementTree as ET

import pytest

from tools import hostlink
from userland.compliance.engine import Engine
from userland.compliance.risk import Risk
from userland.gateway import iso20022, link, service
from userland.ledger.state import Account, Ledger, Transfer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES = json.load(open(os.path.join(ROOT, "userland", "compliance", "rules.json")))
VEC = os.path.join(ROOT, "tests", "vectors", "gateway")
PACS = open(os.path.join(VEC, "pacs008.xml")).read()
NS = {"p": iso20022.PACS002}


@pytest.fixture
def gw():
    L = Ledger()
    L.create_accounts([Account(i, 1, 1) for i in (1, 2, 3)])
    audit = []

    def post(tid, dr, cr, amount, ledger):
        return L.create_transfers([Transfer(tid, dr, cr, amount, ledger, 1)])[0]
    g = service.Gateway(Engine(RULES), Risk(RULES["risk"]), post, audit.append, RULES["ledgers"],
                        lambda: 0, lambda: 1795687200000)
    return g, L, audit


def statuses(doc):
    root = ET.fromstring(doc)
    grp = root.find("p:FIToFIPmtStsRpt/p:OrgnlGrpInfAndSts/p:GrpSts", NS).text
    txs = [(t.find("p:OrgnlEndToEndId", NS).text, t.find("p:TxSts", NS).text,
            (t.find("p:StsRsnInf/p:Rsn/p:Cd", NS).text if t.find("p:StsRsnInf", NS) is not None else None))
           for t in root.findall("p:FIToFIPmtStsRpt/p:TxInfAndSts", NS)]
    return grp, txs


def test_a_pacs008_is_posted_and_answered_acsc_and_a_resubmission_posts_nothing(gw):
    g, L, audit = gw
    one = PACS.replace("<NbOfTxs>2</NbOfTxs>", "<NbOfTxs>1</NbOfTxs>")
    one = one[:one.index("    <CdtTrfTxInf>\n      <PmtId><EndToEndId>E2E-0002")] + "  </FIToFICstmrCdtTrf>\n</Document>\n"
    assert statuses(g.submit("pacs.008", one.encode())) == ("ACSC", [("E2E-0001", "ACSC", None)])
    assert L.accounts[1].debits_posted == 125050 and L.accounts[2].credits_posted == 125050
    assert statuses(g.submit("pacs.008", one.encode()))[0] == "ACSC"
    assert L.accounts[1].debits_posted == 125050                          # idempotent: exists
    stamp, first = audit[0].split("\n", 1)
    assert stamp == "at 2026-11-26T10:00:00.000Z"        # every entry: when, in UTC (the board's clock)
    assert first.startswith("accept pacs.008 QX-20261126-0001 E2E-0001 1250.50 USD rules=- ledger=ok")


def test_a_sanctioned_debtor_is_rejected_and_nothing_posted(gw):
    g, L, audit = gw
    bad = PACS.replace("Bob Example Ltd", "Ivan Sanctionov")
    grp, txs = statuses(g.submit("pacs.008", bad.encode()))
    assert txs[0] == ("E2E-0001", "RJCT", "RR04") and L.accounts[1].debits_posted == 0
    assert "R-SANCTIONS" in audit[0]


def test_structuring_is_held(gw):
    g, L, audit = gw
    out = []
    for i in range(3):
        msg = PACS.replace("QX-20261126-0001", "S-%d" % i).replace(">1250.50<", ">9500.00<")
        out.append(statuses(g.submit("pacs.008", msg.encode())))
    assert out[0][1][0][1] == "ACSC" and out[2][1][0][1] == "PDNG" and out[2][0] in ("PDNG", "PART")
    assert g.held and g.held[0].amount.minor == 950000


def test_a_ledger_down_is_rjct_ab07_and_a_ledger_that_died_holding_the_transfer_is_pdng():
    """gateway/main.py post: the ledger not running (NOT_RUNNING, NO_SUCH_TASK)
    is "ledger_unavailable", certainly not posted: RJCT AB07; the ledger ended
    while it held the transfer (PEER_DIED) is "ledger_outcome_unknown": PDNG
    with a narrative reason (NARR + AddtlInf) telling the sender that a
    resubmission of the same message gives the outcome."""
    one = PACS.replace("<NbOfTxs>2</NbOfTxs>", "<NbOfTxs>1</NbOfTxs>")
    one = one[:one.index("    <CdtTrfTxInf>\n      <PmtId><EndToEndId>E2E-0002")] + "  </FIToFICstmrCdtTrf>\n</Document>\n"
    for result, sts, code in (("ledger_unavailable", "RJCT", "AB07"), ("ledger_outcome_unknown", "PDNG", "NARR")):
        audit = []
        g = service.Gateway(Engine(RULES), Risk(RULES["risk"]), lambda *a: result, audit.append, RULES["ledgers"],
                            lambda: 0, lambda: 1795687200000)
        doc = g.submit("pacs.008", one.encode())
        assert statuses(doc) == (sts, [("E2E-0001", sts, code)])
        info = ET.fromstring(doc).find("p:FIToFIPmtStsRpt/p:TxInfAndSts/p:StsRsnInf/p:AddtlInf", NS)
        if sts == "PDNG":
            assert "resubmit the same message" in info.text and audit[0].split("\n")[1].startswith("pending ")
            assert len(info.text) <= 105
        else:
            assert info is None and audit[0].split("\n")[1].startswith("reject ")


def test_a_malformed_message_is_rejected_whole(gw):
    g, L, audit = gw
    grp, txs = statuses(g.submit("pacs.008", PACS.replace("<NbOfTxs>2</NbOfTxs>", "<NbOfTxs>5</NbOfTxs>").encode()))
    assert (grp, txs) == ("RJCT", [("NOTPROVIDED", "RJCT", "AM18")]) and L.accounts[1].debits_posted == 0
    assert g.submit("MT103", b"{1:nonsense}").startswith("MT103 rejected: M01")


class Pipe:
    """Two byte queues: the host's socket and the board's UART."""

    def __init__(self):
        self.to_board, self.to_host = b"", b""


class BoardPort:
    def __init__(self, pipe):
        self.pipe = pipe

    def write(self, data):
        self.pipe.to_host += data

    def read(self):
        out, self.pipe.to_board = self.pipe.to_board, b""
        return out


class HostSocket:
    """What tools/hostlink.Link needs of a socket, driving the board between."""

    def __init__(self, pipe, server, submit):
        self.pipe, self.server, self.submit = pipe, server, submit

    def sendall(self, data):
        self.pipe.to_board += data
        self.server.poll(self.submit)

    def recv(self, n):
        out, self.pipe.to_host = self.pipe.to_host, b""
        if not out:
            raise BlockingIOError()
        return out

    def setblocking(self, flag):
        pass


def connect(key, server_key, submit):
    pipe = Pipe()
    counter = [0]

    def fresh():
        counter[0] += 1
        return bytes(15) + bytes([counter[0]])
    server = link.LinkServer(BoardPort(pipe), server_key, hostlink._crc, hostlink._hmac, fresh)
    client = hostlink.Link(None, key, timeout=1, sock=HostSocket(pipe, server, submit), login=False)
    return client, server


def test_the_host_link_logs_in_and_submits(gw):
    g, L, audit = gw
    key = bytes(range(32))
    client, server = connect(key, key, g.submit)
    client.login()
    answer = client.submit("pacs.008", PACS.encode())
    # the second transaction names no debtor account the ledger can use
    assert statuses(answer) == ("PART", [("E2E-0001", "ACSC", None), ("E2E-0002", "RJCT", "AC02")])


def test_a_wrong_key_is_refused_and_five_lock_the_link(gw):
    g, L, audit = gw
    for i in range(5):
        client, server = connect(b"x" * 32, bytes(32), g.submit)
        server.tries = i
        with pytest.raises(ConnectionError, match="wrong PIN"):
            client.login()
    client, server = connect(bytes(32), bytes(32), g.submit)
    server.tries = 5
    with pytest.raises(ConnectionError, match="locked"):
        client.login()



def test_ids_handed_out_never_repeat_across_restarts(gw):
    """pacs.002 MsgId and FIX OrderID/ExecID are "<epoch>-<n>": a restarted
    gateway (a new epoch, main.py: its start's audit record) counts from 1
    again without repeating an id of an earlier start."""
    g, L, audit = gw
    seen = set()
    for epoch in (0, 7, 15):
        g.epoch, g.count, g.order_seq = epoch, 0, 0
        for i in range(3):
            doc = g.submit("pacs.008", PACS.replace("QX-20261126-0001", "R-%d" % i).encode())
            seen.add(ET.fromstring(doc).find("p:FIToFIPmtStsRpt/p:GrpHdr/p:MsgId", NS).text)
    assert len(seen) == 9 and "QX-7-1" in seen and all(len(i) <= 35 for i in seen)


def test_an_over_long_msgid_is_refused_and_never_echoed(gw):
    g, L, audit = gw
    doc = g.submit("pacs.008", PACS.replace("QX-20261126-0001", "M" * 40).encode())
    root = ET.fromstring(doc)
    assert root.find("p:FIToFIPmtStsRpt/p:OrgnlGrpInfAndSts/p:OrgnlMsgId", NS).text == "NOTPROVIDED"
    assert "M" * 35 not in doc and statuses(doc) == ("RJCT", [("NOTPROVIDED", "RJCT", "FF01")])
    assert any("GrpHdr/MsgId: 40 characters, at most 35 (Max35Text)" in a for a in audit)
    e2e = g.submit("pacs.008", PACS.replace("E2E-0001", "E" * 36).encode())     # nor an over-long EndToEndId
    assert "E" * 35 not in e2e and statuses(e2e) == ("RJCT", [("NOTPROVIDED", "RJCT", "FF01")])
    assert ET.fromstring(e2e).find("p:FIToFIPmtStsRpt/p:OrgnlGrpInfAndSts/p:OrgnlMsgId", NS).text == \
        "QX-20261126-0001"
    assert L.accounts[1].debits_posted == 0


def test_a_message_not_utf8_is_refused_with_its_line(gw):
    g, L, audit = gw
    doc = g.submit("pacs.008", PACS.encode().replace(b"Bob Example", b"Bob Ex\xe9mple"))
    assert statuses(doc) == ("RJCT", [("NOTPROVIDED", "RJCT", "FF01")])
    assert any("not UTF-8" in a and "line 19" in a for a in audit), audit
