"""The fuzz harnesses in `make test` (tests/fuzz/targets.py):

(a) every committed input -- the seed corpus (tests/fuzz/corpus/TARGET/) and the
    regression inputs (tests/fuzz/regressions/TARGET/: each crash found so far) -- run
    through its target under plain CPython, one test case per input;
(b) atheris on each target for a short, fixed budget with a fixed seed
    (tests/fuzz/run.py --runs FUZZ_TEST_RUNS --seed 1), in a subprocess with a timeout.

A case fails with the exception and the place it was raised. `make fuzz` is the long
run (README, "Fuzzing")."""
import os
import subprocess
import sys
import time
import traceback

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import targets  # noqa: E402
from run import TARGETS, location  # noqa: E402

RUNS = int(os.environ.get("FUZZ_TEST_RUNS", "2000"))
SLOW_S = 10            # one input taking longer than this is a hang


def inputs():
    out = []
    for kind in ("corpus", "regressions"):
        for target in TARGETS:
            d = os.path.join(HERE, kind, target)
            for name in sorted(os.listdir(d)) if os.path.isdir(d) else ():
                out.append(pytest.param(target, os.path.join(d, name), id="%s/%s/%s" % (kind, target, name)))
    return out


def test_every_target_has_a_corpus():
    assert sorted(targets.TARGETS) == sorted(TARGETS)
    for target in TARGETS:
        assert os.listdir(os.path.join(HERE, "corpus", target)), target


@pytest.mark.timeout(60)
@pytest.mark.parametrize("target,path", inputs())
def test_input_is_handled_cleanly(target, path):
    data = open(path, "rb").read()
    t0 = time.monotonic()
    crash = None
    try:
        targets.TARGETS[target](data)
    except Exception as e:
        where, line, fn = location(e)
        crash = "%s crashes target %s: %s: %s\n  at %s:%d (%s)\n\n%s" % (
            os.path.relpath(path, HERE), target, type(e).__name__, str(e)[:300], where, line, fn,
            "".join(traceback.format_exception(type(e), e, e.__traceback__)))
    if crash:
        pytest.fail(crash, pytrace=False)
    dt = time.monotonic() - t0
    assert dt < SLOW_S, "%s took %.1f s in target %s (a hang)" % (path, dt, target)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("target", TARGETS)
def test_a_short_fuzz_run_finds_no_crash(target):
    pytest.importorskip("atheris")
    cmd = [sys.executable, os.path.join(HERE, "run.py"), target, "--runs", str(RUNS), "--seed", "1", "--timeout", "10"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=150)
    except subprocess.TimeoutExpired:
        pytest.fail("fuzzing %s for %d runs did not end in 150 s" % (target, RUNS), pytrace=False)
    if r.returncode != 0:
        lines = [x for x in r.stderr.splitlines() if x.startswith("fuzz:")] + r.stdout.splitlines()
        tb = r.stderr
        if "Uncaught Python exception" in tb:                 # atheris's report: just the traceback
            tb = tb[tb.index("Uncaught Python exception"):]
            tb = tb[:tb.find("\n==")] if "\n==" in tb else tb
        pytest.fail("atheris found a crash in %s (%d runs, seed 1):\n%s\n\n%s" % (
            target, RUNS, "\n".join(lines), tb[-3000:]), pytrace=False)
