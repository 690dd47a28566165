"""Runs board code under MicroPython's unix port, built by `make build` from
the same pinned tree as the firmware (build/upy/micropython): a host test
computes what CPython's run of a module gives and asks MicroPython for the
same, so a module that only works on CPython fails on the host, not on the
board. The port is 64-bit (small ints of 63 bits where the board has 31):
behaviour is the same, only which ints are heap objects differs."""
import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UPY = os.path.join(ROOT, "build", "upy", "micropython")


def run(script, stdin="", timeout=120):
    """stdout of `script` (Python source) run by MicroPython with the
    repository root on its path; AssertionError with its stderr if it fails."""
    assert os.access(UPY, os.X_OK), "%s is missing: `make build` builds it" % UPY
    p = subprocess.run([UPY, "-X", "heapsize=64M", "-c", "import sys\nsys.path.insert(0, %r)\n%s" % (ROOT, script)],
                       input=stdin, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, "MicroPython failed (%d):\n%s%s" % (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return p.stdout


def call_each(module, calls, timeout=120):
    """[[ok, value or (error class name, message)], ...] of each (function
    name, args) in `calls`, as `module` (dotted) under MicroPython gives them;
    arguments and results pass as JSON."""
    script = """
import json
import %s as m
out = []
for name, args in json.loads(sys.stdin.read()):
    try:
        r = getattr(m, name)(*args)
        out.append([True, list(r) if isinstance(r, tuple) else r])
    except Exception as e:
        out.append([False, [type(e).__name__, str(e)]])
print(json.dumps(out))
""" % module
    return json.loads(run(script, json.dumps(calls), timeout))


def call_each_cpython(mod, calls):
    """The same as call_each for the module object `mod` under CPython."""
    out = []
    for name, args in calls:
        try:
            r = getattr(mod, name)(*args)
            out.append([True, list(r) if isinstance(r, tuple) else r])
        except Exception as e:
            out.append([False, [type(e).__name__, str(e)]])
    return out


def same_logs(module, timeout=300):
    """Assert that tests.host.<module>'s scenarios (tests/host/scenarios.py)
    log the same under MicroPython as under CPython."""
    import importlib
    from tests.host import scenarios
    script = ("import json\nfrom tests.host import scenarios, %s as m\n"
              "print(json.dumps(scenarios.logs(m)))\n" % module)
    got = json.loads(run(script, timeout=timeout))
    assert got == scenarios.logs(importlib.import_module("tests.host." + module))
