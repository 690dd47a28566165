"""kernel/bootctl.py: when the kernel confirms a trial boot by itself."""
from kernel.bootctl import HEALTH_MS, BootControl

TRIAL_INFO = ("B", 2, (2, 0, 0, 0), 2 << 24, 1 << 24, bytes(range(32)))


class Confirm:
    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return True


def test_a_healthy_trial_is_confirmed_once_the_window_has_passed():
    c = Confirm()
    b = BootControl(TRIAL_INFO, c, start_ms=100)
    assert b.confirm_at == 100 + HEALTH_MS
    assert b.check(100 + HEALTH_MS - 1, []) is None and c.calls == 0
    line = b.check(100 + HEALTH_MS, [])
    assert line == "boot: slot B v2.0.0+0 confirmed (boot tasks healthy for %d ms); " \
                   "security counter now %d\n" % (HEALTH_MS, 2 << 24)
    assert c.calls == 1 and b.check(10 ** 9, []) is None and c.calls == 1
    assert b.status(0)["state"] == "confirmed" and b.status(0)["min_counter"] == 2 << 24


def test_a_fault_in_the_window_gives_up_the_automatic_confirmation():
    c = Confirm()
    b = BootControl(TRIAL_INFO, c, start_ms=0)
    assert "not confirming slot B v2.0.0+0: task ponger faulted" in b.check(10, ["ponger"])
    assert b.check(HEALTH_MS * 2, []) is None and c.calls == 0
    s = b.status(HEALTH_MS * 2)
    assert s["state"] == "trial" and s["confirm_in_ms"] is None and s["gave_up"] == "task ponger faulted"
    assert b.confirm() is True and c.calls == 1 and b.status(0)["state"] == "confirmed"


def test_a_confirmed_image_needs_nothing_and_no_handover_means_no_status():
    c = Confirm()
    b = BootControl(("A", 0, (1, 0, 0, 0), 1, 1, bytes(32)), c)
    assert b.confirm_at is None and b.check(10 ** 6, []) is None and c.calls == 0
    assert BootControl(None, c).status(0) == {"slot": None}


def test_the_kernel_gives_up_a_trial_when_a_boot_task_faults_and_confirms_one_that_stays_healthy():
    from test_kernel_loop import boot, mf, run

    def crasher(sys):
        yield from sys.sleep(3)
        yield sys.load(0x20300000)                  # outside its memory: a fault

    def quiet(sys):
        yield from sys.wait(1)

    for programs, expect in (({"a": crasher, "b": quiet}, "gave up"), ({"a": quiet, "b": quiet}, "confirmed")):
        c = Confirm()
        k, sim = boot(programs, [mf("a"), mf("b")], start=False)
        k.boot = BootControl(TRIAL_INFO, c, start_ms=k.now(), health_ms=50)
        k.start_all()
        run(k, steps=5000, until=lambda: k.boot.confirm_at is None)
        if expect == "gave up":
            assert k.boot.gave_up == "task a faulted" and c.calls == 0
        else:
            assert k.boot.gave_up is None and c.calls == 1
