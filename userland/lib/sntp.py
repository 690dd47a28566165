"""SNTP (RFC 4330, NTP version 4 packets) for the board's UTC clock: the
request a client sends and the checks and arithmetic on the answer, in
integer milliseconds.

Holds the packet format, the answer's checks (a server that is not
synchronised, a kiss-o'-death, an answer to another request or from a
stratum that cannot be, a time out of NTP's era) and the offset and
round-trip delay from the four timestamps. It does not send or receive
(the net task does, over UDP), keep the clock (kernel/clock.py) or decide
how often to ask (Poller below only counts out the intervals the net task
asks it about).

Times on the board's side are the board's own milliseconds (a monotonic
clock: qenex.ticks()), the server's are UTC; the offset is what to add to
the board's ms to get UTC ms. No floats: an NTP timestamp is 32.32 fixed
point seconds since 1900, turned into ms with integer arithmetic.
Pure Python, runs under MicroPython and CPython.
"""

PACKET = 48
NTP_PORT = 123
UNIX_EPOCH = 2208988800          # seconds from 1900-01-01 to 1970-01-01
ERA = 1 << 32                    # seconds in an NTP era (era 0 ends 2036-02-07)
# A 32-bit seconds count below this is taken to be in era 1 (RFC 4330
# section 3: times from 1968 to 2104 map onto one era boundary).
ERA_PIVOT = 1 << 31
MODE_CLIENT, MODE_SERVER, MODE_BROADCAST = 3, 4, 5
LEAP_UNSYNCHRONISED = 3


class SntpError(Exception):
    """The answer is not one to set a clock by; the text says why."""


def _u32(b, i):
    return (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]


def to_ms(seconds, fraction):
    """UTC ms since 1970 of an NTP timestamp (32-bit seconds since 1900 in
    era 0 or 1, 32-bit fraction), rounded down."""
    if seconds < ERA_PIVOT:
        seconds += ERA
    return (seconds - UNIX_EPOCH) * 1000 + ((fraction * 1000) >> 32)


def from_ms(ms):
    """(seconds, fraction) of the NTP timestamp of UTC ms since 1970 (the
    fraction rounded up, so that to_ms() gives ms back exactly)."""
    s = ms // 1000 + UNIX_EPOCH
    return s % ERA, (((ms % 1000) << 32) + 999) // 1000


def request(nonce):
    """A client request (48 bytes) whose transmit timestamp is `nonce`, an
    int below 2**64 the caller chooses and keeps: the answer must echo it
    (its originate timestamp), which is how an answer to another request,
    or a forged one, is told apart. RFC 4330 lets a client put any value
    there; a board that does not know the time yet has no better one."""
    if not 0 <= nonce < (1 << 64):
        raise ValueError("the nonce must be an int in 0..2**64-1")
    p = bytearray(PACKET)
    p[0] = (0 << 6) | (4 << 3) | MODE_CLIENT
    for i in range(8):
        p[40 + i] = (nonce >> (56 - 8 * i)) & 0xFF
    return bytes(p)


def answer(reply, nonce, t1_ms, t4_ms):
    """Check a server's reply to request(nonce), sent at the board's t1_ms
    and received at its t4_ms; returns (offset_ms, delay_ms, stratum):
    offset_ms added to the board's ms gives UTC ms, delay_ms is the round
    trip less the server's own time. SntpError says why a reply is refused."""
    if not isinstance(reply, (bytes, bytearray)) or len(reply) < PACKET:
        raise SntpError("an NTP packet is at least %d bytes, this is %d" % (PACKET, len(reply)))
    li, vn, mode = reply[0] >> 6, (reply[0] >> 3) & 7, reply[0] & 7
    stratum = reply[1]
    if mode not in (MODE_SERVER, MODE_BROADCAST):
        raise SntpError("mode %d is not a server's answer (4)" % mode)
    if vn < 1 or vn > 4:
        raise SntpError("NTP version %d is not 1..4" % vn)
    if stratum == 0:
        code = bytes(reply[12:16])
        raise SntpError("kiss-o'-death %r: the server asks us to stop or wait" % (code,))
    if stratum > 15:
        raise SntpError("stratum %d: the server is not synchronised" % stratum)
    if li == LEAP_UNSYNCHRONISED:
        raise SntpError("leap indicator 3: the server's clock is not synchronised")
    echoed = 0
    for i in range(8):
        echoed = (echoed << 8) | reply[24 + i]
    if echoed != nonce:
        raise SntpError("the answer is not to our request (originate timestamp differs)")
    rx_s, rx_f = _u32(reply, 32), _u32(reply, 36)
    tx_s, tx_f = _u32(reply, 40), _u32(reply, 44)
    if tx_s == 0 and tx_f == 0:
        raise SntpError("the transmit timestamp is zero")
    if rx_s == 0 and rx_f == 0:
        raise SntpError("the receive timestamp is zero")
    if t4_ms < t1_ms:
        raise SntpError("received before it was sent (t4 %d < t1 %d)" % (t4_ms, t1_ms))
    t2, t3 = to_ms(rx_s, rx_f), to_ms(tx_s, tx_f)
    if t3 < t2:
        raise SntpError("the server sent its answer before it received our request")
    offset = ((t2 - t1_ms) + (t3 - t4_ms)) // 2
    delay = (t4_ms - t1_ms) - (t3 - t2)
    return offset, delay, stratum


