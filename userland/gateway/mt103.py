"""SWIFT MT103 (single customer credit transfer) in: blocks 1 to 5, the
mandatory fields 20, 23B, 32A, 50a, 59a and 71A validated, turned into the
same payment.Payment as a pacs.008.

A rejection is MtError(code, field, message) and reads as an MT error line,
"T50 32A: invalid date 261332". Codes follow SWIFT's network validation
codes where one fits: T50 date, T52 currency, T40 amount, T43 decimals
beyond the currency, T27 BIC, T08 code not allowed (23B, 71A), T26 a
field that starts or ends with '/' or holds '//'; and ours: M01 a block
missing or malformed, M02 a mandatory field missing, M03 a field twice,
M04 a field's format (length, lines)."""
from userland.gateway.payment import Payment, Rejected, check_bic
from userland.lib.asciinum import is_digits
from userland.lib.money import Money, MoneyError

BANK_OPERATION = ("CRED", "CRTS", "SPAY", "SPRI", "SSTD")
CHARGES = {"SHA": "SHAR", "OUR": "DEBT", "BEN": "CRED"}
MANDATORY = ("20", "23B", "32A", "50", "59", "71A")
_X = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-?:().,'+ \n"


class MtError(ValueError):
    def __init__(self, code, field, message):
        super().__init__("%s %s: %s" % (code, field, message))
        self.code, self.field, self.message = code, field, message


def blocks(text):
    """{"1": ..., "2": ..., "3": ..., "4": ..., "5": ...} from {n:...} blocks
    (nested braces in 3 and 5)."""
    out = {}
    i = 0
    text = text.strip()
    while i < len(text):
        if text[i] != "{" or text.find(":", i) < 0:
            raise MtError("M01", "blocks", "'{' expected at %d" % i)
        colon = text.index(":", i)
        name = text[i + 1:colon]
        depth = 1
        j = colon + 1
        while j < len(text) and depth:
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
            j += 1
        if depth:
            raise MtError("M01", "block " + name, "not closed")
        if name not in ("1", "2", "3", "4", "5") or name in out:
            raise MtError("M01", "block " + name, "unknown or repeated block")
        out[name] = text[colon + 1:j - 1]
        i = j
    for b in ("1", "2", "4"):
        if b not in out:
            raise MtError("M01", "block " + b, "missing")
    return out


def fields(block4):
    """[(tag, value)] of block 4 (":TAG:value" lines, ending with "-")."""
    body = block4.replace("\r\n", "\n")
    if not body.startswith("\n") or not body.rstrip().endswith("-"):
        raise MtError("M01", "block 4", "must start with a new line and end with '-'")
    body = body.strip()[:-1].strip("\n")
    out = []
    for line in body.split("\n"):
        if line.startswith(":") and line.find(":", 1) > 1:
            k = line.find(":", 1)
            out.append([line[1:k], line[k + 1:]])
        elif out:
            out[-1][1] += "\n" + line
        else:
            raise MtError("M04", "block 4", "text before the first field")
    for tag, value in out:
        for c in value:
            if c not in _X:
                raise MtError("M04", tag, "character %r outside the SWIFT x set" % c)
    return [(t, v) for t, v in out]


def _lines(tag, value, most, width=35):
    lines = value.split("\n")
    if len(lines) > most or any(len(x) > width for x in lines) or not all(lines):
        raise MtError("M04", tag, "at most %d lines of 1..%d characters" % (most, width))
    return lines


def _party(tag, value):
    """(account, name or BIC) of 50a / 59a."""
    lines = _lines(tag, value, 5)
    account = ""
    if lines[0].startswith("/"):
        account = lines[0][1:]
        lines = lines[1:]
    if not lines:
        raise MtError("M04", tag, "no name or BIC")
    if tag.endswith("A"):
        try:
            return account, check_bic(lines[0], tag)
        except Rejected:
            raise MtError("T27", tag, "%r is not a BIC" % lines[0]) from None
    if tag.endswith("F"):
        names = [x[2:] for x in lines if x.startswith("1/")]
        return account, names[0] if names else lines[0]
    return account, lines[0]


