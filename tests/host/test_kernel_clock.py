"""kernel/clock.py: the board's UTC clock is a monotonic clock plus an offset
that only a task with the clock capability sets (KCTL_TIME), refused when
implausible, never invented; the 25 MHz counter under it keeps real time
when the tick count falls behind. Under CPython and MicroPython."""
import random

import pytest

from kernel import abi, clock, errors as E
from tests.host import upy
from tests.host.test_kernel_kctl import kctl_call, reply_of
from tests.host.test_kernel_loop import boot, mf, run

HZ = 25000000
PER_MS = HZ // 1000
BUILT = 1764633600000           # 2025-12-02T00:00:00Z


class Board:
    """A counter at 25 MHz since reset and a tick count that can lag it."""

    def __init__(self):
        self.count = 0          # full counter value (counts since reset)
        self.lag_ms = 0         # ms the tick count is behind

    def now(self):
        return self.count // PER_MS - self.lag_ms

    def counter(self):
        return self.count & 0xFFFFFFFF


def test_extend_finds_the_full_count_within_half_a_wrap():
    rng = random.Random(3)
    for _ in range(20000):
        full = rng.randrange(1 << 48)
        approx = full + rng.randrange(-(1 << 31) + 1, 1 << 31)
        assert clock.extend(full & 0xFFFFFFFF, approx) == full


def test_unset_is_none_and_a_set_keeps_time_across_counter_wraps():
    b = Board()
    c = clock.Clock(b.now, b.counter, HZ, BUILT)
    assert c.utc_ms() is None and c.status()["utc_ms"] is None and c.status()["source"] is None
    b.count = 5 * PER_MS
    c.set(BUILT + 1000, "operator")
    assert c.utc_ms() == BUILT + 1000 and c.correction is None
    for _ in range(10):                         # 10 wraps of the 32-bit counter (171.8 s each)
        b.count += 1 << 32
    assert c.utc_ms() == BUILT + 1000 + 10 * (1 << 32) // PER_MS
    st = c.status()
    assert st["source"] == "operator" and st["set_ago_ms"] == 10 * (1 << 32) // PER_MS and st["sets"] == 1


def test_the_counter_keeps_real_time_when_ticks_fall_behind():
    """A loaded emulator drops timer interrupts: the tick count lags, the
    counter does not; UTC follows the counter while the lag is under 85 s."""
    b = Board()
    c = clock.Clock(b.now, b.counter, HZ, BUILT)
    c.set(BUILT, "host")
    b.count += 300000 * PER_MS                  # five minutes pass...
    b.lag_ms = 40000                            # ...of which the ticks missed 40 s
    assert c.utc_ms() == BUILT + 300000
    ticks_only = clock.Clock(b.now)             # a board without a counter: the ticks are all it has
    ticks_only.set(BUILT, "host")
    b.count += 1000 * PER_MS
    assert ticks_only.utc_ms() == BUILT + 1000


def test_a_second_set_records_the_correction():
    b = Board()
    c = clock.Clock(b.now, b.counter, HZ, BUILT)
    c.set(BUILT + 10000, "host")
    b.count += 60000 * PER_MS
    c.set(BUILT + 70250, "sntp")
    assert c.correction == 250 and c.source == "sntp" and c.sets == 2 and c.utc_ms() == BUILT + 70250


@pytest.mark.parametrize("value,source,why", [
    (BUILT - 1, "operator", "before this firmware was built"), (0, "operator", "before"),
    (clock.MAX_MS + 1, "operator", "past 9999"), (1.5e12, "operator", "must be an int"),
    (True, "operator", "must be an int"), ("1764633600000", "operator", "must be an int"),
    (BUILT, "gps", "not operator, host or sntp"),
])
def test_implausible_sets_are_refused_and_change_nothing(value, source, why):
    b = Board()
    c = clock.Clock(b.now, b.counter, HZ, BUILT)
    c.set(BUILT + 5, "host")
    with pytest.raises(ValueError, match=why):
        c.set(value, source)
    assert c.utc_ms() == BUILT + 5 and c.source == "host" and c.sets == 1


def waiter(sys):
    yield from sys.wait(1 << 30)


def system():
    ms = [mf("op", kernel=True, console="read", entry="w"), mf("plain", entry="w")]
    ms[0].clock = True
    k, sim = boot({"w": waiter}, ms)
    run(k, until=lambda: all(k.state_of(t) == "blocked" for t in k.live()))
    k.clock.floor_ms = BUILT
    return k, sim


def put(k, tid, text):
    k.trap.write(tid, k.tasks[tid].base, text)


def test_kctl_time_reads_for_anyone_and_sets_only_with_the_clock_capability():
    k, sim = system()
    r = kctl_call(k, 2, abi.KCTL_TIME, 0)
    assert r[0] > 0 and reply_of(k, 2, r)["utc_ms"] is None
    put(k, 2, b"%d sntp" % (BUILT + 7))
    assert kctl_call(k, 2, abi.KCTL_TIME, 1) == (-E.NOT_PERMITTED, 0)
    assert k.clock.utc_ms() is None
    put(k, 1, b"%d operator\0" % (BUILT + 7))
    r = kctl_call(k, 1, abi.KCTL_TIME, 1)
    assert r[0] > 0 and reply_of(k, 1, r)["utc_ms"] == BUILT + 7 and reply_of(k, 1, r)["source"] == "operator"
    assert reply_of(k, 2, kctl_call(k, 2, abi.KCTL_TIME, 0))["utc_ms"] == BUILT + 7


@pytest.mark.parametrize("text", [b"", b"1764633600000", b"17646336000x0 host", b"-1764633600000 host",
                                  b"1764633600000 host extra", b"99999999999999999 host", b"1 host",
                                  b"1764633600000 gps", b"\xff\xfe host"])
def test_kctl_time_refuses_a_malformed_or_implausible_set(text):
    k, sim = system()
    put(k, 1, text + b"\0")
    assert kctl_call(k, 1, abi.KCTL_TIME, 1) == (-E.BAD_ARGUMENT, 0)
    assert k.clock.utc_ms() is None
    assert kctl_call(k, 1, abi.KCTL_TIME, 2) == (-E.BAD_ARGUMENT, 0)
    k.check()


def test_micropython_extends_and_sets_as_cpython_does():
    rng = random.Random(5)
    cases = []
    for _ in range(500):
        full = rng.randrange(1 << 48)
        cases.append([full & 0xFFFFFFFF, full + rng.randrange(-(1 << 31) + 1, 1 << 31)])
    script = """
import json
from kernel import clock
out = [clock.extend(c, a) for c, a in %s]
state = {"count": 5 * 25000}
c = clock.Clock(lambda: state["count"] // 25000 - 40000 * (state["count"] > 10**9),
                lambda: state["count"] & 0xFFFFFFFF, 25000000, %d)
errs = []
for v in (%d, 0, 1.5, True):
    try:
        c.set(v, "host")
    except ValueError as e:
        errs.append(str(e))
state["count"] += 300000 * 25000 + (1 << 32) * 3
print(json.dumps([out, c.utc_ms(), errs]))
""" % (cases, BUILT, BUILT + 1)
    out, now, errs = __import__("json").loads(upy.run(script))
    assert out == [clock.extend(c, a) for c, a in cases]
    assert now == BUILT + 1 + 300000 + 3 * (1 << 32) // PER_MS
    assert len(errs) == 3 and "before this firmware" in errs[0] and "must be an int" in errs[1]
