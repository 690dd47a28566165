"""ISO 20022 in and out (userland/gateway/iso20022.py) on the host: sample
pacs.008 and pain.001 messages, each check's rejection with its reason code
and the element at fault, pacs.002 generation read back, and the XML reader
fuzzed: every input is parsed or rejected with a code, never a crash."""
import os
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings, strategies as st

from userland.gateway import iso20022
from userland.gateway.payment import Rejected
from userland.lib import xmlmini

VEC = os.path.join(os.path.dirname(os.path.dirname(__file__)), "vectors", "gateway")
PACS = open(os.path.join(VEC, "pacs008.xml")).read()
PAIN = open(os.path.join(VEC, "pain001.xml")).read()


def test_a_pacs008_becomes_payments():
    kind, msg_id, pays = iso20022.parse(PACS)
    assert (kind, msg_id, len(pays)) == ("pacs.008", "QX-20261126-0001", 2)
    p = pays[0]
    assert (p.end_to_end_id, str(p.amount), p.charge_bearer, p.debtor, p.debtor_agent, p.creditor,
            p.creditor_agent, p.debtor_country, p.creditor_country, p.settlement_date, p.debtor_account) == \
        ("E2E-0001", "1250.50 USD", "SHAR", "Alice Example & Co", "QNXBUS33XXX", "Bob Example Ltd", "QNXBGB2L",
         "US", "GB", "2026-11-26", "1")
    assert p.amount.minor == 125050


def test_a_pain001_becomes_payments():
    kind, msg_id, pays = iso20022.parse(PAIN)
    assert (kind, msg_id, len(pays)) == ("pain.001", "PAIN-77", 1)
    assert (str(pays[0].amount), pays[0].charge_bearer, pays[0].settlement_date) == ("150000 JPY", "SLEV", "2026-11-27")


CASES = [
    ("<NbOfTxs>2</NbOfTxs>", "<NbOfTxs>3</NbOfTxs>", "AM18", "GrpHdr/NbOfTxs"),
    ("<NbOfTxs>2</NbOfTxs>", "<NbOfTxs>two</NbOfTxs>", "AM18", "GrpHdr/NbOfTxs"),
    ("<MsgId>QX-20261126-0001</MsgId>", "<MsgId></MsgId>", "FF01", "GrpHdr/MsgId"),
    ("<CreDtTm>2026-11-26T09:30:00Z</CreDtTm>", "", "FF01", "GrpHdr/CreDtTm"),
    ("<SttlmMtd>CLRG</SttlmMtd>", "<SttlmMtd>CASH</SttlmMtd>", "FF01", "GrpHdr/SttlmInf/SttlmMtd"),
    ("<EndToEndId>E2E-0002</EndToEndId>", "<EndToEndId>E2E-0001</EndToEndId>", "AM05", "CdtTrfTxInf/PmtId/EndToEndId"),
    ('Ccy="USD">1250.50<', 'Ccy="USD">1250.505<', "CH20", "CdtTrfTxInf/IntrBkSttlmAmt"),
    ('Ccy="USD">1250.50<', 'Ccy="XYZ">1250.50<', "AM03", "CdtTrfTxInf/IntrBkSttlmAmt"),
    ('Ccy="USD">1250.50<', 'Ccy="USD">0.00<', "AM01", "CdtTrfTxInf/IntrBkSttlmAmt"),
    ('Ccy="USD">1250.50<', 'Ccy="USD">12,50<', "AM02", "CdtTrfTxInf/IntrBkSttlmAmt"),
    ('<IntrBkSttlmAmt Ccy="USD">1250.50</IntrBkSttlmAmt>', '<IntrBkSttlmAmt>1250.50</IntrBkSttlmAmt>', "FF01",
     "CdtTrfTxInf/IntrBkSttlmAmt/@Ccy"),
    ("<ChrgBr>SHAR</ChrgBr>", "<ChrgBr>HALF</ChrgBr>", "FF01", "CdtTrfTxInf/ChrgBr"),
    ("<ChrgBr>SHAR</ChrgBr>", "", "FF01", "CdtTrfTxInf/ChrgBr"),
    ("<Nm>Bob Example Ltd</Nm>", "", "FF01", "CdtTrfTxInf/Cdtr/Nm"),
    ("<BICFI>QNXBGB2L</BICFI>", "<BICFI>QNXB-GB2L</BICFI>", "RC01", "CdtTrfTxInf/CdtrAgt"),
    ("<BICFI>QNXBUS33XXX</BICFI>", "", "FF01", "CdtTrfTxInf/DbtrAgt/FinInstnId/BICFI"),
    ("<Document", "<!DOCTYPE x [<!ENTITY e 'boom'>]><Document", "FF01", "document"),
    ("</Document>", "", "FF01", "document"),
]


@pytest.mark.parametrize("old,new,code,where", CASES)
def test_each_check_rejects_with_its_code_and_place(old, new, code, where):
    assert old in PACS
    with pytest.raises(Rejected) as e:
        iso20022.parse(PACS.replace(old, new, 1))
    assert (e.value.code, e.value.where) == (code, where), str(e.value)


def test_a_pacs002_reads_back_as_xml_with_the_statuses():
    doc = iso20022.status_report("QX-ACK-1", "2026-11-26T09:30:01Z", "QX-20261126-0001", "pacs.008", "RJCT",
                                 [("E2E-0001", "RJCT", "RR04"), ("E2E-<2>", "RJCT", "AM05")])
    root = ET.fromstring(doc)
    ns = {"p": iso20022.PACS002}
    assert root.find("p:FIToFIPmtStsRpt/p:OrgnlGrpInfAndSts/p:GrpSts", ns).text == "RJCT"
    txs = root.findall("p:FIToFIPmtStsRpt/p:TxInfAndSts", ns)
    assert [(t.find("p:OrgnlEndToEndId", ns).text, t.find("p:StsRsnInf/p:Rsn/p:Cd", ns).text) for t in txs] == \
        [("E2E-0001", "RR04"), ("E2E-<2>", "AM05")]
    assert xmlmini.parse(doc).findtext("FIToFIPmtStsRpt/OrgnlGrpInfAndSts/OrgnlMsgNmId") == "pacs.008.001.08"


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(PACS) - 1), st.binary(min_size=1, max_size=6))
def test_corrupted_messages_are_parsed_or_rejected_never_crash(at, junk):
    text = PACS[:at] + junk.decode("latin-1") + PACS[at + 1:]
    try:
        iso20022.parse(text)
    except Rejected as e:
        assert len(e.code) == 4 and e.where


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_the_xml_reader_takes_any_text_without_crashing(text):
    try:
        xmlmini.parse(text)
    except xmlmini.XmlError:
        pass
