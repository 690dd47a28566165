"""One seeded random system on the simulated trap layer (kernel/sim.py),
for the differential tests: run with the fast path on or off
(tests/host/test_fastpath.py) and under CPython or MicroPython
(tests/host/test_kernel_upy.py). Plain Python: MicroPython imports it from
tests/host (no pytest here)."""
from kernel import abi, errors, manifest
from kernel.errors import name_of
from kernel.kernel import Kernel
from kernel.sim import Rng, Sim, SysError, random_tasks

POOL = 0x20000000
END_MS = 1500               # each world's history is compared up to here


# With irqs: the board's raw interrupts (tests/host/irq_world.py IRQS) a
# world's drivers own, and how often each fires.
IRQ_LINES = (("eth", 13), ("timer1", 9))
IRQ_TABLE = (("eth", (13,), "raw", "LAN9118"), ("timer1", (9,), "raw", "timer 1"))


class World:
    """One seeded random system, run with the fast path on or off; with
    irqs, one or two of its tasks own an interrupt each (a random
    notification bit), which fires at random times, and wait for it
    (wait, or recv with a mask, with or without a timeout) and acknowledge
    it, among everything else they do."""

    def __init__(self, seed, fast, irqs=False):
        self.seed = seed
        rng = Rng(seed * 7919 + 17)
        n = rng.randint(3, 6)
        self.names = ["t%d" % i for i in range(n)]
        self.callees, self.servers, ms = random_tasks(rng, n, 600, ["always", "always", "limit 3", "never"],
                                                      (1, 5), lambda i: "prog")
        self.drivers = {}       # tid -> its interrupt's notification bit
        if irqs:
            for name, _n in IRQ_LINES[:rng.randint(1, 2)]:
                tid = rng.randint(1, n)
                if tid in self.drivers:
                    continue
                bit = rng.randint(0, 7)
                self.drivers[tid] = bit
                m = ms[tid - 1]
                ms[tid - 1] = manifest.parse(m.to_text() + "irqs = %s:%d\n" % (name, bit))
        ms.append(manifest.parse("name = ctl\nentry = ctl\npriority = %d\nheap = 4096\nstack = 1024\n"
                                 "restart = always\nkernel = true\n" % rng.randint(1, 5)))
        self.ctl = n + 1
        self.sim = Sim(seed, step_us=100, jitter_us=400, tick_rate=10, crash_rate=1, fastpath=fast)
        self.sim.program("prog", self.prog)
        self.sim.program("ctl", self.control)
        self.k = Kernel(self.sim, POOL, 1 << 17, ms, slice_ticks=rng.randint(2, 10),
                        irqs=IRQ_TABLE if irqs else ())
        if irqs:
            for name, line in IRQ_LINES:
                at = 0
                while at < END_MS:
                    at += rng.randint(1, 25)
                    self.sim.raise_irq(line, at)
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

    def driver(self, sys, rng, bit):
        """One turn of a driver: wait for its interrupt's bit (and others),
        or receive with it in the mask; acknowledge what came."""
        mask = 1 << bit
        x = rng.below(10)
        timeout = rng.choice((0, 0, 1, 3, 20))
        if x < 5:
            got = yield from sys.wait(mask | (rng.below(256) if rng.chance(300) else 0), timeout)
            self.log(sys, "irq wait", got)
        elif x < 8:
            sender, got = yield from sys.recv_any(mask=mask, timeout_ms=timeout)
            self.log(sys, "irq recv", sender, got if not sender else bytes(got))
            if sender:
                yield from sys.reply(sender, b"drv")
                got = 0
        else:
            got = mask if rng.chance(500) else 0
            self.log(sys, "irq ack blind", got)
        if got & mask:
            yield from sys.irq_ack(mask)

    def log(self, sys, *what):
        self.events.append((self.sim.us, sys.tid) + what)

    def prog(self, sys):
        me = sys.tid
        rng = Rng(self.seed * 1000003 + me * 1009 + self.k.tasks[me].gen)
        callees = self.callees[me]
        server = me in self.servers
        handles = {}
        n = 0
        bit = self.drivers.get(me)
        while True:
            r = rng.below(100)
            if bit is not None and rng.chance(400):
                yield from self.driver(sys, rng, bit)
            elif server and r < 35:
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
