"""Host tests of kernel.kernel through its event loop, on the simulated trap
layer: the ABI numbers, starting and ending tasks with their memory, every
non-IPC syscall with its errors, faults and their console lines, restart
policies with backoff timing, priorities and time slices, sleeping, console
reads, and the KCTL queries and controls the shell uses."""
import json
import random
import re

import pytest

from kernel import abi, errors, manifest, sched, supervisor
from kernel.errors import KernelError
from kernel import kctl
from kernel.kernel import Kernel
from kernel.sim import Sim, SysError

POOL = 0x20000000


def mf(name, prio=4, heap=4096, stack=1024, restart="never", backoff=None, calls="",
       console=True, kernel=False, entry=None):
    text = ("name = %s\nentry = %s\npriority = %d\nheap = %d\nstack = %d\nrestart = %s\n"
            "calls = %s\nconsole = %s\nkernel = %s\n"
            % (name, entry or name, prio, heap, stack, restart, calls,
               console if isinstance(console, str) else "true" if console else "false",
               "true" if kernel else "false"))
    if backoff is not None:
        text += "backoff_ms = %d\n" % backoff
    return manifest.parse(text, "userland/%s/manifest" % name)


def boot(programs, manifests, seed=0, pool=1 << 16, slice_ticks=10, start=True, **simkw):
    sim = Sim(seed, **simkw)
    for entry in programs:
        sim.program(entry, programs[entry])
    k = Kernel(sim, POOL, pool, manifests, slice_ticks=slice_ticks)
    if start:
        k.start_all()
    k.check()
    return k, sim


def run(k, steps=2000, until=None):
    """Step (checking every invariant) until `until()` holds or `steps` ran."""
    for _ in range(steps):
        if until is not None and until():
            return
        k.step()
        k.check()
    assert until is None or until(), "condition not reached in %d steps" % steps


def code(name):
    return getattr(errors, name)


def raw_results(calls, log):
    """A program making raw syscalls [(no, args)], logging each (r0, r1)."""
    def prog(sys):
        for no, args in calls:
            r = yield sys.raw(no, *args)
            log.append(r)
    return prog


def fault_lines(sim):
    return [ln for ln in sim.lines() if ln.startswith("fault: ")]


# ---- the ABI -------------------------------------------------------------------

def test_abi_numbers_are_the_documented_ones():
    assert [abi.SYS_EXIT, abi.SYS_YIELD, abi.SYS_SLEEP, abi.SYS_TICKS, abi.SYS_WRITE, abi.SYS_READ,
            abi.SYS_CALL, abi.SYS_RECV, abi.SYS_REPLY, abi.SYS_NOTIFY, abi.SYS_WAIT, abi.SYS_LOOKUP,
            abi.SYS_KCTL, abi.SYS_IRQ, abi.SYS_UART] == list(range(15))
    assert [abi.SYS_CALL_LEASE, abi.SYS_BORROW] == [15, 16]
    assert abi.MSG_MAX == 256 and abi.NARGS == 5 and abi.NSYSCALLS == 17
    assert [abi.EV_SYSCALL, abi.EV_TICK, abi.EV_IRQ, abi.EV_FAULT, abi.EV_EXIT] == [0, 1, 2, 3, 4]
    assert abi.IRQ_CONSOLE == 1
    assert [abi.KCTL_PS, abi.KCTL_MEM, abi.KCTL_FAULTS, abi.KCTL_IPC, abi.KCTL_KILL, abi.KCTL_START,
            abi.KCTL_RESTART, abi.KCTL_REBOOT, abi.KCTL_POWEROFF, abi.KCTL_TASKS] == list(range(10))


def test_abi_table_lists_every_number_for_the_c_header_check():
    t = dict(abi.table())
    assert t["SYS_KCTL"] == 12 and t["MSG_MAX"] == 256 and t["KCTL_TASKS"] == 9
    assert t["IRQ_CONSOLE"] == 1 and t["EV_EXIT"] == 4
    assert all(isinstance(v, int) for v in t.values())
    assert [n for n, v in abi.table()] == sorted(t)


# ---- the scheduler's bulk charge ---------------------------------------------------

def test_sched_charge_equals_repeated_ticks():
    rng = random.Random(11)
    for trial in range(300):
        sl = rng.randint(1, 7)
        a, b = sched.Scheduler(sl), sched.Scheduler(sl)
        tids = list(range(1, rng.randint(2, 4)))
        for s in (a, b):
            for tid in tids:
                s.add(tid, tid % 2)
        for _ in range(20):
            ta, tb = a.pick(), b.pick()
            assert ta == tb
            n = rng.randint(0, 3 * sl)
            ra = False
            for _ in range(n):
                ra = a.tick(ta)
            rb = b.charge(tb, n)
            assert ra == rb, "trial %d" % trial
            for tid in tids:
                x, y = a.tasks[tid], b.tasks[tid]
                assert (x.state, x.slice_left, x.slices, x.ticks) == (y.state, y.slice_left, y.slices, y.ticks), \
                    "trial %d task %d" % (trial, tid)
            if ta is not None and rng.random() < 0.3:       # rivals come and go
                other = rng.choice(tids)
                if other != ta and a.tasks[other].state == "ready":
                    a.block(other, "x")
                    b.block(other, "x")
                elif a.tasks[other].state == "blocked":
                    a.wake(other)
                    b.wake(other)
            a.check()
            b.check()


def test_sched_charge_errors():
    s = sched.Scheduler(5)
    s.add(1, 3)
    with pytest.raises(KernelError) as info:
        s.charge(1, 2)
    assert info.value.code == errors.BAD_STATE
    with pytest.raises(KernelError) as info:
        s.charge(None, -1)
    assert info.value.code == errors.BAD_ARGUMENT
    s.charge(None, 7)
    assert s.idle_ticks == 7


# ---- starting, ending, memory --------------------------------------------------------

