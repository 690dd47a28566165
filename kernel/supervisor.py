"""Restart policy: after a task faults, restart it or not, and when.

Holds the decision only, a pure function of the task's manifest and how
many automatic restarts it has had in a row (its `streak`). It does not
keep timers, free memory or start tasks: the kernel does, with what
decide() returns.

Policy, per manifest `restart`:
  never      the task stays down ("faulted")
  always     restart after every fault
  limit N    restart after the first N faults of a streak; the N+1-th
             leaves it down
A task that exits (SYS_EXIT or main() returning) is never restarted: it
meant to stop. An operator start or restart (KCTL) begins a new streak, and
so does a fault after the task ran HEALTHY_MS since its last start (a task
that crashes once a day is not stopped on the N+1-th day).

Backoff: the first restart of a streak waits backoff_ms, each next one
twice the previous, capped at max(backoff_ms, BACKOFF_CAP_MS):
  delay(streak) = min(backoff_ms * 2**streak, max(backoff_ms, BACKOFF_CAP_MS))
so backoff_ms = 100 gives 100, 200, 400, ... 51200, 60000, 60000 ms.
Integers only; runs under MicroPython and CPython.
"""

BACKOFF_CAP_MS = 60000
HEALTHY_MS = 60000


def delay_ms(backoff_ms, streak):
    """Wait before restart number streak + 1 of a streak (streak >= 0)."""
    cap = backoff_ms if backoff_ms > BACKOFF_CAP_MS else BACKOFF_CAP_MS
    if backoff_ms == 0:
        return 0
    d = backoff_ms
    n = streak
    while n > 0 and d < cap:
        d <<= 1
        n -= 1
    return d if d < cap else cap


def decide(m, streak, ran_ms):
    """What to do with a task (manifest m) that just faulted after running
    ran_ms since its last start, having had `streak` automatic restarts in
    a row. Returns (delay_ms or None, streak, action): delay None means no
    restart; streak is the task's new count; action ends the fault line."""
    if ran_ms >= HEALTHY_MS:
        streak = 0
    if m.restart == "never":
        return None, streak, "stopped (restart = never)"
    if m.restart == "limit" and streak >= m.restart_limit:
        return None, streak, "stopped (restart limit %d reached)" % m.restart_limit
    d = delay_ms(m.backoff_ms, streak)
    if m.restart == "limit":
        return d, streak + 1, "restart %d/%d in %d ms" % (streak + 1, m.restart_limit, d)
    return d, streak + 1, "restart in %d ms" % d
