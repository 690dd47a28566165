"""ISO 20022 in: pacs.008.001.08 (FI to FI customer credit transfer) and
pain.001.001.09 (customer credit transfer initiation), checked and turned
into payment.Payment; out: pacs.002.001.10 status reports.

Checked for pacs.008: GrpHdr/MsgId, CreDtTm, NbOfTxs equal to the number of
CdtTrfTxInf (AM18), SttlmInf/SttlmMtd (one of INDA, INGA, CLRG, COVE); per
transaction PmtId/EndToEndId, IntrBkSttlmAmt with Ccy (an ISO 4217
currency, AM03; no more decimals than it has, CH20; above zero, AM01),
ChrgBr (DEBT, CRED, SHAR, SLEV), Dbtr/Nm, DbtrAgt and CdtrAgt BICs (RC01),
Cdtr/Nm. pain.001 the same in its own places (PmtInf, Amt/InstdAmt).
A missing or empty mandatory element is FF01 with its path.

Every field read is held to its length in the message definition (FF01
"40 characters, at most 35 (Max35Text)" otherwise): MsgId, PmtInfId,
InstrId, EndToEndId, TxId Max35Text; names Max140Text; account ids
(IBAN, Othr/Id) at most 34; dates (ISODate) 10; CreDtTm (ISODateTime) at
most 35; countries 2. An over-long identifier is never echoed: the
transaction's reason names no EndToEndId, and a refused message's pacs.002
carries its MsgId only when that was read and within its length
(Rejected.msg_id)."""
from userland.gateway.payment import Payment, Rejected, check_bic
from userland.lib import xmlmini
from userland.lib.asciinum import is_digits
from userland.lib.money import Money, MoneyError

PACS008 = "urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"
PAIN001 = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
PACS002 = "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"
SETTLEMENT = ("INDA", "INGA", "CLRG", "COVE")
CHARGES = ("DEBT", "CRED", "SHAR", "SLEV")
MAX_TXS = 100


ID, NAME, ACCOUNT, DATE, DATETIME, COUNTRY = 35, 140, 34, 10, 35, 2     # the fields' lengths


def _need(node, path, e2e=None, where="", size=NAME):
    """The text at path, at most `size` characters (the schema's MaxNText:
    identifiers are Max35Text, names Max140Text), else Rejected."""
    text = node.findtext(path) if node is not None else None
    if not text:
        raise Rejected("FF01", (where + "/" if where else "") + path, "missing or empty", e2e)
    if size is not None and len(text) > size:
        _too_long(text, path, e2e, where, size)
    return text


def _may(node, path, e2e, where, size):
    """The text at an optional path ("" if it is absent), at most `size` characters."""
    text = node.findtext(path)
    if text and len(text) > size:
        _too_long(text, path, e2e, where, size)
    return text or ""


def _too_long(text, path, e2e, where, size):
    raise Rejected("FF01", (where + "/" if where else "") + path,
                   "%d characters, at most %d (%s)" % (len(text), size, "Max%dText" % size if size in (ID, NAME)
                                                       else "its definition"), e2e)


def _account(node, path, e2e, where):
    return _may(node, path + "/Id/IBAN", e2e, where, ACCOUNT) or _may(node, path + "/Id/Othr/Id", e2e, where, ACCOUNT)


def _amount(node, path, e2e, where):
    el = node.find(path)
    if el is None or not el.text.strip():
        raise Rejected("FF01", where + "/" + path, "missing or empty", e2e)
    ccy = el.attrs.get("Ccy")
    if not ccy:
        raise Rejected("FF01", where + "/" + path + "/@Ccy", "missing currency", e2e)
    try:
        m = Money.parse(el.text.strip(), ccy)
    except MoneyError as e:
        code = {"unknown_currency": "AM03", "too_many_decimals": "CH20"}.get(e.code, "AM02")
        raise Rejected(code, where + "/" + path, str(e), e2e) from None
    if m.minor <= 0:
        raise Rejected("AM01", where + "/" + path, "the amount must be above zero", e2e)
    return m


