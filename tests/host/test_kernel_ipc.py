"""Host tests of IPC: kernel.ipc's state machine on its own, then every IPC
syscall (call, recv, reply, notify, wait, lookup) through the kernel and
the simulated trap layer, with every error code each can return, peer
death on either side of a call, and the bytes really copied between
task memories."""
import pytest

from kernel import abi, errors, manifest
from kernel.errors import KernelError
from kernel.ipc import Ipc, QUEUED, SERVED
from kernel import kctl
from kernel.kernel import Kernel
from kernel.sim import Sim, SysError
from test_kernel_loop import boot, run as loop_run

POOL = 0x20000000
E = errors


def mf(name, prio=4, calls="", restart="never", backoff=None, entry=None):
    text = ("name = %s\nentry = %s\npriority = %d\nheap = 4096\nstack = 1024\nrestart = %s\n"
            "calls = %s\nconsole = true\n" % (name, entry or name, prio, restart, calls))
    if backoff is not None:
        text += "backoff_ms = %d\n" % backoff
    return manifest.parse(text, "userland/%s/manifest" % name)


def run(k, steps=3000, until=None):
    loop_run(k, steps, until)


def server(log, prefix=b"re:", cap=abi.MSG_MAX):
    """recv, log (sender, msg), reply prefix + msg, forever."""
    def prog(sys):
        while True:
            sender, msg = yield from sys.recv(cap)
            log.append((sender, msg))
            yield from sys.reply(sender, prefix + msg)
    return prog


def caller(dest, msgs, log, cap=abi.MSG_MAX):
    """call dest with each message, logging the reply or the error name."""
    def prog(sys):
        for m in msgs:
            try:
                log.append((yield from sys.call(dest, m, cap)))
            except SysError as e:
                log.append(E.name_of(e.code))
        yield from sys.wait(1 << 30)
    return prog


def blocker(sys):
    yield from sys.wait(1 << 30)


# ---- kernel.ipc on its own ----------------------------------------------------------------

def test_ipc_call_queued_then_received_then_replied():
    ipc = Ipc()
    assert ipc.call(1, 2, b"hello", 0x100, 64) == []
    assert ipc.calls[1].state == QUEUED and ipc.queued_on(2) == [1]
    got, wakes = ipc.recv(2, 0x500, 100)
    assert wakes == [] and got == (2, 5, 1, 0x500, b"hello")
    assert ipc.calls[1].state == SERVED and ipc.calls[1].msg is None
    assert ipc.served_by(2) == [1]
    assert ipc.reply(2, 1, b"ok") == (1, 2, 0, 0x100, b"ok")
    assert ipc.calls == {} and ipc.check()
    assert ipc.info(1)["sent"] == 1 and ipc.info(2)["received"] == 1 and ipc.info(2)["replied"] == 1


def test_ipc_receiver_waiting_gets_the_message_at_once():
    ipc = Ipc()
    assert ipc.recv(2, 0x500, 100) == (None, [])
    assert ipc.call(1, 2, b"x", 0x100, 8) == [(2, 1, 1, 0x500, b"x")]
    assert 2 not in ipc.receivers and ipc.calls[1].state == SERVED
    ipc.check()


def test_ipc_queue_is_fifo_and_short_buffers_refuse_long_messages():
    ipc = Ipc()
    ipc.call(1, 9, b"a" * 10, 0, 8)
    ipc.call(2, 9, b"b", 0, 8)
    ipc.call(3, 9, b"c" * 4, 0, 8)
    got, wakes = ipc.recv(9, 0x10, 4)
    assert wakes == [(1, -E.MSG_TOO_LARGE, 10, None, None)]
    assert got[2] == 2 and got[4] == b"b"
    got, wakes = ipc.recv(9, 0x10, 4)
    assert got[2] == 3 and wakes == []
    assert ipc.check()
    ipc.recv(9, 0x10, 4)                 # nothing left: it waits
    with pytest.raises(KernelError) as info:
        ipc.call(4, 9, b"12345", 0, 8)
    assert info.value.code == E.MSG_TOO_LARGE and 4 not in ipc.calls


