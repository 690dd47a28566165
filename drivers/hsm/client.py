"""The HSM driver proper: requests over the framed link with timeouts,
retries and resynchronisation, and the PIN session. Transport-agnostic plain
Python: on the device `port` is UART1's RingPort (drivers/uart/ring.py), in
the host tests an in-process emulator. A port with wait(ms, need) is waited on
between reads (the kernel's notification when the bytes the frame in
progress needs have come); one without is polled every sleep_ms(1).

A request is sent, then the answer awaited for timeout_ms (doubled on each
try with backoff=True); on silence the same frame (same sequence number)
is sent again, `retries` times, and the other side answers a repeated
sequence number (with a right MAC) with its cached answer, so a retry never
runs an operation twice. Frames that fail their CRC, belong to an older
request or carry a wrong MAC are dropped; a partial frame is dropped as
noise only after quiet_ms without a byte (wall time, not polls: a busy host
pauses a sender mid-frame). When the other side goes away the request
fails with HsmError("timeout"); the session is then gone (a new link
starts without one), and the next request logs in again with the PIN
given to login() (or the key given to login_key()), so the driver recovers
when the HSM comes back. So it does when the other side answers `not
logged in` (it restarted, or ended the session): that answer carries no
MAC, there being no session to MAC it with; the request is sent again,
once, in a new session. A session ends before its sequence numbers would
wrap (frame.SEQ_LAST): the client logs in again first."""
from drivers.hsm import frame as F


QUIET_MS = 50          # ms without a byte after which a partial frame is stale (noise that looked like a header)
FRESH_SESSION = 0xF000  # a login at a later sequence number starts again from 0 (room for the session)


class HsmError(Exception):
    """status: one of frame.STATUS, or "timeout"; message: the HSM's words."""

    def __init__(self, status, message=""):
        super().__init__("%s%s" % (status, ": " + message if message else ""))
        self.status = status
        self.message = message


