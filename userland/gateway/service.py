"""The gateway's decisions for one inbound message, in plain Python (the
gateway task runs it with the ledger, the hsm and the audit log behind the
callables; the host tests with stand-ins):

    parse -> for each payment: compliance (reject / hold / accept, rule ids)
          -> risk limits -> the ledger (a transfer whose id is derived from
          the message and end-to-end ids, so a resubmission is `exists`,
          never a second posting) -> an audit entry -> the answer

ISO 20022 messages are answered with a pacs.002 (per transaction ACSC,
PDNG for a hold, RJCT with a reason code; group status ACSC, PART, PDNG or
RJCT), MT103 with a line, FIX with the session's replies. A malformed
message is rejected whole and nothing is posted. A defect met on one
message (any exception) refuses that message alone in its protocol, with
an audit line and alarm(); submit() never raises. What is kept between
messages is bounded (MAX_ORDERS, MAX_HELD; the answer within MAX_ANSWER)."""
import hashlib

from userland.gateway import fix, iso20022, mt103
from userland.lib import xmlmini
from userland.gateway.payment import Rejected
from userland.lib import utc
from userland.lib.asciinum import is_digits
from userland.lib.money import MoneyError, parse_decimal

LEDGER_REASONS = {"exceeds_credits": "AM04", "debit_account_not_found": "AC01",
                  "credit_account_not_found": "AC03", "accounts_must_have_the_same_ledger": "AM03",
                  "transfer_must_have_the_same_ledger_as_accounts": "AM03", "storage_failed": "NARR",
                  "ledger_unavailable": "AB07"}     # AB07 OfflineAgent: the ledger task is down
# Ledger results whose posting is not known (the ledger ended while it held the
# transfer): PDNG with a narrative reason, not RJCT -- it may have been posted.
LEDGER_PENDING = {"ledger_outcome_unknown": "ledger outcome unknown: resubmit the same message for its outcome"}
KINDS = ("pacs.008", "pain.001", "MT103", "FIX")
# What the gateway keeps between messages, and what happens at each bound:
MAX_ORDERS = 64         # live FIX orders: a new one beyond is rejected (ExecutionReport 39=8, "order book full")
MAX_HELD = 32           # payments held for review (PDNG): beyond, a payment to hold is rejected (RJCT NARR)
MAX_CLORDID = 64        # ClOrdID (11) longer than this: BusinessMessageReject
QTY_DIGITS = 9          # OrderQty (38): 1 to 9 ASCII digits
ACCOUNT_MAX = (1 << 128) - 1    # ledger account ids are 128-bit, not zero
MAX_SYMBOL = 16         # Symbol (55) longer than this: BusinessMessageReject
MAX_ANSWER = 4093       # the host link's payload (4,096 bytes) less its status byte and field length
FIX_REPLY_MAX = 600     # the longest answer to one FIX message (every echoed field is bounded)


def transfer_id(msg_id, e2e):
    return int.from_bytes(hashlib.sha256(("%s/%s" % (msg_id, e2e)).encode()).digest()[:16], "little") >> 1 or 1


def account_id(text):
    """A ledger account id (1 .. 2**128 - 1) from ASCII digits, or None."""
    if not is_digits(text, 39):
        return None
    n = int(text)
    return n if 0 < n <= ACCOUNT_MAX else None


