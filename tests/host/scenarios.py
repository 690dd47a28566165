"""Scenario logs in a form both interpreters print alike: the host tests run a
module's scenarios (a SCENARIOS tuple of function names, each returning a log)
under CPython and ask MicroPython's unix port for the same (tests/host/upy.py
same_logs). Plain Python: MicroPython imports it too."""


def canon(x):
    """x with bytes as "b:<hex>" and tuples as lists (JSON's own shapes)."""
    if isinstance(x, (bytes, bytearray)):
        return "b:" + "".join(["%02x" % c for c in x])
    if isinstance(x, (list, tuple)):
        return [canon(y) for y in x]
    if isinstance(x, dict):
        out = {}
        for k in x:
            out[k] = canon(x[k])
        return out
    return x


def logs(module):
    """{scenario name: its canon() log} of every scenario of module."""
    out = {}
    for name in module.SCENARIOS:
        out[name] = canon(getattr(module, name)())
    return out
