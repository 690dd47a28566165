"""The ledger service: the state machine (state.py) made durable by the
write-ahead log (wal.py). Plain Python: the ledger task runs it on the
device, the host tests and `qenex ledger verify` on a storage image.

A batch is applied in memory; if it stored anything, its stored objects go
to the log as one record, and only then are the results returned (the
acknowledgement). If the log write fails the batch is taken back and every
event answers `storage_failed`. A batch that stored nothing writes nothing.
At start, recover() replays the log (a torn write skipped), every stored
object through the state machine's own checks, rebuilds the transfer index
and checks the invariants and the chain.

Corruption (wal.py says what counts: a bad record that is not a torn tail,
a record whose content cannot be replayed): replay stops at the last good
record, `corrupt` holds (offset, seq, reason), and the ledger is read-only:
every create_* event answers `read_only` (READ_ONLY), no expiry or
checkpoint is written, nothing in the partition is erased or written;
lookups answer from the state up to the last good record and verify()
fails naming the record. An operator has to look at the image (`qenex
ledger verify`) before anything is appended to it again.

The clock: the last logged timestamp plus the time since boot, so it never
goes back across reboots."""
from userland.ledger import codec, wal
from userland.ledger.state import Account, Ledger, Transfer

READ_ONLY = "read_only"


# The clock in ns never reaches 2**63 (the year 2262); a logged time at or past
# it, like a logged object's, is corruption, not a clock to go on from.
TIMESTAMP_MAX = 1 << 63


