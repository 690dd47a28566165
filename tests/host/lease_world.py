"""Lease scenarios (SYS_CALL_LEASE, SYS_BORROW) on the simulated trap layer,
each returning the log of what its tasks saw, so tests/host/test_kernel_lease.py
can check them under CPython and ask MicroPython's unix port for the same logs.
Plain Python (no pytest): MicroPython imports it from tests/host."""
from kernel import abi, errors, manifest
from kernel.kernel import Kernel
from kernel.sim import Sim, SysError

POOL = 0x20000000
FAST = False                # run on the trap layer's C fast path (kernel/port/ipcfast.c, cffi)
R, W, INFO = abi.BORROW_READ, abi.BORROW_WRITE, abi.BORROW_INFO


def mf(name, calls="", heap=8192, restart="never", ports=""):
    text = ("name = %s\nentry = %s\npriority = 4\nheap = %d\nstack = 1024\nrestart = %s\n"
            "calls = %s\nconsole = true\n" % (name, name, heap, restart, calls))
    if ports:
        text += "ports = %s\n" % ports
    if restart != "never":
        text += "backoff_ms = 5\n"
    return manifest.parse(text, "userland/%s/manifest" % name)


def boot(programs, manifests):
    sim = Sim(0, fastpath=FAST)
    for entry in programs:
        sim.program(entry, programs[entry])
    k = Kernel(sim, POOL, 1 << 17, manifests)
    k.start_all()
    k.check()
    return k, sim


def run(k, until, steps=20000):
    for _ in range(steps):
        if until():
            return
        k.step()
        k.check()
    raise AssertionError("not reached in %d steps" % steps)


def try_(log, gen):
    """Run a syscall wrapper; log its result or the error name."""
    try:
        r = yield from gen
        log.append(r)
        return r
    except SysError as e:
        log.append(errors.name_of(e.code))
        return None


def pattern(n, seed):
    out = bytearray(n)
    x = seed & 0xFF
    for i in range(n):
        x = (x * 75 + 74) % 257 & 0xFF
        out[i] = x
    return bytes(out)


def rev(b):
    """b reversed (MicroPython slices only with step 1)."""
    out = bytearray(len(b))
    for i in range(len(b)):
        out[len(b) - 1 - i] = b[i]
    return bytes(out)


def bulk():
    """The client lends 4 KiB to read and 4 KiB to write; the server copies
    the first out in odd-sized pieces and writes it back reversed into the
    second. Returns (log, ok)."""
    log = []
    data = pattern(4096, 7)

    def client(sys):
        src = sys.kbuf
        dst = sys.kbuf + 4096
        sys.put(src, data)
        r = yield from sys.call_lease(2, b"in", src, 4096, abi.LEASE_READ)
        log.append(("reply", r))
        r = yield from sys.call_lease(2, b"out", dst, 4096, abi.LEASE_WRITE | abi.LEASE_READ)
        log.append(("reply", r, sys.get(dst, 4096) == rev(data)))
        yield from sys.wait(1 << 30)

    def server(sys):
        got = b""
        for _ in range(2):
            sender, msg = yield from sys.recv()
            n, rights = yield from sys.borrow(INFO, sender, 0, 0, 0)
            log.append(("info", msg, n, rights))
            if msg == b"in":
                off = 0
                while off < n:
                    piece = min(1000, n - off)
                    r0, _ = yield from sys.borrow(R, sender, off, sys.kbuf, piece)
                    got += sys.get(sys.kbuf, r0)
                    off += r0
                log.append(("read", len(got), got == data))
            else:
                sys.put(sys.kbuf, rev(got))
                r0, _ = yield from sys.borrow(W, sender, 0, sys.kbuf, n)
                log.append(("wrote", r0))
            yield from sys.reply(sender, b"ok")
        yield from sys.wait(1 << 30)

    k, sim = boot({"c": client, "s": server}, [mf("c", calls="s", heap=16384), mf("s", heap=16384)])
    run(k, lambda: len(log) == 6)
    return log


def refusals():
    """Every refusal of SYS_BORROW and of a leased call, in order."""
    log = []

    def client(sys):
        base = sys.kbuf
        # the lease is the caller's: outside its block, or rights 0 / 4
        yield from try_(log, sys.call_lease(2, b"x", sys.base + sys.size, 16, abi.LEASE_READ))
        yield from try_(log, sys.call_lease(2, b"x", base, 16, 0))
        r = yield sys.raw(abi.SYS_CALL_LEASE, 2, sys.out, 1 | 256 << 16, base, 16 << 2 | 4)
        log.append(r)       # rights 4 is length 17 with rights 0: BAD_ARGUMENT too
        yield from try_(log, sys.call(2, b"plain"))
        yield from try_(log, sys.call_lease(2, b"ro", base, 64, abi.LEASE_READ))
        yield from try_(log, sys.call_lease(2, b"big", base, 1 << 20, abi.LEASE_READ))
        yield from sys.wait(1 << 30)

    def server(sys):
        sender, msg = yield from sys.recv()         # the plain call
        yield from try_(log, sys.borrow(INFO, sender, 0, 0, 0))             # BAD_STATE: no lease
        yield from sys.reply(sender, b"p")
        sender, msg = yield from sys.recv()         # "ro", 64 bytes to read
        yield from try_(log, sys.borrow(3, sender, 0, 0, 0))                # BAD_ARGUMENT: op
        yield from try_(log, sys.borrow(R, sender, 0, sys.base + sys.size - 8, 16))   # own buffer
        yield from try_(log, sys.borrow(R, 99, 0, sys.kbuf, 16))           # NO_SUCH_TASK
        yield from try_(log, sys.borrow(R, sender | 1 << 8, 0, sys.kbuf, 16))  # a later gen: PEER_DIED
        yield from try_(log, sys.borrow(R, 3, 0, sys.kbuf, 16))            # BAD_STATE: not calling
        yield from try_(log, sys.borrow(W, sender, 0, sys.kbuf, 16))       # NOT_PERMITTED
        yield from try_(log, sys.borrow(R, sender, 60, sys.kbuf, 8))       # BAD_ARGUMENT: past it
        yield from try_(log, sys.borrow(R, sender, 0xFFFFFFFF, sys.kbuf, 8))
        yield from try_(log, sys.borrow(R, sender, 64, sys.kbuf, 0))       # empty at the end: fine
        yield from sys.reply(sender, b"r")
        yield from try_(log, sys.borrow(R, sender, 0, sys.kbuf, 8))        # replied: BAD_STATE
        yield from sys.wait(1 << 30)

    def idle(sys):
        yield from sys.wait(1 << 30)

    k, sim = boot({"c": client, "s": server, "i": idle}, [mf("c", calls="s"), mf("s"), mf("i")])
    run(k, lambda: len(log) == 17)
    return log


