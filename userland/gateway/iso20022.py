"""ISO 20022 in: pacs.008.001.08 (FI to FI customer credit transfer) and
pain.001.001.09 (customer credit transfer initiation), checked and turned
into payment.Payment; out: pacs.002.001.10 status reports.

Checked for pacs.008: GrpHdr/MsgId, CreDtTm, NbOfTxs equal to the number of
CdtTrfTxInf (AM18), SttlmInf/SttlmMtd (one of INDA, INGA, CLRG, COVE); per
transaction PmtId/EndToEndId, IntrBkSttlmAmt with Ccy (an ISO 4217
currency, AM03; no more decimals than it has, CH20; above zero, AM01),
ChrgBr (DEBT, CRED, SHAR, SLEV), Dbtr/Nm, DbtrAgt and CdtrAgt BICs (RC01),
Cdtr/Nm. pain.001 the same in its own places (PmtInf, Amt/InstdAmt).
A missing or empty mandatory element is FF01 with its path."""
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


def _need(node, path, e2e=None, where="", size=140):
    """The text at path, at most `size` characters (the schema's MaxNText:
    identifiers are Max35Text, names Max140Text), else Rejected."""
    text = node.findtext(path) if node is not None else None
    if not text:
        raise Rejected("FF01", (where + "/" if where else "") + path, "missing or empty", e2e)
    if size is not None and len(text) > size:
        raise Rejected("FF01", (where + "/" if where else "") + path,
                       "%d characters, at most %d" % (len(text), size), e2e if size > 35 else None)
    return text


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
    msg_id = _need(gh, "MsgId", where="GrpHdr", size=35)
    _need(gh, "CreDtTm", where="GrpHdr")
    n = _need(gh, "NbOfTxs", where="GrpHdr", size=None)      # its own check below (AM18)
    if not is_digits(n, 15) or not 0 < int(n) <= MAX_TXS:         # NbOfTxs is Max15NumericText
        raise Rejected("AM18", "GrpHdr/NbOfTxs", "%r is not 1..%d" % (n[:20], MAX_TXS))
    return gh, msg_id, int(n)


def parse(text):
    """(kind, msg_id, [Payment]) of a pacs.008 or pain.001 document;
    Rejected with a reason code otherwise (the whole message is refused:
    nothing of it is posted)."""
    try:
        doc = xmlmini.parse(text)
    except xmlmini.XmlError as e:
        raise Rejected("FF01", "document", str(e)) from None
    if doc.tag != "Document":
        raise Rejected("FF01", doc.tag, "the root element is not Document")
    if doc.ns == PACS008 or doc.find("FIToFICstmrCdtTrf") is not None:
        msg_id, payments = _pacs008(doc)
        return "pacs.008", msg_id, payments
    if doc.ns == PAIN001 or doc.find("CstmrCdtTrfInitn") is not None:
        msg_id, payments = _pain001(doc)
        return "pain.001", msg_id, payments
    raise Rejected("FF01", "Document", "neither pacs.008.001.08 nor pain.001.001.09 (%s)" % (doc.ns or "no namespace"))


def _pacs008(doc):
    top = "FIToFICstmrCdtTrf"
    gh, msg_id, n = _header(doc, top)
    mtd = _need(gh, "SttlmInf/SttlmMtd", where="GrpHdr")
    if mtd not in SETTLEMENT:
        raise Rejected("FF01", "GrpHdr/SttlmInf/SttlmMtd", "%r is not one of %s" % (mtd, ", ".join(SETTLEMENT)))
    txs = doc.find(top).findall("CdtTrfTxInf")
    if len(txs) != n:
        raise Rejected("AM18", "GrpHdr/NbOfTxs", "says %d, the message holds %d" % (n, len(txs)))
    out = []
    seen = set()
    for tx in txs:
        where = "CdtTrfTxInf"
        e2e = _need(tx, "PmtId/EndToEndId", where=where, size=35)
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
            tx.findtext("DbtrAcct/Id/IBAN") or tx.findtext("DbtrAcct/Id/Othr/Id") or "",
            tx.findtext("CdtrAcct/Id/IBAN") or tx.findtext("CdtrAcct/Id/Othr/Id") or "",
            gh.findtext("IntrBkSttlmDt") or tx.findtext("IntrBkSttlmDt") or "",
            tx.findtext("Dbtr/PstlAdr/Ctry") or "", tx.findtext("Cdtr/PstlAdr/Ctry") or ""))
    return msg_id, out


def _pain001(doc):
    top = "CstmrCdtTrfInitn"
    gh, msg_id, n = _header(doc, top)
    _need(gh, "InitgPty/Nm", where="GrpHdr")
    out = []
    seen = set()
    for pmt in doc.find(top).findall("PmtInf"):
        where = "PmtInf"
        _need(pmt, "PmtInfId", where=where, size=35)
        if _need(pmt, "PmtMtd", where=where) != "TRF":
            raise Rejected("FF01", where + "/PmtMtd", "only TRF (credit transfer) is accepted")
        debtor = _need(pmt, "Dbtr/Nm", where=where)
        dagent = check_bic(_need(pmt, "DbtrAgt/FinInstnId/BICFI", where=where), where + "/DbtrAgt")
        dacct = pmt.findtext("DbtrAcct/Id/IBAN") or pmt.findtext("DbtrAcct/Id/Othr/Id") or ""
        date = pmt.findtext("ReqdExctnDt/Dt") or pmt.findtext("ReqdExctnDt") or ""
        for tx in pmt.findall("CdtTrfTxInf"):
            w = where + "/CdtTrfTxInf"
            e2e = _need(tx, "PmtId/EndToEndId", where=w, size=35)
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
                dacct, tx.findtext("CdtrAcct/Id/IBAN") or tx.findtext("CdtrAcct/Id/Othr/Id") or "", date,
                pmt.findtext("Dbtr/PstlAdr/Ctry") or "", tx.findtext("Cdtr/PstlAdr/Ctry") or ""))
    if len(out) != n:
        raise Rejected("AM18", "GrpHdr/NbOfTxs", "says %d, the message holds %d" % (n, len(out)))
    return msg_id, out


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