def _header(doc, top):
    gh = doc.find(top + "/GrpHdr")
    if gh is None:
        raise Rejected("FF01", top + "/GrpHdr", "missing")
    msg_id = _need(gh, "MsgId", where="GrpHdr", size=ID)
    _need(gh, "CreDtTm", where="GrpHdr", size=DATETIME)
    n = _need(gh, "NbOfTxs", where="GrpHdr", size=None)      # its own check below (AM18)
    if not is_digits(n, 15) or not 0 < int(n) <= MAX_TXS:         # NbOfTxs is Max15NumericText
        raise Rejected("AM18", "GrpHdr/NbOfTxs", "%r is not 1..%d" % (n[:20], MAX_TXS))
    return gh, msg_id, int(n)


def parse(data):
    """(kind, msg_id, [Payment]) of a pacs.008 or pain.001 document (bytes,
    or str); Rejected with a reason code otherwise (the whole message is
    refused: nothing of it is posted; its msg_id is set once the MsgId
    has been read and checked)."""
    try:
        doc = xmlmini.parse(data)
    except xmlmini.XmlError as e:
        raise Rejected("FF01", "document", str(e)) from None
    if doc.tag != "Document":
        raise Rejected("FF01", doc.tag, "the root element is not Document")
    if doc.ns == PACS008 or doc.find("FIToFICstmrCdtTrf") is not None:
        return ("pacs.008",) + _message(doc, "FIToFICstmrCdtTrf", _pacs008_txs)
    if doc.ns == PAIN001 or doc.find("CstmrCdtTrfInitn") is not None:
        return ("pain.001",) + _message(doc, "CstmrCdtTrfInitn", _pain001_txs)
    raise Rejected("FF01", "Document", "neither pacs.008.001.08 nor pain.001.001.09 (%s)" % (doc.ns or "no namespace"))


def _message(doc, top, txs):
    """(MsgId, payments) of the message under `top`: its header, then
    txs(doc, top, header, NbOfTxs, MsgId); a refusal after the header
    carries the MsgId it was read with."""
    gh, msg_id, n = _header(doc, top)
    try:
        return msg_id, txs(doc, top, gh, n, msg_id)
    except Rejected as e:
        e.msg_id = msg_id
        raise


def _pacs008_txs(doc, top, gh, n, msg_id):
    mtd = _need(gh, "SttlmInf/SttlmMtd", where="GrpHdr")
    if mtd not in SETTLEMENT:
        raise Rejected("FF01", "GrpHdr/SttlmInf/SttlmMtd", "%r is not one of %s" % (mtd, ", ".join(SETTLEMENT)))
    txs = doc.find(top).findall("CdtTrfTxInf")
    if len(txs) != n:
        raise Rejected("AM18", "GrpHdr/NbOfTxs", "says %d, the message holds %d" % (n, len(txs)))
    date = _may(gh, "IntrBkSttlmDt", None, "GrpHdr", DATE)
    out = []
    seen = set()
    for tx in txs:
        where = "CdtTrfTxInf"
        e2e = _need(tx, "PmtId/EndToEndId", where=where, size=ID)
        _may(tx, "PmtId/InstrId", e2e, where, ID)
        _may(tx, "PmtId/TxId", e2e, where, ID)
        if e2e in seen:
            raise Rejected("AM05", where + "/PmtId/EndToEndId", "%r twice in the message" % e2e, e2e)
        seen.add(e2e)
        amount = _amount(tx, "IntrBkSttlmAmt", e2e, where)
        chrg = _need(tx, "ChrgBr", e2e, where)
        if chrg not in CHARGES:
            raise Rejected("FF01", where + "/ChrgBr", "%r is not one of %s" % (chrg, ", ".join(CHARGES)), e2e)
        out.append(Payment(
            "pacs.008", msg_id, e2e, amount, chrg,
            _need(tx, "Dbtr/Nm", e2e, where),
            check_bic(_need(tx, "DbtrAgt/FinInstnId/BICFI", e2e, where), where + "/DbtrAgt", e2e),
            _need(tx, "Cdtr/Nm", e2e, where),
            check_bic(_need(tx, "CdtrAgt/FinInstnId/BICFI", e2e, where), where + "/CdtrAgt", e2e),
            _account(tx, "DbtrAcct", e2e, where), _account(tx, "CdtrAcct", e2e, where),
            date or _may(tx, "IntrBkSttlmDt", e2e, where, DATE),
            _may(tx, "Dbtr/PstlAdr/Ctry", e2e, where, COUNTRY), _may(tx, "Cdtr/PstlAdr/Ctry", e2e, where, COUNTRY)))
    return out


