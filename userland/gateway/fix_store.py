"""The FIX sessions' store in flash (fix_session.MemoryStore's interface):
each session's next numbers and the messages it sent, kept across a
gateway restart and a reboot, so a reconnect resumes the session and a
ResendRequest gets the real messages.

The area (layout.FIX_OFFSET, layout.FIX_SPACE) is two halves, each a log of
records appended to erased flash (NOR: programming only clears bits, so
nothing is rewritten in place):
    half header  b"QXFS", generation (u32)
    record       0xA5, kind, length (u16), CRC-32 of kind+length+payload (u32), payload
    kinds        SEQS   counterparty, next in, next out
                 SENT   counterparty, seq, MsgType, SendingTime, the fields after the header
                 RESET  counterparty (its kept messages dropped)
Reading a half stops at its first erased or torn record (a reset mid-write
loses only that record). When the half in use is full, the state (every
session's numbers and its last MAX_KEPT messages) is written into the
other half with the next generation, which then wins; the old half is
erased when it is next written. RAM holds the numbers and, per session, where its kept
messages lie (a seq -> offset map), not the messages. Plain Python."""
import struct

MAGIC = b"QXFS"
HEAD = 8
REC = 0xA5
SEQS, SENT, RESET = 1, 2, 3
MAX_KEPT = 256


def _str(b):
    return bytes(b).decode()


class FlashStore:
    def __init__(self, region, offset, size, crc32):
        """region: the gateway partition (drivers/flash/region.py), the
        store at [offset, offset + size), two halves of size // 2."""
        self.r, self.base, self.half = region, offset, size // 2
        self.crc32 = crc32
        self.seqs = {}
        self.sent = {}                  # counterparty -> {seq: offset of its SENT record}
        self.cur, self.gen, self.end = 0, 0, HEAD
        self._open()

    # --- reading ---------------------------------------------------------------------
    def _generation(self, h):
        head = self.r.read(self.base + h * self.half, HEAD)
        if bytes(head[:4]) != MAGIC:
            return None
        return struct.unpack("<I", head[4:8])[0]

    def _open(self):
        gens = [self._generation(0), self._generation(1)]
        if gens[0] is None and gens[1] is None:
            self._start(0, 0)
            return
        h = 0 if gens[1] is None or (gens[0] is not None and gens[0] > gens[1]) else 1
        self.cur, self.gen = h, gens[h]
        self.end = self._replay(h)

    def _records(self, h):
        """(offset, kind, payload) of each whole record of half h, in order."""
        at, top = self.base + h * self.half + HEAD, self.base + (h + 1) * self.half
        while at + 8 <= top:
            head = self.r.read(at, 8)
            if head[0] != REC:
                return
            kind, n = head[1], struct.unpack("<H", head[2:4])[0]
            if at + 8 + n > top:
                return
            payload = self.r.read(at + 8, n)
            if self.crc32(bytes(head[1:4]) + bytes(payload)) & 0xFFFFFFFF != struct.unpack("<I", head[4:8])[0]:
                return                  # torn: the write a reset cut short
            yield at, kind, payload
            at += 8 + n

    def _replay(self, h):
        end = self.base + h * self.half + HEAD
        for at, kind, p in self._records(h):
            cp_len = p[0]
            cp = _str(p[1:1 + cp_len])
            rest = p[1 + cp_len:]
            if kind == SEQS:
                self.seqs[cp] = struct.unpack("<II", rest[:8])
            elif kind == SENT:
                kept = self.sent.setdefault(cp, {})
                kept[struct.unpack("<I", rest[:4])[0]] = at
                if len(kept) > MAX_KEPT:
                    del kept[min(kept)]
            elif kind == RESET:
                self.sent.pop(cp, None)
                self.seqs[cp] = (1, 1)
            end = at + 8 + len(p)
        return end - self.base - h * self.half

    # --- writing ---------------------------------------------------------------------
    def _start(self, h, gen):
        at = self.base + h * self.half
        for off in range(at, at + self.half, self.r.sector):
            self.r.erase(off)
        self.r.program(at, MAGIC + struct.pack("<I", gen))
        self.cur, self.gen, self.end = h, gen, HEAD

    def _append(self, kind, payload):
        rec = struct.pack("<BBH", REC, kind, len(payload))
        rec += struct.pack("<I", self.crc32(rec[1:4] + payload) & 0xFFFFFFFF) + payload
        if self.end + len(rec) > self.half:
            self._compact()
        at = self.base + self.cur * self.half + self.end
        self.r.program(at, rec)
        self.end += len(rec)
        return at

    def _compact(self):
        """The state into the other half (the next generation), then used."""
        old, keep = self.cur, {}
        for cp, kept in self.sent.items():
            keep[cp] = [(seq, self._read_sent(at)) for seq, at in sorted(kept.items())]
        self._start(1 - old, self.gen + 1)
        self.sent = {}
        for cp, (nin, nout) in self.seqs.items():
            self._append(SEQS, self._cp(cp) + struct.pack("<II", nin, nout))
        for cp, msgs in keep.items():
            for seq, payload in msgs:
                self.sent.setdefault(cp, {})[seq] = self._append(SENT, payload)

    def _cp(self, cp):
        b = cp.encode()
        return bytes([len(b)]) + b

    def _read_sent(self, at):
        n = struct.unpack("<H", self.r.read(at + 2, 2))[0]
        return bytes(self.r.read(at + 8, n))

    # --- the store's interface (fix_session.MemoryStore) --------------------------------
    def load(self, cp):
        return self.seqs.get(cp, (1, 1))

    def save(self, cp, next_in, next_out):
        if self.seqs.get(cp) == (next_in, next_out):
            return
        self.seqs[cp] = (next_in, next_out)
        self._append(SEQS, self._cp(cp) + struct.pack("<II", next_in, next_out))

    def keep(self, cp, seq, mtype, sending_time, body):
        payload = self._cp(cp) + struct.pack("<I", seq) + b"\x00".join(
            [mtype.encode(), sending_time.encode(), body.encode()])
        at = self._append(SENT, payload)         # first: a compaction replaces self.sent
        kept = self.sent.setdefault(cp, {})
        kept[seq] = at
        if len(kept) > MAX_KEPT:
            del kept[min(kept)]

    def kept(self, cp, seq):
        at = self.sent.get(cp, {}).get(seq)
        if at is None:
            return None
        p = self._read_sent(at)
        rest = p[1 + p[0] + 4:]
        mtype, sending, body = rest.split(b"\x00", 2)
        return _str(mtype), _str(sending), _str(body)

    def reset(self, cp):
        self.sent.pop(cp, None)
        self.seqs[cp] = (1, 1)
        self._append(RESET, self._cp(cp))

