"""Runs the money test vectors (tests/vectors/money.txt): the same file on
the host (tests/host/test_money.py) and on the device (the moneycheck task).

A line: OP ARGS... = EXPECTED, where OP is
    parse TEXT CUR            -> formatted money, or !code
    add A CUR B CUR           -> formatted, or !code
    sub A CUR B CUR
    mul A CUR RATE MODE
    div A CUR DIVISOR MODE
    alloc A CUR R1,R2,...     -> parts joined by " + "
Blank lines and lines starting with # are skipped."""
from userland.lib.money import Money, MoneyError


def _one(op, a):
    if op == "parse":
        return str(Money.parse(a[0] + " " + a[1]))
    if op in ("add", "sub"):
        x, y = Money.parse(a[0] + " " + a[1]), Money.parse(a[2] + " " + a[3])
        return str(x + y if op == "add" else x - y)
    if op == "mul":
        return str(Money.parse(a[0] + " " + a[1]).multiply(a[2], a[3]))
    if op == "div":
        return str(Money.parse(a[0] + " " + a[1]).divide(a[2], a[3]))
    if op == "alloc":
        ratios = [int(x) for x in a[2].split(",")]
        return " + ".join(str(p) for p in Money.parse(a[0] + " " + a[1]).allocate(ratios))
    raise ValueError("unknown operation %r" % op)


def run(text):
    """(list of failure descriptions, number of vectors run)."""
    failures = []
    count = 0
    for line in text.split("\n"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        left, _, want = line.partition(" = ")
        words = left.split()
        count += 1
        try:
            got = _one(words[0], words[1:])
        except MoneyError as e:
            got = "!" + e.code
        if got != want:
            failures.append("%s: got %s" % (line, got))
    return failures, count
