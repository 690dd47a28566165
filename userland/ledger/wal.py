"""The ledger's write-ahead log: hash-chained, checksummed records in a
storage partition (drivers/flash/region.py), and the index that finds a
logged transfer again.

Record (little-endian, padded to 4 bytes with zeros):
    0   magic "QXLR"          4   seq (u32, from 1)       8   kind (u8), 3 zero bytes
    12  payload length        16  now (u64: the batch's clock, ns)
    24  hash of the previous record (32 bytes; zeros before the first)
    56  payload: encoded accounts (kind 1) or stored transfers (kind 2); empty for 3 (expiry at `now`);
        for 4 (checkpoint) the hash of the record before it and the HSM's signature of that hash
    56+n  SHA-256 of bytes 0 .. 56+n
A payload is at most MAX_PAYLOAD bytes. A batch is acknowledged only once
its record is written.

What a power cut can leave. A record is programmed in one go, first byte
first, into erased flash, so a cut leaves a *torn* record: a prefix of the
record that was being written (its last byte perhaps only partly
programmed), then erased bytes (0xff). The next boot
cannot program over those bytes, so it appends from the first sector
boundary after the torn record's last programmed byte (the sectors there
are erased already: nothing of the torn record is ever erased). A cut in
that first record leaves another torn record there, and so on. So the log
is: records chained from offset 0; possibly a torn record, erased bytes up
to a sector boundary, and the chain going on there with the sequence
number the torn record would have had; and after the last record, erased
bytes to the end of the partition.

Recovery (recover()) walks that, and anything else is corruption: a record
that fails its checksum or its chain but is followed by more data (or has
whole records inside the length it claims), that is complete (its last
byte is programmed) but wrong, whose programmed bytes disagree with what
the next record must start with (magic, sequence number, the previous
record's hash, the checksum of a whole body), or data after the end of the
log.
Then recover() stops at the last good record and sets `corrupt` (offset,
seq, reason); the log is read-only from then on (append raises LogCorrupt)
and nothing in the partition is erased or written. The service does the
same (fail()) for a record whose content cannot be replayed. A damaged last
record whose damage looks exactly like a cut (say its final checksum byte
reads 0xff) cannot be told from a torn write and is skipped as one."""
import hashlib
import struct

MAGIC = b"QXLR"
HEAD = 56
ACCOUNTS, TRANSFERS, EXPIRY, CHECKPOINT = 1, 2, 3, 4   # CHECKPOINT: fields(head, HSM signature)
ZERO = bytes(32)
MAX_PAYLOAD = 32768         # the board's batches are a few hundred bytes, ledgerbench's 11,600
MAX_RECORD = (HEAD + MAX_PAYLOAD + 32 + 3) & ~3


def _get(b, i, n):
    return int.from_bytes(b[i:i + n], "little")


def _agree(b, want, i, p):
    """b[i:i + len(want)], as far as b goes, equals want, except that the
    byte at p (the last one programmed) may still have bits set that want
    clears."""
    got = b[i:i + len(want)]
    for j in range(len(got)):
        g, w = got[j], want[j]
        if g != w and not (i + j == p and g & w == w):
            return False
    return True


def sha256(data):
    return hashlib.sha256(data).digest()


def size_of(n):
    """The bytes a record with an n-byte payload takes in the log."""
    return (HEAD + n + 32 + 3) & ~3


def encode(seq, kind, now, prev, payload):
    head = MAGIC + seq.to_bytes(4, "little") + bytes((kind, 0, 0, 0)) + len(payload).to_bytes(4, "little") \
        + now.to_bytes(8, "little") + prev
    body = head + payload
    rec = body + sha256(body)
    return rec + bytes(-len(rec) % 4)


class LogFull(Exception):
    pass


class LogCorrupt(OSError):
    """An append to a log that recovery found corrupt: it is read-only."""


