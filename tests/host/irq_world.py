"""Small systems on the simulated trap layer (kernel/sim.py) for the
interrupt routing policy: who a granted IRQ reaches, who may acknowledge
it, what a task's death does to it, waits and receives with notification
masks and timeouts, and the task UARTs' rings. Each scenario returns a
plain history (lists, ints, strings) that tests/host/test_kernel_irq.py
checks under CPython and compares with MicroPython's run of the same.
Plain Python: MicroPython imports it from tests/host (no pytest here)."""
from kernel import abi, errors, manifest
from kernel.kernel import Kernel
from kernel.sim import Sim, SysError

POOL = 0x20000000
# The board's table (hal/board/mps2-an385/board.py IRQS, TASK_UARTS; the
# CPython test holds these to it).
IRQS = (
    ("uart1", (2, 3), "uart", "HSM link"),
    ("uart2", (4, 5), "uart", "host link"),
    ("eth", (13,), "raw", "LAN9118"),
    ("uart3", (18, 19), "uart", "UART3"),
    ("timer1", (9,), "raw", "timer 1"),
)
UARTS = (("uart1", 1, 0x40005000), ("uart2", 2, 0x40006000), ("uart3", 3, 0x40007000))
ETH = 13


def task(name, extra="", prio=3):
    return manifest.parse("name = %s\nentry = %s\npriority = %d\nheap = 8192\nstack = 1024\n"
                          "restart = always\nbackoff_ms = 5\n%s" % (name, name, prio, extra))


def system(ms, seed=0, fast=False):
    sim = Sim(seed, step_us=100, fastpath=fast)
    k = Kernel(sim, POOL, 1 << 17, ms, irqs=IRQS, uarts=UARTS)
    return sim, k


def run_until(k, sim, ms):
    while sim.ticks_ms() < ms:
        k.step()
    k.check()


def code(f):
    """The error name a syscall generator raised, or its result."""
    try:
        r = yield from f
        return r
    except SysError as e:
        return errors.name_of(e.code)


def routing():
    """A raw IRQ reaches its owner's bit only; it stays masked (and is
    latched) until the owner acks; a non-owner can neither ack it nor see
    it; the owner's death masks and forgets it, its restart owns it again."""
    log = []
    sim, k = system([task("drv", "irqs = eth:3\n"), task("other")])

    def drv(sys):
        log.append(["drv owned", (yield from sys.irq_owned())])
        got = yield from sys.wait(1 << 3)
        log.append(["drv got", got, sys.sim.ticks_ms()])
        again = yield from sys.wait(1 << 3, 30)     # masked: the second one waits for the ack
        log.append(["drv before ack", again])
        yield from sys.irq_ack(1 << 3)
        got = yield from sys.wait(1 << 3, 30)       # latched while masked: here now
        log.append(["drv after ack", got])
        log.append(["drv acks a bit it does not own", (yield from code(sys.irq_ack(1 << 4)))])
        yield from sys.irq_ack(1 << 3)
        while True:
            got = yield from sys.wait(1 << 3)
            log.append(["drv got", got, sys.sim.ticks_ms(), k.tasks[sys.tid].gen])
            yield from sys.irq_ack(1 << 3)

    def other(sys):
        log.append(["other owned", (yield from sys.irq_owned())])
        log.append(["other acks", (yield from code(sys.irq_ack(1 << 3)))])
        got = yield from sys.wait(1 << 3, 200)       # the same bit, never raised for it
        log.append(["other waited", got, sys.sim.ticks_ms()])
        while True:
            yield from sys.sleep(1000)

    sim.program("drv", drv)
    sim.program("other", other)
    k.start_all()
    sim.raise_irq(ETH, 10)
    sim.raise_irq(ETH, 20)
    sim.raise_irq(ETH, 110)
    run_until(k, sim, 150)
    drv_tid = 1
    k.kill(drv_tid)
    log.append(["owners after kill", sorted(sim.irq_owners), sorted(k.irq_owner)])
    sim.raise_irq(ETH)
    run_until(k, sim, sim.ticks_ms() + 20)
    log.append(["pending after kill", sim.irq_pending])
    k.start(drv_tid)
    log.append(["raised at", sim.ticks_ms() + 10])
    sim.raise_irq(ETH, sim.ticks_ms() + 10)
    run_until(k, sim, sim.ticks_ms() + 50)
    log.append(["owners after start", sorted(sim.irq_owners)])
    return log