def test_start_all_gives_each_task_one_aligned_block_largest_first():
    def idle(sys):
        yield from sys.wait(1)
    ms = [mf("small", heap=4096, stack=1024), mf("big", heap=16384, stack=4096),
          mf("mid", heap=8192, stack=1024)]
    k, sim = boot({"small": idle, "big": idle, "mid": idle}, ms)
    assert [k.tasks[t].size for t in (1, 2, 3)] == [8192, 32768, 16384]
    assert k.tasks[2].base == POOL                       # largest first
    for tid in (1, 2, 3):
        t = k.tasks[tid]
        assert t.base % t.size == 0 and k.buddy.used_by(tid) == t.size
        assert sim.tasks[tid].sys.base == t.base and sim.tasks[tid].sys.stack_size == t.manifest.stack
    assert k.buddy.free_bytes == (1 << 16) - 8192 - 32768 - 16384


def test_tids_follow_manifest_order_and_lookup_finds_stopped_tasks():
    k, sim = boot({}, [mf("a"), mf("b")], start=False)
    assert k.lookup("b") == 2 and k.state_of(2) == "stopped"
    with pytest.raises(KernelError) as info:
        k.lookup("zz")
    assert info.value.code == errors.NO_SUCH_TASK


def test_memory_is_all_back_after_exit_fault_and_kill():
    def quits(sys):
        yield from sys.exit(3)

    def crashes(sys):
        yield
        raise ValueError("boom")

    def waits(sys):
        yield from sys.wait(1)
    k, sim = boot({"quits": quits, "crashes": crashes, "waits": waits},
                  [mf("quits"), mf("crashes"), mf("waits")])
    run(k, until=lambda: k.state_of(1) == "exited" and k.state_of(2) == "faulted")
    assert k.tasks[1].exit_code == 3
    k.kill(3)
    k.check()
    assert k.buddy.free_bytes == 1 << 16 and not k.buddy.allocated
    assert sim.tasks == {} and sim.killed == 3
    assert "exit: task quits (id 1): code 3" in sim.lines()


def test_start_kill_restart_errors():
    def waits(sys):
        yield from sys.wait(1)
    k, sim = boot({"w": waits}, [mf("w")], start=False)
    for fn in (k.kill, k.restart, k.start):
        with pytest.raises(KernelError) as info:
            fn(9)
        assert info.value.code == errors.NO_SUCH_TASK
    with pytest.raises(KernelError) as info:
        k.kill(1)
    assert info.value.code == errors.BAD_STATE
    k.start(1)
    with pytest.raises(KernelError) as info:
        k.start(1)
    assert info.value.code == errors.BAD_STATE
    gen = k.tasks[1].gen
    k.restart(1)
    assert k.tasks[1].gen == gen + 1 and k.tasks[1].restarts == 1
    k.check()


def test_start_failure_in_the_trap_layer_is_a_fault_and_frees_memory():
    k, sim = boot({}, [mf("x")], start=False)
    sim.fail_next_create()
    with pytest.raises(KernelError) as info:
        k.start(1)
    assert info.value.code == errors.BAD_STATE
    assert fault_lines(sim) == ["fault: task x (id 1): start failed: MemoryError: no VM for task 1; "
                                "stopped (restart = never)"]
    assert k.state_of(1) == "faulted" and k.buddy.free_bytes == 1 << 16
    k.check()


def test_missing_entry_module_faults_with_import_error():
    k, sim = boot({}, [mf("ghost", entry="userland.ghost")])
    run(k, until=lambda: k.state_of(1) == "faulted")
    assert fault_lines(sim) == [
        "fault: task ghost (id 1): exception: ImportError: no module named 'userland.ghost'; "
        "stopped (restart = never)"]


# ---- the simple syscalls ------------------------------------------------------------------

def test_exit_codes_including_negative_words():
    def neg(sys):
        yield sys.raw(abi.SYS_EXIT, 0xFFFFFFFF)

    def ret(sys):
        yield

    k, sim = boot({"neg": neg, "ret": ret}, [mf("neg"), mf("ret")])
    run(k, until=lambda: k.state_of(1) == "exited" and k.state_of(2) == "exited")
    assert k.tasks[1].exit_code == -1 and k.tasks[2].exit_code == 0
    assert "exit: task neg (id 1): code -1" in sim.lines()


def test_bad_arguments_are_refused_with_bad_argument():
    log = []
    B = -code("BAD_ARGUMENT")
    calls = [(abi.SYS_SLEEP, ("10",)), (abi.SYS_SLEEP, (-1,)), (abi.SYS_SLEEP, (1 << 32,)),
             (abi.SYS_SLEEP, (True,)), (abi.SYS_SLEEP, (False,)), (abi.SYS_SLEEP, (abi.SLEEP_MAX + 1,)),
             (abi.SYS_EXIT, ("x",)), (abi.SYS_EXIT, (1 << 32,)),
             (abi.SYS_WAIT, (0,)), (abi.SYS_WAIT, (1 << 31,)),
             (abi.SYS_WRITE, (0x10, 4)), (abi.SYS_WRITE, (POOL, 1 << 20)),
             (abi.SYS_LOOKUP, (POOL + 2048, 0)), (abi.SYS_LOOKUP, (POOL + 2048, 16)),
             (abi.SYS_LOOKUP, (0, 3)),
             (abi.SYS_KCTL, (99, 0, 0, 0)), (abi.SYS_KCTL, (abi.KCTL_PS, 0, 0x10, 100)),
             (abi.SYS_TICKS, ())]
    k, sim = boot({"t": raw_results(calls, log)}, [mf("t", kernel=True)])
    run(k, until=lambda: k.state_of(1) == "exited")
    assert log[:-1] == [(B, 0)] * (len(calls) - 1)
    assert log[-1][0] >= 0
    assert fault_lines(sim) == []


def test_unknown_syscall_number_faults_the_task():
    def bad(sys):
        yield sys.raw(99)

    def arity(sys):
        yield ("sys", abi.SYS_YIELD, (0, 0))

    k, sim = boot({"bad": bad, "arity": arity}, [mf("bad"), mf("arity")])
    run(k, until=lambda: k.state_of(1) == "faulted" and k.state_of(2) == "faulted")
    assert sorted(fault_lines(sim)) == [
        "fault: task arity (id 2): bad syscall 1 arguments; stopped (restart = never)",
        "fault: task bad (id 1): bad syscall 99; stopped (restart = never)"]


