"""Host tests of kernel.sim (the simulated trap layer) and the seeded,
randomized whole-system simulation: random task programs making calls,
receives, replies and notifications, with crashes, kills and restarts
injected, checked after every step: no message lost or delivered twice
(ids tracked end to end), every blocked caller eventually answered or told
PEER_DIED (or NOT_RUNNING, and then never delivered), no memory block owned
twice, all memory back in the pool at the end. Every assertion names its seed; a seed replays exactly."""
import pytest

from kernel import abi, errors
from kernel.errors import KernelError, name_of
from kernel.kernel import Kernel
from kernel.tasks import LIVE
from kernel.sim import Rng, Sim, SimProtocolError, SysError, random_tasks

POOL = 0x20000000
BLOCK = 8192


# ---- Rng ---------------------------------------------------------------------------------

def test_rng_is_deterministic_and_pinned():
    a, b = Rng(1), Rng(1)
    seq = [a.next() for _ in range(5)]
    assert seq == [b.next() for _ in range(5)]
    # pinned: the MicroPython smoke run must print the same values
    assert [Rng(1).next(), Rng(0).next(), Rng(2 ** 40).next()] == PINNED
    assert Rng(2).next() != Rng(1).next()
    r = Rng(3)
    vals = [r.randint(2, 5) for _ in range(500)]
    assert set(vals) == {2, 3, 4, 5}
    assert not any(r.chance(0) for _ in range(100)) and all(r.chance(1000) for _ in range(100))
    assert r.choice("x") == "x"


PINNED = [186383949, 1922717205, 2008150402]


# ---- the sim as a trap layer ---------------------------------------------------------------

def sim_with(prog, slice_ticks=10, **kw):
    sim = Sim(0, **kw)
    sim.program("p", prog)
    sim.set_slice(slice_ticks)
    sim.create(1, POOL, BLOCK, 1024, "p")
    return sim


def test_spinning_task_gets_a_tick_after_its_slice():
    def spin(sys):
        while True:
            yield
    sim = sim_with(spin, slice_ticks=3)
    assert sim.resume(1) == (abi.EV_TICK,) and sim.ticks_ms() == 3
    sim.set_deadline(4)
    assert sim.resume(1) == (abi.EV_TICK,) and sim.ticks_ms() == 4


def test_syscall_result_and_memory_round_trip():
    seen = []

    def p(sys):
        r = yield sys.raw(abi.SYS_TICKS, 1, 2, 3, 4, 5)
        seen.append(r)
        v = yield sys.load(sys.inbuf)
        seen.append(v)
    sim = sim_with(p)
    assert sim.resume(1) == (abi.EV_SYSCALL, abi.SYS_TICKS, (1, 2, 3, 4, 5))
    with pytest.raises(SimProtocolError):
        sim.resume(1)                        # no result yet
    sim.write(1, sim.sys_of(1).inbuf, b"\x2a")
    sim.set_result(1, 7, 8)
    with pytest.raises(SimProtocolError):
        sim.set_result(1, 7, 8)              # a second result
    assert sim.resume(1) == (abi.EV_EXIT, 0)
    assert seen == [(7, 8), 42]
    with pytest.raises(SimProtocolError):
        sim.resume(1)                        # ended, not killed
    sim.kill(1)
    with pytest.raises(SimProtocolError):
        sim.read(1, POOL, 1)


def test_read_and_write_check_the_block():
    sim = sim_with(lambda sys: iter(()))
    assert sim.read(1, POOL + BLOCK - 2, 2) == b"\0\0"
    for addr, n in ((POOL - 1, 1), (POOL + BLOCK - 1, 2), (POOL, -1), ("x", 1)):
        with pytest.raises(ValueError):
            sim.read(1, addr, n)
    with pytest.raises(ValueError):
        sim.write(1, POOL + BLOCK, b"x")


def test_create_refuses_overlapping_or_misaligned_blocks():
    sim = sim_with(lambda sys: iter(()))
    with pytest.raises(SimProtocolError, match="overlaps"):
        sim.create(2, POOL, BLOCK, 1024, "p")
    with pytest.raises(SimProtocolError, match="MPU region"):
        sim.create(2, POOL + 4096, BLOCK, 1024, "p")
    with pytest.raises(SimProtocolError, match="already exists"):
        sim.create(1, POOL + BLOCK, BLOCK, 1024, "p")
    sim.create(2, POOL + BLOCK, BLOCK, 1024, "p")


