"""The kernel on MicroPython, the interpreter it runs under on the board:
the same seeded random worlds as tests/host/test_fastpath.py (tasks that
call, receive, reply to stale handles, notify, wait, yield, sleep, fault,
exit, and a control task that kills and restarts them), run on the
simulated trap layer by MicroPython's unix port and by CPython, must give
the same history: every step of every task in order and time, every
result, every console line and the fault log. A kernel rule that leans on
something only CPython does (dict order, int or bytes semantics, an
exception type) shows here, with the seed."""
import json
import os

from tests.host import upy
from tests.host.sim_world import World

SEEDS = range(int(os.environ.get("QX_UPY_SEEDS", "40")))

SCRIPT = """
import json
sys.path.insert(0, %r)
from sim_world import World


def canon(x):
    if isinstance(x, (bytes, bytearray)):
        return "b:" + "".join("%%02x" %% c for c in x)
    if isinstance(x, (list, tuple)):
        return [canon(y) for y in x]
    if isinstance(x, dict):
        return {k: canon(x[k]) for k in x}
    return x


for seed in %r:
    print(json.dumps(canon(World(seed, False).run())))
"""


def canon(x):
    if isinstance(x, (bytes, bytearray)):
        return "b:" + x.hex()
    if isinstance(x, (list, tuple)):
        return [canon(y) for y in x]
    if isinstance(x, dict):
        return {k: canon(v) for k, v in x.items()}
    return x


def test_random_worlds_give_the_same_history_on_micropython_and_cpython():
    out = upy.run(SCRIPT % (os.path.dirname(os.path.abspath(__file__)), list(SEEDS)), timeout=240)
    got = [json.loads(line) for line in out.splitlines()]
    assert len(got) == len(SEEDS)
    events = 0
    for seed, mine in zip(SEEDS, got):
        want = canon(World(seed, False).run())
        for key in ("runs", "events", "console", "faults"):
            if mine[key] != want[key]:
                i = next(i for i in range(min(len(mine[key]), len(want[key])) + 1)
                         if i >= min(len(mine[key]), len(want[key])) or mine[key][i] != want[key][i])
                raise AssertionError("seed %d: the %s differ at #%d: MicroPython %r, CPython %r"
                                     % (seed, key, i, mine[key][i:i + 1], want[key][i:i + 1]))
        events += len(want["events"])
    assert events > 100 * len(SEEDS), events        # the worlds did something
