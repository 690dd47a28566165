"""The board's UTC clock: a monotonic millisecond clock plus an offset, the
offset set by whoever has the right (the operator's `date set`, the host
provisioning the board, SNTP in the net task) and nothing else.

Holds the offset, who set it and when, and the last correction (what a set
moved the clock by). It does not keep the ms clock (the trap layer's tick
count, kernel.now) or format dates (userland/lib/utc.py), and it does not
decide who may set it (kernel/kctl.py: KCTL_TIME).

The monotonic clock under UTC is the board's free-running cycle counter when
it has one (mps2: the FPGA's 25 MHz counter, 32 bits, wrapping every 171.8
s), extended to 64 bits with the tick count: of the values congruent to the
counter mod 2**32, the one nearest the tick count's. A tick count can fall
behind real time (a late timer interrupt under a loaded emulator counts
once); the counter does not, and the extension holds while the two stay
within half a wrap (85 s) of each other. Without a counter, it is the tick
count itself.

A time is refused, never invented: before it is set, utc_ms() is None, and
a set earlier than the firmware's build (FLOOR_MS) or past 9999 is refused
(a clock that says 1970 or 2106 is a wrong clock, not a date).
Pure Python, runs under MicroPython and CPython.
"""

MAX_MS = 253402300799999        # 9999-12-31T23:59:59.999Z (userland/lib/utc.py)
WRAP = 1 << 32


def extend(count, approx):
    """The value congruent to `count` mod 2**32 nearest to `approx` (both in
    counter units): the full count of a 32-bit counter read near `approx`."""
    base = approx - approx % WRAP
    v = base + count
    if v - approx > WRAP // 2:
        v -= WRAP
    elif approx - v > WRAP // 2:
        v += WRAP
    return v


class Clock:
    """Clock(now, counter=None, hz=0, floor_ms=0): now() -> ms since boot
    (ticks), counter() -> the 32-bit free-running count at hz (optional)."""

    def __init__(self, now, counter=None, hz=0, floor_ms=0):
        self.now = now
        self.counter = counter if hz else None
        self.hz = hz
        self.floor_ms = floor_ms
        self.offset = None          # UTC ms at monotonic 0, once set
        self.source = None          # "operator", "host", "sntp"
        self.set_at = None          # monotonic ms of the last set
        self.correction = None      # ms the last set moved the clock by (None: the first set)
        self.sets = 0

    def mono_ms(self):
        """ms since boot from the counter where there is one, else the ticks."""
        ticks = self.now()
        if self.counter is None:
            return ticks
        per_ms = self.hz // 1000
        return extend(self.counter() & (WRAP - 1), ticks * per_ms) // per_ms

    def utc_ms(self):
        """UTC ms since 1970, or None while nobody has set the clock."""
        if self.offset is None:
            return None
        return self.offset + self.mono_ms()

    def set(self, utc_ms, source):
        """Set the clock to utc_ms (now); ValueError says why it is refused."""
        if not isinstance(utc_ms, int) or isinstance(utc_ms, bool):
            raise ValueError("the time must be an int of ms since 1970, not %s" % type(utc_ms).__name__)
        if utc_ms < self.floor_ms or utc_ms > MAX_MS:
            raise ValueError("%d ms is before this firmware was built (%d) or past 9999: not a plausible time"
                             % (utc_ms, self.floor_ms))
        if source not in ("operator", "host", "sntp"):
            raise ValueError("source %r is not operator, host or sntp" % (source,))
        mono = self.mono_ms()
        old = self.utc_ms()
        self.correction = None if old is None else utc_ms - old
        self.offset = utc_ms - mono
        self.source = source
        self.set_at = mono
        self.sets += 1

    def status(self):
        """KCTL_TIME's reply: {"utc_ms" (or null), "source", "set_ago_ms",
        "correction_ms", "sets", "uptime_ms"}."""
        mono = self.mono_ms()
        return {"utc_ms": None if self.offset is None else self.offset + mono, "source": self.source,
                "set_ago_ms": None if self.set_at is None else mono - self.set_at,
                "correction_ms": self.correction, "sets": self.sets, "uptime_ms": mono}
