"""The compliance engine: the rules every inbound payment passes before the
ledger. Rules are data (a dict, from the JSON rules file the operator can
change and reload); each decision carries the ids of the rules that fired.

    R-JURISDICTION  debtor or creditor country blocked                 reject
    R-SANCTIONS     a party's name matches the sanctions list          reject
                    (normalised, Jaro-Winkler >= sanctions.threshold, in integers)
    R-STRUCTURING   `count` or more payments from one debtor within     hold
                    `window_s`, each between floor_pct% of the reporting
                    threshold and the threshold
    R-THRESHOLD     at or above the reporting threshold (USD equivalent) report (accepted, flagged)

The decision is the strongest action among the rules that fired: reject >
hold > accept. Amounts are converted to USD with the rules' rates (USD per
unit, decimal text) and HALF_EVEN; a currency without a rate is held
(R-NO-RATE), never guessed."""
from userland.compliance import risk as risk_limits
from userland.compliance.names import closest, key as name_key
from userland.lib.asciinum import is_int
from userland.lib.currencies import MINOR_UNITS
from userland.lib.money import Money, MoneyError, minor_units, parse_decimal, round_div

ACCEPT, HOLD, REJECT = "accept", "hold", "reject"
_RANK = {ACCEPT: 0, HOLD: 1, REJECT: 2}
MAX_DEBTORS = 64            # debtors whose recent near-threshold payments are kept (structuring); beyond,
                            # the one seen least recently is forgotten
RATE_DIGITS = 18            # a USD rate: decimal text, at most 18 digits
MAX_NAMES = 256             # sanctions list entries
MAX_NAME = 140              # characters in one listed name


class RulesError(ValueError):
    pass


def rules_from_json(text):
    """The rules document in text (JSON), or RulesError: not JSON, or
    nested deeper than the parser goes (CPython's json recurses and raises
    RecursionError, a RuntimeError; MicroPython's does not). parse_rules
    then checks what the document says."""
    import json
    try:
        return json.loads(text)
    except ValueError as e:
        raise RulesError("not JSON: %s" % e)
    except RuntimeError:
        raise RulesError("not JSON this parser can read: nested too deep")


class Decision:
    def __init__(self):
        self.action = ACCEPT
        self.rules = []
        self.reasons = []
        self.report = False

    def fire(self, rule, action, reason):
        self.rules.append(rule)
        self.reasons.append(reason)
        if _RANK[action] > _RANK[self.action]:
            self.action = action

    def __repr__(self):
        return "<Decision %s %s>" % (self.action, self.rules)


def _need(cond, what):
    if not cond:
        raise RulesError("bad rules: %s" % what)


def show(v):
    """A value for an error message: short, and never a huge int's repr (CPython refuses
    to write one of more than 4,300 digits)."""
    if is_int(v) and not -10 ** 18 < v < 10 ** 18:
        return "a number beyond 18 digits"
    return repr(v)[:48]


def _int(doc, key, lo, hi, default, where):
    v = doc.get(key, default)
    _need(is_int(v) and lo <= v <= hi, "%s%s must be a whole number in %d..%d, not %s" % (where, key, lo, hi,
                                                                                        show(v)))
    return v


def _text(v, what):
    _need(isinstance(v, str), "%s must be text, not %s" % (what, show(v)))
    return v


def parse_rules(rules):
    """Everything the engine, the risk limits and the gateway take from a
    rules document, checked as they will use it (types, decimal strings,
    ISO 4217 currencies, ranges); RulesError naming the first fault. JSON
    numbers that are not integers (1.5, Infinity, NaN: floats on CPython; a
    syntax error in MicroPython's json) are refused where a number is due,
    and numbers are refused where decimal text is due."""
    _need(isinstance(rules, dict), "the document must be a JSON object")
    out = {}
    try:
        out["version"] = _text(rules.get("version", ""), "version")[:64]
        threshold = Money.parse(_text(rules.get("report_threshold"), "report_threshold"))
        _need(threshold.currency == "USD", "report_threshold must be in USD")
        _need(threshold.minor > 0, "report_threshold must be above zero")
        out["threshold"] = threshold
        rates = rules.get("usd_rates", {})
        _need(isinstance(rates, dict), "usd_rates must be an object")
        out["rates"] = {}
        for ccy, rate in rates.items():
            _need(ccy in MINOR_UNITS, "usd_rates: %s is not an ISO 4217 currency" % show(ccy))
            _text(rate, "usd_rates.%s" % ccy)
            n, scale = parse_decimal(rate, RATE_DIGITS)
            _need(n > 0, "usd_rates.%s must be above zero" % ccy)
            out["rates"][ccy] = (n, scale)
        st = rules.get("structuring", {})
        _need(isinstance(st, dict), "structuring must be an object")
        out["structuring"] = (_int(st, "count", 1, 50, 3, "structuring."),
                              _int(st, "window_s", 1, 10 * 366 * 86400, 86400, "structuring."),
                              _int(st, "floor_pct", 0, 100, 80, "structuring."))
        sanctions = rules.get("sanctions", {})
        _need(isinstance(sanctions, dict), "sanctions must be an object")
        names = sanctions.get("names", [])
        _need(isinstance(names, list) and len(names) <= MAX_NAMES, "sanctions.names must be a list of at most %d"
              % MAX_NAMES)
        out["sanctions"] = []
        for name in names:
            _need(isinstance(name, str) and 0 < len(name) <= MAX_NAME, "sanctions.names: %s is not a name of 1 to"
                  " %d characters" % (show(name), MAX_NAME))
            out["sanctions"].append(name_key(name))   # (bytes)
        n, scale = parse_decimal(_text(sanctions.get("threshold", "0.92"), "sanctions.threshold"), 6)
        score = round_div(n * 1000, 10 ** scale)          # thousandths
        _need(0 < score <= 1000, "sanctions threshold must be in (0, 1]")
        out["score_min"] = score
        blocked = rules.get("blocked_countries", [])
        _need(isinstance(blocked, list), "blocked_countries must be a list")
        out["blocked"] = set()
        for c in blocked:
            _need(isinstance(c, str) and len(c) == 2 and all("A" <= x <= "Z" for x in c.upper()),
                  "blocked_countries: %s is not a two-letter country code" % show(c))
            out["blocked"].add(c.upper())
        ledgers = rules.get("ledgers")
        if ledgers is not None:
            _need(isinstance(ledgers, dict), "ledgers must be an object")
            for ccy, n in ledgers.items():
                _need(ccy in MINOR_UNITS, "ledgers: %s is not an ISO 4217 currency" % show(ccy))
                _need(is_int(n) and 0 < n < 1 << 32, "ledgers.%s must be a whole number in 1..2**32-1" % ccy)
            out["ledgers"] = dict(ledgers)
        if rules.get("risk") is not None:
            out["risk"] = risk_limits.parse_limits(rules["risk"])
    except (MoneyError, risk_limits.RiskError) as e:
        raise RulesError("bad rules: %s" % e)
    return out


