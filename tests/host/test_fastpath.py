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

from kernel import abi, fasttab
from tests.host.sim_world import World
from tools import ipcfast_host

SEEDS = range(int(os.environ.get("QX_FASTPATH_SEEDS", "40")))


def test_the_tables_layout_is_the_headers():
    ffi, lib = ipcfast_host.build()
    _, sizes = ipcfast_host.struct_cdef()
    assert sizes == {"QX_FT_TASKS": fasttab.TASKS, "QX_FT_PRIOS": len(range(8)), "QX_FT_IRQS": fasttab.IRQS}
    for name, word, n in fasttab.FIELDS:
        assert ffi.offsetof("qx_fasttab_t", name) == 4 * word, name
        assert ffi.sizeof(ffi.typeof("qx_fasttab_t").fields[[f[0] for f in ffi.typeof("qx_fasttab_t").fields]
                                                             .index(name)][1].type) == 4 * n, name
    assert ffi.sizeof("qx_fasttab_t") == 4 * fasttab.WORDS


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


IRQ_SEEDS = range(int(os.environ.get("QX_FASTPATH_IRQ_SEEDS", "40")))


def test_random_worlds_with_interrupts_give_the_same_history_with_and_without_the_fast_path():
    """Worlds whose drivers own interrupts that fire at random times
    (tests/host/sim_world.py irqs=True): the C's deliveries (qx_irq_fast,
    from a running task, at a resume and from idle) change no step, result
    or line of the history; each form was taken."""
    kinds = {}
    forms = set()
    reached = {}
    for seed in IRQ_SEEDS:
        fast = World(seed, True, irqs=True)
        real = fast.sim.fastlog

        def spy():
            log = real()
            for e in log:
                kinds[e[0]] = kinds.get(e[0], 0) + 1
                if e[0] == abi.FAST_IRQ:
                    forms.add("woke" if e[3] else "pending")
                elif e[0] == abi.FAST_RUN:
                    forms.add("preempt" if e[2] else "from idle")
            return log
        fast.sim.fastlog = spy
        got = fast.run()
        want = World(seed, False, irqs=True).run()
        for key in ("runs", "events", "console", "faults"):
            if got[key] != want[key]:
                i, g, w = first_difference(got[key], want[key])
                pytest.fail("seed %d: the %s differ at #%d: with the fast path %r, without %r"
                            % (seed, key, i, g, w))
        for e in got["events"]:
            if e[2].startswith("irq"):
                what = e[2] + (" bits" if e[-1] else " none")
                reached[what] = reached.get(what, 0) + 1
    assert kinds.get(abi.FAST_IRQ, 0) > 10 * len(IRQ_SEEDS), kinds
    assert forms == {"woke", "pending", "preempt", "from idle"}, forms
    for what in ("irq wait bits", "irq wait none", "irq recv bits", "irq recv none"):
        assert reached.get(what), "no %r in %d worlds: %r" % (what, len(IRQ_SEEDS), reached)


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
