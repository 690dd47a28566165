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
    def __init__(self, region, ticks_ms, index_slots=16384, index_table=None):
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
            else:
                objs = []
                L.expire(now)
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
        return results

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

    def verify(self):
        """Invariants and the whole chain read again: a dict of figures;
        AssertionError / ValueError if anything is wrong."""
        self.ledger.check()
        check = wal.Wal(self.region)
        n = sum(1 for _ in check.recover())
        assert n == self.wal.seq and check.head == self.wal.head, "the log's chain does not end where it should"
        return {"records": n, "accounts": len(self.ledger.accounts), "head": self.wal.head,
                "transfers": self.index.count, "pending": len(self.ledger.expiries), "torn": check.torn}