def test_ipc_reply_errors_and_a_reply_too_long_for_the_caller():
    ipc = Ipc()
    ipc.call(1, 2, b"q", 0x100, 3)
    for tid, sender in ((2, 1), (3, 1), (2, 5)):
        with pytest.raises(KernelError) as info:
            ipc.reply(tid, sender, b"")
        assert info.value.code == E.BAD_STATE
    ipc.recv(2, 0, 10)
    assert ipc.reply(2, 1, b"four") == (1, -E.MSG_TOO_LARGE, 4, None, None)
    with pytest.raises(KernelError):
        ipc.reply(2, 1, b"")             # answered already


def test_ipc_peer_death_both_ways():
    ipc = Ipc()
    ipc.call(1, 9, b"a", 0, 8)           # served
    ipc.recv(9, 0, 8)
    ipc.call(2, 9, b"b", 0, 8)           # queued
    ipc.call(3, 9, b"c", 0, 8)           # queued
    ipc.call(9, 7, b"d", 0, 8)           # 9 itself calls 7
    assert ipc.task_died(3) == []        # a queued caller dies: leaves the queue
    assert ipc.queued_on(9) == [2]
    wakes = ipc.task_died(9)
    assert wakes == [(2, -E.PEER_DIED, 0, None, None), (1, -E.PEER_DIED, 0, None, None)]
    assert ipc.calls == {} and ipc.queues == {} and ipc.check()
    assert ipc.info(1)["peer_died"] == 1


def test_ipc_notify_and_wait():
    ipc = Ipc()
    assert ipc.notify(1, 2, 0b101) == []
    assert ipc.wait(2, 0b100) == 0b100 and ipc.bits[2] == 0b001
    assert ipc.wait(2, 0b010) is None
    assert ipc.notify(1, 2, 0b1000) == []            # not in the mask: stays pending
    assert ipc.notify(1, 2, 0b110) == [(2, 0b010, 0, None, None)]
    assert ipc.bits[2] == 0b1101 and ipc.check()
    ipc.task_died(2)
    assert 2 not in ipc.bits


def test_ipc_check_catches_a_message_both_delivered_and_pending():
    ipc = Ipc()
    ipc.call(1, 2, b"a", 0, 8)
    ipc.calls[1].state = SERVED
    with pytest.raises(AssertionError):
        ipc.check()


# ---- call / recv / reply through the kernel ---------------------------------------------

def test_call_recv_reply_round_trip_copies_bytes():
    slog, clog = [], []
    k, sim = boot({"srv": server(slog, prefix=b""), "cli": caller(2, [b"hello", b"", b"x" * 256], clog)},
                  [mf("cli", calls="srv"), mf("srv")])
    run(k, until=lambda: len(clog) == 3)
    assert clog == [b"hello", b"", b"x" * 256]
    assert slog == [(1, b"hello"), (1, b""), (1, b"x" * 256)]
    srv = sim.sys_of(2)
    assert srv.get(srv.inbuf, 5) == b"xxxxx"           # the message landed in its memory
    t = {r["name"]: r for r in kctl.ipc_table(k)["tasks"]}
    assert (t["cli"]["sent"], t["srv"]["received"], t["srv"]["replied"]) == (3, 3, 3)