def test_ticks_and_sleep_zero():
    log = []

    def prog(sys):
        a = yield from sys.ticks()
        yield from sys.sleep(0)
        yield from sys.sleep(25)
        b = yield from sys.ticks()
        log.append((a, b))
    k, sim = boot({"p": prog}, [mf("p")])
    sim.advance(1000)
    run(k, until=lambda: log)
    a, b = log[0]
    assert a == 1000 and 25 <= b - a <= 26


def test_sleep_zero_is_answered_alike_by_step_and_by_its_handler():
    """step() answers a sleep 0 whose other words are zero itself
    (kernel.SLEEP_NOW), any other through dispatch() and sys_sleep: the
    same (0, 0), counted as a syscall either way; False is no 0."""
    log = []
    calls = [(abi.SYS_SLEEP, (0,)), (abi.SYS_SLEEP, (0, 7, 0, 0, 9)), (abi.SYS_SLEEP, (0,)),
             (abi.SYS_SLEEP, (False,))]
    k, sim = boot({"p": raw_results(calls, log)}, [mf("p")])
    run(k, until=lambda: len(log) == len(calls))
    assert log == [(0, 0), (0, 0), (0, 0), (-code("BAD_ARGUMENT"), 0)]
    assert k.tasks[1].syscalls == len(calls)
    assert k.state_of(1) != "faulted" and fault_lines(sim) == []


def test_ticks_splits_large_times_into_r0_and_r1():
    log = []
    k, sim = boot({"p": raw_results([(abi.SYS_TICKS, ())], log)}, [mf("p")])
    sim.advance((1 << 31) + 5)
    run(k, until=lambda: log)
    assert log == [(5, 1)]


def test_sleepers_wake_in_deadline_order_on_time():
    log = []

    def sleeper(ms):
        def prog(sys):
            t0 = yield from sys.ticks()
            yield from sys.sleep(ms)
            t1 = yield from sys.ticks()
            log.append((ms, t1 - t0))
        return prog
    ms = [mf("s30"), mf("s10"), mf("s20"), mf("s10b")]
    k, sim = boot({"s30": sleeper(30), "s10": sleeper(10), "s20": sleeper(20), "s10b": sleeper(10)}, ms)
    run(k, until=lambda: len(log) == 4)
    assert [m for m, d in log] == [10, 10, 20, 30]
    for m, d in log:
        assert m <= d <= m + 1, log


def test_write_needs_console_and_copies_long_text_in_chunks():
    text = bytes(range(32, 127)) * 7          # 665 bytes
    log = []

    def writer(sys):
        n = yield from sys.write(text[:600])
        log.append(n)
        n = yield from sys.write(b"")
        log.append(n)

    def mute(sys):
        try:
            yield from sys.write(b"x")
        except SysError as e:
            log.append(e.code)
    k, sim = boot({"w": writer, "m": mute}, [mf("w"), mf("m", console=False)])
    run(k, until=lambda: len(log) == 3)
    assert sorted(log) == sorted([600, 0, errors.NOT_PERMITTED])
    assert text[:600] in bytes(sim.out)


def test_yield_takes_turns_with_an_equal_priority_task():
    order = []

    def turn(name):
        def prog(sys):
            for _ in range(3):
                order.append(name)
                yield from sys.yield_()
        return prog
    k, sim = boot({"a": turn("a"), "b": turn("b")}, [mf("a"), mf("b")])
    run(k, until=lambda: len(order) == 6)
    assert order == ["a", "b", "a", "b", "a", "b"]


# ---- console reads ----------------------------------------------------------------------

def test_read_blocks_until_input_arrives_and_only_the_console_task_gets_it():
    got = []

    def reader(sys):
        while True:
            b = yield from sys.read()
            t = yield from sys.ticks()
            got.append((sys.tid, b, t))

    def deaf(sys):
        try:
            yield from sys.read()
        except SysError as e:
            got.append(("deaf", e.code))
    k, sim = boot({"r": reader, "deaf": deaf}, [mf("shell", entry="r", console="read"),
                                                mf("r2", entry="r", console="read"),
                                                mf("deaf", console=False), mf("w", entry="deaf")])
    assert k.console_tid == 1 and k.console_owner == 1
    run(k, until=lambda: k.state_of(1) == "blocked" and k.state_of(2) == "blocked" and len(got) == 2)
    assert got == [("deaf", errors.NOT_PERMITTED)] * 2      # console = false, and = true (write)
    assert k.sched.info(1)["reason"] == "read" and sim.watched == abi.IRQ_CONSOLE
    assert k.sched.info(2)["reason"] == "read"               # waits in the background
    sim.feed(b"ab", at_ms=50)
    sim.feed(b"c", at_ms=80)
    run(k, until=lambda: len(got) == 5)
    assert got[2:] == [(1, ord("a"), 50), (1, ord("b"), 50), (1, ord("c"), 80)]
    run(k, until=lambda: k.state_of(1) == "blocked")
    assert k.readers == [2, 1] and sim.input == []


def test_a_background_reader_never_takes_a_byte_and_a_poll_finds_none():
    got = []

    def shell(sys):
        yield from sys.sleep(100)
        while True:
            got.append(("shell", (yield from sys.read())))

    def bg(sys):
        got.append(("poll", (yield from sys.poll_read())))
        got.append(("bg", (yield from sys.read())))
    k, sim = boot({"shell": shell, "bg": bg}, [mf("shell", console="read", prio=1),
                                              mf("bg", console="read", prio=0)])
    sim.feed(b"hsm login 123456", at_ms=1)
    run(k, until=lambda: len(got) == 17)
    assert got[0] == ("poll", None)
    assert bytes(b for who, b in got[1:]) == b"hsm login 123456"
    assert all(who == "shell" for who, b in got[1:])
    assert k.state_of(2) == "blocked" and k.sched.info(2)["reason"] == "read"