def test_faults_as_the_trap_layer_reports_them():
    def p(sys):
        yield sys.stack(600)
        yield sys.alloc(100)
        raise KeyError("k")
    sim = sim_with(p)
    ev = sim.resume(1)
    assert ev == (abi.EV_FAULT, "exception: KeyError: 'k'", 0, 0)
    assert sim.task_stats(1) == (2148, BLOCK - 1024, 600, 1024)


def test_a_plain_function_exits_and_an_injected_crash_fires_at_the_next_step():
    sim = sim_with(lambda sys: None)
    assert sim.resume(1) == (abi.EV_EXIT, 0)

    def p(sys):
        while True:
            yield from sys.yield_()
    sim = sim_with(p)
    sim.resume(1)
    sim.set_result(1, 0)
    sim.crash(1, "MemManage", 0x100, 0x200)
    assert sim.resume(1) == (abi.EV_FAULT, "MemManage", 0x100, 0x200)


def test_idle_sleeps_to_the_deadline_or_watched_input():
    sim = Sim(0)
    assert sim.idle(25) == 0 and sim.ticks_ms() == 25
    sim.feed(b"x", at_ms=30)
    assert sim.idle(40) == 0 and sim.ticks_ms() == 40          # input not watched
    sim.feed(b"y", at_ms=50)
    sim.watch(abi.IRQ_CONSOLE)
    assert sim.idle(None) == abi.IRQ_CONSOLE and sim.ticks_ms() == 40   # x waits already
    assert sim.console_read() == ord("x")
    assert sim.idle(None) == abi.IRQ_CONSOLE and sim.ticks_ms() == 50
    assert sim.console_read() == ord("y") and sim.console_read() is None
    assert sim.idle(None) == 0 and sim.stalls == 1


def test_watched_input_interrupts_a_running_task():
    def spin(sys):
        while True:
            yield
    sim = sim_with(spin, slice_ticks=100)
    sim.watch(abi.IRQ_CONSOLE)
    sim.feed(b"k", at_ms=7)
    assert sim.resume(1) == (abi.EV_IRQ, abi.IRQ_CONSOLE) and sim.ticks_ms() == 7


def test_a_livelock_of_empty_ticks_is_reported():
    def p(sys):
        yield
    sim = sim_with(p)
    sim.set_deadline(0)
    with pytest.raises(SimProtocolError, match="livelock"):
        for _ in range(20000):
            sim.resume(1)


# ---- the randomized whole-system simulation ------------------------------------------------

