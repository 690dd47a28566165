"""Host tests of kernel.sched (the scheduler's policy): round-robin fairness,
priority preemption, blocking and idle, counters, every error, and seeded
random operation sequences with check() after every step (a failing seed is
named in the assertion message and replays exactly)."""
import random

import pytest

from kernel import errors, sched
from kernel.errors import KernelError

SLICE = 10


def new(*tasks, slice_ticks=SLICE):
    s = sched.Scheduler(slice_ticks)
    for tid, prio in tasks:
        s.add(tid, prio)
    s.check()
    return s


def run(s, ticks):
    """The kernel loop for CPU-bound tasks: pick, charge a tick. Returns
    {tid or None: ticks run}."""
    ran = {}
    for _ in range(ticks):
        tid = s.pick()
        ran[tid] = ran.get(tid, 0) + 1
        s.tick(tid)
        s.check()
    return ran


def code_of(fn, *args):
    with pytest.raises(KernelError) as info:
        fn(*args)
    return info.value.code


# ---- round robin --------------------------------------------------------------

def test_three_equal_tasks_share_the_cpu_within_one_slice():
    s = new((1, 4), (2, 4), (3, 4))
    ran = run(s, 3000)
    assert set(ran) == {1, 2, 3}
    for tid in (1, 2, 3):
        assert abs(ran[tid] - 1000) <= SLICE, ran
        assert s.info(tid)["ticks"] == ran[tid]