def fg_system(**kw):
    """shell (console task, kernel) and `app` (console = read): app logs
    every byte it gets, and exits on "q"."""
    got = []

    def shell(sys):
        while True:
            b = yield from sys.read()
            got.append(("shell", b))

    def app(sys):
        while True:
            b = yield from sys.read()
            got.append(("app", b))
            if b == ord("q"):
                yield from sys.exit(3)
    k, sim = boot({"shell": shell, "app": app}, [mf("shell", console="read", kernel=True, prio=0),
                                                mf("app", console="read", prio=3, restart="always",
                                                   backoff=10)], **kw)
    return k, sim, got


def test_fg_hands_the_console_over_and_ctrl_z_gives_it_back():
    k, sim, got = fg_system()
    run(k, until=lambda: k.state_of(1) == "blocked" and k.state_of(2) == "blocked")
    k.give_console(2)
    assert b"kernel: console to app (id 2); Ctrl-Z gives it back\n" in sim.out
    sim.feed(b"ab", at_ms=k.now() + 5)
    run(k, until=lambda: len(got) == 2)
    sim.feed(b"x\x1acd", at_ms=k.now() + 5)          # what the task has not read yet is dropped
    run(k, until=lambda: len(got) == 4)
    assert got == [("app", ord("a")), ("app", ord("b")), ("shell", ord("c")), ("shell", ord("d"))]
    assert k.console_owner == 1 and b"kernel: console back to shell (Ctrl-Z; app keeps running)\n" in sim.out
    assert k.state_of(2) == "blocked"
    with pytest.raises(KernelError) as e:
        k.give_console(1)
    assert e.value.code == errors.BAD_STATE


def test_ctrl_z_works_while_the_foreground_task_does_not_read():
    got = []

    def shell(sys):
        while True:
            got.append(("shell", (yield from sys.read())))

    def spin(sys):
        while True:
            yield sys.spin()
    k, sim = boot({"shell": shell, "spin": spin}, [mf("shell", console="read", kernel=True, prio=0),
                                                  mf("spin", console="read", prio=0)])
    run(k, steps=20)
    k.give_console(2)
    sim.feed(b"xy\x1az", at_ms=k.now() + 5)
    run(k, until=lambda: got)
    assert got == [("shell", ord("z"))] and k.console_owner == 1


@pytest.mark.parametrize("how", ["exit", "kill", "fault", "restart"])
def test_the_console_returns_to_the_shell_when_the_foreground_task_ends(how):
    k, sim, got = fg_system()
    run(k, until=lambda: k.state_of(1) == "blocked" and k.state_of(2) == "blocked")
    k.give_console(2)
    if how == "exit":
        sim.feed(b"q", at_ms=k.now() + 1)
        run(k, until=lambda: k.tasks[2].status != "live")
    elif how == "kill":
        k.kill(2)
    elif how == "restart":
        k.restart(2)
    else:
        k.fault(k.tasks[2], "MemManage", 0, 0)
    assert k.console_owner == 1
    assert b"kernel: console back to shell (app ended)\n" in sim.out
    sim.feed(b"z", at_ms=k.now() + 1)
    run(k, until=lambda: got and got[-1] == ("shell", ord("z")))
    if how == "restart":
        assert k.state_of(2) == "blocked"                   # running again, in the background
        assert k.console_owner == 1


@pytest.mark.parametrize("prio", [0, 1, 7])
def test_a_cpu_bound_task_at_or_below_the_shell_s_priority_does_not_starve_it(prio):
    got = []

    def shell(sys):
        while True:
            b = yield from sys.read()
            got.append((b, k.now()))

    def spin(sys):
        while True:
            yield sys.spin()
    k, sim = boot({"shell": shell, "spin": spin}, [mf("shell", console="read", kernel=True, prio=0),
                                                  mf("spin", prio=prio)])
    for i in range(10):
        sim.feed(bytes([0x61 + i]), at_ms=100 + 50 * i)
    run(k, steps=20000, until=lambda: len(got) == 10)
    lag = [t - (100 + 50 * i) for i, (b, t) in enumerate(got)]
    assert max(lag) <= (10 + 1 if prio == 0 else 1), lag       # one time slice at most, when it is a peer


def test_fg_needs_a_live_task_that_reads_the_console():
    def idle(sys):
        yield from sys.wait(1)
    k, sim = boot({"idle": idle}, [mf("shell", entry="idle", console="read", kernel=True),
                                   mf("w", entry="idle", console="write"), mf("r", entry="idle", console="read",
                                                                             )], start=False)
    k.start(1)
    k.start(2)
    with pytest.raises(KernelError) as e:
        k.give_console(2)
    assert e.value.code == errors.NOT_PERMITTED and "console = write" in str(e.value)
    with pytest.raises(KernelError) as e:
        k.give_console(3)
    assert e.value.code == errors.BAD_STATE
    assert k.console_owner == 1


def test_wait_console_returns_when_the_console_comes_back():
    log = []

    def shell(sys):
        r = yield sys.raw(abi.SYS_READ, 2)
        log.append(("owner", r))
        yield from sys.kctl(abi.KCTL_FG, 2)
        r = yield sys.raw(abi.SYS_READ, 2)
        log.append(("back", r, k.now()))
        yield from sys.wait(1)

    def app(sys):
        yield from sys.sleep(40)
        yield from sys.exit(0)
    k, sim = boot({"shell": shell, "app": app}, [mf("shell", console="read", kernel=True, prio=0),
                                                mf("app", console="read")])
    run(k, until=lambda: len(log) == 2)
    assert log[0] == ("owner", (0, 0)) and log[1][1] == (0, 0) and log[1][2] >= 40
    assert k.console_owner == 1


def test_the_console_task_is_never_killed_and_comes_back_at_once():
    starts = []

    def shell(sys):
        starts.append(k.now())
        yield from sys.read()
    k, sim = boot({"shell": shell}, [mf("shell", console="read", kernel=True, restart="never")])
    run(k, until=lambda: k.state_of(1) == "blocked")
    with pytest.raises(KernelError) as e:
        k.kill(1)
    assert e.value.code == errors.BAD_STATE and "console task" in str(e.value)
    k.restart(1)
    run(k, until=lambda: len(starts) == 2)