class World:
    """One seeded random system: tasks t0..tn-1 where ti may call tj only for
    j > i (no call cycles, so every caller can be answered), random restart
    policies and priorities, programs drawn from the seed, and the ledger
    of message ids that checks delivery end to end."""

    def __init__(self, seed, crash_rate=2, tick_rate=20, fastpath=False):
        self.seed = seed
        rng = Rng(seed * 7919 + 13)
        self.rng = rng
        n = rng.randint(3, 6)
        self.callees, self.servers, ms = random_tasks(rng, n, 550, ["always", "always", "always", "limit 3", "never"],
                                                      (2, 5), lambda i: "t%d" % i)
        self.sim = Sim(seed, step_us=100, jitter_us=400, tick_rate=tick_rate, crash_rate=crash_rate,
                       fastpath=fastpath)
        for i in range(n):
            self.sim.program("t%d" % i, self.program)
        self.k = Kernel(self.sim, POOL, 1 << 16, ms, slice_ticks=rng.randint(2, 10))
        self.next_id = 0
        self.sent = {}          # id -> (caller tid, callee tid, caller incarnation)
        self.received = {}      # id -> receiver tid
        self.outcome = {}       # id -> "reply" or an error name
        self.errors = []
        self.draining = False
        self.stats = {"reply": 0, "NOT_RUNNING": 0, "died mid-call": 0, "late reply": 0, "kill": 0, "start": 0,
                      "crash": 0, "notify": 0, "wait": 0, "bad pointer": 0}

    def fail(self, what):
        self.errors.append("seed %d: %s" % (self.seed, what))

    # -- task programs --

    def program(self, sys):
        me = sys.tid
        rng = Rng(self.seed * 1000003 + me * 1009 + self.k.tasks[me].gen)
        callees = self.callees[me]
        server = me in self.servers
        while True:
            if self.draining:
                if server:
                    yield from self.serve(sys, rng, callees)
                    continue
                yield from sys.wait(1 << 29)            # nobody sends bit 29
            r = rng.below(100)
            if server and r < 35:
                yield from self.serve(sys, rng, callees)
            elif callees and r < 65:
                yield from self.call(sys, rng, callees)
            elif callees and r < 70:
                try:
                    yield from sys.notify((yield from self.handle(sys, rng.choice(callees))), rng.randint(1, 255))
                    self.stats["notify"] += 1
                except SysError as e:
                    if e.code not in (errors.NOT_RUNNING, errors.PEER_DIED):     # down; restarted since the lookup
                        self.fail("notify: %s" % name_of(e.code))
            elif r < 75:
                yield from sys.sleep(rng.randint(0, 4))
            elif r < 80:
                yield from sys.yield_()
            elif r < 85:
                for _ in range(rng.randint(1, 3)):
                    yield
            elif r < 88:
                dest = callees[0] if callees else 1
                res = yield sys.raw(abi.SYS_CALL, dest, 0x100, 4, sys.inbuf, 8)
                if res[0] != -errors.BAD_ARGUMENT:
                    self.fail("bad pointer call returned %r" % (res,))
                self.stats["bad pointer"] += 1
            elif r < 89:
                raise RuntimeError("random crash")
            elif r < 92 and self.k.ipc.bits.get(me):
                got = yield from sys.wait(0xFF)
                if not got:
                    self.fail("wait returned no bits")
                self.stats["wait"] += 1
            elif r < 93 and rng.chance(200):
                yield from sys.exit(rng.randint(0, 3))
            else:
                yield from sys.ticks()

    def call(self, sys, rng, callees):
        dest = rng.choice(callees)
        h = yield from self.handle(sys, dest)
        self.next_id += 1
        mid = self.next_id
        msg = b"m%d:" % mid + b"." * rng.randint(0, 40)
        self.sent[mid] = (sys.tid, dest, self.k.tasks[sys.tid].gen)
        alive = self.k.tasks[dest].status == LIVE
        stale = h != self.k.handle(dest)        # the callee restarted since the lookup
        try:
            reply = yield from sys.call(h, msg)
        except SysError as e:
            # a handle of an earlier incarnation: PEER_DIED at once (nothing
            # delivered); a callee not running when called: NOT_RUNNING
            # (nothing delivered); one that ended while the caller waited:
            # PEER_DIED
            want = errors.PEER_DIED if stale or alive else errors.NOT_RUNNING
            if e.code != want:
                self.fail("call %d (callee %s) got %s" % (mid, "stale" if stale else "live" if alive else "down",
                                                          name_of(e.code)))
            self.outcome[mid] = "stale" if stale else name_of(e.code)
            key = "stale call" if stale else "died mid-call" if alive else "NOT_RUNNING"
            self.stats[key] = self.stats.get(key, 0) + 1
            yield from sys.sleep(rng.randint(1, 5))         # back off, as a client would
            return
        if reply != b"r%d" % mid:
            self.fail("call %d got the reply %r" % (mid, reply))
        if self.received.get(mid) != dest:
            self.fail("call %d answered but never received by %d" % (mid, dest))
        self.outcome[mid] = "reply"
        self.stats["reply"] += 1

    def handle(self, sys, tid):
        """tid's current IPC handle, as a client gets it: by name (a handle
        kept across the callee's restart would be refused, PEER_DIED)."""
        return (yield from sys.lookup(self.k.tasks[tid].name))

    def serve(self, sys, rng, callees):
        handle, msg = yield from sys.recv()
        sender = handle & abi.HANDLE_ID_MASK
        try:
            mid = int(msg[1:msg.index(b":")])
        except ValueError:
            self.fail("garbled message %r" % (msg,))
            return
        rec = self.sent.get(mid)
        if rec is None or rec[0] != sender or rec[1] != sys.tid:
            self.fail("message %d from %d to %d misdelivered (sent %r)" % (mid, sender, sys.tid, rec))
        if mid in self.received:
            self.fail("message %d delivered twice" % mid)
        self.received[mid] = sys.tid
        x = rng.below(10)
        if x < 3 and callees:
            yield from self.call(sys, rng, callees)         # nested call downstream
        elif x < 5:
            yield from sys.sleep(rng.randint(0, 3))
        elif x < 6:
            yield
        elif x == 6 and not self.draining and rng.chance(300):
            raise RuntimeError("crash while serving %d" % mid)
        t = self.k.tasks[sender]
        restarted = t.gen != rec[2]
        try:
            yield from sys.reply(handle, b"r%d" % mid)
            if restarted:
                self.fail("reply %d to a restarted caller accepted" % mid)
        except SysError as e:
            # refused only when the caller has restarted since (an earlier
            # incarnation's handle); never delivered to the new one
            if e.code != errors.PEER_DIED or not restarted:
                self.fail("reply %d: %s (a caller's death must not fail its server)" % (mid, name_of(e.code)))
            self.stats["stale reply"] = self.stats.get("stale reply", 0) + 1
        if not (t.status == LIVE and t.gen == rec[2]):
            self.stats["late reply"] += 1           # to a dead caller: dropped

    # -- the run --

    def check_step(self):
        k, sim = self.k, self.sim
        try:
            k.check()
        except AssertionError as e:
            raise AssertionError("seed %d: step %d: %s" % (self.seed, k.steps, e))
        assert not self.errors, self.errors
        live = k.live()
        assert sorted(sim.tasks) == live, "seed %d: sim tasks %r, kernel live %r" % (
            self.seed, sorted(sim.tasks), live)
        spans = []
        for tid in live:
            s = sim.tasks[tid].sys
            assert (s.base, s.size) == (k.tasks[tid].base, k.tasks[tid].size), "seed %d" % self.seed
            spans.append((s.base, s.base + s.size))
        spans.sort()
        for a, b in zip(spans, spans[1:]):
            assert a[1] <= b[0], "seed %d: blocks %r and %r overlap" % (self.seed, a, b)

    def inject(self):
        k, r = self.k, self.rng.below(1000)
        tids = sorted(k.tasks)
        tid = self.rng.choice(tids)
        if r < 8 and k.tasks[tid].status in (LIVE, "restarting"):
            k.kill(tid)
            self.stats["kill"] += 1
        elif r < 30 and k.tasks[tid].status != LIVE:
            try:
                k.start(tid)
                self.stats["start"] += 1
            except KernelError as e:
                assert e.code == errors.BAD_STATE, "seed %d: start: %s" % (self.seed, e)
        elif r < 36 and k.tasks[tid].status == LIVE:
            self.sim.crash(tid)
            self.stats["crash"] += 1

    def quiet(self):
        k = self.k
        return (k.sched.running is None and not any(k.sched.queues)
                and not k.sleepers and not k.restart_at)

    def run(self, steps=400, drain_max=20000):
        k = self.k
        k.start_all()
        self.check_step()
        for _ in range(steps):
            k.step()
            self.check_step()
            self.inject()
            self.check_step()
        self.draining = True
        self.sim.crash_rate = 0
        for _ in range(drain_max):
            if self.quiet():
                break
            k.step()
            self.check_step()
        assert self.quiet(), "seed %d: no quiet state after %d drain steps" % (self.seed, drain_max)
        self.final_checks()

    def final_checks(self):
        k, seed = self.k, self.seed
        assert k.ipc.calls == {}, "seed %d: callers never answered: %r" % (seed, k.ipc.calls)
        for mid in self.sent:
            caller, dest, gen = self.sent[mid]
            got = self.outcome.get(mid)
            if got is None:                          # only if that caller died meanwhile
                t = k.tasks[caller]
                assert not (t.status == LIVE and t.gen == gen), \
                    "seed %d: message %d: its live caller was never answered" % (seed, mid)
            elif got == "reply":
                assert self.received.get(mid) == dest, "seed %d: message %d lost" % (seed, mid)
            elif got in ("NOT_RUNNING", "stale"):
                assert mid not in self.received, "seed %d: message %d: %s, yet delivered" % (seed, mid, got)
        for mid in self.received:
            assert mid in self.sent, "seed %d: message %d received, never sent" % (seed, mid)
        for tid in sorted(k.tasks):
            if k.tasks[tid].status in (LIVE, "restarting"):
                k.kill(tid)
        k.check()
        assert k.buddy.free_bytes == k.buddy.size and not k.buddy.allocated, \
            "seed %d: memory not all back: %r" % (seed, k.buddy.stats())
        assert self.sim.tasks == {}, "seed %d: sim tasks left %r" % (seed, sorted(self.sim.tasks))