def test_callers_queue_in_fifo_order_while_the_server_is_busy():
    slog, logs = [], {1: [], 2: [], 3: []}

    def slow_server(sys):
        yield from sys.sleep(10)
        while True:
            sender, msg = yield from sys.recv()
            slog.append(msg)
            yield from sys.reply(sender, msg.upper())
    progs = {"srv": slow_server}
    for i in (1, 2, 3):
        progs["c%d" % i] = caller(4, [b"m%d" % i], logs[i])
    k, sim = boot(progs, [mf("c1", calls="srv"), mf("c2", calls="srv"), mf("c3", calls="srv"),
                          mf("srv")])
    run(k, until=lambda: len(slog) == 0 and len(k.ipc.queued_on(4)) == 3)
    assert k.ipc.queued_on(4) == [1, 2, 3]
    assert [k.sched.info(t)["reason"] for t in (1, 2, 3)] == ["call 4"] * 3
    run(k, until=lambda: len(slog) == 3)
    assert slog == [b"m1", b"m2", b"m3"]
    run(k, until=lambda: all(logs[i] for i in logs))
    assert [logs[i] for i in (1, 2, 3)] == [[b"M1"], [b"M2"], [b"M3"]]


def test_the_message_is_a_copy_not_shared_memory():
    got = []

    def cli(sys):
        msg = b"original"
        ptr = sys.put(sys.out, msg)
        r = yield sys.raw(abi.SYS_CALL, 2, ptr, len(msg), sys.inbuf, 64)
        got.append(r)

    def srv(sys):
        sender, msg = yield from sys.recv()
        c = sim.sys_of(sender)
        c.put(c.out, b"CHANGED!")               # the caller's buffer changes meanwhile
        got.append(sys.get(sys.inbuf, 8))
        yield from sys.reply(sender, b"done")
    k, sim = boot({"cli": cli, "srv": srv}, [mf("cli", calls="srv"), mf("srv")])
    run(k, until=lambda: len(got) == 2)
    assert got == [b"original", (4, 0)]


def test_call_errors_in_precedence_order():
    log = []

    def cli(sys):
        yield from sys.sleep(5)                         # `quits` has exited by then
        big = sys.out
        cases = [
            (2, 0x10, 4, sys.inbuf, 8),                 # bad message pointer
            (2, sys.out, 4, 0xFFFFFFF0, 64),            # bad reply pointer
            ("2", sys.out, 4, sys.inbuf, 8),            # not an int
            (2, sys.out, -1, sys.inbuf, 8),             # negative
            (99, 0x10, 4, sys.inbuf, 8),                # bad pointer beats no such task
            (99, sys.out, 4, sys.inbuf, 8),             # no such task
            (3, sys.out, 4, sys.inbuf, 8),              # not permitted (not in calls)
            (1, sys.out, 4, sys.inbuf, 8),              # itself: not permitted
            (3, big, 300, sys.inbuf, 8),                # not permitted beats too large
            (2, big, 257, sys.inbuf, 8),                # too large
            (4, big, 300, sys.inbuf, 8),                # too large beats peer died
            (4, sys.out, 4, sys.inbuf, 8),              # peer died (exited)
        ]
        for args in cases:
            r = yield sys.raw(abi.SYS_CALL, *args)
            log.append(E.name_of(-r[0]) if r[0] < 0 else r)

    def quits(sys):
        yield from sys.exit(0)
    k, sim = boot({"cli": cli, "srv": blocker, "other": blocker, "quits": quits},
                  [mf("cli", calls="srv, quits"), mf("srv"), mf("other"), mf("quits")])
    run(k, until=lambda: len(log) == 12)
    assert log == ["BAD_ARGUMENT", "BAD_ARGUMENT", "BAD_ARGUMENT", "BAD_ARGUMENT", "BAD_ARGUMENT",
                   "NO_SUCH_TASK", "NOT_PERMITTED", "NOT_PERMITTED", "NOT_PERMITTED",
                   "MSG_TOO_LARGE", "MSG_TOO_LARGE", "NOT_RUNNING"]
    assert k.ipc.calls == {} and k.ipc.info(1)["sent"] == 0


def test_call_to_a_receiver_with_a_short_buffer_fails_and_the_receiver_keeps_waiting():
    slog, clog = [], []
    k, sim = boot({"srv": server(slog, cap=4), "cli": caller(2, [b"too long", b"ok"], clog)},
                  [mf("cli", calls="srv"), mf("srv")])
    run(k, until=lambda: len(clog) == 2)
    assert clog == ["MSG_TOO_LARGE", b"re:ok"]
    assert slog == [(1, b"ok")]