@pytest.mark.parametrize("event", [("fault", "MemManage", 0x1234, 0x20300000), ("fault", "MemoryError", 0, 0),
                                   ("fault", "exception: ValueError: boom", 0, 0), ("exit", 0)])
def test_a_console_task_that_faults_or_exits_is_restarted_at_once_whatever_its_policy(event):
    starts = []

    def shell(sys):
        starts.append(k.now())
        if len(starts) == 1:
            yield from sys.sleep(50)
            if event[0] == "exit":
                yield from sys.exit(0)
            yield sys.fault(*event[1:])
        yield from sys.read()
    k, sim = boot({"shell": shell}, [mf("shell", console="read", kernel=True, restart="never")])
    run(k, until=lambda: len(starts) == 2)
    assert starts[1] - starts[0] <= 52
    line = [ln for ln in sim.lines() if ln.startswith(event[0] + ": task shell")][0]
    assert line.endswith("restart now (the console task)"), line
    run(k, until=lambda: k.state_of(1) == "blocked")
    assert k.tasks[1].restarts == 1


def test_kctl_fault_faults_a_task_as_its_policy_says():
    log = []

    def shell(sys):
        yield from sys.kctl(abi.KCTL_FAULT, 2)
        log.append("ok")
        try:
            yield from sys.kctl(abi.KCTL_FAULT, 2)
        except SysError as e:
            log.append(e.code)
        yield from sys.kctl(abi.KCTL_FAULT, sys.tid)
        log.append("not here")

    def waits(sys):
        yield from sys.wait(1)
    k, sim = boot({"shell": shell, "w": waits}, [mf("shell", console="read", kernel=True, prio=0),
                                                mf("w")])
    run(k, until=lambda: k.tasks[1].restarts == 1)
    assert log == ["ok", errors.BAD_STATE]
    assert "fault: task w (id 2): injected by the operator; stopped (restart = never)" in sim.lines()
    assert "fault: task shell (id 1): injected by the operator; restart now (the console task)" in sim.lines()


def test_kill_of_the_console_task_by_kctl_is_refused():
    log = []

    def shell(sys):
        try:
            yield from sys.kctl(abi.KCTL_KILL, sys.tid)
        except SysError as e:
            log.append(e.code)
        yield from sys.wait(1)
    k, sim = boot({"shell": shell}, [mf("shell", console="read", kernel=True)])
    run(k, until=lambda: log)
    assert log == [errors.BAD_STATE] and k.tasks[1].status == "live"


def window_kernel(feed=None, at_ms=0):
    def idle(sys):
        yield from sys.read()
    sim = Sim(0)
    sim.program("idle", idle)
    k = Kernel(sim, POOL, 1 << 16, [mf("shell", entry="idle", console="read", kernel=True)])
    if feed is not None:
        sim.feed(feed, at_ms=at_ms)
    return k, sim


def test_the_safe_mode_window_waits_for_s_and_costs_nothing_for_a_key_already_waiting():
    k, sim = window_kernel(b"s")
    assert k.safe_mode_window(1000) is True and k.now() == 0 and k.safe_mode
    k, sim = window_kernel(b"s", at_ms=300)
    assert k.safe_mode_window(1000) is True and k.now() == 300
    k, sim = window_kernel()
    assert k.safe_mode_window(1000) is False and k.now() == 1000 and sim.watched == 0
    k, sim = window_kernel(b"\r", at_ms=20)          # another key: no wait, kept for the shell
    assert k.safe_mode_window(1000) is False and k.now() == 20
    k.start_all()
    run(k, until=lambda: k.state_of(1) == "blocked")
    assert k.cin == [] and k.tasks[1].syscalls == 2     # read the kept "\r", then waits


def test_safe_mode_starts_no_installed_task():
    def idle(sys):
        yield from sys.wait(1)
    k, sim = boot({"idle": idle}, [mf("shell", entry="idle", console="read", kernel=True)], start=False)
    tid = k.add_task(mf("bad", entry="idle"), code=b"x")
    k.safe_mode = True
    assert k.start_all() == [1]
    assert k.tasks[tid].status == "stopped" and kctl.ps(k)["safe_mode"] and kctl.tasks_table(k)["safe_mode"]
    k.remove_task(tid)                                  # a stopped installed task can be removed
    assert tid not in k.tasks


def test_a_byte_already_waiting_is_read_without_blocking():
    got = []

    def reader(sys):
        got.append((yield from sys.read()))
    k, sim = boot({"r": reader}, [mf("r", console="read")])
    sim.feed(b"z")
    run(k, until=lambda: got)
    assert got == [ord("z")] and k.tasks[1].syscalls == 1


def test_no_watch_while_nobody_reads():
    def waits(sys):
        yield from sys.wait(1)
    k, sim = boot({"w": waits}, [mf("w")])
    sim.feed(b"x", at_ms=5)
    run(k, steps=20)
    assert sim.watched == 0 and sim.input == [(5, ord("x"))]


# ---- faults ---------------------------------------------------------------------------------

def heartbeat(beats):
    def prog(sys):
        while True:
            yield from sys.sleep(5)
            beats.append((yield from sys.ticks()))
    return prog


