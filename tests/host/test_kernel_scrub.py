"""Issue 13: a freed block reached the next task uncleared. The trap layer
zeroes a task's whole block (and its saved VM state) in kill(); these tests
hold the Python kernel to calling kill() for every block it created before
that block goes back to the pool, on every path a task ends by: exit,
main() returning, fault, kill, restart, a failed start (create refused, or
a grant refused after create), and removal. The zeroing itself is C
(kernel/port/modtrap.c end_task), checked in QEMU by
tests/qemu/test_isolation.py::test_a_freed_block_reaches_its_next_owner_zeroed."""
import pytest

from kernel import abi, manifest
from kernel.kernel import Kernel
from kernel.sim import Sim

POOL = 0x20000000


def mf(name, extra=""):
    return manifest.parse("name = %s\nentry = %s\npriority = 4\nheap = 4096\nstack = 1024\n"
                          "restart = never\nconsole = true\n%s" % (name, name, extra),
                          "userland/%s/manifest" % name)


class Recorder:
    """Wraps the sim's create/kill and the buddy's release: the order in
    which blocks are created, killed (zeroed) and freed."""

    def __init__(self, k, sim):
        self.events = []
        create, kill, release = sim.create, sim.kill, k.buddy._release

        def rec_create(tid, base, size, *a):
            create(tid, base, size, *a)
            self.events.append(("create", tid, base))

        def rec_kill(tid):
            base = sim.tasks[tid].sys.base
            kill(tid)
            self.events.append(("kill", tid, base))

        def rec_release(addr, order, owner):
            release(addr, order, owner)
            self.events.append(("free", owner, addr))

        sim.create, sim.kill, k.buddy._release = rec_create, rec_kill, rec_release

    def check(self):
        """Every freed block that was created was killed (zeroed) first."""
        created = {}
        for ev, tid, base in self.events:
            if ev == "create":
                created[tid] = base
            elif ev == "kill":
                assert created.pop(tid) == base, self.events
            else:
                assert tid not in created, ("block 0x%x of task %d freed without kill()" % (base, tid),
                                            self.events)
        return [e[0] for e in self.events]


def system(programs, manifests, devices=()):
    sim = Sim(0)
    for entry in programs:
        sim.program(entry, programs[entry])
    k = Kernel(sim, POOL, 1 << 16, manifests, devices=devices)
    return k, sim, Recorder(k, sim)


def run(k, n=200):
    for _ in range(n):
        k.step()
        k.check()


def waits(sys):
    while True:
        yield from sys.recv()


def test_exit_and_return_zero_the_block_before_freeing_it():
    def exits(sys):
        yield from sys.exit(3)

    def returns(sys):
        yield from sys.yield_()

    k, sim, rec = system({"a": exits, "b": returns}, [mf("a"), mf("b")])
    k.start_all()
    run(k)
    assert rec.check().count("kill") == 2
    assert k.task(1).status == "exited" and k.task(2).status == "exited"


def test_a_fault_zeroes_the_block_before_freeing_it():
    def boom(sys):
        yield from sys.yield_()
        raise ValueError("boom")

    def pokes(sys):
        yield sys.store(0x10, 1)

    k, sim, rec = system({"a": boom, "b": pokes}, [mf("a"), mf("b")])
    k.start_all()
    run(k)
    assert rec.check().count("kill") == 2
    assert k.task(1).status == "faulted" and k.task(2).status == "faulted"


def test_kill_restart_and_remove_zero_the_block():
    k, sim, rec = system({"a": waits, "b": waits}, [mf("a"), mf("b")])
    k.start_all()
    run(k, 20)
    k.restart(1)
    run(k, 20)
    k.kill(1)
    k.remove_task(2)
    assert rec.check() == ["create", "create", "kill", "free", "create", "kill", "free", "kill", "free"]


def test_a_refused_create_writes_nothing_and_frees_the_block():
    k, sim, rec = system({"a": waits}, [mf("a")])
    sim.fail_next_create()
    with pytest.raises(Exception):
        k.start(1)
    assert rec.check() == ["free"]
    assert k.buddy.free_bytes == k.buddy.size


def test_a_grant_refused_after_create_zeroes_the_block():
    k, sim, rec = system({"a": waits}, [mf("a", "devices = uart1\n")], devices=[("uart1", 0x40004000, 0x1000, "UART1")])

    def refuse(tid, base, size):
        raise ValueError("a grant is an aligned power-of-two block of the APB or of storage")
    sim.grant = refuse
    with pytest.raises(Exception):
        k.start(1)
    assert rec.check() == ["create", "kill", "free"]
    assert k.task(1).status == "faulted" and k.buddy.free_bytes == k.buddy.size
    # The same task starts again in the same block (nothing is left over).
    del sim.grant
    k.start(1)
    assert rec.check()[-1] == "create" and rec.events[-1][2] == rec.events[0][2]


def test_an_installed_task_that_fails_to_start_is_zeroed():
    k, sim, rec = system({"a": waits}, [mf("a")])
    tid = k.add_task(mf("inst"), code=b"\x4d" * 64)
    sim.fail_next_create()
    with pytest.raises(Exception):
        k.start(tid)
    assert rec.check() == ["free"]
