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

from userland.gateway import accounts, fix, fix_session, iso20022, mt103
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
MAX_SYMBOL = 16         # Symbol (55) longer than this: BusinessMessageReject
# The FIX sessions the gateway accepts, unless the rules file says otherwise (its
# "fix_sessions", read at start): which counterparty may log on, at what heartbeat.
FIX_SESSIONS = {"our_id": "QENEX", "sessions": [{"counterparty": "HOST", "heartbeat_s": 30}]}
MAX_ANSWER = 4093       # the host link's payload (4,096 bytes) less its status byte and field length
FIX_REPLY_MAX = 600     # the longest answer to one FIX message (every echoed field is bounded)


def transfer_id(msg_id, e2e):
    return int.from_bytes(hashlib.sha256(("%s/%s" % (msg_id, e2e)).encode()).digest()[:16], "little") >> 1 or 1


class Gateway:
    def __init__(self, engine, risk, post, audit, ledgers, now_s, utc_ms, ticks=None, audit_room=None,
                 alarm=None, fix_table=None, fix_store=None):
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
        console, told of every internal error (a defect to look at);
        fix_table: fix_session.parse_table's answer (FIX_SESSIONS when
        None); fix_store: the sessions' numbers and sent messages (a
        fix_session.MemoryStore when None)."""
        self.ticks = ticks or (lambda: 0)
        self.stage_ms = {"parse": 0, "compliance": 0, "risk": 0, "ledger": 0, "audit": 0, "answer": 0, "fix": 0}
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
        self.accounts = accounts.Directory()    # IBANs to ledger accounts (main.py loads the stored one)
        self.count = 0
        # The ids the gateway hands out (pacs.002 MsgId, FIX OrderID and ExecID) are
        # "<epoch>-<n>": n counts this start's messages or orders, epoch is the audit
        # record of this start's "gateway start" entry (main.py), which only grows over
        # the board's life, so no id repeats across restarts or reboots.
        self.epoch = 0
        self.fix = fix_session.Acceptor(fix_table or fix_session.parse_table(FIX_SESSIONS),
                                        fix_store or fix_session.MemoryStore(), self.ticks, self._fix_stamp,
                                        self._fix_app)
        self.fix_link = None        # the FIX connection of the host link's SUBMITs (one at a time)
        self.exec_seq = 0
        self.orders = {}            # ClOrdID -> (order id, symbol, side), at most MAX_ORDERS
        self.order_seq = 0

    def _fix_stamp(self):
        ms = self.utc_ms()
        return None if ms is None else utc.fix(ms)

    def _fix_app(self, mtype, d):
        if mtype == "D":
            return self._order(d)
        if mtype == "F":
            return self._cancel(d)
        if mtype == "G":
            return self._replace(d)
        return self._status(d)

    def fix_connection(self):
        """The link's FIX connection, a new one once the last has closed."""
        if self.fix_link is None or self.fix_link.closed:
            self.fix_link = self.fix.open()
        return self.fix_link

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
                "orders": len(self.orders), "queued": len(self.fix_link.queued) if self.fix_link else 0,
                "errors": self.errors,
                "refused_full": self.refused_full, "ticks": self.ticks()}

    def submit(self, kind, message, conn=None, limit=MAX_ANSWER):
        """The answer (text) to one message. Never raises: a message the
        gateway fails on is refused in its protocol's way and audited.
        message: bytes, or for pacs.008 / pain.001 an iso20022.Reader that
        has been fed the whole document as it arrived (isorelay.py, whose
        feeds count in stage_ms["parse"]). conn: the FIX connection a TCP
        peer's messages belong to (fixrelay.py); None for the host link's
        (fix_connection()). limit: the longest answer in bytes (a pacs.002
        that would be longer carries the group status alone)."""
        self.count += 1
        if kind not in KINDS:
            kind = "?"
        self.messages[kind] = self.messages.get(kind, 0) + 1
        if not self.audit_room():
            self.refused_full += 1
            return self._refuse(kind, message, "the audit log is full: nothing is decided until it is archived", conn)
        self._lines = []
        try:
            try:
                return self._submit(kind, message, conn, limit)
            except Exception as e:        # a defect, not the sender's: refuse this one message, keep serving
                self.errors += 1
                self._error("error %s: %s %s" % (kind, type(e).__name__, str(e)[:120]))
                try:
                    return self._refuse(kind, message, "internal error", conn)
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

    def _fix_refuse(self, conn, why):
        """A session Reject (or, before a Logon, a Logout) for a FIX message the gateway failed on."""
        if conn.session is None:
            return "".join(conn.logout(why))
        return conn.reject(0, None, "99", why)

    def _refuse(self, kind, message, why, conn=None):
        """The whole message refused, in its protocol's form."""
        if kind == "FIX":
            return self._fix_refuse(conn or self.fix_connection(), why)
        if kind == "MT103":
            return "MT103 rejected: NARR %s" % why
        msg_id = _msg_id_of(message)
        return self._rejected_whole(kind if kind != "?" else "pacs.008", msg_id, Rejected("NARR", "document", why))

    def _submit(self, kind, message, tcp=None, limit=MAX_ANSWER):
        if kind == "FIX":
            out = []
            reader = fix.Reader()
            t0 = self.ticks()
            msgs = reader.feed(message)
            unread = 0
            conn = tcp or self.fix_connection()
            for m in msgs:
                if sum(len(x) for x in out) > MAX_ANSWER - FIX_REPLY_MAX:
                    unread += 1             # not read: the session's next ResendRequest asks for it again
                    continue
                if conn.closed:             # a Logout ended the connection: on the link the next message
                    if tcp is not None:     # opens one; a TCP peer reconnects
                        break
                    conn = self.fix_connection()
                try:
                    out += conn.receive(m)
                except Exception as e:    # a defect: this message refused, the session goes on
                    self.errors += 1
                    self._error("error FIX: %s %s" % (type(e).__name__, str(e)[:120]))
                    out.append(self._fix_refuse(conn, "internal error"))
            self.stage_ms["fix"] += self.ticks() - t0
            types = [fix.msg_type(m) for m in msgs] + [fix.msg_type(m) for m in out]
            if conn.refused:
                self.audit("FIX " + conn.refused)
                self._tell("FIX " + conn.refused)
            elif reader.garbled or unread or [t for t in types if t not in ("0", "1")]:
                self.audit("FIX in %d message(s), %d garbled, %d unread, out %s" % (  # heartbeats: not audited
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
            elif isinstance(message, iso20022.Reader):
                kind, msg_id, payments = message.close()
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
        for i in range(len(payments)):
            p, payments[i] = payments[i], None      # decided: its memory is the next one's and the answer's
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
        t0 = self.ticks()
        answer = iso20022.status_report("QX-%d-%d" % (self.epoch, self.count), self.stamp(utc.iso), msg_id, kind,
                                        group, statuses)
        if len(answer.encode()) > limit:            # too many to list: the group status alone
            answer = iso20022.status_report("QX-%d-%d" % (self.epoch, self.count), self.stamp(utc.iso), msg_id,
                                            kind, group, [])
        self.stage_ms["answer"] += self.ticks() - t0
        return answer

    def _rejected_whole(self, kind, msg_id, e):
        return iso20022.status_report("QX-%d-%d" % (self.epoch, self.count), self.stamp(utc.iso), msg_id, kind, "RJCT",
                                      [(e.end_to_end_id or "NOTPROVIDED", "RJCT", e.code)])

    def _payment(self, p):
        t0 = self.ticks()
        d = self.engine.check(p, self.now_s())
        self.stage_ms["compliance"] += self.ticks() - t0
        tag = "%s %s %s %s rules=%s" % (p.source, p.msg_id, p.end_to_end_id, p.amount, ",".join(d.rules) or "-")
        if d.action == "reject":
            self.audit("reject " + tag)
            return p.end_to_end_id, "RJCT", "RR04"
        # the accounts before any hold: a payment to a closed account is refused, not reviewed
        debit, code, why = self.accounts.resolve(p.debtor_account, True)
        if code is None:
            credit, code, why = self.accounts.resolve(p.creditor_account, False)
        if code is not None:
            self.audit("reject %s %s: %s" % (tag, code, why))
            return p.end_to_end_id, "RJCT", code
        if d.action == "hold":
            return self._hold(p, tag)
        t0 = self.ticks()
        why = self.risk.check_payment(p) if self.risk else None
        self.stage_ms["risk"] += self.ticks() - t0
        if why:
            if why[2] == "hold":
                return self._hold(p, "%s %s: %s" % (tag, why[0], why[1]))
            self.audit("reject %s %s: %s" % (tag, why[0], why[1]))
            return p.end_to_end_id, "RJCT", "AM02"
        ledger = self.ledgers.get(p.amount.currency)
        if ledger is None:
            self.audit("reject %s no ledger for %s" % (tag, p.amount.currency))
            return p.end_to_end_id, "RJCT", "AM03"
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
    # The order book: ClOrdID -> [OrderID, Symbol, Side, OrderQty, Price or None].
    # OrderID and ExecID are "<epoch>-<n>" (see epoch): unique for the board's life.
    def _exec_id(self):
        self.exec_seq += 1
        return "E%d-%d" % (self.epoch, self.exec_seq)

    def _report(self, oid, clid, exec_type, status, symbol, side, qty, leaves, extra=()):
        """An ExecutionReport's fields (TransactTime now, UTC)."""
        return ("8", [("37", oid), ("11", clid), ("17", self._exec_id()), ("150", exec_type), ("39", status),
                      ("55", symbol), ("54", side), ("38", qty), ("151", leaves), ("14", "0"), ("6", "0"),
                      ("60", self._fix_stamp() or "")] + list(extra))

    def _checked(self, d):
        """(ClOrdID, OrderQty, price or None) of a new or replacing order, or BusinessReject."""
        clid = d["11"]
        if len(clid) > MAX_CLORDID:
            raise fix_session.BusinessReject("11", "0", "ClOrdID longer than %d characters" % MAX_CLORDID)
        qty = d["38"]
        if not is_digits(qty, QTY_DIGITS):
            raise fix_session.BusinessReject("38", "0", "OrderQty must be a whole number of 1 to %d digits 0-9"
                                             % QTY_DIGITS)
        if len(d["55"]) > MAX_SYMBOL:
            raise fix_session.BusinessReject("55", "0", "Symbol longer than %d characters" % MAX_SYMBOL)
        if len(d["54"]) != 1:
            raise fix_session.BusinessReject("54", "0", "Side is one character")
        if d["40"] not in ("1", "2"):
            raise fix_session.BusinessReject("40", "0", "OrdType must be 1 (market) or 2 (limit)")
        price = d.get("44")
        if d["40"] == "2":
            if not price:
                raise fix_session.BusinessReject("44", "5", "a limit order needs a Price")
            try:
                parse_decimal(price, 18)
            except MoneyError:
                raise fix_session.BusinessReject("44", "0", "Price must be a decimal number of at most 18 digits 0-9")
        else:
            price = None
        return clid, qty, price

    def _order(self, d):
        clid, qty, price = self._checked(d)
        self.order_seq += 1
        oid = "Q%d-%d" % (self.epoch, self.order_seq)
        why = self.risk.check_order(d["55"], int(qty), price) if self.risk else None
        if why is None and clid in self.orders:
            why = ("11", "R-DUPLICATE", "ClOrdID %s is a live order" % clid)
        if why is None and len(self.orders) >= MAX_ORDERS:
            why = ("11", "R-BOOK-FULL", "order book full (%d live orders): cancel one first" % MAX_ORDERS)
        if why:
            self.audit("FIX order %s rejected %s" % (clid, why[1]))
            return [self._report(oid, clid, "8", "8", d["55"], d["54"], qty, "0",
                                 [("58", "%s: %s" % (why[1], why[2]))])]
        self.orders[clid] = [oid, d["55"], d["54"], qty, price]
        self.audit("FIX order %s accepted %s %s %s" % (clid, d["55"], qty, price or "MKT"))
        return [self._report(oid, clid, "0", "0", d["55"], d["54"], qty, qty)]

    def _cancel_reject(self, d, response_to, reason, text, oid="NONE"):
        return [("9", [("37", oid), ("11", d["11"][:MAX_CLORDID]), ("41", d["41"][:MAX_CLORDID]), ("39", "8"),
                       ("434", response_to), ("102", reason), ("58", text)])]

    def _cancel(self, d):
        got = self.orders.get(d["41"])
        if got is None:
            return self._cancel_reject(d, "1", "1", "unknown order %s" % d["41"][:MAX_CLORDID])
        del self.orders[d["41"]]
        oid, symbol, side, qty, price = got
        self.audit("FIX order %s cancelled" % d["41"])
        return [self._report(oid, d["11"][:MAX_CLORDID], "4", "4", symbol, side, qty, "0", [("41", d["41"])])]

    def _replace(self, d):
        """OrderCancelReplaceRequest: the live order OrigClOrdID (41) takes
        the new ClOrdID, quantity and price, checked as a new order is; its
        OrderID stays."""
        got = self.orders.get(d["41"])
        if got is None:
            return self._cancel_reject(d, "2", "1", "unknown order %s" % d["41"][:MAX_CLORDID])
        clid, qty, price = self._checked(d)
        oid, symbol, side = got[0], got[1], got[2]
        if d["55"] != symbol or d["54"] != side:
            return self._cancel_reject(d, "2", "99", "a replace keeps the order's Symbol and Side", oid)
        if clid != d["41"] and clid in self.orders:
            return self._cancel_reject(d, "2", "6", "ClOrdID %s is a live order" % clid, oid)
        why = self.risk.check_order(symbol, int(qty), price) if self.risk else None
        if why:
            self.audit("FIX replace %s rejected %s" % (d["41"], why[1]))
            return self._cancel_reject(d, "2", "99", "%s: %s" % (why[1], why[2]), oid)
        del self.orders[d["41"]]
        self.orders[clid] = [oid, symbol, side, qty, price]
        self.audit("FIX order %s replaced by %s %s %s" % (d["41"], clid, qty, price or "MKT"))
        return [self._report(oid, clid, "5", "0", symbol, side, qty, qty, [("41", d["41"])])]

    def _status(self, d):
        """OrderStatusRequest: an ExecutionReport (ExecType I) of the live
        order, or OrdStatus rejected (8) for one the book does not hold."""
        clid = d["11"][:MAX_CLORDID]
        extra = [("790", d["790"][:64])] if d.get("790") else []
        got = self.orders.get(d["11"])
        if got is None:
            return [self._report("NONE", clid, "I", "8", d["55"][:MAX_SYMBOL], d["54"][:1], "0", "0",
                                 extra + [("58", "unknown order %s" % clid)])]
        oid, symbol, side, qty, price = got
        return [self._report(oid, clid, "I", "0", symbol, side, qty, qty, extra)]


def _msg_id_of(message):
    """The MsgId of a message the XML reader refused, to be echoed: as
    written if it is a Max35Text of UTF-8 without markup, else
    NOTPROVIDED (never an over-long or cut id)."""
    if not isinstance(message, (bytes, bytearray, memoryview)):
        return message.msg_id or "NOTPROVIDED"      # an iso20022.Reader: what it read and checked
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