@pytest.mark.parametrize("action, line", [
    (lambda s: s.load(0x20300000), r"MemManage pc=0x[0-9a-f]{8} addr=0x20300000"),
    (lambda s: s.store(0xE000ED0C, 1), r"BusFault pc=0x[0-9a-f]{8} addr=0xe000ed0c"),
    (lambda s: s.stack(2000), r"stack overflow pc=0x[0-9a-f]{8} addr=0x[0-9a-f]{8}"),
    (lambda s: s.alloc(1 << 20), r"MemoryError"),
    (lambda s: s.fault("HardFault", 0x12345, 0), r"HardFault pc=0x00012345"),
    (lambda s: s.fault("UsageFault", 0, 0x40), r"UsageFault addr=0x00000040"),
    (lambda s: ("nonsense",), r"UsageFault pc=0x[0-9a-f]{8}"),
])
def test_each_fault_prints_one_line_and_only_that_task_ends(action, line):
    beats = []

    def bad(sys):
        yield from sys.sleep(20)
        yield action(sys)
    k, sim = boot({"bad": bad, "hb": heartbeat(beats)}, [mf("bad"), mf("hb")])
    run(k, until=lambda: k.state_of(1) == "faulted")
    n = len(beats)
    run(k, until=lambda: len(beats) >= n + 5)
    lines = fault_lines(sim)
    assert len(lines) == 1
    assert re.match(r"^fault: task bad \(id 1\): %s; stopped \(restart = never\)$" % line, lines[0]), lines[0]
    assert k.state_of(2) == "blocked" and k.tasks[2].faults == 0
    assert k.buddy.used_by(1) == 0


def test_exception_fault_line_and_fault_log():
    def bad(sys):
        yield
        raise ValueError("boom\nsecond line")
    k, sim = boot({"bad": bad}, [mf("bad")])
    run(k, until=lambda: k.state_of(1) == "faulted")
    line = fault_lines(sim)[0]
    assert line == "fault: task bad (id 1): exception: ValueError: boom second line; stopped (restart = never)"
    f = k.fault_log.reply()
    assert f["total"] == 1
    entry = f["faults"][0]
    assert entry["id"] == 1 and entry["name"] == "bad" and entry["reason"] == "exception: ValueError: boom second line"
    assert entry["action"] == "stopped (restart = never)" and entry["seq"] == 1


def test_fault_log_keeps_the_last_sixteen():
    def bad(sys):
        yield
        raise RuntimeError("again")
    k, sim = boot({"bad": bad}, [mf("bad", restart="always", backoff=0)])
    run(k, until=lambda: k.fault_log.total >= 20)
    f = k.fault_log.reply()
    assert f["total"] >= 20 and len(f["faults"]) == abi.FAULT_LOG
    assert [e["seq"] for e in f["faults"]] == list(range(f["total"] - 15, f["total"] + 1))


def test_an_infinite_loop_shares_the_cpu_with_equal_priority_tasks():
    beats = []

    def spin(sys):
        while True:
            yield
    k, sim = boot({"spin": spin, "hb": heartbeat(beats)}, [mf("spin"), mf("hb")])
    run(k, until=lambda: len(beats) >= 20)
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    assert max(gaps) <= 5 + 10 + 1          # sleep + at most one slice of the spinner
    assert k.tasks[1].cpu_ms > 80


def test_bad_event_from_the_trap_layer_faults_the_task_not_the_kernel():
    class Odd(Sim):
        def resume(self, tid):
            ev = Sim.resume(self, tid)
            if ev[0] == abi.EV_SYSCALL and ev[1] == abi.SYS_YIELD:
                self.tasks[tid].pending = False
                self.tasks[tid].ended = True
                return ("what",)
            return ev

    sim = Odd(0)

    def y(sys):
        yield from sys.yield_()
    sim.program("y", y)
    k = Kernel(sim, POOL, 1 << 16, [mf("y")])
    k.start_all()
    run(k, until=lambda: k.state_of(1) == "faulted")
    assert fault_lines(sim) == ["fault: task y (id 1): bad event ('what',); stopped (restart = never)"]


# ---- restart policies ---------------------------------------------------------------------

def crasher(sys):
    yield from sys.ticks()
    raise RuntimeError("crash")


def test_restart_never_leaves_the_task_down():
    k, sim = boot({"c": crasher}, [mf("c", restart="never")])
    run(k, steps=200)
    assert k.state_of(1) == "faulted" and k.tasks[1].restarts == 0 and len(fault_lines(sim)) == 1
    assert k.buddy.free_bytes == 1 << 16


def test_restart_always_with_doubling_backoff():
    k, sim = boot({"c": crasher}, [mf("c", restart="always", backoff=10)])
    run(k, until=lambda: k.fault_log.total >= 6)
    f = k.fault_log.reply()["faults"]
    times = [e["t"] for e in f]
    assert [b - a for a, b in zip(times, times[1:])] == [10, 20, 40, 80, 160]
    assert [e["action"] for e in f] == ["restart in %d ms" % d for d in (10, 20, 40, 80, 160, 320)]
    assert k.tasks[1].restarts == 5
    assert "restart: task c (id 1): restart 5" in sim.lines()


def test_restart_limit_n_then_stopped():
    k, sim = boot({"c": crasher}, [mf("c", restart="limit 3", backoff=10)])
    run(k, until=lambda: k.state_of(1) == "faulted")
    assert [e["action"] for e in k.fault_log.reply()["faults"]] == [
        "restart 1/3 in 10 ms", "restart 2/3 in 20 ms", "restart 3/3 in 40 ms",
        "stopped (restart limit 3 reached)"]
    assert k.tasks[1].restarts == 3
    run(k, steps=100)
    assert k.fault_log.total == 4 and k.buddy.free_bytes == 1 << 16


def test_an_operator_start_begins_a_new_streak():
    k, sim = boot({"c": crasher}, [mf("c", restart="limit 1", backoff=5)])
    run(k, until=lambda: k.state_of(1) == "faulted")
    k.start(1)
    run(k, until=lambda: k.fault_log.total == 4)
    assert [e["action"] for e in k.fault_log.reply()["faults"]] == [
        "restart 1/1 in 5 ms", "stopped (restart limit 1 reached)",
        "restart 1/1 in 5 ms", "stopped (restart limit 1 reached)"]


def test_a_long_healthy_run_resets_the_streak():
    def prog(sys):
        if k.tasks[sys.tid].starts == 3:
            yield from sys.sleep(supervisor.HEALTHY_MS)
        yield from sys.ticks()
        raise RuntimeError("crash")
    k, sim = boot({"c": prog}, [mf("c", restart="limit 3", backoff=10)])
    run(k, until=lambda: k.fault_log.total == 4)
    assert [e["action"] for e in k.fault_log.reply()["faults"]] == [
        "restart 1/3 in 10 ms", "restart 2/3 in 20 ms", "restart 1/3 in 10 ms", "restart 2/3 in 20 ms"]


