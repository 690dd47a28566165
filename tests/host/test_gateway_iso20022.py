"""ISO 20022 in and out (userland/gateway/iso20022.py) on the host: sample
pacs.008 and pain.001 messages, each check's rejection with its reason code
and the element at fault, pacs.002 generation read back, and the XML reader
fuzzed: every input is parsed or rejected with a code, never a crash."""
import json
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


PAIN_LONG = [
    ("<MsgId>PAIN-77</MsgId>", "GrpHdr/MsgId", 35),
    ("<PmtInfId>", "PmtInf/PmtInfId", 35),
    ("<EndToEndId>", "PmtInf/CdtTrfTxInf/PmtId/EndToEndId", 35),
]
# (element as it opens in PACS, where it is reported, its length, whether the reason names the transaction)
PACS_LONG = [
    ("<MsgId>", "GrpHdr/MsgId", 35, False),
    ("<CreDtTm>", "GrpHdr/CreDtTm", 35, False),
    ("<InstrId>", "CdtTrfTxInf/PmtId/InstrId", 35, True),
    ("<EndToEndId>", "CdtTrfTxInf/PmtId/EndToEndId", 35, False),
    ("<Nm>", "CdtTrfTxInf/Dbtr/Nm", 140, True),
    ("<Cdtr><Nm>", "CdtTrfTxInf/Cdtr/Nm", 140, True),
    ("<Othr><Id>", "CdtTrfTxInf/DbtrAcct/Id/Othr/Id", 34, True),
    ("<IntrBkSttlmDt>", "CdtTrfTxInf/IntrBkSttlmDt", 10, True),
    ("<Ctry>", "CdtTrfTxInf/Dbtr/PstlAdr/Ctry", 2, True),
]


def _longer(doc, opening, size, by=1):
    """doc with the text after `opening` (its first occurrence) `by` characters over `size`."""
    i = doc.index(opening) + len(opening)
    j = doc.index("<", i)
    return doc[:i] + "X" * (size + by) + doc[j:]


@pytest.mark.parametrize("opening,where,size,names_tx", PACS_LONG)
def test_each_pacs008_field_is_held_to_its_length(opening, where, size, names_tx):
    assert iso20022.parse(_longer(PACS, opening, size, by=0))[0] == "pacs.008"    # at the limit: read
    with pytest.raises(Rejected) as e:
        iso20022.parse(_longer(PACS, opening, size))
    assert (e.value.code, e.value.where) == ("FF01", where), str(e.value)
    assert "%d characters, at most %d" % (size + 1, size) in e.value.message
    assert e.value.end_to_end_id == ("E2E-0001" if names_tx else None)


def test_a_pacs008_txid_is_held_to_35():
    doc = PACS.replace("<InstrId>I-1</InstrId>", "<InstrId>I-1</InstrId><TxId>%s</TxId>" % ("T" * 36))
    with pytest.raises(Rejected, match="CdtTrfTxInf/PmtId/TxId: 36 characters, at most 35 .Max35Text."):
        iso20022.parse(doc)


@pytest.mark.parametrize("opening,where,size", PAIN_LONG)
def test_each_pain001_id_is_held_to_its_length(opening, where, size):
    doc = PAIN if opening != "<MsgId>PAIN-77</MsgId>" else PAIN.replace("PAIN-77", "P" * 36)
    if opening != "<MsgId>PAIN-77</MsgId>":
        doc = _longer(PAIN, opening, size)
    with pytest.raises(Rejected) as e:
        iso20022.parse(doc)
    assert (e.value.code, e.value.where) == ("FF01", where), str(e.value)


def test_a_40_character_msgid_is_refused_and_its_msgid_not_known():
    with pytest.raises(Rejected) as e:
        iso20022.parse(PACS.replace("QX-20261126-0001", "M" * 40))
    assert e.value.where == "GrpHdr/MsgId" and "40 characters, at most 35 (Max35Text)" in str(e.value)
    assert e.value.msg_id is None
    with pytest.raises(Rejected) as e:                  # a later fault: the (checked) MsgId is known
        iso20022.parse(PACS.replace("<ChrgBr>SHAR</ChrgBr>", "<ChrgBr>HALF</ChrgBr>"))
    assert e.value.msg_id == "QX-20261126-0001"