SEEDS = list(range(50))


@pytest.mark.parametrize("seed", SEEDS)
def test_random_system_keeps_every_invariant(seed):
    World(seed).run()


@pytest.mark.parametrize("seed", SEEDS)
def test_random_system_with_the_trap_layers_ipc_fast_path_keeps_every_invariant(seed):
    """The same worlds with the device's IPC fast path played by the
    simulator: the kernel's replay of its log keeps every invariant and
    every message accounted for."""
    World(seed, fastpath=True).run()


def test_the_fast_path_is_taken_and_folds_round_trips_and_yields():
    taken = rounds = yields = 0
    for seed in range(12):
        w = World(seed, fastpath=True)
        seen = []
        real = w.sim._fastlog

        def spy():
            log = real()
            seen.extend(e[0] for e in log)
            return log
        w.sim.fastlog = spy
        w.run()
        taken += w.sim.fast_taken
        rounds += seen.count(abi.FAST_ROUNDS)
        yields += seen.count(abi.FAST_YIELDS)
    assert taken > 100 and rounds > 0 and yields > 0, (taken, rounds, yields)


def test_random_runs_reach_every_path():
    total = {}
    for seed in range(12):
        w = World(seed)
        w.run()
        for key in w.stats:
            total[key] = total.get(key, 0) + w.stats[key]
        total["faults"] = total.get("faults", 0) + w.k.fault_log.total
        total["restarts"] = total.get("restarts", 0) + sum(t.restarts for t in w.k.tasks.values())
    for key in total:
        assert total[key] > 0, "no %s in seeds 0..11: %r" % (key, total)


