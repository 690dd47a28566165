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
message is rejected whole and nothing is posted."""
import hashlib

from userland.gateway import fix, iso20022, mt103
from userland.gateway.payment import Rejected

LEDGER_REASONS = {"exceeds_credits": "AM04", "debit_account_not_found": "AC01",
                  "credit_account_not_found": "AC03", "accounts_must_have_the_same_ledger": "AM03",
                  "transfer_must_have_the_same_ledger_as_accounts": "AM03", "storage_failed": "NARR",
                  "ledger_unavailable": "AB07"}     # AB07 OfflineAgent: the ledger task is down
# Ledger results whose posting is not known (the ledger ended while it held the
# transfer): PDNG with a narrative reason, not RJCT -- it may have been posted.
LEDGER_PENDING = {"ledger_outcome_unknown": "ledger outcome unknown: resubmit the same message for its outcome"}


def transfer_id(msg_id, e2e):
    return int.from_bytes(hashlib.sha256(("%s/%s" % (msg_id, e2e)).encode()).digest()[:16], "little") >> 1 or 1


class Gateway:
    def __init__(self, engine, risk, post, audit, ledgers, now_s, clock_text, ticks=None):
        """post(transfer_id, debit, credit, amount_minor, ledger) -> ledger
        result code; audit(text); ledgers: currency -> ledger number;
        ticks() -> ms, to time the stages (stats())."""
        self.ticks = ticks or (lambda: 0)
        self.stage_ms = {"parse": 0, "compliance": 0, "ledger": 0, "audit": 0, "fix": 0}
        self.messages = {}
        post_raw, audit_raw = post, audit

        def post(*a):
            t0 = self.ticks()
            r = post_raw(*a)
            self.stage_ms["ledger"] += self.ticks() - t0
            return r

        def audit(text):
            t0 = self.ticks()
            audit_raw(text)
            self.stage_ms["audit"] += self.ticks() - t0
        self.engine, self.risk, self.post, self.audit = engine, risk, post, audit
        self.ledgers, self.now_s, self.clock_text = ledgers, now_s, clock_text
        self.held = []
        self.count = 0
        self.fix = fix.Session("QENEX", clock_text, self._order, self._cancel)
        self.orders = {}

    def stats(self):
        """Messages by kind and ms spent per stage since start."""
        return {"messages": dict(self.messages), "stage_ms": dict(self.stage_ms), "held": len(self.held),
                "ticks": self.ticks()}

    def submit(self, kind, message):
        self.count += 1
        self.messages[kind] = self.messages.get(kind, 0) + 1
        if kind == "FIX":
            out = []
            reader = fix.Reader()
            t0 = self.ticks()
            for m in reader.feed(message):
                out += self.fix.receive(m)
            self.stage_ms["fix"] += self.ticks() - t0
            self.audit("FIX in %d message(s), %d garbled, out %s" % (len(out), reader.garbled,
                                                                     ",".join(t for d, t in self.fix.log[-len(out):]
                                                                              if d == "out") if out else "-"))
            return "".join(out)
        try:
            text = message.decode("utf-8")
        except UnicodeError:
            self.audit("rejected %s: not UTF-8" % kind)
            return self._rejected_whole(kind, "?", Rejected("FF01", "document", "not UTF-8"))
        t0 = self.ticks()
        try:
            if kind == "MT103":
                msg_id, payments = mt103.parse(text)
            else:
                kind, msg_id, payments = iso20022.parse(text)
            self.stage_ms["parse"] += self.ticks() - t0
        except mt103.MtError as e:
            self.audit("rejected MT103: %s" % e)
            return "MT103 rejected: %s" % e
        except Rejected as e:
            self.audit("rejected %s: %s" % (kind, e))
            return self._rejected_whole(kind, _msg_id_of(text), e)
        statuses = [self._payment(p) for p in payments]
        sts = [s for _, s, _ in statuses]
        group = "ACSC" if all(s == "ACSC" for s in sts) else "RJCT" if all(s == "RJCT" for s in sts) \
            else "PDNG" if all(s in ("ACSC", "PDNG") for s in sts) and "PDNG" in sts else "PART"
        if kind == "MT103":
            e2e, st, reason = statuses[0]
            return "MT103 %s %s%s" % (msg_id, st, " " + reason if reason else "")
        return iso20022.status_report("QX-%s-%d" % (msg_id[:20], self.count), self.clock_text(), msg_id, kind,
                                      group, statuses)

    def _rejected_whole(self, kind, msg_id, e):
        return iso20022.status_report("QX-RJCT-%d" % self.count, self.clock_text(), msg_id, kind, "RJCT",
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
            self.held.append(p)
            self.audit("hold " + tag)
            return p.end_to_end_id, "PDNG", None
        why = self.risk.check_payment(p) if self.risk else None
        if why:
            self.audit("reject %s %s" % (tag, why[0]))
            return p.end_to_end_id, "RJCT", "AM02"
        ledger = self.ledgers.get(p.amount.currency)
        if ledger is None:
            self.audit("reject %s no ledger for %s" % (tag, p.amount.currency))
            return p.end_to_end_id, "RJCT", "AM03"
        if not (p.debtor_account.isdigit() and p.creditor_account.isdigit()):
            self.audit("reject %s account ids not numeric" % tag)
            return p.end_to_end_id, "RJCT", "AC01"
        r = self.post(transfer_id(p.msg_id, p.end_to_end_id), int(p.debtor_account), int(p.creditor_account),
                      p.amount.minor, ledger)
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

    # --- FIX orders --------------------------------------------------------------------
    def _order(self, d):
        qty = d["38"]
        if not qty.isdigit():
            raise fix.BusinessReject("38", "0", "OrderQty must be a whole number")
        price = d.get("44")
        if d["40"] == "2" and not price:
            raise fix.BusinessReject("44", "5", "a limit order needs a Price")
        why = self.risk.check_order(d["55"], int(qty), price if d["40"] == "2" else None) if self.risk else None
        oid = "Q%d" % (len(self.orders) + 1)
        base = [("37", oid), ("11", d["11"]), ("17", "X" + oid), ("55", d["55"]), ("54", d["54"]), ("38", qty)]
        if why:
            self.audit("FIX order %s rejected %s" % (d["11"], why[1]))
            return [("8", base + [("150", "8"), ("39", "8"), ("151", "0"), ("14", "0"), ("6", "0"),
                                  ("58", "%s: %s" % (why[1], why[2]))])]
        self.orders[d["11"]] = (oid, d)
        self.audit("FIX order %s accepted %s %s %s" % (d["11"], d["55"], qty, price or "MKT"))
        return [("8", base + [("150", "0"), ("39", "0"), ("151", qty), ("14", "0"), ("6", "0")])]

    def _cancel(self, d):
        got = self.orders.pop(d["41"], None)
        if got is None:
            return [("9", [("37", "NONE"), ("11", d["11"]), ("41", d["41"]), ("39", "8"), ("434", "1"),
                           ("102", "1")])]
        oid, o = got
        self.audit("FIX order %s cancelled" % d["41"])
        return [("8", [("37", oid), ("11", d["11"]), ("41", d["41"]), ("17", "C" + oid), ("150", "4"), ("39", "4"),
                       ("55", o["55"]), ("54", o["54"]), ("151", "0"), ("14", "0"), ("6", "0")])]


def _msg_id_of(text):
    i = text.find("<MsgId>")
    j = text.find("</MsgId>", i)
    return text[i + 7:j].strip()[:35] if 0 <= i < j else "NOTPROVIDED"
