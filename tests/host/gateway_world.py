"""A seeded stream of messages through the whole gateway (userland/gateway/
service.py with the real compliance engine, risk limits and ledger state
machine): the vectors' pacs.008, pain.001, MT103 and FIX orders, with
amounts, parties, currencies, ids and bytes varied by a seeded Rng
(kernel/sim.py, the same numbers on every interpreter). run() returns
every answer, every audit entry and the ledger's balances, for
tests/host/test_gateway_upy.py to compare MicroPython with CPython.
Plain Python: MicroPython imports it from tests/host (no pytest here)."""
import json

from kernel.sim import Rng
from userland.compliance.engine import Engine
from userland.compliance.risk import Risk
from userland.gateway import service
from userland.ledger.state import Account, Ledger, Transfer

def _read(root, *path):
    with open("/".join((root,) + path)) as f:
        return f.read()


def _fix(seq, mtype, pairs):
    """A FIX 4.4 message from the host session HOST to QENEX, with its
    BodyLength and CheckSum (the counterparty's framing)."""
    body = "35=%s\x0149=HOST\x0156=QENEX\x0134=%d\x0152=20261126-10:00:00\x01" % (mtype, seq)
    body += "".join("%s=%s\x01" % (t, v) for t, v in pairs)
    head = "8=FIX.4.4\x019=%d\x01" % len(body)
    total = sum(bytearray((head + body).encode())) % 256
    return (head + body + "10=%03d\x01" % total).encode()


CCY_AMOUNTS = {"JPY": ("125050", "1250.5", "0"), "BHD": ("1250.505", "1.5055", "0.001")}


def run(root, seed, n):
    rng = Rng(seed)
    rules = json.loads(_read(root, "userland", "compliance", "rules.json"))
    vec = (root, "tests", "vectors", "gateway")
    pacs, pain, mt = _read(*vec + ("pacs008.xml",)), _read(*vec + ("pain001.xml",)), _read(*vec + ("mt103.txt",))
    L = Ledger()
    L.create_accounts([Account(i, 1, 1) for i in (1, 2, 3)])
    # each currency's ledger (rules.json) has accounts L*10+1 and L*10+2
    L.create_accounts([Account(l * 10 + j, l, 1) for c, l in sorted(rules["ledgers"].items()) if c != "USD"
                       for j in (1, 2)])
    audit = []
    clock = [1795687200000]

    def post(tid, dr, cr, amount, ledger):
        return L.create_transfers([Transfer(tid, dr, cr, amount, ledger, 1)])[0]
    g = service.Gateway(Engine(rules), Risk(rules["risk"]), post, audit.append, rules["ledgers"],
                        lambda: clock[0] // 1000, lambda: clock[0], ticks=lambda: clock[0] % 100000)
    out = []
    fix_seq = 1
    out.append(g.submit("FIX", _fix(fix_seq, "A", [("98", "0"), ("108", "30")])))
    amounts = ("1250.50", "9500.00", "0.01", "12.345", "1e3", "99999999999.99", "-5", "000100.10", "")
    names = ("Bob Example Ltd", "Ivan Sanctionov", "A" * 80, "\u00c9milie", "")
    for i in range(n):
        clock[0] += rng.randint(0, 4000)
        kind = rng.below(5)
        if kind == 0:
            msg = pacs.replace("QX-20261126-0001", "M-%d-%d" % (seed, rng.below(40)))
            msg = msg.replace(">1250.50<", ">%s<" % rng.choice(amounts))
            msg = msg.replace("Bob Example Ltd", rng.choice(names))
            if rng.chance(300):             # another currency, on its own ledger's accounts, its own decimals
                ccy = rng.choice(("EUR", "JPY", "BHD", "GBP", "XXX", "usd"))
                msg = msg.replace('"USD"', '"%s"' % ccy)
                if ccy in rules["ledgers"]:
                    l = rules["ledgers"][ccy]
                    msg = msg.replace("<Id>1</Id>", "<Id>%d</Id>" % (l * 10 + 1))
                    msg = msg.replace("<Id>2</Id>", "<Id>%d</Id>" % (l * 10 + 2))
                    msg = msg.replace(">1250.50<", ">%s<" % rng.choice(CCY_AMOUNTS.get(ccy, ("1250.50",))))
            k = "pacs.008"
        elif kind == 1:
            msg, k = pain.replace(">1250.50<", ">%s<" % rng.choice(amounts)), "pain.001"
        elif kind == 2:
            msg = mt.replace("QXREF0001", "QXREF%04d" % rng.below(30))
            msg = msg.replace("1250,50", rng.choice(("1250,50", "9500,", "0,01", "1,234", "x")))
            k = "MT103"
        else:
            fix_seq += 1
            side, qty = rng.choice(("1", "2", "9")), rng.choice(("100", "0", "-1", "1000000", "x"))
            px = rng.choice(("101.00", "150.00", "99.5", "abc", ""))
            msg = _fix(fix_seq, rng.choice(("D", "D", "D", "F", "0")),
                       [("11", "O%d" % rng.below(20)), ("41", "O%d" % rng.below(20)), ("55", "QNX"), ("54", side),
                        ("38", qty), ("40", "2"), ("44", px), ("60", "20261126-10:00:00")])
            k = "FIX"
        if not isinstance(msg, bytes):
            msg = msg.encode()
        if rng.chance(150):                         # a byte changed in transit
            j = rng.below(len(msg))
            msg = msg[:j] + bytes([rng.below(256)]) + msg[j + 1:]
        if rng.chance(50):
            msg = msg[:rng.below(len(msg) + 1)]     # cut short
        out.append(g.submit(k, msg))
    balances = [[a, L.accounts[a].debits_posted, L.accounts[a].credits_posted,
                 L.accounts[a].debits_pending, L.accounts[a].credits_pending] for a in sorted(L.accounts)]
    return {"answers": out, "audit": audit, "balances": balances, "stats": g.stats()}