def caller_dies():
    """A caller killed while its leased call is served: the lease is gone
    (PEER_DIED while stopped, and for its old handle once restarted); the
    server's late reply is dropped and it serves the new incarnation."""
    log = []
    state = {}

    def client(sys):
        sys.put(sys.kbuf, b"A" * 32)
        r = yield from try_(log, sys.call_lease(2, b"m", sys.kbuf, 32, abi.LEASE_READ))
        yield from sys.wait(1 << 30)

    def server(sys):
        sender, msg = yield from sys.recv()
        state["first"] = sender
        r0, _ = yield from sys.borrow(R, sender, 0, sys.kbuf, 4)
        log.append(("read", sys.get(sys.kbuf, 4)))
        state["served"] = True
        yield from sys.wait(1)                      # the test kills the caller here
        yield from try_(log, sys.borrow(R, sender, 0, sys.kbuf, 4))
        yield from sys.wait(2)                      # ... and restarts it here
        yield from try_(log, sys.borrow(R, sender, 0, sys.kbuf, 4))
        yield from try_(log, sys.reply(sender, b"late"))    # an earlier incarnation: refused
        sender, msg = yield from sys.recv()
        log.append(("new", sender != state["first"], sender & 0xFF == state["first"] & 0xFF))
        r0, _ = yield from sys.borrow(R, sender, 0, sys.kbuf, 4)
        log.append(("read", sys.get(sys.kbuf, 4)))
        yield from sys.reply(sender, b"ok")
        yield from sys.wait(1 << 30)

    k, sim = boot({"c": client, "s": server}, [mf("c", calls="s"), mf("s")])
    run(k, lambda: state.get("served") and k.sched.tasks[2].state == "blocked")
    k.kill(1)
    _poke(k, 2, 1)
    run(k, lambda: len(log) == 2)
    k.start(1)
    _poke(k, 2, 2)
    try:
        run(k, lambda: len(log) == 7)
    except AssertionError:
        raise AssertionError(repr(log))
    return log


def _poke(k, tid, bits):
    """Notify tid as the kernel would for another task."""
    k.apply(k.ipc.notify(0, tid, bits))


def callee_dies():
    """The server dies holding a leased call: the caller gets PEER_DIED and
    its memory is its own again."""
    log = []

    def client(sys):
        yield from try_(log, sys.call_lease(2, b"m", sys.kbuf, 32, abi.LEASE_WRITE))
        sys.put(sys.kbuf, b"mine")
        log.append(sys.get(sys.kbuf, 4))
        yield from sys.wait(1 << 30)

    def server(sys):
        sender, msg = yield from sys.recv()
        raise ValueError("server crashed")

    k, sim = boot({"c": client, "s": server}, [mf("c", calls="s"), mf("s")])
    run(k, lambda: len(log) == 2)
    return log


def peer():
    """KCTL_PEER: a server learns a caller's ports, and that it ended."""
    log = []
    state = {}

    def server(sys):
        for arg in (1, 3, 99, 1 | 1 << 30):
            yield from try_(log, sys.kctl(abi.KCTL_PEER, arg))
        state["asked"] = True
        yield from sys.wait(1)
        yield from try_(log, sys.kctl(abi.KCTL_PEER, 1))         # stopped: NOT_RUNNING
        yield from sys.wait(2)
        yield from try_(log, sys.kctl(abi.KCTL_PEER, 1))         # restarted: PEER_DIED
        yield from try_(log, sys.kctl(abi.KCTL_PEER, 1 | 1 << 8))
        yield from sys.wait(1 << 30)

    def idle(sys):
        yield from sys.wait(1 << 30)

    k, sim = boot({"s": server, "c": idle, "x": idle},
                  [mf("c", calls="s", ports="7, 8080"), mf("s"), mf("x", ports="9")])
    run(k, lambda: state.get("asked") and k.sched.tasks[2].state == "blocked")
    k.kill(1)
    _poke(k, 2, 1)
    run(k, lambda: len(log) == 5)
    k.start(1)
    _poke(k, 2, 2)
    run(k, lambda: len(log) == 7)
    return log


SCENARIOS = ("bulk", "refusals", "caller_dies", "callee_dies", "peer")