def test_recv_errors():
    log = []

    def srv(sys):
        for args in [(0x10, 8), (sys.inbuf, 1 << 20), (sys.inbuf, "8"), (-4, 8)]:
            r = yield sys.raw(abi.SYS_RECV, *args)
            log.append(E.name_of(-r[0]))
    k, sim = boot({"srv": srv}, [mf("srv")])
    run(k, until=lambda: len(log) == 4)
    assert log == ["BAD_ARGUMENT"] * 4


def test_reply_errors_and_a_retry_after_a_too_large_reply():
    log, clog = [], []

    def srv(sys):
        def r(*args):
            res = yield sys.raw(abi.SYS_REPLY, *args)
            log.append(E.name_of(-res[0]) if res[0] < 0 else res[0])
        yield from r(1, sys.out, 2)                 # nobody called yet
        yield from sys.sleep(5)                     # now cli is queued, not received
        yield from r(1, sys.out, 2)
        sender, msg = yield from sys.recv()
        yield from r(99, sys.out, 2)                # no such task
        yield from r(3, sys.out, 2)                 # exists, not calling
        yield from r(sender, 0x10, 2)               # bad pointer
        yield from r(sender, sys.out, 257)          # too large: the call stays pending
        yield from r(99, sys.out, 257)              # no such task beats too large
        yield from r(3, sys.out, 257)               # bad state beats too large
        yield from r(sender, sys.put(sys.out, b"fine"), 4)
        yield from r(sender, sys.out, 4)            # answered already
        yield from sys.wait(1 << 30)
    k, sim = boot({"srv": srv, "cli": caller(2, [b"q"], clog), "x": blocker},
                  [mf("cli", calls="srv"), mf("srv"), mf("x")])
    run(k, until=lambda: len(log) == 10)
    assert log == ["BAD_STATE", "BAD_STATE", "NO_SUCH_TASK", "BAD_STATE", "BAD_ARGUMENT",
                   "MSG_TOO_LARGE", "NO_SUCH_TASK", "BAD_STATE", 0, "BAD_STATE"]
    run(k, until=lambda: clog)
    assert clog == [b"fine"]


def test_a_reply_longer_than_the_callers_buffer_fails_the_call_not_the_reply():
    rlog, clog = [], []

    def srv(sys):
        sender, msg = yield from sys.recv()
        res = yield sys.raw(abi.SYS_REPLY, sender, sys.put(sys.out, b"0123456789"), 10)
        rlog.append(res)

    def cli(sys):
        r = yield sys.raw(abi.SYS_CALL, 2, sys.put(sys.out, b"q"), 1, sys.inbuf, 4)
        clog.append(r)
    k, sim = boot({"srv": srv, "cli": cli}, [mf("cli", calls="srv"), mf("srv")])
    run(k, until=lambda: rlog and clog)
    assert rlog == [(0, 0)] and clog == [(-E.MSG_TOO_LARGE, 10)]


def test_recv_returns_the_sender_tid_in_r1():
    slog = []
    k, sim = boot({"srv": server(slog), "a": caller(3, [b"1"], []), "b": caller(3, [b"2"], [])},
                  [mf("a", calls="srv"), mf("b", calls="srv"), mf("srv")])
    run(k, until=lambda: len(slog) == 2)
    assert sorted(slog) == [(1, b"1"), (2, b"2")]


# ---- peer death ----------------------------------------------------------------------

def test_callee_dies_after_receiving_caller_gets_peer_died():
    clog = []

    def dies_mid_call(sys):
        yield from sys.recv()
        yield from sys.sleep(3)
        raise RuntimeError("crash while serving")
    k, sim = boot({"srv": dies_mid_call, "cli": caller(2, [b"q"], clog)},
                  [mf("cli", calls="srv"), mf("srv")])
    run(k, until=lambda: clog)
    assert clog == ["PEER_DIED"]
    assert k.ipc.info(1)["peer_died"] == 1 and k.ipc.calls == {}


