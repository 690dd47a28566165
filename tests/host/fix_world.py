"""A FIX session world for tests/host/test_fix_session.py: the acceptor
(userland/gateway/fix_session.py) with a memory store, a clock the test
moves, and an order book stand-in; and a counterparty's message maker.
Plain Python: MicroPython imports it from tests/host (no pytest here), and
script() runs one whole scripted session for both interpreters to compare."""
from userland.gateway import fix, fix_session as S

T0 = 1795687200000          # 2026-11-26T10:00:00Z


class World:
    def __init__(self, store=None, clock_set=True, heartbeat_s=30):
        self.now = [0]
        self.clock_set = [clock_set]
        self.store = store or S.MemoryStore()
        self.orders = 0
        table = S.parse_table({"our_id": "QENEX", "sessions": [{"counterparty": "HOST", "heartbeat_s": heartbeat_s},
                                                                {"counterparty": "OTHER", "heartbeat_s": 10}]})
        self.acc = S.Acceptor(table, self.store, lambda: self.now[0], self.stamp, self.app)

    def stamp(self):
        from userland.lib import utc
        return utc.fix(T0 + self.now[0]) if self.clock_set[0] else None

    def app(self, mtype, d):
        if d.get("55") == "BAD":
            raise S.BusinessReject("55", "2", "unknown symbol")
        self.orders += 1
        return [("8", [("37", "O%d" % self.orders), ("11", d["11"]), ("17", "E%d" % self.orders),
                       ("150", "0" if mtype == "D" else "4"), ("39", "0"), ("55", d["55"]), ("54", d["54"])])]


def msg(seq, mtype, pairs=(), sender="HOST", target="QENEX", poss_dup=False, orig=None):
    head = [("35", mtype), ("49", sender), ("56", target), ("34", str(seq))]
    if poss_dup:
        head.append(("43", "Y"))
    head.append(("52", "20261126-10:00:00.000"))
    if orig:
        head.append(("122", orig))
    return fix.encode(head + list(pairs))


def logon(seq=1, hb="30", reset=False, sender="HOST", target="QENEX"):
    return msg(seq, "A", [("98", "0"), ("108", hb)] + ([("141", "Y")] if reset else []), sender, target)


def order(seq, clid, symbol="QNX", poss_dup=False, orig=None):
    return msg(seq, "D", [("11", clid), ("55", symbol), ("54", "1"), ("38", "100"), ("40", "1"),
                          ("60", "20261126-10:00:00.000")], poss_dup=poss_dup, orig=orig)


def fields(m):
    """[(tag, value)] of one outgoing message, 8/9/10 included."""
    return fix.decode(m)


def flash_store():
    """A fix_store.FlashStore over 128 KiB of erased memory."""
    import binascii
    from drivers.flash.region import MemoryImage, Region
    from userland.gateway.fix_store import FlashStore
    img = MemoryImage(bytearray(b"\xff" * 0x20000), 0)
    return FlashStore(Region(0, 0x20000, 0x1000, img.read, img.write), 0, 0x20000, binascii.crc32)


def script(flash=False):
    """One session through logon, orders, a gap, heartbeats, a resend, a
    reconnect and a restart from the store, a reset and a logout: each
    step's outgoing messages, SendingTime blanked. flash: on a
    fix_store.FlashStore (the restart reopens it over the same flash)."""
    w = World(store=flash_store() if flash else None)
    out = []

    def step(name, msgs):
        out.append([name, ["|".join("%s=%s" % (t, "*" if t in ("52", "10", "122") else v) for t, v in fields(m))
                           for m in msgs]])

    c = w.acc.open()
    step("logon", c.receive(logon(1)))
    step("order", c.receive(order(2, "A1")))
    step("bad symbol", c.receive(order(3, "A2", "BAD")))
    step("gap", c.receive(order(5, "A4")))
    step("gap again", c.receive(order(6, "A5")))
    step("filled", c.receive(order(4, "A3")))
    w.now[0] += 30000
    step("heartbeat due", c.tick())
    w.now[0] += 6000
    step("test request", c.tick())
    step("answered", c.receive(msg(7, "0", [("112", "T1")])))
    step("resend 1..0", c.receive(msg(8, "2", [("7", "1"), ("16", "0")])))
    step("test request from them", c.receive(msg(9, "1", [("112", "PING")])))
    c.drop()
    c2 = w.acc.open()
    step("reconnect", c2.receive(logon(10)))
    c2.drop()
    if flash:                           # a restart: the numbers and kept messages from the store
        from userland.gateway.fix_store import FlashStore
        old = w.store
        w.store = FlashStore(old.r, old.base, old.half * 2, old.crc32)
    w2 = World(store=w.store)
    c3 = w2.acc.open()
    step("after restart, too low", c3.receive(logon(3)))
    c4 = w2.acc.open()
    step("after restart", c4.receive(logon(11)))
    step("sequence reset", c4.receive(msg(12, "4", [("36", "20")])))
    step("logout", c4.receive(msg(20, "5")))
    c5 = w2.acc.open()
    step("reset", c5.receive(logon(1, reset=True)))
    step("resend after reset", c5.receive(msg(2, "2", [("7", "1"), ("16", "0")])))
    return out
