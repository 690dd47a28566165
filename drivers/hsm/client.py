"""The HSM driver proper: requests over the framed link with timeouts,
retries and resynchronisation, and the PIN session. Transport-agnostic plain
Python: on the device `port` is the UART1 port of drivers/uart/polled.py, in the
host tests an in-process emulator.

A request is sent, then the answer awaited for timeout_ms; on silence the
same frame (same sequence number) is sent again, `retries` times, and the
HSM answers a repeated sequence number with its cached answer, so a retry
never runs an operation twice. Frames that fail their CRC, belong to an
older request or carry a wrong MAC are dropped. When the HSM goes away the
request fails with HsmError("timeout"); the session is then gone (a new
link starts without one), and the next request logs in again with the PIN
given to login(), so the driver recovers when the HSM comes back."""
from drivers.hsm import frame as F


QUIET_MS = 5           # polls without a byte after which a partial frame is stale


class HsmError(Exception):
    """status: one of frame.STATUS, or "timeout"; message: the HSM's words."""

    def __init__(self, status, message=""):
        super().__init__("%s%s" % (status, ": " + message if message else ""))
        self.status = status
        self.message = message


class Client:
    def __init__(self, port, crc32, hmac, now_ms, sleep_ms, timeout_ms=400, retries=2):
        self.port = port
        self.codec = F.Codec(crc32, hmac)
        self.reader = F.Reader(crc32)
        self.hmac = hmac
        self.now_ms = now_ms
        self.sleep_ms = sleep_ms
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.seq = 0
        self.pin = None
        self.serial = None
        self.logins = 0
        self.stats = {"requests": 0, "retries": 0, "timeouts": 0, "relogins": 0, "bad_mac": 0}

    # --- one exchange -----------------------------------------------------------------
    def _exchange(self, cmd, payload, reply_key="same"):
        self.seq = (self.seq + 1) & 0xFFFF
        request = self.codec.encode(cmd, self.seq, payload)
        check_key = self.codec.key if reply_key == "same" else reply_key
        self.stats["requests"] += 1
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats["retries"] += 1
            self.port.write(request)
            deadline = self.now_ms() + self.timeout_ms
            quiet = 0
            while True:
                data = self.port.read()
                frames = self.reader.feed(data) if data else []
                if not data:
                    quiet += 1
                    if quiet % QUIET_MS == 0:         # a partial frame that is not completing
                        frames = self.reader.stale()
                else:
                    quiet = 0
                for fr in frames:
                    got = self._match(fr, cmd, check_key)
                    if got is not None:
                        return got
                if data:
                    continue
                if self.now_ms() >= deadline:
                    break
                self.sleep_ms(1)
        self.stats["timeouts"] += 1
        self.codec.key = None                    # whatever session there was is gone
        self.reader.reset()
        raise HsmError("timeout", "no answer from the HSM after %d tries of %d ms"
                       % (self.retries + 1, self.timeout_ms))

    def _match(self, fr, cmd, key):
        c, seq, payload = F.parse(fr)
        if c != cmd | F.RESPONSE or seq != self.seq or not payload:
            return None                          # stale or foreign
        saved, self.codec.key = self.codec.key, key
        ok = self.codec.check_mac(fr)
        if not ok and cmd == F.LOGIN and payload[0] != F.OK:
            self.codec.key = None                # a refused login is answered outside any session
            ok = self.codec.check_mac(fr)
        self.codec.key = saved
        if not ok:
            self.stats["bad_mac"] += 1
            return None
        return payload[0], payload[1:]

    def request(self, cmd, payload=b""):
        """The body of the HSM's OK answer; HsmError otherwise. Logs in
        again (once) when the HSM has no session for us."""
        for attempt in range(2):
            if self.codec.key is None and cmd not in F.OPEN_COMMANDS and self.pin is not None:
                self.stats["relogins"] += 1
                self.login(self.pin)
            status, body = self._exchange(cmd, payload)
            if status == F.NOT_LOGGED_IN and self.pin is not None and attempt == 0:
                self.codec.key = None
                continue
            if status != F.OK:
                raise HsmError(F.STATUS[status] if status < len(F.STATUS) else "status %d" % status,
                               bytes(body).decode())
            return body
        raise HsmError("not logged in")

    # --- the session --------------------------------------------------------------------
    def info(self):
        model, fw, serial, free, locked = F.unfields(self.request(F.INFO), 5)
        self.serial = serial
        return {"model": model.decode(), "firmware": fw.decode(), "serial": serial.decode(),
                "free": F.u32(free, 0), "locked": bool(locked[0])}

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

    def login_key(self, pkey):
        """Open a session with the login key itself (the host link's key;
        an HSM's is derived from its PIN by login())."""
        self.codec.key = None
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