def test_backoff_is_capped():
    assert [supervisor.delay_ms(100, n) for n in range(12)] == \
        [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000]
    assert supervisor.delay_ms(100, 10 ** 6) == 60000
    assert supervisor.delay_ms(90000, 3) == 90000          # cap never below backoff_ms
    assert supervisor.delay_ms(0, 5) == 0


def test_a_restart_without_memory_is_retried():
    k, sim = boot({"c": crasher}, [mf("c", restart="always", backoff=10)], pool=1 << 13)
    run(k, until=lambda: k.state_of(1) == "restarting")
    k.buddy.alloc(1 << 13, "hog")                  # memory exhaustion
    run(k, until=lambda: any("cannot restart" in ln for ln in sim.lines()))
    assert "kernel: cannot restart task c (id 1): NO_MEMORY; retry in 20 ms" in sim.lines()
    assert k.state_of(1) == "restarting"
    k.buddy.free(POOL, "hog")
    run(k, until=lambda: k.fault_log.total == 2)
    assert k.tasks[1].restarts == 1


def test_a_killed_restarting_task_stays_stopped():
    k, sim = boot({"c": crasher}, [mf("c", restart="always", backoff=50)])
    run(k, until=lambda: k.state_of(1) == "restarting")
    k.kill(1)
    run(k, steps=100)
    assert k.state_of(1) == "stopped" and k.restart_at == {}


# ---- priorities and time slices ----------------------------------------------------------------

def spinner(sys):
    while True:
        yield


def test_equal_priorities_share_the_cpu_by_time_slice():
    k, sim = boot({"s": spinner}, [mf("a", entry="s"), mf("b", entry="s"), mf("c", entry="s")])
    run(k, until=lambda: sim.ticks_ms() >= 3000)
    cpu = [k.tasks[t].cpu_ms for t in (1, 2, 3)]
    for c in cpu:
        assert abs(c - 1000) <= 10, cpu
    info = k.sched.info(1)
    assert abs(info["slices"] - 100) <= 1 and abs(info["switches"] - 100) <= 1


def test_a_higher_priority_task_runs_alone_and_a_lower_one_starves():
    k, sim = boot({"s": spinner}, [mf("lo", prio=5, entry="s"), mf("hi", prio=3, entry="s")])
    run(k, until=lambda: sim.ticks_ms() >= 500)
    assert k.tasks[1].cpu_ms == 0 and k.tasks[2].cpu_ms >= 499
    assert k.state_of(1) == "ready"


def test_a_waking_higher_priority_task_preempts_on_time():
    wakes = []

    def periodic(sys):
        for _ in range(20):
            t0 = yield from sys.ticks()
            yield from sys.sleep(7)
            t1 = yield from sys.ticks()
            wakes.append(t1 - t0)
    k, sim = boot({"s": spinner, "p": periodic}, [mf("lo", prio=6, entry="s"), mf("hi", prio=1, entry="p")])
    run(k, until=lambda: len(wakes) == 20)
    assert all(7 <= w <= 8 for w in wakes), wakes
    assert k.tasks[1].cpu_ms > 100


def test_cpu_accounting_adds_up_to_uptime():
    beats = []
    k, sim = boot({"s": spinner, "hb": heartbeat(beats)}, [mf("s", prio=6), mf("hb", prio=2)])
    run(k, until=lambda: sim.ticks_ms() >= 400)
    total = k.idle_ms + sum(t.cpu_ms for t in k.tasks.values())
    assert sim.ticks_ms() - 2 <= total <= sim.ticks_ms()
    k.kill(1)
    run(k, until=lambda: sim.ticks_ms() >= 800)
    assert k.idle_ms > 350


# ---- KCTL: what the shell sees and does ---------------------------------------------------------

def shell_doing(actions, log):
    """A kernel-capable task running `actions`: list of (op, arg, cap)."""
    def prog(sys):
        yield from sys.sleep(5)             # let the others run first
        for op, arg, cap in actions:
            try:
                out = yield from sys.kctl(op, arg, cap)
                log.append(("ok", op, out))
            except SysError as e:
                log.append(("err", op, errors.name_of(e.code), e.r1))
        yield from sys.wait(1)
    return prog


