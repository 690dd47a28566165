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
from userland.compliance.names import best_match, normalise
from userland.lib.money import Money, minor_units, parse_decimal, round_div

ACCEPT, HOLD, REJECT = "accept", "hold", "reject"
_RANK = {ACCEPT: 0, HOLD: 1, REJECT: 2}


class RulesError(ValueError):
    pass


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


class Engine:
    def __init__(self, rules):
        self.load(rules)
        self.history = {}           # debtor (normalised) -> [(t, usd minor units)]

    def load(self, rules):
        """Replace the rules (checked first: a bad rules file changes nothing)."""
        try:
            threshold = Money.parse(rules["report_threshold"])
            if threshold.currency != "USD":
                raise RulesError("report_threshold must be in USD")
            rates = {}
            for ccy, rate in rules.get("usd_rates", {}).items():
                Money(1, ccy).multiply(rate)          # both must parse
                rates[ccy] = rate
            st = rules.get("structuring", {})
            structuring = (int(st.get("count", 3)), int(st.get("window_s", 86400)), int(st.get("floor_pct", 80)))
            sanctions = [normalise(n) for n in rules.get("sanctions", {}).get("names", [])]
            n, scale = parse_decimal(rules.get("sanctions", {}).get("threshold", "0.92"))
            score = round_div(n * 1000, 10 ** scale)          # thousandths
            if not 0 < score <= 1000:
                raise ValueError("sanctions threshold must be in (0, 1]")
            blocked = set(c.upper() for c in rules.get("blocked_countries", []))
        except (KeyError, ValueError, TypeError, AttributeError) as e:
            raise RulesError("bad rules: %s" % e)
        self.version = rules.get("version", "")
        self.threshold, self.rates, self.structuring = threshold, rates, structuring
        self.sanctions, self.score_min, self.blocked = sanctions, score, blocked

    def usd(self, amount):
        """The USD equivalent (HALF_EVEN, one rounding), or None without a rate."""
        if amount.currency == "USD":
            return amount
        rate = self.rates.get(amount.currency)
        if rate is None:
            return None
        n, scale = parse_decimal(rate)
        digits = minor_units(amount.currency)
        return Money(round_div(amount.minor * n * 100, 10 ** (scale + digits)), "USD")

    def check(self, p, now_s):
        d = Decision()
        for who, country in (("debtor", p.debtor_country), ("creditor", p.creditor_country)):
            if country and country.upper() in self.blocked:
                d.fire("R-JURISDICTION", REJECT, "%s country %s is blocked" % (who, country))
        for who, name in (("debtor", p.debtor), ("creditor", p.creditor)):
            score, listed = best_match(name, self.sanctions)
            if listed is not None and score >= self.score_min:
                d.fire("R-SANCTIONS", REJECT, "%s %r matches listed %r (%d.%d%%)"
                       % (who, name, listed, score // 10, score % 10))
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
        key = normalise(p.debtor)
        recent = [(t, v) for t, v in self.history.get(key, []) if now_s - t < window]
        if floor <= usd.minor < self.threshold.minor:
            recent.append((now_s, usd.minor))
            near = [v for t, v in recent if floor <= v < self.threshold.minor]
            if len(near) >= count:
                d.fire("R-STRUCTURING", HOLD, "%d payments from %r just under the threshold within %d s"
                       % (len(near), p.debtor, window))
        self.history[key] = recent
        return d
