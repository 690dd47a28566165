"""The ledger service: the state machine (state.py) made durable by the
write-ahead log (wal.py). Plain Python: the ledger task runs it on the
device, the host tests and `qenex ledger verify` on a storage image.

A batch is applied in memory; if it stored anything, its stored objects go
to the log as one record, and only then are the results returned (the
acknowledgement). If the log write fails the batch is taken back and every
event answers `storage_failed`. A batch that stored nothing writes nothing.
At start, recover() replays the log (torn tail skipped), rebuilds the
transfer index and checks the invariants and the chain.

The clock: the last logged timestamp plus the time since boot, so it never
goes back across reboots."""
from userland.ledger import codec, wal
from userland.ledger.state import Account, Ledger, Transfer


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
        self.stats = {"records": 0, "accounts": 0, "transfers": 0, "batches": 0, "torn": None}

    def now(self):
        t = self.base + self.ticks_ms() * 1000000
        return t if t > self.ledger.timestamp else self.ledger.timestamp + 1

    def recover(self):
        L = self.ledger
        for seq, kind, now, payload, at in self.wal.recover():
            if kind == wal.ACCOUNTS:
                objs = codec.decode_many(payload, codec.ACCOUNT_SIZE, codec.decode_account)
                self.stats["accounts"] += len(objs)
            elif kind == wal.TRANSFERS:
                objs = codec.decode_many(payload, codec.TRANSFER_SIZE, codec.decode_transfer)
                self.stats["transfers"] += len(objs)
            elif kind == wal.CHECKPOINT:
                self.since = -1
                objs = []
            else:
                objs = []
                L.expire(now)
            self.since += 1
            L.replay(objs)
            self._index(objs, at)
            if now > L.timestamp:
                L.timestamp = now
            self.stats["records"] += 1
        L.spill()
        self.stats["torn"] = self.wal.torn
        self.base = L.timestamp
        L.check()
        return self.stats

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
            at = self.wal.append(kind, L.timestamp, payload)
        except (wal.LogFull, OSError):
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
        head = self.wal.head
        try:
            sig = self.sign(head)
            self.wal.append(wal.CHECKPOINT, self.ledger.timestamp, F.fields(head, sig))
            self.since = 0
        except (OSError, ValueError, wal.LogFull):
            self.since = self.every // 2        # try again a while later

    def create_accounts(self, events):
        results = self.ledger.create_accounts(events, self.now())
        return self._commit(results, wal.ACCOUNTS, codec.ACCOUNT_SIZE, codec.encode_account)

    def create_transfers(self, events):
        results = self.ledger.create_transfers(events, self.now())
        return self._commit(results, wal.TRANSFERS, codec.TRANSFER_SIZE, codec.encode_transfer)

    def expire(self):
        now = self.now()
        due = [pid for pid, at in self.ledger.expiries.items() if at <= now]
        if not due:
            return []
        self.wal.append(wal.EXPIRY, now, b"")
        return self.ledger.expire(now)

    def verify(self, verify_sig=None):
        """Invariants and the whole chain read again, and with verify_sig
        (head, sig) -> True / False / None (cannot tell) every checkpoint's
        signature: a dict of figures; AssertionError / ValueError if
        anything is wrong."""
        from drivers.hsm import frame as F
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
        assert n == self.wal.seq and check.head == self.wal.head, "the log's chain does not end where it should"
        return {"records": n, "checkpoints": checkpoints, "signatures_checked": checked, "accounts": len(self.ledger.accounts), "head": self.wal.head,
                "transfers": self.index.count, "pending": len(self.ledger.expiries), "torn": check.torn}