class LedgerService:
    def __init__(self, region, ticks_ms, index_slots=16384, index_table=None, sign=None, every=64):
        """sign(digest32) -> signature: the HSM, for a checkpoint over the
        log's head every `every` records (None: no checkpoints)."""
        self.sign, self.every, self.since = sign, every, 0
        self.region = region
        self.ticks_ms = ticks_ms
        self.ledger = Ledger()
        self.wal = wal.Wal(region)
        self.index = wal.TransferIndex(region, codec.decode_transfer, index_slots, index_table)
        self.ledger.index = self.index
        self.base = 0
        self.corrupt = None         # (offset, seq, reason) of the record recovery stopped at
        self.stats = {"records": 0, "accounts": 0, "transfers": 0, "batches": 0, "torn": None, "corrupt": None}

    def now(self):
        t = self.base + self.ticks_ms() * 1000000
        return t if t > self.ledger.timestamp else self.ledger.timestamp + 1

    def describe(self):
        """The corruption in one line, or None."""
        if self.corrupt is None:
            return None
        return "record %d at offset 0x%x: %s" % (self.corrupt[1], self.corrupt[0], self.corrupt[2])

    def recover(self):
        L = self.ledger
        clock = 0
        for seq, kind, now, payload, at in self.wal.recover():
            try:
                why = self._replay(kind, now, payload, at)
            except MemoryError:
                raise
            except Exception as e:              # whatever the log holds, the ledger does not crash on it
                why = "its content cannot be replayed (%s: %s)" % (type(e).__name__, e)
            if why is not None:
                self.wal.fail(at - wal.HEAD, seq, why)
                break
            if now > clock:
                clock = now
            self.stats["records"] += 1
        L.created = []
        if self.wal.corrupt is None:
            try:
                L.check()
            except AssertionError as e:
                self.wal.fail(self.wal.end, self.wal.seq, "the invariants do not hold after replay: %s" % e)
        self.corrupt = self.wal.corrupt
        if self.corrupt is not None:
            self.stats["corrupt"] = {"offset": self.corrupt[0], "seq": self.corrupt[1], "reason": self.corrupt[2]}
        self.stats["torn"] = self.wal.torn
        self.base = clock if clock > L.timestamp else L.timestamp
        return self.stats

    def _replay(self, kind, now, payload, at):
        """Apply one logged record: None, or why it cannot be (then nothing
        of it is applied)."""
        L = self.ledger
        if now >= TIMESTAMP_MAX:
            return "its clock %d is beyond the ledger's (below 2**63 ns)" % now
        if kind == wal.ACCOUNTS or kind == wal.TRANSFERS:
            size, dec = (codec.ACCOUNT_SIZE, codec.decode_account) if kind == wal.ACCOUNTS else \
                (codec.TRANSFER_SIZE, codec.decode_transfer)
            objs = codec.decode_many(payload, size, dec)
            if not objs:
                return "a record with no objects"
            if kind == wal.TRANSFERS and self.index.count + len(objs) > self.index.limit:
                return "the transfer index is full (%d transfers)" % self.index.count
            why = L.restore(objs)
            if why is not None:
                return why
            self._index(objs, at)
            self.stats["accounts" if kind == wal.ACCOUNTS else "transfers"] += len(objs)
        elif kind == wal.EXPIRY:
            if payload:
                return "an expiry record with a payload"
            L.expire(now)
        elif kind == wal.CHECKPOINT:
            from drivers.hsm import frame as F
            head, sig = F.unfields(payload, 2)
            if head != self.wal.head:
                return "the checkpoint does not sign the record before it"
            self.since = -1
        else:
            return "unknown record kind %d" % kind
        self.since += 1
        return None

    def _index(self, objs, at):
        for i, o in enumerate(objs):
            if isinstance(o, Transfer):
                self.index.put(o.id, at + i * codec.TRANSFER_SIZE, codec.TRANSFER_SIZE)
        self.ledger.spill()

    def _commit(self, results, kind, size, enc):
        L = self.ledger
        created = [o for o in L.created if isinstance(o, Account if kind == wal.ACCOUNTS else Transfer)]
        if not created:
            L.created = []
            return results
        payload = b"".join(enc(o) for o in created)
        try:
            if kind == wal.TRANSFERS and self.index.count + len(created) > self.index.limit:
                raise wal.LogFull("the transfer index is full (%d transfers)" % self.index.count)
            at = self.wal.append(kind, L.timestamp, payload)
        except (wal.LogFull, OSError, ValueError):
            L.undo_batch()
            L.created = []
            return ["storage_failed"] * len(results)
        self._index(created, at)
        self.stats["batches"] += 1
        self.since += 1
        if self.sign is not None and self.since >= self.every:
            self.checkpoint()
        return results

    def checkpoint(self):
        """The HSM signs the log's head; the signature is appended. After a
        failure (no HSM, no session, no key) it is tried again every/2
        batches later."""
        from drivers.hsm import frame as F
        if self.corrupt is not None:
            return
        head = self.wal.head
        try:
            sig = self.sign(head)
            self.wal.append(wal.CHECKPOINT, self.ledger.timestamp, F.fields(head, sig))
            self.since = 0
        except (OSError, ValueError, wal.LogFull):
            self.since = self.every // 2        # try again a while later

    def create_accounts(self, events):
        if self.corrupt is not None:
            return [READ_ONLY] * len(events)
        results = self.ledger.create_accounts(events, self.now())
        return self._commit(results, wal.ACCOUNTS, codec.ACCOUNT_SIZE, codec.encode_account)

    def create_transfers(self, events):
        if self.corrupt is not None:
            return [READ_ONLY] * len(events)
        results = self.ledger.create_transfers(events, self.now())
        return self._commit(results, wal.TRANSFERS, codec.TRANSFER_SIZE, codec.encode_transfer)

    def expire(self):
        if self.corrupt is not None:
            return []
        now = self.now()
        due = [pid for pid, at in self.ledger.expiries.items() if at <= now]
        if not due:
            return []
        try:
            self.wal.append(wal.EXPIRY, now, b"")
        except (wal.LogFull, OSError):
            return []                           # not logged, so not applied: tried again after the next request
        return self.ledger.expire(now)

    def verify(self, verify_sig=None):
        """Invariants and the whole chain read again, and with verify_sig
        (head, sig) -> True / False / None (cannot tell) every checkpoint's
        signature: a dict of figures; AssertionError / ValueError if
        anything is wrong."""
        from drivers.hsm import frame as F
        if self.corrupt is not None:
            raise ValueError("the log is corrupt at %s; the ledger is read-only" % self.describe())
        self.ledger.check()
        check = wal.Wal(self.region)
        n = checkpoints = checked = 0
        for seq, kind, now, payload, at in check.recover():
            n += 1
            if kind == wal.CHECKPOINT:
                head, sig = F.unfields(payload, 2)
                if head != check.head:
                    raise ValueError("checkpoint %d does not sign the record before it" % seq)
                ok = verify_sig(head, sig) if verify_sig is not None else None
                if ok is False:
                    raise ValueError("checkpoint %d: the HSM signature does not verify" % seq)
                checkpoints += 1
                checked += ok is True
        if check.corrupt is not None:
            raise ValueError("the log is corrupt at record %d (offset 0x%x): %s" % (
                check.corrupt[1], check.corrupt[0], check.corrupt[2]))
        assert n == self.wal.seq and check.head == self.wal.head, "the log's chain does not end where it should"
        return {"records": n, "checkpoints": checkpoints, "signatures_checked": checked, "accounts": len(self.ledger.accounts), "head": self.wal.head,
                "transfers": self.index.count, "pending": len(self.ledger.expiries), "torn": check.torn}