class Wal:
    def __init__(self, region):
        self.region = region
        self.end = 0                # where the next record goes (after recover(): the end of what was read)
        self.seq = 0                # the last record's
        self.head = ZERO            # the last record's hash
        self.erased_to = 0          # [end, erased_to) is known erased
        self.torn = None            # offset of the last (the latest) cut-short record found by recover()
        self.corrupt = None         # (offset, seq, reason): recovery stopped there; read-only

    def fail(self, offset, seq, reason):
        """Mark the log corrupt at the record at `offset` (its sequence
        number `seq`): read-only from now on."""
        if self.corrupt is None:
            self.corrupt = (offset, seq, reason)

    def recover(self):
        """Yield (seq, kind, now, payload, payload_offset) of every record, in
        order (while a record is handed out, `head` is the one before it).
        Afterwards the log is ready to append, or `corrupt` says why not."""
        size = self.region.size
        sector = self.region.sector
        off = 0
        while True:
            self.end = off
            if off + 4 > size or self.region.read(off, 4) == b"\xff\xff\xff\xff":
                bad = self.region.first_data(off, size - off)
                if bad is not None:
                    self.fail(off, self.seq + 1, "the log ends at 0x%x but data follows at 0x%x" % (off, bad))
                break
            rec = self._valid(off)
            if rec is None:
                why, nxt = self._torn(off)
                if why is not None:
                    self.fail(off, self.seq + 1, why)
                    break
                self.torn = off
                off = nxt
                continue
            seq, kind, now, n, digest = rec
            yield seq, kind, now, self.region.read(off + HEAD, n), off + HEAD
            if self.corrupt is not None:         # the reader found the record's content bad
                return
            self.seq, self.head = seq, digest
            off += size_of(n)
        if self.corrupt is not None:
            return
        # [end, size) is erased (checked above): the rest of this sector needs no erase.
        self.erased_to = min(size, (self.end // sector + 1) * sector) if self.end % sector else self.end

    def _valid(self, off):
        """(seq, kind, now, n, digest) if a whole record that continues the
        chain is at off, else None."""
        if off + HEAD + 32 > self.region.size:
            return None
        head = self.region.read(off, HEAD)
        if head[:4] != MAGIC or _get(head, 4, 4) != self.seq + 1 or head[24:56] != self.head:
            return None
        n = _get(head, 12, 4)
        if n > MAX_PAYLOAD or off + HEAD + n + 32 > self.region.size or head[9:12] != b"\0\0\0":
            return None
        body = head + self.region.read(off + HEAD, n)
        digest = self.region.read(off + HEAD + n, 32)
        if sha256(body) != digest:
            return None
        return _get(head, 4, 4), head[8], _get(head, 16, 8), n, digest

    def _torn(self, off):
        """The bytes at off are not a good record: (None, where the log goes
        on) if they can be a write of the next record cut short, with only
        erased bytes after it up to that sector boundary; else (reason, None).
        Reads a chunk at a time (a record may be larger than the heap can
        hold twice)."""
        size, sector = self.region.size, self.region.sector
        lim = min(off + MAX_RECORD, size)
        start = MAGIC + (self.seq + 1).to_bytes(4, "little")
        b = (off // sector + 1) * sector
        while b < lim:      # the log going on at a boundary (whole, or torn again)?
            h = self.region.read(b, 8)
            k = 8
            while k and h[k - 1] == 0xff:
                k -= 1
            if k and h[:k] == start[:k]:
                lim = b     # (logs before the rule above had it at the first one, after a record across it)
                break
            b += sector
        last = self.region.last_data(off, lim - off)
        c = 0 if last is None else last + 1 - off       # the programmed prefix, as far as it can be told
        why = self._not_a_prefix(off, c)
        if why is not None:
            return why, None
        at = off + c
        nxt = min(size, (at + sector - 1) // sector * sector)
        if lim < nxt:
            bad = self.region.first_data(lim, nxt - lim)
            if bad is not None:
                return "a bad record followed by more data at 0x%x" % bad, None
        return None, nxt

    def _sha(self, off, n, length=None):
        """SHA-256 of the n bytes at off (with the length field, bytes 12..16,
        replaced by `length` if given), a chunk at a time."""
        h = hashlib.sha256()
        i = 0
        while i < n:
            k = min(n - i, 1024)
            chunk = self.region.read(off + i, k)
            if length is not None and i == 0:       # n >= HEAD: the first chunk holds the field
                chunk = chunk[:12] + length.to_bytes(4, "little") + chunk[16:]
            h.update(chunk)
            i += k
        return h.digest()

    def _not_a_prefix(self, off, c):
        """Why the c programmed bytes at off cannot be the start of record
        seq+1, or None. The last of them may be programmed only partly (a
        cut inside a byte leaves some of the bits it clears still 1)."""
        seq = self.seq + 1
        p = c - 1
        b = self.region.read(off, min(c, HEAD))
        if not _agree(b, MAGIC, 0, p):
            return "no record magic"
        if not _agree(b, seq.to_bytes(4, "little"), 4, p):
            return "sequence number %d where %d was due" % (_get(b, 4, 4), seq) if c >= 8 else \
                "a bad sequence number"
        if not _agree(b, b"\0\0\0", 9, p):
            return "reserved header bytes are not zero"
        length = bytearray(b[12:16])
        if 12 <= p < 16:
            length[p - 12] = 0          # the least it can be
        n = _get(length, 0, 4)
        if n > MAX_PAYLOAD:
            return "payload length %d over the maximum %d" % (n, MAX_PAYLOAD)
        if not _agree(b, self.head, 24, p):
            return "it does not chain to the record before it (previous-record hash differs)"
        if c < 16:
            return None
        total = size_of(n)
        if off + total > self.region.size:
            return "it runs past the end of the partition"
        if c >= total:
            return "checksum mismatch" + (" and more data after it" if c > total else "")
        if c > HEAD + n:
            k = min(c, HEAD + n + 32) - HEAD - n
            if not _agree(self.region.read(off + HEAD + n, k), self._sha(off, HEAD + n), 0, p - HEAD - n):
                return "checksum mismatch"
        for pad in range(4):        # a whole record whose length field alone is wrong is no cut
            m = c - HEAD - 32 - pad
            if 0 <= m < n and self._sha(off, HEAD + m, m) == self.region.read(off + HEAD + m, 32):
                return "its length field reads %d, the record holds %d" % (n, m)
        at = self._record_within(off + 4, off + c)
        if at is not None:          # a cut-short write has nothing after it, least of all records
            return "a bad record (its length field reads %d) followed by more records (0x%x)" % (n, at)
        return None

    def _record_within(self, start, end):
        """The offset of the first whole record (its own checksum right) that
        starts in [start, end), or None."""
        p = (start + 3) & ~3
        while p + HEAD + 32 <= end:
            k = min(end - p, 1024)
            chunk = self.region.read(p, k)
            i = chunk.find(MAGIC)
            while i >= 0:
                at = p + i
                if at % 4 == 0:
                    h = self.region.read(at, HEAD)
                    n = _get(h, 12, 4)
                    if n <= MAX_PAYLOAD and at + HEAD + n + 32 <= self.region.size and \
                            self._sha(at, HEAD + n) == self.region.read(at + HEAD + n, 32):
                        return at
                i = chunk.find(MAGIC, i + 1)
            p += max(4, (k - 3) & ~3)
        return None

    def append(self, kind, now, payload):
        """Write one record; returns the payload's offset. LogFull when the
        partition is full, LogCorrupt when the log is read-only (nothing
        written either way)."""
        if self.corrupt is not None:
            raise LogCorrupt("the log is read-only: corrupt at 0x%x (record %d): %s" % self.corrupt)
        if len(payload) > MAX_PAYLOAD:
            raise ValueError("a %d-byte record payload is over the maximum %d" % (len(payload), MAX_PAYLOAD))
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
        self.slots = slots
        if slots < 1:
            raise ValueError("transfer index: %d slots" % slots)
        if table is None:
            table = bytearray(12 * slots)
        elif len(table) < 12 * slots:
            raise ValueError("transfer index: a table of %d bytes holds fewer than %d slots of 12"
                             % (len(table), slots))
        else:
            # struct.pack_into writes in place: a slice store of a bytearray or memoryview
            # moves the whole tail after it onto itself (MicroPython), 12 * slots bytes a store
            zero = bytes(1024)
            for i in range(0, 12 * slots, 1024):
                n = min(1024, 12 * slots - i)
                struct.pack_into("%ds" % n, table, i, zero)
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
        i = fp % self.slots
        t = self.table
        while True:
            j = 12 * i
            if t[j:j + 8] == b"\0\0\0\0\0\0\0\0":
                struct.pack_into("<QI", t, j, fp, offset)      # in place (a slice store moves the table's tail)
                self.count += 1
                return
            i += 1
            if i == self.slots:
                i = 0

    def get(self, id, size=116):
        fp = self._fp(id).to_bytes(8, "little")
        i = self._fp(id) % self.slots
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
            i += 1
            if i == self.slots:
                i = 0
