"""The trap layer's IPC fast path (kernel/port/ipcfast.c, built for the host
with cffi by tools/ipcfast_host.py) against the Python kernel's own rules:

- its tables (kernel/port/fasttab.h) have the layout kernel/fasttab.py
  writes, word for word;
- seeded random worlds -- tasks of random priorities and call permissions
  that call, receive, reply (to stale handles too), notify, wait, yield,
  sleep, spin, fault, exit, and a control task that kills, starts and
  restarts them -- run once with the fast path and once without, and must
  give the same history: every step of every task in the same order at the
  same time, every message, reply and error each task saw, every console
  line (faults, restarts). The fast path decides nothing the kernel would
  decide otherwise, or this fails and names the seed.
"""
import os

import pytest

from kernel import abi, errors, fasttab, manifest
from kernel.errors import name_of
from kernel.kernel import Kernel, LIVE
from kernel.sim import Rng, Sim, SysError, random_tasks
from tools import ipcfast_host

POOL = 0x20000000
END_MS = 1500               # each world's history is compared up to here
SEEDS = range(int(os.environ.get("QX_FASTPATH_SEEDS", "40")))


def test_the_tables_layout_is_the_headers():
    ffi, lib = ipcfast_host.build()
    _, sizes = ipcfast_host.struct_cdef()
    assert sizes == {"QX_FT_TASKS": fasttab.TASKS, "QX_FT_PRIOS": len(range(8))}
    for name, word, n in fasttab.FIELDS:
        assert ffi.offsetof("qx_fasttab_t", name) == 4 * word, name
        assert ffi.sizeof(ffi.typeof("qx_fasttab_t").fields[[f[0] for f in ffi.typeof("qx_fasttab_t").fields]
                                                             .index(name)][1].type) == 4 * n, name
    assert ffi.sizeof("qx_fasttab_t") == 4 * fasttab.WORDS


class World:
    """One seeded random system, run with the fast path on or off."""

    def __init__(self, seed, fast):
        self.seed = seed
        rng = Rng(seed * 7919 + 17)
        n = rng.randint(3, 6)
        self.names = ["t%d" % i for i in range(n)]
        self.callees, self.servers, ms = random_tasks(rng, n, 600, ["always", "always", "limit 3", "never"],
                                                      (1, 5), lambda i: "prog")
        ms.append(manifest.parse("name = ctl\nentry = ctl\npriority = %d\nheap = 4096\nstack = 1024\n"
                                 "restart = always\nkernel = true\n" % rng.randint(1, 5)))
        self.ctl = n + 1
        self.sim = Sim(seed, step_us=100, jitter_us=400, tick_rate=10, crash_rate=1, fastpath=fast)
        self.sim.program("prog", self.prog)
        self.sim.program("ctl", self.control)
        self.k = Kernel(self.sim, POOL, 1 << 17, ms, slice_ticks=rng.randint(2, 10))
        self.events = []        # (us, tid, what...) as the tasks saw it
        self.console = []       # (us, bytes) the kernel wrote
        real_write = self.sim.console_write

        def console_write(data):
            self.console.append((self.sim.us, bytes(data)))
            real_write(data)
        self.sim.console_write = console_write
        if fast:
            real_resume = self.sim.resume

            def resume(tid):    # the tables say what the kernel's state says
                try:
                    self.k._fast.check(self.k)
                except AssertionError as e:
                    raise AssertionError("seed %d: %s" % (self.seed, e))
                return real_resume(tid)
            self.sim.resume = resume

    def log(self, sys, *what):
        self.events.append((self.sim.us, sys.tid) + what)

    def prog(self, sys):
        me = sys.tid
        rng = Rng(self.seed * 1000003 + me * 1009 + self.k.tasks[me].gen)
        callees = self.callees[me]
        server = me in self.servers
        handles = {}
        n = 0
        while True:
            r = rng.below(100)
            if server and r < 35:
                h, msg = yield from sys.recv()
                self.log(sys, "got", h, msg)
                x = rng.below(10)
                if x < 2 and callees:
                    yield from self.call(sys, rng, callees, handles)
                elif x < 4:
                    yield from sys.sleep(rng.randint(0, 3))
                elif x < 5:
                    yield
                elif x < 6:
                    yield from sys.yield_()
                elif x == 6 and rng.chance(100):
                    raise RuntimeError("crash while serving")
                try:
                    yield from sys.reply(h, b"re:" + msg)
                    self.log(sys, "replied", h)
                except SysError as e:
                    self.log(sys, "reply refused", h, name_of(e.code))
            elif callees and r < 60:
                yield from self.call(sys, rng, callees, handles)
            elif callees and r < 64:
                try:
                    yield from sys.notify((yield from self.handle(sys, rng, rng.choice(callees), handles)),
                                          rng.randint(1, 255))
                    self.log(sys, "notified")
                except SysError as e:
                    self.log(sys, "notify refused", name_of(e.code))
            elif server and r < 67:
                self.log(sys, "woke", (yield from sys.wait(0xFF)))
            elif r < 74:
                yield from sys.sleep(rng.randint(0, 4))
            elif r < 84:
                yield from sys.yield_()
            elif r < 89:
                for _ in range(rng.randint(1, 3)):
                    yield
            elif r < 91:
                res = yield sys.raw(abi.SYS_CALL, callees[0] if callees else 1, 0x100, 4, sys.inbuf, 8)
                self.log(sys, "bad pointer", res)
            elif r < 92:
                raise RuntimeError("random crash %d" % n)
            elif r < 93 and rng.chance(100):
                yield from sys.exit(rng.randint(0, 3))
            else:
                self.log(sys, "ticks", (yield from sys.ticks()))
            n += 1

    def handle(self, sys, rng, dest, handles):
        """dest's handle: looked up again now and then, else the one kept
        (an earlier incarnation's, if dest restarted since)."""
        if dest not in handles or rng.chance(300):
            handles[dest] = yield from sys.lookup(self.names[dest - 1])
        return handles[dest]

    def call(self, sys, rng, callees, handles):
        dest = rng.choice(callees)
        h = yield from self.handle(sys, rng, dest, handles)
        msg = b"%d>%d:" % (sys.tid, dest) + b"." * rng.randint(0, 40)
        try:
            self.log(sys, "reply", (yield from sys.call(h, msg)))
        except SysError as e:
            self.log(sys, "call refused", h, name_of(e.code))
            if e.code == errors.PEER_DIED:
                handles.pop(dest, None)

    def control(self, sys):
        rng = Rng(self.seed * 31 + self.k.tasks[sys.tid].gen)
        ops = (abi.KCTL_KILL, abi.KCTL_START, abi.KCTL_RESTART, abi.KCTL_RESTART)
        while True:
            yield from sys.sleep(rng.randint(5, 60))
            op, tid = rng.choice(ops), rng.randint(1, self.ctl - 1)
            try:
                yield from sys.kctl(op, tid)
                self.log(sys, "kctl", op, tid)
            except SysError as e:
                self.log(sys, "kctl refused", op, tid, name_of(e.code))

    def run(self):
        k, sim = self.k, self.sim
        k.start_all()
        while sim.ticks_ms() < END_MS:
            k.step()
        k.check()
        end = END_MS * 1000
        return {"runs": [r for r in sim.runs if r[0] < end],
                "events": [e for e in self.events if e[0] < end],
                "console": [c for c in self.console if c[0] < end],
                "faults": [f for f in k.fault_log.records if f["t"] < END_MS]}