class Engine:
    def __init__(self, rules):
        self.history = {}           # debtor (names.key) -> [(t, usd minor units)], MAX_DEBTORS of them
        self.load(rules)

    def load(self, rules):
        """Replace the rules, checked first as a whole (parse_rules): a bad
        rules document changes nothing. Keeps `ledgers` and `risk` (parsed)
        for the gateway when the document has them."""
        r = parse_rules(rules)
        self.version = r["version"]
        self.threshold, self.rates, self.structuring = r["threshold"], r["rates"], r["structuring"]
        self.sanctions, self.score_min, self.blocked = r["sanctions"], r["score_min"], r["blocked"]
        self.ledgers, self.risk_limits = r.get("ledgers"), r.get("risk")

    def usd(self, amount):
        """The USD equivalent (HALF_EVEN, one rounding), or None without a rate."""
        if amount.currency == "USD":
            return amount
        rate = self.rates.get(amount.currency)
        if rate is None:
            return None
        n, scale = rate
        digits = minor_units(amount.currency)
        return Money(round_div(amount.minor * n * 100, 10 ** (scale + digits)), "USD")

    def check(self, p, now_s):
        d = Decision()
        for who, country in (("debtor", p.debtor_country), ("creditor", p.creditor_country)):
            if country and country.upper() in self.blocked:
                d.fire("R-JURISDICTION", REJECT, "%s country %s is blocked" % (who, country))
        debtor = name_key(p.debtor)    # (also the debtor's key for structuring, below)
        for who, name, n in (("debtor", p.debtor, debtor), ("creditor", p.creditor, name_key(p.creditor))):
            score, listed = closest(n, self.sanctions)
            if listed is not None and score >= self.score_min:
                d.fire("R-SANCTIONS", REJECT, "%s %r matches listed %r (%d.%d%%)"
                       % (who, name, listed.decode(), score // 10, score % 10))
        usd = self.usd(p.amount)
        if usd is None:
            d.fire("R-NO-RATE", HOLD, "no USD rate for %s" % p.amount.currency)
            return d
        if usd.minor >= self.threshold.minor:
            d.report = True
            d.fire("R-THRESHOLD", ACCEPT, "%s (%s) at or above the reporting threshold %s" % (p.amount, usd,
                                                                                                  self.threshold))
        count, window, floor_pct = self.structuring
        floor = self.threshold.minor * floor_pct // 100
        recent = [(t, v) for t, v in self.history.get(debtor, []) if now_s - t < window]
        if floor <= usd.minor < self.threshold.minor:
            recent.append((now_s, usd.minor))
            near = [v for t, v in recent if floor <= v < self.threshold.minor]
            if len(near) >= count:
                d.fire("R-STRUCTURING", HOLD, "%d payments from %r just under the threshold within %d s"
                       % (len(near), p.debtor, window))
        if recent:
            self.history.pop(debtor, None)
            self.history[debtor] = recent[-count:]     # the newest `count` are all a decision needs
            if len(self.history) > MAX_DEBTORS:
                self._forget()
        else:
            self.history.pop(debtor, None)
        return d

    def _forget(self):
        """Drop the debtor whose latest near-threshold payment is oldest."""
        oldest, when = None, None
        for k, v in self.history.items():
            if when is None or v[-1][0] < when:
                oldest, when = k, v[-1][0]
        del self.history[oldest]
