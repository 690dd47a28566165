"""Issue 14: an install's check runs in bounded steps (kernel/bundles.py
Installer.end, one per INSTALL_END; the device's steps are
kernel/port/imgcheck.c's). Here the check is boot/image.c's verdict
(compiled for the host) handed out after N steps: the installer answers
{"busy": steps} until then, the installing task yields after each step,
bytes sent after the end are refused, and a bad signature, a truncated
bundle, an abort or the installing task's end mid-check leave nothing
installed, the check closed and the slot erased."""
import pytest

from kernel import abi, bundles
from test_bundle_format import Flash, verifier
from test_bundle_install import made
from test_image_format import c  # noqa: F401 (the compiled checker fixture)
from test_kernel_kctl import kctl_call, reply_of, system

STEPS = 5


class Stepped:
    """A check that takes `n` steps, then answers verify's verdict; records
    its close()."""
    made = []

    def __init__(self, verify, data, n=STEPS):
        self.verify, self.data, self.n = verify, data, n
        self.steps = self.longest = 0
        self.closed = 0
        Stepped.made.append(self)

    def step(self):
        assert not self.closed, "a step after close()"
        self.steps += 1
        return self.verify(self.data) if self.steps >= self.n else None

    def close(self):
        self.closed += 1


@pytest.fixture
def world(c):  # noqa: F811
    """(kernel, flash, store): the kctl tests' system (task 1 `op` has the
    kernel capability) with an installer whose checks take STEPS steps."""
    k, sim = system()
    f = Flash(4 * bundles.SLOT_SIZE)
    store = bundles.Store(f.read, f.erase, f.program, 0, 4 * bundles.SLOT_SIZE, 4096)
    verify = verifier(c)
    Stepped.made = []
    k.installer = bundles.Installer(store, verify, lambda data: Stepped(verify, data))
    return k, f, store


def sent(k, data, owner=1):
    inst = k.installer
    inst.begin(k, "hello", None, owner)
    for i in range(0, len(data), 456):
        inst.data(k, data[i:i + 456])


def erased(f):
    return f.mem[:bundles.SLOT_SIZE] == b"\xff" * bundles.SLOT_SIZE


def test_the_check_answers_busy_a_step_a_call_and_the_task_yields_after_each(world, monkeypatch):
    k, f, store = world
    sent(k, made())
    yielded = []        # (task 1 waits in a receive here; on the board it is the one running)
    monkeypatch.setattr(k.sched, "yield_", yielded.append)
    for i in range(1, STEPS):
        r = kctl_call(k, 1, abi.KCTL_INSTALL, abi.INSTALL_END)
        assert reply_of(k, 1, r) == {"busy": i} and yielded == [1] * i
    r = reply_of(k, 1, kctl_call(k, 1, abi.KCTL_INSTALL, abi.INSTALL_END))
    assert r["name"] == "hello" and r["steps"] == STEPS and yielded == [1] * (STEPS - 1)
    assert Stepped.made[0].closed == 1 and k.installer.stream.check is None
    assert k.installer.commit(k)["slot"] == 0 and store.used() == [0]


def test_bytes_after_the_end_are_refused_while_it_is_checked(world):
    k, f, store = world
    data = made()
    sent(k, data)
    assert "busy" in k.installer.end(k)
    with pytest.raises(bundles.BundleError, match="more bytes after the end"):
        k.installer.data(k, b"x")
    assert Stepped.made[0].closed == 1 and k.installer.stream is None and erased(f)


def test_a_bad_signature_is_refused_after_its_steps_and_nothing_stays(world):
    k, f, store = world
    data = bytearray(made())
    data[-10] ^= 1                              # in the signature
    sent(k, bytes(data))
    for _ in range(STEPS - 1):
        assert "busy" in k.installer.end(k)
    with pytest.raises(bundles.BundleError, match="refused: bad signature"):
        k.installer.end(k)
    assert Stepped.made[0].closed == 1 and k.installer.stream is None and erased(f)
    assert store.used() == [] and store.dirty() == [] and "hello" not in k.installer.installed


def test_a_truncated_bundle_is_refused_before_any_check(world):
    k, f, store = world
    data = made()
    sent(k, data[:len(data) - 100])
    with pytest.raises(bundles.BundleError, match="cut short"):
        k.installer.end(k)
    assert Stepped.made == [] and k.installer.stream is None and erased(f)


@pytest.mark.parametrize("how", ["abort", "owner ended", "kctl abort"])
def test_an_install_dropped_mid_check_closes_the_check_and_erases_the_slot(world, how):
    k, f, store = world
    sent(k, made(), owner=2 if how == "owner ended" else 1)
    assert "busy" in k.installer.end(k) and "busy" in k.installer.end(k)
    assert not k.installer.task_ended(3)        # another task's end changes nothing
    assert k.installer.stream is not None and Stepped.made[0].closed == 0
    if how == "abort":
        k.installer.abort()
    elif how == "kctl abort":
        assert kctl_call(k, 1, abi.KCTL_INSTALL, abi.INSTALL_ABORT)[0] >= 0
    else:
        k.kill(2)                               # task 2 dies mid-check: kernel.end drops its install
    assert Stepped.made[0].closed == 1 and k.installer.stream is None and erased(f)
    assert store.used() == [] and store.dirty() == []


def test_the_one_step_default_checks_at_once(c):  # noqa: F811
    f = Flash(bundles.SLOT_SIZE * 2)
    store = bundles.Store(f.read, f.erase, f.program, 0, 2 * bundles.SLOT_SIZE, 4096)
    k, sim = system()
    k.installer = bundles.Installer(store, verifier(c))
    sent(k, made())
    r = k.installer.end(k)
    assert r["name"] == "hello" and r["steps"] == 1 and r["check_counts"] is None