def test_a_seed_replays_exactly():
    runs = []
    for _ in range(2):
        w = World(7)
        w.run()
        runs.append((w.sim.trace, bytes(w.sim.out), w.k.fault_log.reply(), w.outcome, w.received))
    assert runs[0] == runs[1]
    other = World(8)
    other.run()
    assert other.sim.trace != runs[0][0]


def test_a_crash_storm_still_answers_everyone():
    for seed in (101, 102, 103):
        World(seed, crash_rate=60, tick_rate=200).run(steps=400)


# ---- task ids with a generation (issue 14) ---------------------------------------------

@pytest.mark.parametrize("fastpath", [False, True])
def test_a_reply_to_a_restarted_caller_never_reaches_its_new_incarnation(fastpath):
    """The case that failed before handles had a generation: a server holds
    a call from the caller's first incarnation; the caller dies and restarts,
    and its new incarnation calls the server, which takes that call too. The
    server answers the new call, then the old one. Before, the first reply
    (to the bare id) was eaten as the old call's orphan and the second -- the
    old call's answer -- reached the new incarnation as its reply. Now recv
    gives each call's sender as a handle (id, incarnation): the new call gets
    its own answer, the reply to the old handle is refused PEER_DIED and the
    new incarnation never sees it."""
    from tests.host.test_kernel_loop import boot, run
    from tests.host.test_kernel_ipc import mf
    slog, clog = [], []

    def srv(sys):
        h1, m1 = yield from sys.recv()                  # the first incarnation's call
        slog.append(("got", h1, m1))
        h2, m2 = yield from sys.recv()                  # the new incarnation's call
        slog.append(("got", h2, m2))
        yield from sys.reply(h2, b"for " + m2)
        try:
            yield from sys.reply(h1, b"for " + m1)
            slog.append(("old reply", "accepted"))
        except SysError as e:
            slog.append(("old reply", name_of(e.code)))
        while True:                                      # and serves on
            h, m = yield from sys.recv()
            yield from sys.reply(h, b"for " + m)

    def cli(sys):
        k = sys_kernel[0]
        if k.tasks[sys.tid].starts == 1:
            yield from sys.call((yield from sys.lookup("srv")), b"first")   # killed while served
            clog.append("first answered")
        clog.append((yield from sys.call((yield from sys.lookup("srv")), b"second")))
        clog.append((yield from sys.call((yield from sys.lookup("srv")), b"third")))
        yield from sys.wait(1 << 30)
    sys_kernel = []
    k, sim = boot({"srv": srv, "cli": cli}, [mf("srv", prio=3), mf("cli", calls="srv", restart="always", backoff=5)],
                  fastpath=fastpath)
    sys_kernel.append(k)
    run(k, until=lambda: len(slog) == 1)
    k.restart(2)                                         # the caller dies while its call is served
    run(k, until=lambda: len(clog) == 2)
    assert k.tasks[2].restarts == 1
    h1, h2 = slog[0][1], slog[1][1]
    assert h1 & abi.HANDLE_ID_MASK == h2 & abi.HANDLE_ID_MASK == 2 and h1 != h2
    assert h1 == 2 and h2 == k.handle(2) == 2 | 1 << abi.HANDLE_ID_BITS
    assert slog[2] == ("old reply", "PEER_DIED")
    assert clog == [b"for second", b"for third"]         # never b"for first"
    assert "first answered" not in clog
    if fastpath:                                         # the new incarnation's calls and replies went fast
        assert sim.fast_taken >= 2
