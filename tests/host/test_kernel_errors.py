"""kernel/errors.py: a code's number is ABI and never changes (the table
below pins every one: a renumbering or a reused number fails here); the
order in which conditions are checked is errors.PRECEDENCE, apart from the
numbers; name_of/doc_of; and every code is reachable by a task."""
import pytest

from kernel import abi, errors as E
from tests.host.test_kernel_ipc import boot, mf, run, blocker

# The ABI. Append a new code here with its new number; never edit a line.
PINNED = {
    "OK": 0,
    "BAD_ARGUMENT": 1,
    "NO_SUCH_TASK": 2,
    "BAD_STATE": 3,
    "NOT_PERMITTED": 4,
    "MSG_TOO_LARGE": 5,
    "PEER_DIED": 6,
    "QUOTA": 7,
    "NO_MEMORY": 8,
    "BAD_FREE": 9,
    "NOT_RUNNING": 10,
    "BAD_BUNDLE": 11,
}


def test_every_code_keeps_its_number():
    for name, code in PINNED.items():
        assert getattr(E, name) == code, "%s was renumbered" % name
        assert E.name_of(code) == name and E.doc_of(code)
    assert [row[1] for row in E.TABLE] == sorted(PINNED, key=PINNED.get)   # no code unpinned


def test_precedence_is_its_own_table_with_permission_before_state():
    assert sorted(E.PRECEDENCE) == sorted(c for c in PINNED.values() if c != E.OK)
    order = [E.name_of(c) for c in E.PRECEDENCE]
    assert order.index("BAD_ARGUMENT") == 0
    assert order.index("NO_SUCH_TASK") < order.index("NOT_PERMITTED") < order.index("BAD_STATE")
    assert order.index("NOT_PERMITTED") < order.index("PEER_DIED") < order.index("NOT_RUNNING")
    assert E.first([E.BAD_STATE, E.NOT_PERMITTED]) == E.NOT_PERMITTED
    assert E.first([E.PEER_DIED, E.NOT_RUNNING, E.QUOTA]) == E.PEER_DIED      # a stale handle
    assert E.first([]) == E.OK


def test_name_and_doc_of_unknown_codes():
    assert E.name_of(99) == "UNKNOWN(99)" and E.name_of(-1) == "UNKNOWN(-1)"
    assert E.name_of(True) == "UNKNOWN(True)" and E.name_of("3") == "UNKNOWN('3')"
    assert E.doc_of(99) == "" and E.doc_of(None) == ""
    assert str(E.KernelError(E.NOT_RUNNING, "task 3 (x) is stopped")) == "NOT_RUNNING: task 3 (x) is stopped"
    with pytest.raises(AssertionError):
        E.KernelError(E.OK, "no")


def test_every_code_is_reached():
    """Each error code comes back to a task from some request (the kernel's
    own pool errors from the buddy allocator, which a task reaches through
    its quota and the pool)."""
    from kernel import buddy
    seen = set()

    def cli(sys):
        acts = [(abi.SYS_CALL, "x", 0, 0, 0, 0),                 # BAD_ARGUMENT
                (abi.SYS_NOTIFY, 9, 1),                          # NO_SUCH_TASK
                (abi.SYS_NOTIFY, 3, 1),                          # NOT_PERMITTED
                (abi.SYS_REPLY, 2, 0, 0),                        # BAD_STATE: 2 never called us
                (abi.SYS_NOTIFY, 4, 1)]                          # NOT_RUNNING: q exited
        yield from sys.sleep(5)
        for a in acts:
            r = yield sys.raw(*a)
            seen.add(E.name_of(-r[0]))
        try:
            yield from sys.call(2, b"x" * (abi.MSG_MAX + 1))     # MSG_TOO_LARGE
        except Exception as e:
            seen.add(E.name_of(e.code))
        try:
            yield from sys.call(2, b"x")                         # PEER_DIED: srv is killed meanwhile
        except Exception as e:
            seen.add(E.name_of(e.code))
        seen.add("done")
        yield from sys.wait(1 << 30)

    def quits(sys):
        yield from sys.exit(0)
    k, sim = boot({"cli": cli, "srv": blocker, "x": blocker, "q": quits},
                  [mf("cli", calls="srv, q"), mf("srv"), mf("x"), mf("q")])
    run(k, until=lambda: k.ipc.calling(1) == 2)
    k.kill(2)
    run(k, until=lambda: "done" in seen)
    pool = buddy.Buddy(0, 1 << 12)
    pool.set_quota("q", 256)
    for fn in (lambda: pool.alloc(1 << 13, "a"),          # NO_MEMORY
               lambda: pool.free(0x40, "a"),              # BAD_FREE
               lambda: pool.alloc(512, "q")):             # QUOTA
        with pytest.raises(E.KernelError) as e:
            fn()
        seen.add(E.name_of(e.value.code))
    from tests.host.test_kernel_kctl import bad_bundle_reached
    seen.add(E.name_of(bad_bundle_reached()))                 # BAD_BUNDLE: an install refused
    assert seen - {"done"} == set(PINNED) - {"OK"}, sorted(set(PINNED) - seen)


def test_permission_comes_before_state():
    """A task that may not call or notify a task gets NOT_PERMITTED whatever
    that task's state (stopped, exited, running): it learns nothing of it.
    One that may gets NOT_RUNNING for a task that is not running; kctl
    without the kernel capability is NOT_PERMITTED for a target in any state."""
    log = []

    def cli(sys):
        yield from sys.sleep(5)                          # q has exited, x runs
        for a in [(abi.SYS_CALL, 3 | 5 << 8, 0, 0, 0, 0), (abi.SYS_NOTIFY, 3, 1),  # x: live, not allowed
                  # (a handle of another incarnation: still NOT_PERMITTED, not PEER_DIED)
                  (abi.SYS_CALL, 4, 0, 0, 0, 0), (abi.SYS_NOTIFY, 4, 1),      # q: exited, not allowed
                  (abi.SYS_CALL, 5, 0, 0, 0, 0), (abi.SYS_NOTIFY, 5, 1),      # ok: exited, allowed
                  (abi.SYS_KCTL, abi.KCTL_START, 4, 0, 0), (abi.SYS_KCTL, abi.KCTL_START, 3, 0, 0),
                  (abi.SYS_KCTL, abi.KCTL_KILL, 4, 0, 0), (abi.SYS_KCTL, abi.KCTL_FAULT, 4, 0, 0)]:
            r = yield sys.raw(*a)
            log.append(E.name_of(-r[0]))
        yield from sys.wait(1 << 30)

    def quits(sys):
        yield from sys.exit(0)
    k, sim = boot({"cli": cli, "srv": blocker, "x": blocker, "q": quits, "ok": quits},
                  [mf("cli", calls="srv, ok"), mf("srv"), mf("x"), mf("q"), mf("ok")])
    run(k, until=lambda: len(log) == 10)
    assert log == ["NOT_PERMITTED"] * 4 + ["NOT_RUNNING"] * 2 + ["NOT_PERMITTED"] * 4