def recv_mask(fast=False):
    """A server in recv with a notification mask and a timeout: calls come
    as (sender, msg), notifications as (0, bits), taken first, and the
    timeout as (0, 0); a plain wait with a timeout gives 0."""
    log = []
    sim, k = system([task("srv", "irqs = eth:5\n", prio=2), task("cli", "calls = srv\n", prio=4)], 0, fast)

    def srv(sys):
        for _ in range(6):
            sender, got = yield from sys.recv_any(mask=1 << 5 | 1 << 1, timeout_ms=40)
            log.append(["srv", sender != 0, got if sender == 0 else bytes(got).decode(), sys.sim.ticks_ms()])
            if sender:
                yield from sys.reply(sender, b"ok")
            elif got & 1 << 5:
                yield from sys.irq_ack(1 << 5)
        log.append(["srv wait", (yield from sys.wait(1 << 7, 25)), sys.sim.ticks_ms()])
        log.append(["srv bad mask", (yield from code(sys.recv_any(mask=1 << 31)))])
        while True:
            yield from sys.sleep(1000)

    def cli(sys):
        yield from sys.sleep(5)
        log.append(["cli", bytes((yield from sys.call(1, b"hello"))).decode()])
        yield from sys.sleep(20)
        yield from sys.notify(1, 1 << 1)
        while True:
            yield from sys.sleep(1000)

    sim.program("srv", srv)
    sim.program("cli", cli)
    k.start_all()
    sim.raise_irq(ETH, 15)
    run_until(k, sim, 300)
    return log


def uart_burst(n=20000, seed=0):
    """The owner of uart1 reads a burst of n bytes, loop read -> 0 ->
    wait(bit) -> read, with nothing lost; the ring holds the sender back
    (bytes wait on the wire while the ring is full). Then it writes a
    burst into a transmitter that is held: the ring fills, the write
    returns short, and the bit comes when the transmitter frees."""
    log = []
    data = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(n))
    sim, k = system([task("hsm", "irqs = uart1:2\n"), task("nosy")], seed)
    got = bytearray()
    stats = {"zero_reads": 0, "wire_max": 0}

    def hsm(sys):
        while len(got) < n:
            chunk = yield from sys.uart_read(1, 1000)
            if not chunk:
                stats["zero_reads"] += 1
                yield from sys.wait(1 << 2, 1000)
                continue
            got.extend(chunk)
            stats["wire_max"] = max(stats["wire_max"], len(sys.sim.wire[1]))
        log.append(["read", len(got), bytes(got) == data])
        sim.tx_hold[1] = True
        sent = 0
        out = bytes(range(256)) * 24        # 6144 bytes, more than the ring
        while sent < len(out):
            w = yield from sys.uart_write(1, out[sent:sent + 1000])
            sent += w
            if w == 0:
                log.append(["write full at", sent])
                yield from sys.wait(1 << 2, 1000)
        log.append(["wrote", sent, sys.sim.uart_sent(1) == out[:len(sys.sim.uart_sent(1))]])
        while True:
            yield from sys.sleep(1000)

    def nosy(sys):
        log.append(["nosy reads", (yield from code(sys.uart_read(1, 10)))])
        log.append(["nosy writes", (yield from code(sys.uart_write(2, b"x")))])
        log.append(["bad device", (yield from code(sys.uart_read(7, 10)))])
        while True:
            yield from sys.sleep(1000)

    sim.program("hsm", hsm)
    sim.program("nosy", nosy)
    k.start_all()
    sim.uart_feed(1, data, 5)
    run_until(k, sim, 400)
    sim.uart_release(1)
    run_until(k, sim, sim.ticks_ms() + 50)
    log.append(["sent", len(sim.uart_sent(1))])
    log.append(["held back", stats["wire_max"] > 0, stats["zero_reads"] > 0])
    return log


SCENARIOS = ("routing", "recv_mask", "uart_burst")


def run_all():
    out = {}
    g = globals()
    for name in SCENARIOS:
        out[name] = g[name]()
    return out