def test_every_caller_blocked_on_a_dying_task_gets_peer_died():
    logs = [[], [], []]

    def dies_later(sys):
        yield from sys.recv()                       # serve one, leave two queued
        yield from sys.sleep(5)
        yield sys.load(0)                           # MemManage
    progs = {"srv": dies_later}
    for i in range(3):
        progs["c%d" % i] = caller(4, [b"q"], logs[i])
    k, sim = boot(progs, [mf("c0", calls="srv"), mf("c1", calls="srv"), mf("c2", calls="srv"), mf("srv")])
    run(k, until=lambda: all(logs))
    assert logs == [["PEER_DIED"]] * 3
    assert k.ipc.calls == {} and k.ipc.queues == {}


def test_a_killed_callee_answers_its_callers_peer_died():
    clog = []
    k, sim = boot({"srv": blocker, "cli": caller(2, [b"q", b"again"], clog)},
                  [mf("cli", calls="srv"), mf("srv")])
    run(k, until=lambda: k.ipc.calling(1) == 2)
    k.kill(2)
    run(k, until=lambda: len(clog) == 2)
    assert clog == ["PEER_DIED", "NOT_RUNNING"]          # the second: callee is stopped, nothing delivered


def test_a_dying_caller_leaves_the_queue_and_the_servers_late_reply_is_dropped():
    log = []

    def srv(sys):
        sender, msg = yield from sys.recv()              # served: c1
        yield from sys.sleep(10)                         # c1 and c2 die meanwhile
        yield from sys.reply(sender, b"late")           # accepted, dropped
        log.append(("replied", sender))
        try:
            yield from sys.reply(sender, b"twice")      # the orphan is gone now
        except SysError as e:
            log.append(("again", E.name_of(e.code)))
        sender, msg = yield from sys.recv()
        log.append(("next", sender, msg))
        yield from sys.reply(sender, b"ok")
    k, sim = boot({"srv": srv, "c": caller(4, [b"x"], []), "c3": caller(4, [b"three"], [])},
                  [mf("c1", calls="srv", entry="c"), mf("c2", calls="srv", entry="c"),
                   mf("c3", calls="srv"), mf("srv")])
    run(k, until=lambda: k.ipc.calling(1) == 4 and k.ipc.queued_on(4)[:1] == [2])
    k.kill(1)                                            # being served
    k.kill(2)                                            # queued
    k.check()
    assert k.ipc.queued_on(4) == [3]
    run(k, until=lambda: len(log) == 3)
    assert log == [("replied", 1), ("again", "BAD_STATE"), ("next", 3, b"three")]


def test_restarted_callee_serves_new_calls():
    clog = []

    def srv(sys):
        sender, msg = yield from sys.recv()
        if msg == b"die":
            raise RuntimeError("asked to")
        yield from sys.reply(sender, b"alive")

    def cli(sys):
        for m in (b"die", b"hello"):
            while True:
                try:
                    clog.append((yield from sys.call((yield from sys.lookup("srv")), m)))
                    break
                except SysError as e:
                    clog.append(E.name_of(e.code))
                    if m == b"die":
                        break
                    yield from sys.sleep(5)
        try:
            yield from sys.call(2, b"old")          # the first incarnation's handle (== its id)
        except SysError as e:
            clog.append(E.name_of(e.code))
        yield from sys.wait(1 << 30)
    k, sim = boot({"srv": srv, "cli": cli}, [mf("cli", calls="srv"), mf("srv", restart="always", backoff=20)])
    run(k, until=lambda: len(clog) > 2 and clog[-2] == b"alive")
    assert clog[0] == "PEER_DIED" and "NOT_RUNNING" in clog[1:-2] and k.tasks[2].restarts == 1
    assert clog[-1] == "PEER_DIED"                  # a stale handle: refused, never delivered


# ---- notify / wait ---------------------------------------------------------------------