def first_difference(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i, a[i], b[i]
    return min(len(a), len(b)), a[len(b):len(b) + 1], b[len(a):len(a) + 1]


def test_random_worlds_give_the_same_history_with_and_without_the_fast_path():
    taken = 0
    kinds = set()
    reached = {"fault": 0}
    for seed in SEEDS:
        fast = World(seed, True)
        seen = []
        real = fast.sim.fastlog

        def spy():
            log = real()
            seen.extend(e[0] for e in log)
            return log
        fast.sim.fastlog = spy
        got = fast.run()
        want = World(seed, False).run()
        for key in ("runs", "events", "console", "faults"):
            if got[key] != want[key]:
                i, g, w = first_difference(got[key], want[key])
                pytest.fail("seed %d: the %s differ at #%d: with the fast path %r, without %r"
                            % (seed, key, i, g, w))
        taken += fast.sim.fast_taken
        kinds.update(seen)
        for e in got["events"]:
            what = e[2] if e[2] not in ("call refused", "reply refused", "notify refused") else e[2] + " " + e[-1]
            reached[what] = reached.get(what, 0) + 1
        reached["fault"] += sum(1 for _, line in got["console"] if line.startswith(b"fault:"))
    # meaningful: the fast path was taken often, in every one of its forms,
    # and the worlds went through every kind of event
    assert taken > 20 * len(SEEDS), taken
    assert kinds >= {abi.FAST_CALL, abi.FAST_REPLY, abi.FAST_RECV, abi.FAST_YIELDS, abi.FAST_ROUNDS}, kinds
    for what in ("got", "reply", "replied", "call refused PEER_DIED", "call refused NOT_RUNNING",
                 "reply refused PEER_DIED", "notified", "woke", "bad pointer", "kctl", "fault"):
        assert reached.get(what), "no %r in %d worlds: %r" % (what, len(SEEDS), reached)


def test_the_c_checks_what_the_table_points_at():
    """A table the kernel got wrong (here: a receiver's buffer moved into
    another task's block) makes the fast path step aside, never copy there:
    the kernel takes the call and delivers into the buffer it knows."""
    from tests.host.test_kernel_loop import boot, mf
    got = []

    def srv(sys):
        got.append((yield from sys.recv()))
        yield from sys.wait(1 << 30)

    def cli(sys):
        got.append((yield from sys.call((yield from sys.lookup("srv")), b"hello")))

    def other(sys):
        yield from sys.wait(1 << 30)
    k, sim = boot({"srv": srv, "cli": cli, "other": other},
                  [mf("srv", prio=2), mf("cli", prio=3, calls="srv"), mf("other", prio=4)], fastpath=True)
    for _ in range(50):
        if k.ipc.receivers.get(1):
            break
        k.step()
    assert 1 in k.ipc.receivers
    w = sim.fasttab()
    victim = sim.sys_of(3)
    w[fasttab.BUF + 1] = victim.base + 64           # another task's memory
    before = bytes(victim.mem)
    taken = sim.fast_taken
    for _ in range(50):
        if len(got) == 1:
            break
        k.step()
    assert got and got[0][1] == b"hello" and bytes(victim.mem) == before
    assert sim.fast_taken == taken                  # the call went through the kernel
