"""The gateway on MicroPython, as on the board: seeded streams of pacs.008,
pain.001, MT103 and FIX messages (tests/host/gateway_world.py: amounts,
parties, currencies and ids varied, bytes changed and messages cut short)
through the real gateway, compliance engine, risk limits and ledger state
machine, run by MicroPython's unix port and by CPython, must give the same
answers, audit entries, balances and counters, message by message. The
parsers (XML, FIX, MT, decimal money) are where CPython and MicroPython
differ most (str methods, Unicode, int conversion), so they are here."""
import json
import os

from tests.host import gateway_world, upy

SEEDS = range(int(os.environ.get("QX_UPY_SEEDS", "6")))
N = 300
HOST = os.path.dirname(os.path.abspath(__file__))


def test_message_streams_give_the_same_answers_on_micropython_and_cpython():
    script = ("sys.path.insert(0, %r)\nimport json, gateway_world\nfor s in %r:\n"
              "    print(json.dumps(gateway_world.run(%r, s, %d)))\n" % (HOST, list(SEEDS), upy.ROOT, N))
    got = [json.loads(line) for line in upy.run(script, timeout=240).splitlines()]
    assert len(got) == len(SEEDS)
    seen = set()
    for seed, mine in zip(SEEDS, got):
        want = json.loads(json.dumps(gateway_world.run(upy.ROOT, seed, N)))
        for key in ("answers", "audit", "balances", "stats"):
            if mine[key] != want[key]:
                if isinstance(want[key], list):
                    i = next(i for i in range(len(want[key])) if i >= len(mine[key]) or mine[key][i] != want[key][i])
                    raise AssertionError("seed %d: %s #%d differs:\nMicroPython %r\nCPython     %r"
                                         % (seed, key, i, mine[key][i:i + 1], want[key][i]))
                raise AssertionError("seed %d: %s differ: MicroPython %r, CPython %r" % (seed, key, mine[key], want[key]))
        for a in want["answers"]:
            for word in ("ACSC", "RJCT", "PDNG", "35=8", "35=3", "MT103 rejected", "ACCP"):
                if word in a:
                    seen.add(word)
    # the streams went through acceptance, rejection, holds, FIX executions and refusals
    assert {"ACSC", "RJCT", "PDNG", "35=8", "MT103 rejected"} <= seen, seen
    # and posted in other currencies than USD, on their own ledgers' accounts (JPY, BHD: 0 and 3 decimals)
    posted = {a for want in [gateway_world.run(upy.ROOT, s, N) for s in SEEDS]
              for a, debits, credits, _, _ in want["balances"] if debits or credits}
    assert {21, 22} <= posted and ({41, 42} & posted or {61, 62} & posted), posted
