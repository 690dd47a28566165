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
        raise Rejected("FF01", top + "/GrpHdr", "missing (it comes before the transactions)")
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
    has been read and checked). Reader in one call."""
    if isinstance(data, str):
        data = data.encode()
    r = Reader()
    view = memoryview(data)
    for i in range(0, len(data), xmlmini.PIECE):
        r.feed(view[i:i + xmlmini.PIECE])
    return r.close()


# (message element, kind, namespace), in the order a document is tried (a tuple: MicroPython's
# dicts do not keep their order)
TOPS = (("FIToFICstmrCdtTrf", "pacs.008", PACS008), ("CstmrCdtTrfInitn", "pain.001", PAIN001))


class Reader:
    """A pacs.008 or pain.001 read as it arrives (an HTTP body:
    userland/gateway/isorelay.py): feed(bytes) any number of times, then
    close() -> what parse() returns, or Rejected. Each CdtTrfTxInf becomes
    a Payment as soon as its end tag is read and leaves the tree
    (xmlmini.Parser's cut), so a message of MAX_TXS transactions takes the
    memory of its header and its payments, not of its document. The
    schemas put the group header (and a PmtInf's debtor) before the
    transactions; a message that does not is refused. The first refusal
    ends the reading: what is fed after it is counted, not read."""

    def __init__(self):
        self.parser = xmlmini.Parser({"CdtTrfTxInf": self._tx, "PmtInf": self._pmt})
        self.kind = self.msg_id = self.error = None
        self.n = self.txs = 0
        self.date = ""
        self.out = []
        self.seen = set()

    def feed(self, data):
        if self.parser is not None:
            self._read(self.parser.feed, data)
        return self

    def close(self):
        parser, self.parser = self.parser, None     # it holds this reader's methods: no cycle left behind
        if parser is not None:
            self._read(self._end, parser)
        if self.error is not None:
            if self.error.msg_id is None:
                self.error.msg_id = self.msg_id
            raise self.error
        return self.kind, self.msg_id, self.out

    def _read(self, fn, arg):
        """fn(arg) unless a refusal came already; the first refusal is kept."""
        if self.error is None:
            try:
                fn(arg)
            except xmlmini.XmlError as e:
                self.error = Rejected("FF01", "document", str(e))
            except Rejected as e:
                self.error = e

    def _end(self, parser):
        self._kind_of(parser.close())
        if self.txs != self.n:
            raise Rejected("AM18", "GrpHdr/NbOfTxs", "says %d, the message holds %d" % (self.n, self.txs))

    def _begin(self, doc):
        """The kind and group header of the document whose root is doc."""
        if doc.tag != "Document":
            raise Rejected("FF01", doc.tag, "the root element is not Document")
        for top, kind, ns in TOPS:
            if doc.ns == ns or doc.find(top) is not None:
                break
        else:
            raise Rejected("FF01", "Document", "neither pacs.008.001.08 nor pain.001.001.09 (%s)"
                           % (doc.ns or "no namespace"))
        gh, self.msg_id, self.n = _header(doc, top)
        if kind == "pacs.008":
            mtd = _need(gh, "SttlmInf/SttlmMtd", where="GrpHdr")
            if mtd not in SETTLEMENT:
                raise Rejected("FF01", "GrpHdr/SttlmInf/SttlmMtd", "%r is not one of %s"
                               % (mtd, ", ".join(SETTLEMENT)))
            self.date = _may(gh, "IntrBkSttlmDt", None, "GrpHdr", DATE)
        else:
            _need(gh, "InitgPty/Nm", where="GrpHdr")
        self.kind = kind

    # A CdtTrfTxInf or PmtInf anywhere else is not one of the message's (as findall would skip it).
    def _tx(self, tx, above):
        if len(above) == 2 and above[1].tag == "FIToFICstmrCdtTrf":
            if self._kind_of(above[0]) == "pacs.008":
                self._count()
                self._add(_pacs008_tx(tx, self.msg_id, self.date))
        elif len(above) == 3 and above[2].tag == "PmtInf" and above[1].tag == "CstmrCdtTrfInitn":
            if self._kind_of(above[0]) == "pain.001":
                self._count()
                self._add(_pain001_tx(tx, self.msg_id, _pmt_info(above[2])))

    def _pmt(self, pmt, above):
        if len(above) == 2 and above[1].tag == "CstmrCdtTrfInitn" and self._kind_of(above[0]) == "pain.001":
            _pmt_info(pmt)                  # a PmtInf without transactions is checked too

    def _kind_of(self, doc):
        if self.kind is None:
            self._begin(doc)
        return self.kind

    def _count(self):
        self.txs += 1
        if self.txs > MAX_TXS:
            raise Rejected("AM18", "GrpHdr/NbOfTxs", "says %d, the message holds more than %d" % (self.n, MAX_TXS))

    def _add(self, p):
        if self.txs > self.n:
            return                          # counted: refused at close (AM18) with the number held
        if p.end_to_end_id in self.seen:
            where = "CdtTrfTxInf" if self.kind == "pacs.008" else "PmtInf/CdtTrfTxInf"
            raise Rejected("AM05", where + "/PmtId/EndToEndId", "%r twice in the message" % p.end_to_end_id,
                           p.end_to_end_id)
        self.seen.add(p.end_to_end_id)
        self.out.append(p)


def _pacs008_tx(tx, msg_id, date):
    where = "CdtTrfTxInf"
    e2e = _need(tx, "PmtId/EndToEndId", where=where, size=ID)
    _may(tx, "PmtId/InstrId", e2e, where, ID)
    _may(tx, "PmtId/TxId", e2e, where, ID)
    amount = _amount(tx, "IntrBkSttlmAmt", e2e, where)
    chrg = _need(tx, "ChrgBr", e2e, where)
    if chrg not in CHARGES:
        raise Rejected("FF01", where + "/ChrgBr", "%r is not one of %s" % (chrg, ", ".join(CHARGES)), e2e)
    return Payment(
        "pacs.008", msg_id, e2e, amount, chrg,
        _need(tx, "Dbtr/Nm", e2e, where),
        check_bic(_need(tx, "DbtrAgt/FinInstnId/BICFI", e2e, where), where + "/DbtrAgt", e2e),
        _need(tx, "Cdtr/Nm", e2e, where),
        check_bic(_need(tx, "CdtrAgt/FinInstnId/BICFI", e2e, where), where + "/CdtrAgt", e2e),
        _account(tx, "DbtrAcct", e2e, where), _account(tx, "CdtrAcct", e2e, where),
        date or _may(tx, "IntrBkSttlmDt", e2e, where, DATE),
        _may(tx, "Dbtr/PstlAdr/Ctry", e2e, where, COUNTRY), _may(tx, "Cdtr/PstlAdr/Ctry", e2e, where, COUNTRY))


def _pmt_info(pmt):
    """A PmtInf's own fields, checked once: (debtor, agent, account, date, country, charge bearer)."""
    info = pmt.info
    if info is None:
        where = "PmtInf"
        _need(pmt, "PmtInfId", where=where, size=ID)
        if _need(pmt, "PmtMtd", where=where) != "TRF":
            raise Rejected("FF01", where + "/PmtMtd", "only TRF (credit transfer) is accepted")
        info = pmt.info = (
            _need(pmt, "Dbtr/Nm", where=where),
            check_bic(_need(pmt, "DbtrAgt/FinInstnId/BICFI", where=where), where + "/DbtrAgt"),
            _account(pmt, "DbtrAcct", None, where),
            _may(pmt, "ReqdExctnDt/Dt", None, where, DATE) or _may(pmt, "ReqdExctnDt", None, where, DATE),
            _may(pmt, "Dbtr/PstlAdr/Ctry", None, where, COUNTRY), pmt.findtext("ChrgBr"))
    return info


def _pain001_tx(tx, msg_id, info):
    debtor, dagent, dacct, date, dctry, pmt_chrg = info
    w = "PmtInf/CdtTrfTxInf"
    e2e = _need(tx, "PmtId/EndToEndId", where=w, size=ID)
    _may(tx, "PmtId/InstrId", e2e, w, ID)
    amount = _amount(tx, "Amt/InstdAmt", e2e, w)
    chrg = tx.findtext("ChrgBr") or pmt_chrg or "SLEV"
    if chrg not in CHARGES:
        raise Rejected("FF01", w + "/ChrgBr", "%r is not one of %s" % (chrg, ", ".join(CHARGES)), e2e)
    return Payment(
        "pain.001", msg_id, e2e, amount, chrg, debtor, dagent,
        _need(tx, "Cdtr/Nm", e2e, w),
        check_bic(_need(tx, "CdtrAgt/FinInstnId/BICFI", e2e, w), w + "/CdtrAgt", e2e),
        dacct, _account(tx, "CdtrAcct", e2e, w), date, dctry, _may(tx, "Cdtr/PstlAdr/Ctry", e2e, w, COUNTRY))


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
