"""The ledger's write-ahead log: hash-chained, checksummed records in a
storage partition (drivers/flash/region.py), and the index that finds a
logged transfer again.

Record (little-endian, padded to 4 bytes):
    0   magic "QXLR"          4   seq (u32, from 1)       8   kind (u8), 3 zero bytes
    12  payload length        16  now (u64: the batch's clock, ns)
    24  hash of the previous record (32 bytes; zeros before the first)
    56  payload: encoded accounts (kind 1) or stored transfers (kind 2); empty for 3 (expiry at `now`);
        for 4 (checkpoint) the hash of the record before it and the HSM's signature of that hash
    56+n  SHA-256 of bytes 0 .. 56+n
A batch is acknowledged only once its record is written. Recovery reads
records in order while each is whole, checks and chained; at a record that
is not (a write cut short by a power loss) it tries the next sector
boundary once (appending after a torn record starts there), and the log
ends where that fails too. What follows the end is never read again."""
import hashlib

MAGIC = b"QXLR"
HEAD = 56
ACCOUNTS, TRANSFERS, EXPIRY, CHECKPOINT = 1, 2, 3, 4   # CHECKPOINT: fields(head, HSM signature)
ZERO = bytes(32)


def _get(b, i, n):
    return int.from_bytes(b[i:i + n], "little")


def sha256(data):
    return hashlib.sha256(data).digest()


def encode(seq, kind, now, prev, payload):
    head = MAGIC + seq.to_bytes(4, "little") + bytes((kind, 0, 0, 0)) + len(payload).to_bytes(4, "little") \
        + now.to_bytes(8, "little") + prev
    body = head + payload
    rec = body + sha256(body)
    return rec + bytes(-len(rec) % 4)


class LogFull(Exception):
    pass


class Wal:
    def __init__(self, region):
        self.region = region
        self.end = 0                # where the next record goes
        self.seq = 0                # the last record's
        self.head = ZERO            # the last record's hash
        self.erased_to = 0          # [end, erased_to) is known erased
        self.torn = None            # offset of a cut-short record found by recover()

    def recover(self):
        """Yield (seq, kind, now, payload, payload_offset) of every record, in
        order; afterwards the log is ready to append."""
        off = 0
        size = self.region.size
        sector = self.region.sector
        retried = False
        while off + HEAD + 32 <= size:
            rec = self._valid(off)
            if rec is None:
                if self.torn is None and self.region.read(off, 4) != b"\xff\xff\xff\xff":
                    self.torn = off
                nxt = (off // sector + 1) * sector
                if retried or nxt >= size or self.region.read(nxt, 4) != MAGIC:
                    break
                retried = True
                off = nxt
                continue
            retried = False
            seq, kind, now, n, digest = rec
            yield seq, kind, now, self.region.read(off + HEAD, n), off + HEAD
            self.seq, self.head = seq, digest
            off += (HEAD + n + 32 + 3) & ~3
        self.end = off
        # Append at a fresh sector if the bytes after the end are not erased.
        if self.end < size and self.region.read(self.end, min(64, size - self.end)) != \
                b"\xff" * min(64, size - self.end):
            self.end = (self.end // sector + 1) * sector
            self.erased_to = self.end
        else:
            self.erased_to = min(size, (self.end // sector + 1) * sector) if self.end % sector else self.end

    def _valid(self, off):
        head = self.region.read(off, HEAD)
        if head[:4] != MAGIC or _get(head, 4, 4) != self.seq + 1 or head[24:56] != self.head:
            return None
        n = _get(head, 12, 4)
        if off + HEAD + n + 32 > self.region.size:
            return None
        body = head + self.region.read(off + HEAD, n)
        digest = self.region.read(off + HEAD + n, 32)
        if sha256(body) != digest:
            return None
        return _get(head, 4, 4), head[8], _get(head, 16, 8), n, digest

    def append(self, kind, now, payload):
        """Write one record; returns the payload's offset. LogFull when the
        partition is full (nothing written)."""
        rec = encode(self.seq + 1, kind, now, self.head, payload)
        if self.end + len(rec) > self.region.size:
            raise LogFull("the ledger's log is full (%d bytes)" % self.region.size)
        while self.erased_to < self.end + len(rec):
            self.region.erase(self.erased_to)
            self.erased_to += self.region.sector
        self.region.program(self.end, rec)
        at = self.end + HEAD
        self.end += len(rec)
        self.seq += 1
        self.head = rec[HEAD + len(payload):HEAD + len(payload) + 32]
        return at


class TransferIndex:
    """Where each logged transfer lies: an open-addressing table of 12-byte
    slots (8-byte fingerprint of the id, 4-byte offset of the encoded
    transfer in the log) in one table, so 10,000 transfers cost 192 KiB and
    no objects. On the device the table is the task's arena (manifest
    `arena`): outside the GC heap, so collections do not scan it. A fingerprint match is confirmed by reading the transfer
    from the log. get(id) -> Transfer or None."""

    def __init__(self, region, decode, slots=16384, table=None):
        """table: memory for the slots (at least 12 * slots bytes), e.g. the
        task's arena, which the GC never scans; default a new bytearray."""
        self.region, self.decode = region, decode
        self.mask = slots - 1
        if table is None:
            table = bytearray(12 * slots)
        else:
            zero = bytes(1024)
            for i in range(0, 12 * slots, 1024):
                n = min(1024, 12 * slots - i)
                table[i:i + n] = zero[:n]
        self.table = table
        self.count = 0
        self.limit = slots * 3 // 4

    @staticmethod
    def _fp(id):
        h = ((id & 0xFFFFFFFFFFFFFFFF) * 0x9E3779B97F4A7C15 ^ (id >> 64) * 0xC2B2AE3D27D4EB4F) & 0xFFFFFFFFFFFFFFFF
        return h or 1

    def put(self, id, offset, size):
        if self.count >= self.limit:
            raise LogFull("the transfer index is full (%d transfers)" % self.count)
        fp = self._fp(id)
        i = fp & self.mask
        t = self.table
        while True:
            j = 12 * i
            if t[j:j + 8] == b"\0\0\0\0\0\0\0\0":
                t[j:j + 8] = fp.to_bytes(8, "little")
                t[j + 8:j + 12] = offset.to_bytes(4, "little")
                self.count += 1
                return
            i = (i + 1) & self.mask

    def get(self, id, size=116):
        fp = self._fp(id).to_bytes(8, "little")
        i = self._fp(id) & self.mask
        t = self.table
        while True:
            j = 12 * i
            slot = t[j:j + 8]
            if slot == b"\0\0\0\0\0\0\0\0":
                return None
            if slot == fp:
                obj = self.decode(self.region.read(int.from_bytes(t[j + 8:j + 12], "little"), size))
                if obj.id == id:
                    return obj
            i = (i + 1) & self.mask