@pytest.mark.parametrize("slice_ticks, ticks", [(1, 3000), (7, 3000), (10, 2995), (50, 3001)])
def test_fairness_holds_for_other_slices_and_uneven_totals(slice_ticks, ticks):
    s = new((1, 4), (2, 4), (3, 4), slice_ticks=slice_ticks)
    ran = run(s, ticks)
    for tid in (1, 2, 3):
        assert abs(ran[tid] - ticks // 3) <= slice_ticks, ran


def test_round_robin_order_and_slice_length():
    s = new((1, 4), (2, 4), (3, 4))
    order = []
    for _ in range(6 * SLICE):
        tid = s.pick()
        order.append(tid)
        s.tick(tid)
    assert order == [1] * SLICE + [2] * SLICE + [3] * SLICE + [1] * SLICE + [2] * SLICE + [3] * SLICE


def test_tick_reports_expiry_only_when_a_peer_waits():
    s = new((1, 4))
    assert s.pick() == 1
    for _ in range(5 * SLICE):
        assert s.tick(1) is False           # alone: slice renewed, never a switch
        assert s.pick() == 1
    assert s.info(1)["slices"] == 5
    assert s.info(1)["switches"] == 1
    s.add(2, 4)
    for _ in range(SLICE - 1):
        assert s.tick(1) is False
    assert s.tick(1) is True
    assert s.pick() == 2


def test_counters():
    s = new((1, 4), (2, 4))
    run(s, 4 * SLICE)
    for tid in (1, 2):
        i = s.info(tid)
        assert (i["ticks"], i["slices"], i["switches"]) == (2 * SLICE, 2, 2)


def test_yield_moves_task_to_the_back():
    s = new((1, 4), (2, 4), (3, 4))
    assert s.pick() == 1
    s.tick(1)
    s.yield_(1)
    s.check()
    assert s.pick() == 2
    s.yield_(2)
    assert s.pick() == 3
    s.yield_(3)
    assert s.pick() == 1
    s.yield_(2)                             # a ready task yielding: to the back too
    s.check()
    assert s.queues[4] == [3, 2]


def test_yield_alone_keeps_running():
    s = new((1, 4))
    assert s.pick() == 1
    s.yield_(1)
    assert s.pick() == 1
    assert s.info(1)["switches"] == 2       # it went through the queue again


# ---- priorities ------------------------------------------------------------------

def test_highest_priority_runs_and_lower_starve_while_it_is_ready():
    s = new((1, 5), (2, 2), (3, 7))
    ran = run(s, 500)
    assert ran == {2: 500}


def test_waking_a_higher_priority_task_makes_preemption_due():
    s = new((1, 4), (2, 1))
    s.block(2, "recv")
    assert s.pick() == 1
    s.tick(1)
    s.tick(1)
    assert s.preempt_due(1) is False
    assert s.wake(2) is True
    assert s.preempt_due(1) is True
    assert s.tick(1) is False               # the slice is not what is due
    assert s.pick() == 2
    s.check()
    assert s.queues[4] == [1]               # preempted mid-slice: front of its queue


def test_preempted_task_keeps_its_place_and_the_rest_of_its_slice():
    s = new((1, 4), (2, 4), (9, 0))
    s.block(9, "sleep")
    assert s.pick() == 1
    for _ in range(3):
        s.tick(1)
    s.wake(9)
    assert s.pick() == 9
    s.block(9, "sleep")
    assert s.pick() == 1                    # 1 resumes before its peer 2
    for _ in range(SLICE - 3 - 1):
        assert s.tick(1) is False
    assert s.tick(1) is True                # exactly the rest of the slice
    assert s.pick() == 2


def test_preempted_task_with_spent_slice_goes_to_the_back():
    s = new((1, 4), (2, 4), (9, 0))
    s.block(9, "sleep")
    assert s.pick() == 1
    for _ in range(SLICE):
        s.tick(1)
    s.wake(9)
    assert s.pick() == 9
    s.check()
    assert s.queues[4] == [2, 1]


def test_preempt_due_when_idle_and_equal_priority():
    s = new((1, 4), (2, 4))
    assert s.preempt_due(None) is True
    assert s.pick() == 1
    assert s.preempt_due(1) is False        # equal priority: the slice decides


def test_lower_priority_wake_does_not_preempt():
    s = new((1, 3), (2, 6))
    s.block(2, "recv")
    assert s.pick() == 1
    s.wake(2)
    assert s.preempt_due(1) is False
    assert s.pick() == 1


# ---- blocking and idle --------------------------------------------------------------

def test_blocked_tasks_are_never_picked():
    s = new((1, 4), (2, 4), (3, 0))
    s.block(3, "recv")
    s.block(2, "call 1")
    ran = run(s, 300)
    assert ran == {1: 300}
    assert s.info(3) == {"tid": 3, "prio": 0, "state": "blocked", "reason": "recv",
                         "slices": 0, "switches": 0, "ticks": 0}


def test_idle_when_all_are_blocked():
    s = new((1, 4), (2, 2))
    assert s.pick() == 2
    s.block(2, "sleep")
    assert s.pick() == 1
    s.block(1, "wait")
    assert s.pick() is None
    assert s.tick(None) is False
    assert s.idle_ticks == 1
    assert s.preempt_due(None) is False
    s.wake(1)
    assert s.preempt_due(None) is True
    assert s.pick() == 1


def test_idle_when_empty():
    s = new()
    assert s.pick() is None
    run(s, 5)
    assert s.idle_ticks == 5


def test_wake_of_ready_or_running_task_is_a_no_op():
    s = new((1, 4), (2, 4))
    assert s.pick() == 1
    assert s.wake(1) is False and s.wake(2) is False
    s.check()
    assert s.state(1) == "running" and s.queues[4] == [2]


def test_woken_task_goes_to_the_back_with_a_fresh_slice():
    s = new((1, 4), (2, 4), (3, 4))
    s.block(1, "recv")
    s.wake(1)
    assert s.queues[4] == [2, 3, 1]


def test_kill_and_remove():
    s = new((1, 4), (2, 4))
    assert s.pick() == 1
    s.tick(1)
    s.kill(1)
    s.check()
    assert s.state(1) == "dead" and s.running is None
    assert s.info(1)["ticks"] == 1          # kept for ps
    assert s.pick() == 2
    s.add(1, 3)                             # restart: fresh record, new priority
    s.check()
    assert s.info(1)["ticks"] == 0 and s.info(1)["prio"] == 3
    s.remove(2)
    s.check()
    assert s.tids() == [1]
    assert s.pick() == 1


# ---- errors ---------------------------------------------------------------------------

def test_errors():
    s = new((1, 4), (2, 4))
    s.kill(2)
    assert code_of(sched.Scheduler, 0) == errors.BAD_ARGUMENT
    assert code_of(sched.Scheduler, True) == errors.BAD_ARGUMENT
    assert code_of(s.add, 3, 8) == errors.BAD_ARGUMENT
    assert code_of(s.add, 3, -1) == errors.BAD_ARGUMENT
    assert code_of(s.add, "3", 1) == errors.BAD_ARGUMENT
    assert code_of(s.add, 3, True) == errors.BAD_ARGUMENT
    assert code_of(s.add, 1, 4) == errors.BAD_STATE               # already there
    for fn in (s.remove, s.kill, s.wake, s.yield_, s.state, s.info, s.tick, s.preempt_due):
        assert code_of(fn, 99) == errors.NO_SUCH_TASK
    assert code_of(s.block, 99, "x") == errors.NO_SUCH_TASK
    assert code_of(s.block, 1, "") == errors.BAD_ARGUMENT
    assert code_of(s.block, 1, None) == errors.BAD_ARGUMENT
    assert code_of(s.block, 2, "x") == errors.BAD_STATE           # dead
    assert code_of(s.wake, 2) == errors.BAD_STATE
    assert code_of(s.kill, 2) == errors.BAD_STATE
    assert code_of(s.yield_, 2) == errors.BAD_STATE
    assert code_of(s.tick, 1) == errors.BAD_STATE                 # ready, not running
    s.block(1, "recv")
    assert code_of(s.block, 1, "again") == errors.BAD_STATE
    assert code_of(s.yield_, 1) == errors.BAD_STATE
    s.check()


def test_check_catches_a_task_in_two_places():
    s = new((1, 4), (2, 4))
    s.queues[5].append(1)
    with pytest.raises(AssertionError):
        s.check()
    s = new((1, 4))
    s.block(1, "recv")
    s.queues[4].append(1)
    with pytest.raises(AssertionError, match="blocked task 1 is in a ready queue"):
        s.check()


# ---- seeded random sequences ------------------------------------------------------------

def run_random(seed, steps=2000):
    """Random add/remove/kill/block/wake/yield/tick/pick; check() and the
    policy's promises after every step. Raises AssertionError naming seed
    and step."""
    rng = random.Random(seed)
    s = sched.Scheduler(rng.randint(1, 12))
    op = None
    try:
        for step in range(steps):
            tids = s.tids()
            r = rng.random()
            if r < 0.08 or not tids:
                tid = rng.randint(0, 15)
                prio = rng.randint(0, 7)
                op = ("add", tid, prio)
                t = s.tasks.get(tid)
                if t is None or t.state == "dead":
                    s.add(tid, prio)
                else:
                    assert code_of(s.add, tid, prio) == errors.BAD_STATE
            elif r < 0.11:
                op = ("remove", rng.choice(tids))
                s.remove(op[1])
            elif r < 0.15:
                tid = rng.choice(tids)
                op = ("kill", tid)
                if s.state(tid) == "dead":
                    assert code_of(s.kill, tid) == errors.BAD_STATE
                else:
                    s.kill(tid)
            elif r < 0.30:
                tid = rng.choice(tids)
                op = ("block", tid)
                if s.state(tid) in ("ready", "running"):
                    s.block(tid, rng.choice(["recv", "call 3", "sleep", "wait"]))
                else:
                    assert code_of(s.block, tid, "recv") == errors.BAD_STATE
            elif r < 0.50:
                tid = rng.choice(tids)
                op = ("wake", tid)
                st = s.state(tid)
                if st == "dead":
                    assert code_of(s.wake, tid) == errors.BAD_STATE
                else:
                    assert s.wake(tid) is (st == "blocked")
                    assert s.state(tid) in ("ready", "running")
            elif r < 0.55:
                tid = rng.choice(tids)
                op = ("yield", tid)
                if s.state(tid) in ("ready", "running"):
                    s.yield_(tid)
                    assert s.queues[s.tasks[tid].prio][-1] == tid
                else:
                    assert code_of(s.yield_, tid) == errors.BAD_STATE
            else:
                op = ("pick+tick",)
                ready = [t for t in s.tasks.values() if t.state in ("ready", "running")]
                tid = s.pick()
                if not ready:
                    assert tid is None, "picked %r with nothing ready" % tid
                else:
                    best = min(t.prio for t in ready)
                    assert tid is not None and s.tasks[tid].prio == best, \
                        "picked %r, best priority %d" % (tid, best)
                    assert s.state(tid) == "running"
                    assert not s.preempt_due(tid)
                due = s.tick(tid)
                if due:
                    assert s.queues[s.tasks[tid].prio], "switch due with no peer"
            s.check()
    except (AssertionError, KernelError) as e:
        raise AssertionError("seed %d step %d op %r: %s: %s" % (
            seed, step, op, type(e).__name__, e)) from e


@pytest.mark.parametrize("seed", range(8))
def test_random_operations_keep_invariants(seed):
    run_random(seed)


def test_failing_seed_is_named_in_the_message(monkeypatch):
    monkeypatch.setattr(sched.Scheduler, "check", lambda self: (_ for _ in ()).throw(AssertionError("boom")))
    with pytest.raises(AssertionError, match=r"seed 5 step 0 op .*boom"):
        run_random(5, steps=3)


def test_no_ready_task_waits_forever_among_equals():
    """Starvation check inside one priority: with tasks blocking and waking
    at random, a ready task at the top priority runs within
    (ready peers) * slice ticks."""
    for seed in range(5):
        rng = random.Random(seed)
        s = sched.Scheduler(4)
        for tid in range(6):
            s.add(tid, 2)
        waiting = {}                        # tid -> ticks spent ready
        for step in range(3000):
            r = rng.random()
            tid = rng.randrange(6)
            if r < 0.05 and s.state(tid) in ("ready", "running"):
                s.block(tid, "sleep")
            elif r < 0.15:
                s.wake(tid)
            cur = s.pick()
            for t in s.tasks.values():
                if t.state == "ready":
                    waiting[t.tid] = waiting.get(t.tid, 0) + 1
                else:
                    waiting.pop(t.tid, None)
            s.tick(cur)
            s.check()
            assert max(waiting.values(), default=0) <= 6 * 4, "seed %d step %d: %r" % (seed, step, waiting)


def test_renew_is_a_yield_and_a_run_of_the_running_task():
    """The fast path's replay of a yield that came back, or of a round trip:
    the running task gets a fresh slice and the queues are as they were."""
    a, b = sched.Scheduler(5), sched.Scheduler(5)
    for s in (a, b):
        for tid in (1, 2, 3):
            s.add(tid, 3 if tid != 3 else 4)
        assert s.pick() == 1
        s.charge(1, 3)
    a.renew(1)
    b.yield_(1)
    b.run(1)
    assert a.queues == b.queues and a.running == b.running == 1
    assert a.tasks[1].slice_left == b.tasks[1].slice_left == 5
    with pytest.raises(KernelError) as e:
        a.renew(2)                      # ready, not running
    assert e.value.code == errors.BAD_STATE