class Client:
    def __init__(self, port, crc32, hmac, now_ms, sleep_ms, timeout_ms=400, retries=2, backoff=False,
                 quiet_ms=QUIET_MS, peer="the HSM"):
        self.port = port
        self.codec = F.Codec(crc32, hmac)
        self.reader = F.Reader(crc32)
        self.hmac = hmac
        self.now_ms = now_ms
        self.sleep_ms = sleep_ms
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.backoff = backoff
        self.quiet_ms = quiet_ms
        self.peer = peer
        self.seq = 0
        self.pin = None
        self.pkey = None             # the login key of the session (from the PIN, or the link key)
        self.serial = None
        self.logins = 0
        self.stats = {"requests": 0, "retries": 0, "timeouts": 0, "relogins": 0, "bad_mac": 0}

    # --- one exchange -----------------------------------------------------------------
    def _exchange(self, cmd, payload, reply_key="same"):
        if cmd == F.INFO and self.codec.key is not None:
            seq = self.seq           # INFO is not authenticated: inside a session it takes no number
        else:
            self.seq = seq = (self.seq + 1) & 0xFFFF
        request = self.codec.encode(cmd, seq, payload)
        check_key = self.codec.key if reply_key == "same" else reply_key
        self.stats["requests"] += 1
        timeout = self.timeout_ms
        waited = 0
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats["retries"] += 1
                if self.backoff:
                    timeout *= 2
            self.port.write(request)
            deadline = self.now_ms() + timeout
            waited += timeout
            last_byte = self.now_ms()
            while True:
                data = self.port.read()
                frames = self.reader.feed(data) if data else []
                now = self.now_ms()
                if data:
                    last_byte = now
                elif self.reader.buf and now - last_byte >= self.quiet_ms:
                    last_byte = now                  # a partial frame that is not completing
                    frames = self.reader.stale()
                for fr in frames:
                    got = self._match(fr, cmd, seq, check_key)
                    if got is not None:
                        return got
                if data:
                    continue
                if now >= deadline:
                    break
                wait = getattr(self.port, "wait", None)
                if wait is None:
                    self.sleep_ms(1)
                    continue
                ms = deadline - now
                if self.reader.buf and self.quiet_ms - (now - last_byte) < ms:
                    ms = self.quiet_ms - (now - last_byte)
                wait(ms if ms > 0 else 1, self.reader.need())
        self.stats["timeouts"] += 1
        self.codec.key = None                    # whatever session there was is gone
        self.reader.reset()
        raise HsmError("timeout", "no answer from %s after %d tries in %d ms" % (self.peer, self.retries + 1, waited))

    def _match(self, fr, cmd, seq, key):
        c, fseq, payload = F.parse(fr)
        if c != cmd | F.RESPONSE or fseq != seq or not payload:
            return None                          # stale or foreign
        saved, self.codec.key = self.codec.key, key
        ok = self.codec.check_mac(fr)
        if not ok and (payload[0] in (F.NOT_LOGGED_IN, F.BAD_MAC) or cmd == F.INFO or
                       cmd == F.LOGIN and payload[0] != F.OK):
            # No session on the other side (it restarted, or ended ours), or
            # another one (ours is not the session it has: we restarted), or a
            # refused login, or INFO (not authenticated): answered outside any
            # session, without a MAC.
            self.codec.key = None
            ok = self.codec.check_mac(fr)
        self.codec.key = saved
        if not ok:
            self.stats["bad_mac"] += 1
            return None
        return payload[0], payload[1:]

    def request(self, cmd, payload=b""):
        """The body of the OK answer; HsmError otherwise. Logs in again
        (once) when the other side has no session for us, and before the
        session's sequence numbers would wrap."""
        for attempt in range(2):
            if cmd not in F.OPEN_COMMANDS and self.pkey is not None and \
                    (self.codec.key is None or self.seq >= F.SEQ_LAST):
                self.stats["relogins"] += 1
                self.login_key(self.pkey)
            status, body = self._exchange(cmd, payload)
            if status in (F.NOT_LOGGED_IN, F.BAD_MAC) and cmd not in F.OPEN_COMMANDS:
                self.codec.key = None            # the other side has no session (any more)
                if self.pkey is not None and attempt == 0:
                    continue
            if status != F.OK:
                raise HsmError(F.STATUS[status] if status < len(F.STATUS) else "status %d" % status,
                               bytes(body).decode())
            return body
        raise HsmError("not logged in")

    # --- the session --------------------------------------------------------------------
    def info(self):
        got = F.unfields(self.request(F.INFO))
        if len(got) < 5:
            raise F.FrameError("INFO: %d fields, expected 5 or more" % len(got))
        model, fw, serial, free, locked = got[:5]
        self.serial = serial
        return {"model": model.decode(), "firmware": fw.decode(), "serial": serial.decode(),
                "free": F.u32(free, 0), "locked": bool(locked[0]),
                "factory_pin": len(got) > 5 and bool(got[5][:1] == b"\x01")}

    def login(self, pin):
        """Open a session with `pin` (kept for logging in again). The
        device's nonce need only be fresh, not secret (the board has no
        random source of its own): it is derived from the PIN key, the
        HSM's fresh nonce, the clock and a login counter."""
        self.codec.key = None
        if self.serial is None:
            self.info()
        self.login_key(F.pin_key(self.hmac, pin, self.serial))
        self.pin = pin

    def change_pin(self, old, new):
        """CHANGE_PIN (PROTOCOL.md): the old PIN shown by a proof bound to
        the session, the new PIN's key sent under a one-time pad from the
        session key; the session goes on, and later logins use `new`."""
        if self.serial is None:
            self.info()
        old_key = F.pin_key(self.hmac, old, self.serial)
        new_key = F.pin_key(self.hmac, new, self.serial)
        for attempt in range(2):
            if self.codec.key is None or self.seq >= F.SEQ_LAST - 1:
                if self.pkey is None:
                    raise HsmError("not logged in", "log in first")
                self.stats["relogins"] += 1
                self.login_key(self.pkey)
            skey = self.codec.key
            self.logins += 1
            nonce = self.hmac(old_key, b"nonce" + F.p32(self.now_ms()) + F.p32(self.logins) + F.p16(self.seq))[:16]
            payload = F.fields(nonce, F.change_proof(self.hmac, old_key, skey, nonce),
                               F.xor(new_key, F.pin_pad(self.hmac, skey, nonce)[:32]))
            try:
                status, body = self._exchange(F.CHANGE_PIN, payload)
            except HsmError as e:
                # Changed or not, nobody knows: logging in again by itself
                # with the old PIN could count wrong PINs up to the lock.
                self.pin = self.pkey = None
                raise HsmError(e.status, e.message + "; the PIN may have changed: log in again")
            if status in (F.NOT_LOGGED_IN, F.BAD_MAC):
                self.codec.key = None            # the HSM has no session of ours: a new one, once
                if attempt == 0:
                    continue
            if status != F.OK:
                raise HsmError(F.STATUS[status] if status < len(F.STATUS) else "status %d" % status,
                               bytes(body).decode())
            break
        self.pin, self.pkey = new, new_key

    def login_key(self, pkey):
        """Open a session with the login key itself (the host link's key;
        an HSM's is derived from its PIN by login())."""
        self.codec.key = None
        if self.seq >= FRESH_SESSION:
            self.seq = 0                         # the session has room before SEQ_LAST
        (nonce_h,) = F.unfields(self.request(F.LOGIN_BEGIN), 1)
        self.logins += 1
        nonce_d = self.hmac(pkey, b"nonce" + nonce_h + F.p32(self.now_ms()) + F.p32(self.logins))[:16]
        skey = F.session_key(self.hmac, pkey, nonce_h, nonce_d)
        proof = F.login_proof(self.hmac, pkey, nonce_h, nonce_d)
        status, body = self._exchange(F.LOGIN, F.fields(nonce_d, proof), reply_key=skey)
        if status != F.OK:
            raise HsmError(F.STATUS[status] if status < len(F.STATUS) else "status %d" % status,
                           bytes(body).decode())
        self.codec.key = skey
        self.pkey = pkey