class Gateway:
    def __init__(self, engine, risk, post, audit, ledgers, now_s, utc_ms, ticks=None, audit_room=None,
                 alarm=None):
        """post(transfer_id, debit, credit, amount_minor, ledger) -> ledger
        result code; audit(text) writes one audit entry (each message's
        decisions are one entry, a line each, written before it is
        answered); ledgers: currency -> ledger number; utc_ms() -> the
        board's UTC ms, or None while its clock is unset (then every stamp
        is the documented marker T+<ms since boot>, never a made-up date:
        stamp()); ticks() -> ms, to
        time the stages (stats()); audit_room() -> False when the audit log
        cannot take another message's entry (then every message is refused:
        nothing is decided that cannot be audited); alarm(text): the
        console, told of every internal error (a defect to look at)."""
        self.ticks = ticks or (lambda: 0)
        self.stage_ms = {"parse": 0, "compliance": 0, "ledger": 0, "audit": 0, "fix": 0}
        self.messages = {}
        self.errors = 0             # messages or payments that raised: refused, audited, counted
        self.refused_full = 0       # messages refused because the audit log is full
        self.audit_room = audit_room or (lambda: True)
        self.alarm = alarm or (lambda text: None)
        self._lines = None          # the audit lines of the message being decided
        post_raw, self._audit_raw = post, audit

        def post(*a):
            t0 = self.ticks()
            r = post_raw(*a)
            self.stage_ms["ledger"] += self.ticks() - t0
            return r
        self.engine, self.risk, self.post = engine, risk, post
        self.ledgers, self.now_s, self.utc_ms = ledgers, now_s, utc_ms
        self.held = []
        self.count = 0
        self.fix = fix.Session("QENEX", lambda: self.stamp(utc.fix), self._order, self._cancel)
        self.orders = {}            # ClOrdID -> (order id, symbol, side), at most MAX_ORDERS
        self.order_seq = 0

    def stamp(self, form):
        """Now as form(utc ms) gives it (utc.iso for ISO 20022, utc.fix for
        FIX), or "T+<ms since boot>ms" while the board's clock is unset."""
        ms = self.utc_ms()
        return "T+%dms" % self.ticks() if ms is None else form(ms)

    def audit(self, text):
        """One line of the current message's audit entry (or an entry of its
        own outside a message)."""
        if self._lines is not None:
            self._lines.append(text)
        else:
            self._write([text])

    def _write(self, lines):
        t0 = self.ticks()
        try:
            self._audit_raw("at %s\n%s" % (self.stamp(utc.iso), "\n".join(lines)))
        finally:
            self.stage_ms["audit"] += self.ticks() - t0

    def stats(self):
        """Messages by kind and ms spent per stage since start; what is kept
        against its bound."""
        return {"messages": dict(self.messages), "stage_ms": dict(self.stage_ms), "held": len(self.held),
                "orders": len(self.orders), "queued": len(self.fix.queued), "errors": self.errors,
                "refused_full": self.refused_full, "ticks": self.ticks()}

    def submit(self, kind, message):
        """The answer (text) to one message. Never raises: a message the
        gateway fails on is refused in its protocol's way and audited."""
        self.count += 1
        if kind not in KINDS:
            kind = "?"
        self.messages[kind] = self.messages.get(kind, 0) + 1
        if not self.audit_room():
            self.refused_full += 1
            return self._refuse(kind, message, "the audit log is full: nothing is decided until it is archived")
        self._lines = []
        try:
            try:
                return self._submit(kind, message)
            except Exception as e:        # a defect, not the sender's: refuse this one message, keep serving
                self.errors += 1
                self._error("error %s: %s %s" % (kind, type(e).__name__, str(e)[:120]))
                try:
                    return self._refuse(kind, message, "internal error")
                except Exception:
                    return "internal error"
        finally:
            lines, self._lines = self._lines, None
            if lines:
                try:
                    self._write(lines)
                except Exception as e:    # the answer stands as decided; the operator is told
                    self.errors += 1
                    self._tell("audit entry not written: %s %s" % (type(e).__name__, str(e)[:120]))

    def _error(self, text):
        self.audit(text)
        self._tell(text)

    def _tell(self, text):
        try:
            self.alarm(text)
        except Exception:
            pass

    def _refuse(self, kind, message, why):
        """The whole message refused, in its protocol's form."""
        if kind == "FIX":
            return self.fix.reject(0, None, "99", why)
        if kind == "MT103":
            return "MT103 rejected: NARR %s" % why
        msg_id = _msg_id_of(message)
        return self._rejected_whole(kind if kind != "?" else "pacs.008", msg_id, Rejected("NARR", "document", why))

    def _submit(self, kind, message):
        if kind == "FIX":
            out = []
            reader = fix.Reader()
            t0 = self.ticks()
            msgs = reader.feed(message)
            unread = 0
            for m in msgs:
                if sum(len(x) for x in out) > MAX_ANSWER - FIX_REPLY_MAX:
                    unread += 1             # not read: the session's next ResendRequest asks for it again
                    continue
                try:
                    out += self.fix.receive(m)
                except Exception as e:    # a defect: this message refused, the session goes on
                    self.errors += 1
                    self._error("error FIX: %s %s" % (type(e).__name__, str(e)[:120]))
                    out.append(self.fix.reject(0, None, "99", "internal error"))
            self.stage_ms["fix"] += self.ticks() - t0
            self.audit("FIX in %d message(s), %d garbled, %d unread, out %s" % (
                len(msgs), reader.garbled, unread, ",".join(fix.msg_type(m) for m in out) or "-"))
            return "".join(out)
        if kind == "?":
            self.audit("rejected: unknown kind")
            return self._rejected_whole("pacs.008", "NOTPROVIDED", Rejected("FF01", "kind", "unknown message kind"))
        if kind == "MT103":
            try:
                text = message.decode("utf-8")
            except UnicodeError:
                self.audit("rejected %s: not UTF-8" % kind)
                return self._rejected_whole(kind, "?", Rejected("FF01", "document", "not UTF-8"))
        t0 = self.ticks()
        try:
            if kind == "MT103":
                msg_id, payments = mt103.parse(text)
            else:                   # the XML reader takes the bytes (and checks their UTF-8)
                kind, msg_id, payments = iso20022.parse(message)
            self.stage_ms["parse"] += self.ticks() - t0
        except mt103.MtError as e:
            self.audit("rejected MT103: %s" % e)
            return "MT103 rejected: %s" % e
        except Rejected as e:
            self.audit("rejected %s: %s" % (kind, e))
            return self._rejected_whole(kind, e.msg_id or _msg_id_of(message), e)
        statuses = []
        for p in payments:
            try:
                statuses.append(self._payment(p))
            except Exception as e:        # a defect on this payment: it is refused, the others go on
                self.errors += 1
                self._error("error %s %s %s: %s %s" % (p.source, p.msg_id, p.end_to_end_id, type(e).__name__,
                                                       str(e)[:120]))
                statuses.append((p.end_to_end_id, "RJCT", "NARR"))
        sts = [s for _, s, _ in statuses]
        group = "ACSC" if all(s == "ACSC" for s in sts) else "RJCT" if all(s == "RJCT" for s in sts) \
            else "PDNG" if all(s in ("ACSC", "PDNG") for s in sts) and "PDNG" in sts else "PART"
        if kind == "MT103":
            e2e, st, reason = statuses[0]
            return "MT103 %s %s%s" % (msg_id, st, " " + reason if reason else "")
        answer = iso20022.status_report("QX-%s-%d" % (msg_id[:20], self.count), self.stamp(utc.iso), msg_id, kind,
                                        group, statuses)
        if len(answer.encode()) > MAX_ANSWER:       # too many to list: the group status alone
            answer = iso20022.status_report("QX-%s-%d" % (msg_id[:20], self.count), self.stamp(utc.iso), msg_id,
                                            kind, group, [])
        return answer

    def _rejected_whole(self, kind, msg_id, e):
        return iso20022.status_report("QX-RJCT-%d" % self.count, self.stamp(utc.iso), msg_id, kind, "RJCT",
                                      [(e.end_to_end_id or "NOTPROVIDED", "RJCT", e.code)])

    def _payment(self, p):
        t0 = self.ticks()
        d = self.engine.check(p, self.now_s())
        self.stage_ms["compliance"] += self.ticks() - t0
        tag = "%s %s %s %s rules=%s" % (p.source, p.msg_id, p.end_to_end_id, p.amount, ",".join(d.rules) or "-")
        if d.action == "reject":
            self.audit("reject " + tag)
            return p.end_to_end_id, "RJCT", "RR04"
        if d.action == "hold":
            return self._hold(p, tag)
        why = self.risk.check_payment(p) if self.risk else None
        if why:
            if why[2] == "hold":
                return self._hold(p, "%s %s: %s" % (tag, why[0], why[1]))
            self.audit("reject %s %s: %s" % (tag, why[0], why[1]))
            return p.end_to_end_id, "RJCT", "AM02"
        ledger = self.ledgers.get(p.amount.currency)
        if ledger is None:
            self.audit("reject %s no ledger for %s" % (tag, p.amount.currency))
            return p.end_to_end_id, "RJCT", "AM03"
        debit, credit = account_id(p.debtor_account), account_id(p.creditor_account)
        if debit is None or credit is None:
            self.audit("reject %s account ids not 1 to 39 digits 0-9 (a 128-bit id)" % tag)
            return p.end_to_end_id, "RJCT", "AC01"
        r = self.post(transfer_id(p.msg_id, p.end_to_end_id), debit, credit, p.amount.minor, ledger)
        if r in ("ok", "exists"):
            if r == "ok" and self.risk:
                self.risk.take(p)
            self.audit("accept %s ledger=%s%s" % (tag, r, " report" if d.report else ""))
            return p.end_to_end_id, "ACSC", None
        if r in LEDGER_PENDING:
            self.audit("pending %s ledger=%s" % (tag, r))
            return p.end_to_end_id, "PDNG", LEDGER_PENDING[r]
        self.audit("reject %s ledger=%s" % (tag, r))
        return p.end_to_end_id, "RJCT", LEDGER_REASONS.get(r, "NARR")

    def _hold(self, p, tag):
        """Held for review (PDNG), while the queue has room."""
        if len(self.held) >= MAX_HELD:
            self.audit("reject %s hold queue full (%d held for review)" % (tag, MAX_HELD))
            return p.end_to_end_id, "RJCT", "NARR"
        self.held.append(p)
        self.audit("hold " + tag)
        return p.end_to_end_id, "PDNG", None

    # --- FIX orders --------------------------------------------------------------------
    def _order(self, d):
        clid = d["11"]
        if len(clid) > MAX_CLORDID:
            raise fix.BusinessReject("11", "0", "ClOrdID longer than %d characters" % MAX_CLORDID)
        qty = d["38"]
        if not is_digits(qty, QTY_DIGITS):
            raise fix.BusinessReject("38", "0", "OrderQty must be a whole number of 1 to %d digits 0-9" % QTY_DIGITS)
        if len(d["55"]) > MAX_SYMBOL:
            raise fix.BusinessReject("55", "0", "Symbol longer than %d characters" % MAX_SYMBOL)
        if len(d["54"]) != 1:
            raise fix.BusinessReject("54", "0", "Side is one character")
        if d["40"] not in ("1", "2"):
            raise fix.BusinessReject("40", "0", "OrdType must be 1 (market) or 2 (limit)")
        price = d.get("44")
        if d["40"] == "2":
            if not price:
                raise fix.BusinessReject("44", "5", "a limit order needs a Price")
            try:
                parse_decimal(price, 18)
            except MoneyError:
                raise fix.BusinessReject("44", "0", "Price must be a decimal number of at most 18 digits 0-9")
        else:
            price = None
        self.order_seq += 1
        oid = "Q%d" % self.order_seq
        base = [("37", oid), ("11", clid), ("17", "X" + oid), ("55", d["55"]), ("54", d["54"]), ("38", qty)]
        why = self.risk.check_order(d["55"], int(qty), price) if self.risk else None
        if why is None and clid in self.orders:
            why = ("11", "R-DUPLICATE", "ClOrdID %s is a live order" % clid)
        if why is None and len(self.orders) >= MAX_ORDERS:
            why = ("11", "R-BOOK-FULL", "order book full (%d live orders): cancel one first" % MAX_ORDERS)
        if why:
            self.audit("FIX order %s rejected %s" % (clid, why[1]))
            return [("8", base + [("150", "8"), ("39", "8"), ("151", "0"), ("14", "0"), ("6", "0"),
                                  ("58", "%s: %s" % (why[1], why[2]))])]
        self.orders[clid] = (oid, d["55"], d["54"])
        self.audit("FIX order %s accepted %s %s %s" % (clid, d["55"], qty, price or "MKT"))
        return [("8", base + [("150", "0"), ("39", "0"), ("151", qty), ("14", "0"), ("6", "0")])]

    def _cancel(self, d):
        got = self.orders.pop(d["41"], None)
        if got is None:
            return [("9", [("37", "NONE"), ("11", d["11"][:MAX_CLORDID]), ("41", d["41"][:MAX_CLORDID]), ("39", "8"),
                           ("434", "1"), ("102", "1")])]
        oid, symbol, side = got
        self.audit("FIX order %s cancelled" % d["41"])
        return [("8", [("37", oid), ("11", d["11"][:MAX_CLORDID]), ("41", d["41"]), ("17", "C" + oid), ("150", "4"),
                       ("39", "4"), ("55", symbol), ("54", side), ("151", "0"), ("14", "0"), ("6", "0")])]


def _msg_id_of(message):
    """The MsgId of a message the XML reader refused, to be echoed: as
    written if it is a Max35Text of UTF-8 without markup, else
    NOTPROVIDED (never an over-long or cut id)."""
    message = bytes(message)
    i = message.find(b"<MsgId>")
    j = message.find(b"</MsgId>", i)
    if not 0 <= i < j:
        return "NOTPROVIDED"
    raw = message[i + 7:j].strip()
    try:
        text = raw.decode("utf-8")
    except UnicodeError:
        return "NOTPROVIDED"
    if not text or len(text) > 35 or not xmlmini.utf8_strict(raw) or "<" in text or "&" in text:
        return "NOTPROVIDED"
    return text
