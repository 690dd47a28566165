"""kernel/kctl.py: the table of kernel controls has one error channel. Every
operation is one function in OPS; each refuses a bad request with a result
code from kernel/errors.py (r0 = -code), never with a success reply that
carries an error; an op that does not exist is refused (BAD_ARGUMENT) and
changes nothing; a bundle the installer refuses is BAD_BUNDLE with the
reason in the buffer. Driven through sys_kctl on a Kernel over the
simulated trap layer."""
import json

import pytest

from kernel import abi, errors as E, kctl
from kernel.errors import KernelError
from tests.host.test_kernel_loop import boot, mf, run

TID_OPS = (abi.KCTL_KILL, abi.KCTL_START, abi.KCTL_RESTART, abi.KCTL_FAULT, abi.KCTL_FG, abi.KCTL_REMOVE)


def waiter(sys):
    yield from sys.wait(1 << 30)


def system():
    """op (kernel = true), plain (no kernel capability), idle (manual
    start), all waiting: (kernel, sim)."""
    ms = [mf("op", kernel=True, console="read", entry="w"), mf("plain", entry="w"),
          mf("idle", entry="w")]
    ms[2].start = "manual"
    k, sim = boot({"w": waiter}, ms)
    run(k, until=lambda: all(k.state_of(t) == "blocked" for t in k.live()))
    assert k.live() == [1, 2]
    return k, sim


def kctl_call(k, tid, op, arg=0, bptr=None, bcap=None):
    """sys_kctl as task tid calls it: (r0, r1), -code for a KernelError, or
    None (the caller is gone). The buffer defaults to the task's block."""
    t = k.tasks[tid]
    if bptr is None:
        bptr, bcap = t.base, t.size
    try:
        return kctl.sys_kctl(k, t, (op, arg, bptr, bcap, 0))
    except KernelError as e:
        return (-e.code, 0)


def reply_of(k, tid, r):
    return json.loads(bytes(k.trap.read(tid, k.tasks[tid].base, r[0]))) if r[0] else None


def test_the_table_holds_one_function_per_op_in_abi_order():
    assert len(kctl.OPS) == abi.NKCTL
    assert [f.__name__ for f in kctl.OPS] == ["kctl_" + n for n in abi.KCTL_NAMES]


@pytest.mark.parametrize("op", [abi.NKCTL, abi.NKCTL + 1, 255, abi.WORD_MAX])
def test_an_op_that_does_not_exist_is_refused_and_changes_nothing(op):
    k, sim = system()
    before = [(t.status, t.gen) for t in k.tasks.values()]
    assert kctl_call(k, 1, op) == (-E.BAD_ARGUMENT, 0)
    assert [(t.status, t.gen) for t in k.tasks.values()] == before and k.halted is None
    k.check()


@pytest.mark.parametrize("op", range(abi.NKCTL))
def test_every_op_refuses_a_word_out_of_range(op):
    k, sim = system()
    t = k.tasks[1]
    for args in [("x", 0, t.base, 64), (op, -1, t.base, 64), (op, 0, 1 << 32, 64), (op, 0, t.base, None),
                 (op, True, t.base, 64)]:
        with pytest.raises(KernelError) as e:
            kctl.sys_kctl(k, t, args + (0,))
        assert e.value.code == E.BAD_ARGUMENT, args
    assert k.halted is None and k.live() == [1, 2]


@pytest.mark.parametrize("op", range(abi.NKCTL))
def test_every_op_refuses_a_buffer_outside_the_callers_memory(op):
    k, sim = system()
    other = k.tasks[2]
    assert kctl_call(k, 1, op, 2, other.base, 64) == (-E.BAD_ARGUMENT, 0)   # plain's block
    assert kctl_call(k, 1, op, 2, k.tasks[1].base + k.tasks[1].size - 8, 64) == (-E.BAD_ARGUMENT, 0)
    assert k.halted is None and k.live() == [1, 2]


@pytest.mark.parametrize("op", range(abi.NKCTL))
def test_every_op_refuses_a_task_without_the_kernel_capability(op):
    k, sim = system()
    assert kctl_call(k, 2, op, 1) == (-E.NOT_PERMITTED, 0)
    assert k.halted is None and k.live() == [1, 2] and k.console_owner == 1


@pytest.mark.parametrize("op", TID_OPS)
def test_every_control_naming_a_task_refuses_one_that_does_not_exist(op):
    k, sim = system()
    k.installer = FakeInstaller()       # REMOVE asks the installer first
    assert kctl_call(k, 1, op, 99) == (-E.NO_SUCH_TASK, 0)
    assert k.live() == [1, 2]


@pytest.mark.parametrize("op,arg", [(abi.KCTL_KILL, 3), (abi.KCTL_START, 2), (abi.KCTL_FAULT, 3),
                                    (abi.KCTL_KILL, 1), (abi.KCTL_FG, 1),
                                    (abi.KCTL_INSTALL, 0), (abi.KCTL_REMOVE, 2), (abi.KCTL_CONFIRM, 0)])
def test_a_control_in_the_wrong_state_is_bad_state(op, arg):
    """Kill a stopped task or the console task, start a running one, fault
    a stopped one, hand the console to its owner;
    install or remove with no installer, confirm with no boot information."""
    k, sim = system()
    assert kctl_call(k, 1, op, arg) == (-E.BAD_STATE, 0)
    assert k.live() == [1, 2] and k.halted is None
    k.check()


def test_fg_to_a_task_that_does_not_read_the_console_is_not_permitted():
    k, sim = system()
    assert kctl_call(k, 1, abi.KCTL_FG, 2) == (-E.NOT_PERMITTED, 0)