class Poller:
    """When to ask: every `interval_ms` once answered, sooner (`retry_ms`,
    doubling up to interval_ms) while requests go unanswered or are refused.
    due(now) says whether to send; sent(now, nonce) records a request;
    took(now) an accepted answer; failed(now) a refused or lost one (a
    request unanswered after timeout_ms counts as lost: expired(now))."""

    def __init__(self, interval_ms=64000, retry_ms=2000, timeout_ms=2000):
        self.interval_ms = interval_ms
        self.retry_ms = retry_ms
        self.timeout_ms = timeout_ms
        self.next_at = 0
        self.backoff = retry_ms
        self.pending = None         # (nonce, t1_ms) of the request in flight
        self.answers = 0
        self.failures = 0
        self.last_error = None

    def due(self, now):
        return self.pending is None and now >= self.next_at

    def sent(self, now, nonce):
        self.pending = (nonce, now)

    def expired(self, now):
        if self.pending is not None and now - self.pending[1] >= self.timeout_ms:
            self.failed(now, "no answer in %d ms" % self.timeout_ms)
            return True
        return False

    def took(self, now):
        self.pending = None
        self.answers += 1
        self.backoff = self.retry_ms
        self.last_error = None
        self.next_at = now + self.interval_ms

    def failed(self, now, why):
        self.pending = None
        self.failures += 1
        self.last_error = why
        self.next_at = now + self.backoff
        self.backoff = min(self.backoff * 2, self.interval_ms)


class Client:
    """SNTP over the net task's UDP (the `_net` interface, drivers/net/STACK.md):
    Client(stack, server_ip, server_port, set_utc, nonce) asks server_ip
    (an int, 10.0.2.2 = 0x0A000202) on the Poller's schedule; set_utc(utc_ms)
    is called with the UTC ms of the moment an accepted answer arrived (the
    net task passes it to the kernel's clock, source "sntp", at once);
    nonce() -> an int below 2**64 that an off-path sender cannot guess.

    poll(now) sends a request when one is due (and counts an unanswered one
    lost); udp(uid, ip, port, data, now) takes a datagram from events() and
    returns True when it was this client's. An answer is refused (counted,
    the reason in .poller.last_error) when it is not from the server, not
    to our request, fails sntp.answer's checks or took longer than
    max_delay_ms on the wire."""

    def __init__(self, stack, server_ip, server_port, set_utc, nonce, poller=None, max_delay_ms=2000):
        self.stack = stack
        self.server = (server_ip, server_port)
        self.set_utc = set_utc
        self.nonce = nonce
        self.poller = poller or Poller()
        self.max_delay_ms = max_delay_ms
        self.uid = None
        self.last = None            # (offset_ms, delay_ms, stratum) of the last accepted answer

    def poll(self, now):
        p = self.poller
        p.expired(now)
        if not p.due(now):
            return
        if self.uid is None:
            self.uid = self.stack.udp_open(0)
        n = self.nonce() & ((1 << 64) - 1)
        p.sent(now, n)
        try:
            self.stack.udp_sendto(self.uid, self.server[0], self.server[1], request(n))
        except OSError as e:
            p.failed(now, "send: %s" % e)

    def udp(self, uid, ip, port, data, now):
        if uid != self.uid:
            return False
        p = self.poller
        if (ip, port) != self.server or p.pending is None:
            return True                 # ours by socket, not an answer we wait for: dropped
        nonce, t1 = p.pending
        try:
            offset, delay, stratum = answer(data, nonce, t1, now)
        except SntpError as e:
            p.failed(now, str(e))
            return True
        if delay > self.max_delay_ms:
            p.failed(now, "round trip %d ms is over %d ms" % (delay, self.max_delay_ms))
            return True
        p.took(now)
        self.last = (offset, delay, stratum)
        self.set_utc(now + offset)
        return True