def _pain001_txs(doc, top, gh, n, msg_id):
    _need(gh, "InitgPty/Nm", where="GrpHdr")
    out = []
    seen = set()
    for pmt in doc.find(top).findall("PmtInf"):
        where = "PmtInf"
        _need(pmt, "PmtInfId", where=where, size=ID)
        if _need(pmt, "PmtMtd", where=where) != "TRF":
            raise Rejected("FF01", where + "/PmtMtd", "only TRF (credit transfer) is accepted")
        debtor = _need(pmt, "Dbtr/Nm", where=where)
        dagent = check_bic(_need(pmt, "DbtrAgt/FinInstnId/BICFI", where=where), where + "/DbtrAgt")
        dacct = _account(pmt, "DbtrAcct", None, where)
        date = _may(pmt, "ReqdExctnDt/Dt", None, where, DATE) or _may(pmt, "ReqdExctnDt", None, where, DATE)
        dctry = _may(pmt, "Dbtr/PstlAdr/Ctry", None, where, COUNTRY)
        for tx in pmt.findall("CdtTrfTxInf"):
            w = where + "/CdtTrfTxInf"
            e2e = _need(tx, "PmtId/EndToEndId", where=w, size=ID)
            _may(tx, "PmtId/InstrId", e2e, w, ID)
            if e2e in seen:
                raise Rejected("AM05", w + "/PmtId/EndToEndId", "%r twice in the message" % e2e, e2e)
            seen.add(e2e)
            amount = _amount(tx, "Amt/InstdAmt", e2e, w)
            chrg = tx.findtext("ChrgBr") or pmt.findtext("ChrgBr") or "SLEV"
            if chrg not in CHARGES:
                raise Rejected("FF01", w + "/ChrgBr", "%r is not one of %s" % (chrg, ", ".join(CHARGES)), e2e)
            out.append(Payment(
                "pain.001", msg_id, e2e, amount, chrg, debtor, dagent,
                _need(tx, "Cdtr/Nm", e2e, w),
                check_bic(_need(tx, "CdtrAgt/FinInstnId/BICFI", e2e, w), w + "/CdtrAgt", e2e),
                dacct, _account(tx, "CdtrAcct", e2e, w), date, dctry, _may(tx, "Cdtr/PstlAdr/Ctry", e2e, w, COUNTRY)))
    if len(out) != n:
        raise Rejected("AM18", "GrpHdr/NbOfTxs", "says %d, the message holds %d" % (n, len(out)))
    return out


def status_report(msg_id, created, original_msg_id, original_kind, group_status, transactions):
    """A pacs.002.001.10 document: group_status ACSC / ACCP / PDNG / RJCT;
    transactions: [(end_to_end_id, status, reason or None)]; a reason is a
    4-letter code, or a narrative text (sent as code NARR with the text as
    AddtlInf, at most 105 characters)."""
    e = xmlmini.escape
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="%s"><FIToFIPmtStsRpt>' % PACS002,
             "<GrpHdr><MsgId>%s</MsgId><CreDtTm>%s</CreDtTm></GrpHdr>" % (e(msg_id), e(created)),
             "<OrgnlGrpInfAndSts><OrgnlMsgId>%s</OrgnlMsgId><OrgnlMsgNmId>%s</OrgnlMsgNmId>"
             "<GrpSts>%s</GrpSts></OrgnlGrpInfAndSts>" % (e(original_msg_id), e(_msg_name(original_kind)),
                                                         e(group_status))]
    for e2e, sts, reason in transactions:
        parts.append("<TxInfAndSts><OrgnlEndToEndId>%s</OrgnlEndToEndId><TxSts>%s</TxSts>" % (e(e2e), e(sts)))
        if reason and len(reason) == 4:
            parts.append("<StsRsnInf><Rsn><Cd>%s</Cd></Rsn></StsRsnInf>" % e(reason))
        elif reason:
            parts.append("<StsRsnInf><Rsn><Cd>NARR</Cd></Rsn><AddtlInf>%s</AddtlInf></StsRsnInf>"
                         % e(reason[:105]))
        parts.append("</TxInfAndSts>")
    parts.append("</FIToFIPmtStsRpt></Document>\n")
    return "".join(parts)


def _msg_name(kind):
    return {"pacs.008": "pacs.008.001.08", "pain.001": "pain.001.001.09", "MT103": "MT103"}.get(kind, kind)
