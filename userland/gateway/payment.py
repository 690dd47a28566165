"""The internal form every inbound credit transfer is turned into, whatever
it came as (pacs.008, pain.001, MT103): what compliance checks and the
ledger posts. Amounts are userland/lib/money.Money, never floats."""


class Rejected(ValueError):
    """A message or transaction refused: `code` is an ISO 20022 external
    status reason code (FF01 bad format, AM18 wrong number of transactions,
    AM03 currency not allowed, CH20 too many decimals, AM01 zero amount,
    AM02 amount not allowed, RC01 bad BIC, RR04 regulatory...), `where`
    names the element or field at fault, `end_to_end_id` the transaction
    (None for the whole message), `msg_id` the message's MsgId once it has
    been read and checked (None before)."""
    msg_id = None

    def __init__(self, code, where, message, end_to_end_id=None):
        super().__init__("%s %s: %s" % (code, where, message))
        self.code, self.where, self.message, self.end_to_end_id = code, where, message, end_to_end_id


class Payment:
    __slots__ = ("source", "msg_id", "end_to_end_id", "amount", "charge_bearer", "debtor", "debtor_agent",
                 "creditor", "creditor_agent", "debtor_account", "creditor_account", "settlement_date",
                 "debtor_country", "creditor_country")

    def __init__(self, source, msg_id, end_to_end_id, amount, charge_bearer, debtor, debtor_agent, creditor,
                 creditor_agent, debtor_account="", creditor_account="", settlement_date="",
                 debtor_country="", creditor_country=""):
        self.source, self.msg_id, self.end_to_end_id, self.amount = source, msg_id, end_to_end_id, amount
        self.charge_bearer = charge_bearer
        self.debtor, self.debtor_agent, self.creditor, self.creditor_agent = debtor, debtor_agent, creditor, \
            creditor_agent
        self.debtor_account, self.creditor_account = debtor_account, creditor_account
        self.settlement_date = settlement_date
        self.debtor_country, self.creditor_country = debtor_country, creditor_country

    def as_dict(self):
        return {k: (str(getattr(self, k)) if k == "amount" else getattr(self, k)) for k in Payment.__slots__}


_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_UPPER_DIGITS = _UPPER + "0123456789"


def check_bic(bic, where, e2e=None):
    """A BIC: 4 letters (institution), 2 letters (country), 2 letters or
    digits (location), optionally 3 more (branch)."""
    # ASCII only: strip leaves what is not in its set (one C call, where a loop over the
    # characters makes a str of each)
    if len(bic) not in (8, 11) or bic[:6].strip(_UPPER) or bic[6:].strip(_UPPER_DIGITS):
        raise Rejected("RC01", where, "%r is not a BIC" % bic, e2e)
    return bic