def test_notify_wakes_a_waiter_with_the_bits_of_its_mask():
    got = []

    def waiter(sys):
        got.append((yield from sys.wait(0b0110)))
        got.append((yield from sys.wait(0b1001)))
        got.append((yield from sys.wait(0b1001)))

    def notifier(sys):
        yield from sys.sleep(5)
        yield from sys.notify(2, 0b0011)       # wakes with 0b0010; 0b0001 stays pending
        yield from sys.sleep(5)
        yield from sys.notify(2, 0b1000)
    k, sim = boot({"w": waiter, "n": notifier}, [mf("n", calls="w"), mf("w")])
    run(k, until=lambda: len(got) == 3)
    assert got == [0b0010, 0b0001, 0b1000]
    assert k.ipc.info(1)["notified"] == 2


def test_notify_and_wait_errors():
    log = []

    def n(sys):
        for args in [(2, 0), (2, 1 << 31), (2, "1"), (9, 1), (3, 1), (1, 1), (4, 1)]:
            r = yield sys.raw(abi.SYS_NOTIFY, *args)
            log.append(E.name_of(-r[0]) if r[0] < 0 else r[0])
        for mask in (0, 1 << 31, -1):
            r = yield sys.raw(abi.SYS_WAIT, mask)
            log.append(E.name_of(-r[0]))

    def quits(sys):
        yield from sys.exit(0)
    k, sim = boot({"n": n, "w": blocker, "x": blocker, "q": quits},
                  [mf("n", calls="w, q", prio=5), mf("w"), mf("x"), mf("q")])
    run(k, until=lambda: len(log) == 10)
    assert log == ["BAD_ARGUMENT", "BAD_ARGUMENT", "BAD_ARGUMENT", "NO_SUCH_TASK", "NOT_PERMITTED",
                   "NOT_PERMITTED", "NOT_RUNNING", "BAD_ARGUMENT", "BAD_ARGUMENT", "BAD_ARGUMENT"]


def test_pending_bits_are_dropped_when_the_task_restarts():
    got = []

    def w(sys):
        if k.tasks[sys.tid].starts == 1:
            yield from sys.sleep(10)
            raise RuntimeError("crash with bits pending")
        got.append((yield from sys.wait(0b1)))

    log = []

    def n(sys):
        yield from sys.notify(2, 0b1)
        yield from sys.sleep(50)
        try:
            yield from sys.notify(2, 0b1)               # the first incarnation's handle: refused
        except SysError as e:
            log.append(E.name_of(e.code))
        yield from sys.notify((yield from sys.lookup("w")), 0b1)
    k, sim = boot({"w": w, "n": n}, [mf("n", calls="w"), mf("w", restart="always", backoff=5)])
    run(k, until=lambda: k.tasks[2].starts == 2 and k.state_of(2) == "blocked")
    assert 2 not in k.ipc.bits and got == []
    run(k, until=lambda: got)
    assert got == [1] and log == ["PEER_DIED"]


# ---- lookup ------------------------------------------------------------------------------

def test_lookup_finds_tasks_by_name_whatever_their_state():
    log = []

    def p(sys):
        for name in (b"srv", b"p", b"gone", b"nobody", b"\xff\xfe"):
            try:
                log.append((yield from sys.lookup(name)))
            except SysError as e:
                log.append(E.name_of(e.code))
    k, sim = boot({"p": p, "srv": blocker}, [mf("p"), mf("srv"), mf("gone", entry="srv")])
    k.kill(3)
    run(k, until=lambda: len(log) == 5)
    assert log == [2, 1, 3, "NO_SUCH_TASK", "NO_SUCH_TASK"]