def _date(value):
    yy, mm, dd = value[0:2], value[2:4], value[4:6]
    ok = is_digits(value[:6], 6) and len(value) >= 6 and 1 <= int(mm) <= 12 and 1 <= int(dd) <= 31
    if ok and int(mm) in (4, 6, 9, 11):
        ok = int(dd) <= 30
    if ok and int(mm) == 2:
        y = 2000 + int(yy)
        ok = int(dd) <= (29 if y % 4 == 0 and (y % 100 or y % 400 == 0) else 28)
    if not ok:
        raise MtError("T50", "32A", "invalid date %s" % value[:6])
    return "20%s-%s-%s" % (yy, mm, dd)


def parse(text):
    """(msg_id, [Payment]) of an MT103; MtError otherwise."""
    b = blocks(text)
    if not b["1"].startswith("F01") or len(b["1"]) < 15:
        raise MtError("M01", "block 1", "basic header F01 + 12-character LT address expected")
    if not (b["2"].startswith("I103") or b["2"].startswith("O103")):
        raise MtError("M01", "block 2", "not an MT103")
    sender = b["1"][3:11] + b["1"][12:15]
    receiver = b["2"][4:12] + b["2"][13:16] if b["2"][0] == "I" else b["2"][18:26] + b["2"][27:30]
    f = {}
    for tag, value in fields(b["4"]):
        key = tag[:2] if tag[:2] in ("50", "59") else tag
        if key in f:
            raise MtError("M03", tag, "appears twice")
        f[key] = (tag, value)
    for t in MANDATORY:
        if t not in f:
            raise MtError("M02", t + ("a" if t in ("50", "59") else ""), "mandatory field missing")
    ref = f["20"][1]
    if not 0 < len(ref) <= 16 or "\n" in ref:
        raise MtError("M04", "20", "1..16 characters on one line")
    if ref.startswith("/") or ref.endswith("/") or "//" in ref:
        raise MtError("T26", "20", "must not start or end with '/' or hold '//'")
    if f["23B"][1] not in BANK_OPERATION:
        raise MtError("T08", "23B", "%r is not one of %s" % (f["23B"][1], ", ".join(BANK_OPERATION)))
    v = f["32A"][1]
    if len(v) < 10 or "\n" in v:
        raise MtError("M04", "32A", "YYMMDD, currency, amount")
    date = _date(v)
    ccy, amount = v[6:9], v[9:]
    if not (len(ccy) == 3 and all("A" <= c <= "Z" for c in ccy)):
        raise MtError("T52", "32A", "invalid currency %r" % ccy)
    if not amount or amount.count(",") != 1 or not is_digits(amount.replace(",", ""), 14) or len(amount) > 15:
        raise MtError("T40", "32A", "invalid amount %r (digits with one decimal comma)" % amount)
    try:
        money = Money.parse(amount.replace(",", ".").rstrip(".") if amount.endswith(",") else
                            amount.replace(",", "."), ccy)
    except MoneyError as e:
        code = {"unknown_currency": "T52", "too_many_decimals": "T43"}.get(e.code, "T40")
        raise MtError(code, "32A", str(e)) from None
    if money.minor <= 0:
        raise MtError("T40", "32A", "the amount must be above zero")
    charges = f["71A"][1]
    if charges not in CHARGES:
        raise MtError("T08", "71A", "%r is not one of BEN, OUR, SHA" % charges)
    dacct, debtor = _party(f["50"][0], f["50"][1])
    cacct, creditor = _party(f["59"][0], f["59"][1])
    try:
        dagent, cagent = check_bic(sender, "block 1"), check_bic(receiver, "block 2")
    except Rejected as e:
        raise MtError("T27", e.where, e.message) from None
    return ref, [Payment("MT103", ref, ref, money, CHARGES[charges], debtor, dagent, creditor, cagent,
                         dacct, cacct, date)]