@pytest.mark.parametrize("op", range(abi.NKCTL))
@pytest.mark.parametrize("arg", [0, 1, 2, 3, 7, 99])
def test_no_op_answers_success_with_an_error_in_its_reply(op, arg):
    """Whatever the op and argument: a refusal is r0 < 0 with a code of the
    table, a success is a control's 0 or a query's JSON without "error"."""
    k, sim = system()
    k.installer = FakeInstaller()
    r = kctl_call(k, 1, op, arg)
    if r is None:
        return                          # the caller itself was stopped or restarted
    if r[0] < 0:
        assert E.name_of(-r[0]) in [row[1] for row in E.TABLE[1:]], r
        return
    reply = reply_of(k, 1, r)
    assert reply is None or "error" not in reply, reply
    k.check()


def test_a_reply_too_large_for_the_buffer_says_the_size_it_needs():
    k, sim = system()
    r0, r1 = kctl_call(k, 1, abi.KCTL_PS, 0, k.tasks[1].base, 16)
    assert r0 == -E.MSG_TOO_LARGE and r1 > 16
    r = kctl_call(k, 1, abi.KCTL_PS, 0, k.tasks[1].base, r1)
    assert r[0] == r1 and reply_of(k, 1, r)["tasks"][0]["name"] == "op"


class FakeInstaller:
    """An installer whose every step refuses (or raises what it is given)."""

    def __init__(self, error=None):
        self.error = error if error is not None else ValueError("refused: not a bundle")
        self.aborted = 0
        self.discarding = None

    def _refuse(self, *a):
        raise self.error

    begin = data = end = commit = remove = _refuse

    def abort(self):
        self.aborted += 1

    def task_ended(self, tid):
        return False

    def describe(self, name):
        return None


@pytest.mark.parametrize("step", [abi.INSTALL_BEGIN, abi.INSTALL_DATA, abi.INSTALL_END, abi.INSTALL_COMMIT])
def test_a_refused_bundle_is_bad_bundle_with_the_reason_in_the_buffer(step):
    k, sim = system()
    inst = k.installer = FakeInstaller()
    t = k.tasks[1]
    r0, r1 = kctl_call(k, 1, abi.KCTL_INSTALL, step)
    assert r0 == -E.BAD_BUNDLE and bytes(k.trap.read(1, t.base, r1)) == b"refused: not a bundle"
    assert inst.aborted == 1                    # the stream is over


def test_a_kernel_error_inside_an_install_step_is_a_refusal_with_its_name():
    k, sim = system()
    k.installer = FakeInstaller(KernelError(E.NO_MEMORY, "no block of 16384 bytes"))
    r0, r1 = kctl_call(k, 1, abi.KCTL_INSTALL, abi.INSTALL_END)
    assert r0 == -E.BAD_BUNDLE
    assert bytes(k.trap.read(1, k.tasks[1].base, r1)) == b"NO_MEMORY: no block of 16384 bytes"


def test_a_refusal_reason_is_cut_to_the_buffer():
    k, sim = system()
    k.installer = FakeInstaller(ValueError("x" * 300))
    r0, r1 = kctl_call(k, 1, abi.KCTL_INSTALL, abi.INSTALL_BEGIN, k.tasks[1].base, 40)
    assert (r0, r1) == (-E.BAD_BUNDLE, 40)


def test_a_bad_install_step_or_chunk_is_bad_argument_and_the_stream_goes_on():
    k, sim = system()
    inst = k.installer = FakeInstaller()
    for arg in (6, 7, (2000 << 3) | abi.INSTALL_DATA):
        assert kctl_call(k, 1, abi.KCTL_INSTALL, arg) == (-E.BAD_ARGUMENT, 0)
    assert kctl_call(k, 1, abi.KCTL_INSTALL, (64 << 3) | abi.INSTALL_DATA, k.tasks[1].base, 32) == \
        (-E.BAD_ARGUMENT, 0)                    # more bytes than the buffer holds
    inst.error = KernelError(E.BAD_ARGUMENT, "a step's own bad argument")
    assert kctl_call(k, 1, abi.KCTL_INSTALL, abi.INSTALL_BEGIN) == (-E.BAD_ARGUMENT, 0)
    assert inst.aborted == 0


def test_a_remove_the_installer_refuses_is_bad_state():
    k, sim = system()
    k.installer = FakeInstaller(ValueError("task plain is not an installed task"))
    assert kctl_call(k, 1, abi.KCTL_REMOVE, 2) == (-E.BAD_STATE, 0)
    assert k.live() == [1, 2]


def test_controls_answer_zero_and_queries_json():
    k, sim = system()
    assert kctl_call(k, 1, abi.KCTL_START, 3) == (0, 0) and k.tasks[3].status == "live"
    assert kctl_call(k, 1, abi.KCTL_KILL, 3) == (0, 0) and k.tasks[3].status == "stopped"
    for op, key in [(abi.KCTL_PS, "tasks"), (abi.KCTL_MEM, "blocks"), (abi.KCTL_FAULTS, "faults"),
                    (abi.KCTL_IPC, "tasks"), (abi.KCTL_TASKS, "tasks"), (abi.KCTL_BOOT, "slot")]:
        r = kctl_call(k, 1, op)
        assert r[0] > 0 and key in reply_of(k, 1, r), op
    assert kctl_call(k, 1, abi.KCTL_REBOOT) == (0, 0) and k.halted == "reboot"


def bad_bundle_reached():
    """The code a task gets for a refused bundle (test_kernel_errors)."""
    k, sim = system()
    k.installer = FakeInstaller()
    return -kctl_call(k, 1, abi.KCTL_INSTALL, abi.INSTALL_BEGIN)[0]