def test_names_with_accents_and_cdata_are_read_from_the_bytes():
    doc = PACS.replace("Bob Example Ltd", "Jos\u00e9 M\u00fcller \u0141\u00f3d\u017a").replace(
        "<Nm>Alice Example &amp; Co</Nm>", "<Nm><![CDATA[Alice Example & Co]]></Nm>", 1)
    for data in (doc, doc.encode(), bytearray(doc.encode()), memoryview(doc.encode())):
        kind, msg_id, pays = iso20022.parse(data)
        assert (pays[0].creditor, pays[0].debtor) == ("Jos\u00e9 M\u00fcller \u0141\u00f3d\u017a", "Alice Example & Co")
    name = "\u00e9" * 140                                # 140 characters (280 bytes): a Max140Text
    assert iso20022.parse(PACS.replace("Bob Example Ltd", name).encode())[2][0].creditor == name
    with pytest.raises(Rejected, match="141 characters, at most 140"):
        iso20022.parse(PACS.replace("Bob Example Ltd", name + "e").encode())


@pytest.mark.parametrize("bad", [b"\xe9", b"\xc0\xa0", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"])
def test_malformed_utf8_is_refused_with_its_line(bad):
    data = PACS.encode().replace(b"Bob Example Ltd", b"Bob " + bad)
    with pytest.raises(Rejected) as e:
        iso20022.parse(data)
    line = PACS[:PACS.index("Bob Example Ltd")].count("\n") + 1
    assert (e.value.code, e.value.where, e.value.message) == ("FF01", "document", "line %d: not UTF-8" % line)


def test_the_checks_give_the_same_answers_under_micropython():
    from tests.host import upy
    docs = [PACS, PAIN, PACS.replace("QX-20261126-0001", "M" * 40), _longer(PACS, "<Nm>", 140),
            PACS.replace("Bob Example Ltd", "Jos\u00e9 M\u00fcller"), PACS.replace("Bob Example Ltd", "\u00e9" * 141),
            PACS.replace("<Nm>Alice Example &amp; Co</Nm>", "<Nm><![CDATA[A & B]]></Nm>")]
    docs = [d.encode().hex() for d in docs] + [PACS.encode().replace(b"Bob", b"B\xc0\xa0b").hex()]
    script = r"""
import json, binascii
from userland.gateway import iso20022
from userland.gateway.payment import Rejected
out = []
for h in json.loads(sys.stdin.read()):
    try:
        kind, msg_id, pays = iso20022.parse(binascii.unhexlify(h))
        out.append([kind, msg_id, [[p.end_to_end_id, p.debtor, p.creditor, str(p.amount)] for p in pays]])
    except Rejected as e:
        out.append([e.code, e.where, e.message, e.end_to_end_id, e.msg_id])
print(json.dumps(out))
"""
    got = json.loads(upy.run(script, json.dumps(docs)))
    want = []
    for h in docs:
        try:
            kind, msg_id, pays = iso20022.parse(bytes.fromhex(h))
            want.append([kind, msg_id, [[p.end_to_end_id, p.debtor, p.creditor, str(p.amount)] for p in pays]])
        except Rejected as e:
            want.append([e.code, e.where, e.message, e.end_to_end_id, e.msg_id])
    assert got == want
    assert want[2][:2] == ["FF01", "GrpHdr/MsgId"] and want[4][2][0][2] == "Jos\u00e9 M\u00fcller"
    assert want[-1][2].endswith("not UTF-8")


THREE = open(os.path.join(VEC, "pacs008_3tx.xml"), "rb").read()
# The group header after the transactions, a transaction outside the message, a PmtInf with none:
ORDER_CASES = [
    PACS.replace("    <GrpHdr>", "    <CdtTrfTxInf><PmtId><EndToEndId>X</EndToEndId></PmtId></CdtTrfTxInf>\n"
                 "    <GrpHdr>", 1),
    PACS.replace("<GrpHdr>", "<GrpHdr><CdtTrfTxInf/>", 1),
    PAIN.replace("<PmtInf>", "<PmtInf><PmtInfId>P0</PmtInfId><PmtMtd>TRF</PmtMtd></PmtInf><PmtInf>", 1),
    PAIN.replace("<PmtMtd>TRF</PmtMtd>", "<PmtMtd>CHK</PmtMtd>", 1),
]
READER_SCRIPT = r"""
import json, binascii
from userland.gateway import iso20022
from userland.gateway.payment import Rejected


def outcome(data, size):
    r = iso20022.Reader()
    try:
        for i in range(0, len(data), size):
            r.feed(data[i:i + size])
        kind, msg_id, pays = r.close()
        return [kind, msg_id, [[p.end_to_end_id, p.debtor, p.creditor, str(p.amount), p.debtor_account,
                                p.settlement_date] for p in pays]]
    except Rejected as e:
        return [e.code, e.where, e.message, e.end_to_end_id, e.msg_id]


out = []
for h in json.loads(sys.stdin.read()):
    data = binascii.unhexlify(h)
    out.append([outcome(data, size) for size in (1, 7, 100, 1024, len(data) or 1)])
print(json.dumps(out))
"""


def reader_docs():
    docs = [PACS, PAIN] + [PACS.replace(old, new, 1) for old, new, _, _ in CASES] + ORDER_CASES
    return [d.encode() for d in docs] + [THREE, THREE.replace(b"<NbOfTxs>3<", b"<NbOfTxs>2<"),
                                         THREE.replace(b"<![CDATA[", b"").replace(b"Alice Example &amp; Co",
                                                                                 b"<![CDATA[Alice & <Co>]]>")]


def test_the_streaming_reader_answers_the_same_whatever_the_pieces_and_the_interpreter():
    """iso20022.Reader fed a byte at a time, in 7-, 100- or 1024-byte pieces or whole gives what
    parse() gives, on CPython and MicroPython alike: each transaction is read as its end tag comes."""
    import subprocess
    import sys
    from tests.host import upy
    docs = [d.hex() for d in reader_docs()]
    got = json.loads(upy.run(READER_SCRIPT, json.dumps(docs), timeout=240))
    cp = subprocess.run([sys.executable, "-c", "import sys\nsys.path.insert(0, %r)\n%s" % (upy.ROOT, READER_SCRIPT)],
                        input=json.dumps(docs), capture_output=True, text=True, timeout=240)
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout) == got
    for doc, outcomes in zip(reader_docs(), got):
        assert all(o == outcomes[0] for o in outcomes), outcomes       # the same in every piece size
        try:
            kind, msg_id, pays = iso20022.parse(doc)
            assert outcomes[0][:2] == [kind, msg_id] and len(outcomes[0][2]) == len(pays)
        except Rejected as e:
            assert outcomes[0][:2] == [e.code, e.where]
    three = got[len(reader_docs()) - 3][0]
    assert three[:2] == ["pacs.008", "QX-20261203-3TX"] and [p[3] for p in three[2]] == \
        ["1250.50 USD", "99.99 USD", "4000.00 USD"]
    assert got[len(reader_docs()) - 2][0][:2] == ["AM18", "GrpHdr/NbOfTxs"]
    assert three[2][0][1] == "Alice Example & Co" and got[-1][0][2][0][1] == "Alice & <Co>"   # CDATA as XML says
    first = len(CASES) + 2
    assert [o[0][:2] for o in got[first:first + len(ORDER_CASES)]] == [
        ["FF01", "FIToFICstmrCdtTrf/GrpHdr"], ["pacs.008", "QX-20261126-0001"], ["FF01", "PmtInf/Dbtr/Nm"], ["FF01", "PmtInf/PmtMtd"]]


def test_the_reader_holds_the_payments_not_the_document():
    """A message of 100 transactions leaves at most the header and one transaction in the tree."""
    txs = THREE[THREE.index(b"    <CdtTrfTxInf>"):THREE.index(b"  </FIToFICstmrCdtTrf>")]
    many = b"".join(txs.replace(b"E2E-20261203-000", b"E2E-%02d-" % i) for i in range(33)) + \
        txs[:txs.index(b"    <CdtTrfTxInf>", 10)].replace(b"E2E-20261203-000", b"E2E-99-")
    doc = THREE.replace(txs, many).replace(b"<NbOfTxs>3<", b"<NbOfTxs>100<")
    r = iso20022.Reader()
    most = 0
    for i in range(0, len(doc), 512):
        r.feed(doc[i:i + 512])
        most = max(most, r.parser.kept)
    kind, msg_id, pays = r.close()
    assert len(pays) == 100 and most < 100, most         # the header and one transaction (65), not 4,500
    with pytest.raises(Rejected) as e:
        iso20022.parse(doc.replace(b"<NbOfTxs>100<", b"<NbOfTxs>99<"))
    assert (e.value.code, e.value.where) == ("AM18", "GrpHdr/NbOfTxs")
    too_many = doc.replace(b"  </FIToFICstmrCdtTrf>", txs[:txs.index(b"    <CdtTrfTxInf>", 10)]
                           .replace(b"E2E-20261203-000", b"E2E-X-") + b"  </FIToFICstmrCdtTrf>")
    with pytest.raises(Rejected) as e:
        iso20022.parse(too_many)
    assert e.value.code == "AM18" and "more than 100" in e.value.message