def test_kctl_queries_return_json():
    log = []

    def waits(sys):
        yield sys.alloc(1000)
        yield from sys.wait(1)

    def bad(sys):
        yield sys.load(0x20300000)
    acts = [(abi.KCTL_PS, 0, None), (abi.KCTL_MEM, 0, None), (abi.KCTL_FAULTS, 0, None),
            (abi.KCTL_IPC, 0, None), (abi.KCTL_TASKS, 0, None)]
    ms = [mf("bad"), mf("shell", kernel=True, heap=8192, calls="w"), mf("w")]
    k, sim = boot({"shell": shell_doing(acts, log), "w": waits, "bad": bad}, ms)
    run(k, until=lambda: len(log) == 5)
    replies = {}
    for kind, op, out in log:
        assert kind == "ok"
        replies[op] = json.loads(out)
    ps = replies[abi.KCTL_PS]
    rows = {r["name"]: r for r in ps["tasks"]}
    assert [r["id"] for r in ps["tasks"]] == [1, 2, 3]
    assert rows["bad"]["state"] == "faulted" and rows["bad"]["faults"] == 1 and rows["bad"]["heap"] is None
    assert rows["shell"]["state"] == "running" and rows["shell"]["heap"] == [2048, 16384 - 1024]
    assert rows["w"]["state"] == "blocked" and rows["w"]["wait"] == "wait"
    assert rows["w"]["heap"] == [3048, 7168] and rows["w"]["stack"] == [256, 1024]
    assert set(rows["w"]) == {"id", "name", "state", "prio", "wait", "heap", "stack", "restarts",
                              "faults", "cpu_ms", "syscalls", "exit"}
    assert ps["uptime_ms"] >= 0 and "idle_ms" in ps
    mem = replies[abi.KCTL_MEM]
    assert mem["base"] == POOL and mem["total"] == 1 << 16
    assert sum(b[1] for b in mem["blocks"]) == mem["total"]
    assert sorted(b[3] for b in mem["blocks"] if b[2] is not None) == ["shell", "w"]
    assert mem["free"] == (1 << 16) - 16384 - 8192 and mem["largest"] == 32768
    f = replies[abi.KCTL_FAULTS]
    assert f["total"] == 1 and f["faults"][0]["reason"] == "MemManage" and f["faults"][0]["addr"] == 0x20300000
    assert replies[abi.KCTL_IPC]["tasks"][1]["name"] == "shell"
    assert set(replies[abi.KCTL_IPC]["tasks"][0]) == {"id", "name", "sent", "received", "replied",
                                                      "notified", "peer_died", "calling", "queued", "serving"}
    t = replies[abi.KCTL_TASKS]["tasks"]
    assert t[1] == {"id": 2, "name": "shell", "entry": "shell", "prio": 4, "heap": 8192, "stack": 1024,
                    "block": 16384, "restart": "never", "backoff_ms": None, "calls": ["w"],
                    "console": "write", "kernel": True, "devices": [], "irqs": [], "ports": [], "hsm_keys": [], "state": "running",
                    "bundle": None}
    assert replies[abi.KCTL_TASKS]["max_tid"] == k.max_tid
    assert replies[abi.KCTL_TASKS]["bundle_ram"] == (1 << 16) - sum(r["block"] for r in t)


def test_kctl_reply_too_large_tells_the_size_needed():
    log = []
    k, sim = boot({"shell": shell_doing([(abi.KCTL_PS, 0, 10), (abi.KCTL_PS, 0, None)], log)},
                  [mf("shell", kernel=True)])
    run(k, until=lambda: len(log) == 2)
    assert log[0][:3] == ("err", abi.KCTL_PS, "MSG_TOO_LARGE")
    assert log[0][3] > 10 and log[1][0] == "ok"
    assert abs(len(log[1][2]) - log[0][3]) <= 4         # uptime may grow a digit


def test_kctl_needs_the_kernel_capability():
    log = []
    acts = [(op, 1, None) for op in range(abi.NKCTL)]
    k, sim = boot({"shell": shell_doing(acts, log)}, [mf("shell", kernel=False)])
    run(k, until=lambda: len(log) == abi.NKCTL)
    res = [entry[2] for entry in log]
    # permission before state: start of a live target is NOT_PERMITTED too, not BAD_STATE
    assert res == ["NOT_PERMITTED"] * abi.NKCTL
    assert k.halted is None


def test_kctl_kill_start_restart_and_their_errors():
    log = []
    acts = [(abi.KCTL_KILL, 9, None), (abi.KCTL_KILL, 3, None), (abi.KCTL_KILL, 3, None),
            (abi.KCTL_START, 3, None), (abi.KCTL_START, 3, None), (abi.KCTL_RESTART, 3, None),
            (abi.KCTL_START, 9, None), (abi.KCTL_RESTART, 9, None)]

    def waits(sys):
        yield from sys.wait(1)
    k, sim = boot({"shell": shell_doing(acts, log), "w": waits},
                  [mf("shell", kernel=True), mf("x", entry="w"), mf("w")])
    run(k, until=lambda: len(log) == len(acts))
    assert [entry[2] if entry[0] == "err" else "ok" for entry in log] == [
        "NO_SUCH_TASK", "ok", "BAD_STATE", "ok", "BAD_STATE", "ok", "NO_SUCH_TASK", "NO_SUCH_TASK"]
    assert k.state_of(3) in ("ready", "blocked") and k.tasks[3].restarts == 2 and k.tasks[3].faults == 0


def test_kctl_kill_or_restart_of_the_caller_itself():
    seen = []

    def shell(sys):
        seen.append(k.tasks[sys.tid].gen)
        if len(seen) == 1:
            yield from sys.kctl(abi.KCTL_RESTART, sys.tid)
        else:
            yield from sys.kctl(abi.KCTL_KILL, sys.tid)
        seen.append("returned")
    k, sim = boot({"shell": shell}, [mf("boss", entry="shell", kernel=True)])     # not the console task
    run(k, until=lambda: k.state_of(1) == "stopped")
    assert seen == [1, 2]
    assert k.buddy.free_bytes == 1 << 16


@pytest.mark.parametrize("op, halt", [(abi.KCTL_REBOOT, "reboot"), (abi.KCTL_POWEROFF, "poweroff")])
def test_kctl_reboot_and_poweroff_halt_the_loop(op, halt):
    log = []
    k, sim = boot({"shell": shell_doing([(op, 0, None)], log)}, [mf("shell", kernel=True)])
    assert k.run(max_steps=1000) == halt
    steps = k.steps
    assert k.step() is None and k.steps == steps


def test_a_polling_read_returns_at_once_with_or_without_a_byte():
    got = []

    def poller(sys):
        got.append((yield from sys.poll_read()))
        yield from sys.sleep(100)
        got.append((yield from sys.poll_read()))
    k, sim = boot({"p": poller}, [mf("p", console="read")])
    sim.feed(b"x", at_ms=50)
    run(k, until=lambda: len(got) == 2)
    assert got == [None, ord("x")]


def test_a_task_that_cannot_start_at_boot_does_not_stop_the_others():
    def ok(sys):
        yield from sys.sleep(1000)
    k, sim = boot({"ok": ok}, [mf("bad", entry="missing"), mf("good", entry="ok")], start=False)
    real_create = sim.create

    def create(tid, *args):
        if tid == 1:
            raise ValueError("no room for this one")
        return real_create(tid, *args)
    sim.create = create
    assert k.start_all() == [2]
    assert b"kernel: task bad not started: " in sim.out
    assert k.state_of(2) != "stopped"
