"""The account directory: accounts named by IBAN, each mapped to a ledger
account id, with the BIC of the bank that holds it and a state (open,
closed, blocked). The gateway resolves a payment's debtor and creditor
accounts through it; the operator manages it from the shell (`accounts`)
and the host (`qenex accounts load FILE`); it is kept in the gateway's
storage (userland/gateway/layout.py). Plain Python, ASCII rules only (no
str.upper(): MicroPython's changes ASCII letters only, so nothing here
relies on it), the same on the board and the host.

An account in a message is either a ledger account id (1 to 39 digits, an
internal account, as before) or an IBAN, checked as ISO 13616 says: two
letters of a country in the registry, two check digits, the country's own
length, letters and digits only, and the mod-97 check (the rearranged
number mod 97 is 1). Spaces every four characters (the paper form) are
taken out first. What resolve() answers, with ISO 20022's reason codes:
    AC02 / AC03   the debtor's / creditor's account is missing or malformed
    AC01          a well-formed IBAN the directory does not know
    AC04          a closed account
    AC06          a blocked account

The directory's text form (stored, loaded from the host, listed): a line
per account, `IBAN ACCOUNT BIC STATE` (BIC "-" for none); blank lines and
lines from '#' are ignored."""
from userland.gateway.payment import Rejected, check_bic
from userland.lib.asciinum import is_digits

MAX_ACCOUNTS = 200          # each stored copy holds this many (layout.ACCOUNTS_COPY)
ACCOUNT_MAX = (1 << 128) - 1
STATES = ("open", "closed", "blocked")
REASON = {"closed": "AC04", "blocked": "AC06"}

# ISO 13616 registry (SWIFT's IBAN registry): each country's IBAN length.
LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}


class AccountError(ValueError):
    pass


def _upper(c):
    return c if not "a" <= c <= "z" else chr(ord(c) - 32)


def mod97(text):
    """ISO 7064 MOD 97-10 of an IBAN (upper case letters and digits): the
    first four characters moved to the end, each letter as 10..35."""
    r = 0
    for c in text[4:] + text[:4]:
        if "0" <= c <= "9":
            r = (r * 10 + ord(c) - 48) % 97
        else:
            r = (r * 100 + ord(c) - 55) % 97
    return r


def iban(text):
    """The IBAN in its electronic form (no spaces, capitals), or
    AccountError saying what is wrong with it."""
    s = "".join(_upper(c) for c in text if c != " ")
    if not 5 <= len(s) <= 34:
        raise AccountError("an IBAN has 5 to 34 characters, not %d" % len(s))
    for c in s:
        if not ("A" <= c <= "Z" or "0" <= c <= "9"):
            raise AccountError("an IBAN has letters A-Z and digits only")
    country = s[:2]
    if not ("A" <= country[0] <= "Z" and "A" <= country[1] <= "Z"):
        raise AccountError("an IBAN starts with its country's two letters")
    if not ("0" <= s[2] <= "9" and "0" <= s[3] <= "9"):
        raise AccountError("an IBAN's third and fourth characters are its check digits")
    want = LENGTHS.get(country)
    if want is None:
        raise AccountError("%s is not a country of the IBAN registry" % country)
    if len(s) != want:
        raise AccountError("a %s IBAN has %d characters, not %d" % (country, want, len(s)))
    if mod97(s) != 1:
        raise AccountError("the check digits do not match (mod 97)")
    return s


def ledger_id(text):
    """A ledger account id (1 .. 2**128 - 1) from 1 to 39 ASCII digits, or None."""
    if not is_digits(text, 39):
        return None
    n = int(text)
    return n if 0 < n <= ACCOUNT_MAX else None


def looks_like_iban(text):
    return len(text) >= 2 and "A" <= _upper(text[0]) <= "Z" and "A" <= _upper(text[1]) <= "Z"


class Directory:
    def __init__(self):
        self.entries = {}           # IBAN -> [ledger account id, BIC or None, state]

    def add(self, text, account, bic=None, state="open"):
        """Adds (or changes) an account; AccountError says what is wrong."""
        key = iban(text)
        n = ledger_id(account) if isinstance(account, str) else account
        if not isinstance(n, int) or not 0 < n <= ACCOUNT_MAX:
            raise AccountError("a ledger account id is 1 to 39 digits 0-9, above zero, below 2**128")
        if bic is not None:
            bic = "".join(_upper(c) for c in bic)
            try:
                check_bic(bic, "BIC")
            except Rejected:
                raise AccountError("%s is not a BIC (4 letters, country, location, branch)" % bic[:11])
        if state not in STATES:
            raise AccountError("a state is one of %s" % ", ".join(STATES))
        if key not in self.entries and len(self.entries) >= MAX_ACCOUNTS:
            raise AccountError("the directory holds %d accounts at most" % MAX_ACCOUNTS)
        self.entries[key] = [n, bic, state]
        return key

    def set_state(self, text, state):
        key = iban(text)
        if state not in STATES:
            raise AccountError("a state is one of %s" % ", ".join(STATES))
        e = self.entries.get(key)
        if e is None:
            raise AccountError("%s is not in the directory" % key)
        e[2] = state
        return key

    def remove(self, text):
        key = iban(text)
        if self.entries.pop(key, None) is None:
            raise AccountError("%s is not in the directory" % key)
        return key

    def resolve(self, text, debtor):
        """(ledger account id, None, None) or (None, reason code, why) for
        a payment's debtor (debtor=True) or creditor account."""
        malformed = "AC02" if debtor else "AC03"
        side = "debtor" if debtor else "creditor"
        if not text:
            return None, malformed, "no %s account" % side
        n = ledger_id(text)
        if n is not None:
            return n, None, None
        if not looks_like_iban(text):
            return None, malformed, "the %s account is neither a ledger account id nor an IBAN" % side
        try:
            key = iban(text)
        except AccountError as e:
            return None, malformed, "the %s IBAN: %s" % (side, e)
        e = self.entries.get(key)
        if e is None:
            return None, "AC01", "the %s IBAN %s is not in the account directory" % (side, key)
        if e[2] != "open":
            return None, REASON[e[2]], "the %s account %s is %s" % (side, key, e[2])
        return e[0], None, None

    def line(self, key):
        n, bic, state = self.entries[key]
        return "%s %d %s %s" % (key, n, bic or "-", state)

    def to_text(self):
        return "".join(self.line(k) + "\n" for k in sorted(self.entries))


def parse(text):
    """A Directory from its text form (str); AccountError names the line at fault."""
    d = Directory()
    for no, raw in enumerate(text.split("\n")):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if not 2 <= len(words) <= 4:
            raise AccountError("line %d: IBAN ACCOUNT [BIC] [STATE]" % (no + 1))
        bic = words[2] if len(words) > 2 and words[2] != "-" else None
        state = words[3] if len(words) > 3 else "open"
        if _iban_or(words[0]) in d.entries:
            raise AccountError("line %d: %s is listed twice" % (no + 1, words[0][:34]))
        try:
            d.add(words[0], words[1], bic, state)
        except AccountError as e:
            raise AccountError("line %d: %s" % (no + 1, e))
    return d


def _iban_or(text):
    try:
        return iban(text)
    except AccountError:
        return None