def test_bad_pointers_from_the_trap_layer_become_bad_argument():
    """Even when the kernel's own range check passes, a ValueError from
    trap.read is BAD_ARGUMENT, not a kernel crash."""
    log = []

    class Strict(Sim):
        def read(self, tid, addr, n):
            if n == 3:
                raise ValueError("refused")
            return Sim.read(self, tid, addr, n)

    sim = Strict(0)

    def p(sys):
        r = yield sys.raw(abi.SYS_LOOKUP, sys.put(sys.out, b"abc"), 3)
        log.append(r)
    sim.program("p", p)
    k = Kernel(sim, POOL, 1 << 16, [mf("p")])
    k.start_all()
    run(k, until=lambda: log)
    assert log == [(-E.BAD_ARGUMENT, 0)]


def test_a_receive_buffer_the_trap_layer_refuses_faults_the_receiver_and_frees_the_caller():
    clog = []

    class Strict(Sim):
        def write(self, tid, addr, data):
            if data == b"boom":
                raise ValueError("refused")
            return Sim.write(self, tid, addr, data)

    sim = Strict(0)
    sim.program("srv", server([]))
    sim.program("cli", caller(2, [b"boom"], clog))
    k = Kernel(sim, POOL, 1 << 16, [mf("cli", calls="srv"), mf("srv")])
    k.start_all()
    run(k, until=lambda: clog)
    assert clog == ["PEER_DIED"]
    assert [ln for ln in sim.lines() if ln.startswith("fault:")][0].startswith(
        "fault: task srv (id 2): bad buffer 0x")


def test_a_polling_receive_returns_at_once_when_nobody_calls_and_delivers_when_someone_does():
    from kernel import abi as _abi
    log = []

    def server(sys):
        for _ in range(3):
            log.append(("poll", (yield from sys.recv(poll=True))))
            yield from sys.sleep(5)
        sender, msg = yield from sys.recv(poll=True)
        while not sender:
            yield from sys.sleep(1)
            sender, msg = yield from sys.recv(poll=True)
        log.append(("got", sender, msg))
        yield from sys.reply(sender, b"pong")
        yield from sys.wait(1)

    def client(sys):
        yield from sys.sleep(12)
        log.append(("reply", (yield from sys.call(1, b"ping"))))
        yield from sys.wait(1)
    k, sim = boot({"server": server, "client": client}, [mf("server"), mf("client", calls="server")])
    run(k, until=lambda: any(e[0] == "reply" for e in log))
    assert log[:3] == [("poll", (0, b""))] * 3
    assert ("got", 2, b"ping") in log and ("reply", b"pong") in log
    k.check()
    assert _abi.SYS_RECV == 7


def test_a_wait_with_poll_ms_has_the_idle_board_poll_until_then_and_no_longer():
    """SYS_WAIT poll_ms: while the waiter waits and nobody runs, the kernel
    passes trap.idle() a poll deadline (now + poll_ms); once the waiter is
    woken (or its time passed) idle sleeps again, with none. More than
    POLL_MAX_MS is BAD_ARGUMENT."""
    got, log = [], []

    def w(sys):
        r = yield sys.raw(abi.SYS_WAIT, 0b1, 0, abi.POLL_MAX_MS + 1)
        log.append(E.name_of(-r[0]))
        r = yield sys.raw(abi.SYS_WAIT, 0b1, 0, 3)
        got.append(r[0])
        yield from sys.wait(0b10)                   # no poll: idle sleeps

    def n(sys):
        yield from sys.sleep(20)
        yield from sys.notify(2, 0b1)
    k, sim = boot({"n": n, "w": w}, [mf("n", calls="w"), mf("w")])
    idles = []
    real = sim.idle

    def idle(deadline_ms, poll_until_ms=None):
        idles.append((sim.ticks_ms(), poll_until_ms))
        return real(deadline_ms, poll_until_ms)
    sim.idle = idle
    run(k, until=lambda: got and k.sched.info(2)["reason"] == "wait" and len(idles) > 3)
    assert log == ["BAD_ARGUMENT"] and got == [0b1]
    polled = [(t, p) for t, p in idles if p is not None]
    assert polled and all(t < p <= t + 3 for t, p in polled)      # never past the waiter's 3 ms
    assert idles[-1][1] is None and not k.polls                 # woken: no poll left behind
