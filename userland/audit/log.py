"""The audit log: every accepted, held or rejected message and every ledger
batch is an entry in a hash-chained log (the ledger's write-ahead log
format, userland/ledger/wal.py, in a storage partition of its own); every
`every` entries, and on demand, the HSM signs the chain's head and the
signature is appended as a checkpoint record. verify() checks the chain and
every checkpoint signature (on the host with `cryptography`, given the
HSM key's public part)."""
from drivers.hsm import frame as F
from userland.ledger import wal

ENTRY, CHECKPOINT = 16, 17


class AuditLog:
    def __init__(self, region, sign, now, every=16):
        """sign(digest32) -> signature bytes (the hsm service); now() -> ns."""
        self.wal = wal.Wal(region)
        self.sign, self.now, self.every = sign, now, every
        self.since = 0
        for seq, kind, t, payload, at in self.wal.recover():
            self.since = 0 if kind == CHECKPOINT else self.since + 1

    def append(self, text):
        """One entry (text: what happened, with its rule ids); a checkpoint
        follows every `every` entries. Returns the entry's sequence number."""
        self.wal.append(ENTRY, self.now(), text.encode() if isinstance(text, str) else text)
        seq = self.wal.seq
        self.since += 1
        if self.since >= self.every:
            self.checkpoint()
        return seq

    def checkpoint(self):
        head = self.wal.head
        self.wal.append(CHECKPOINT, self.now(), F.fields(head, self.sign(head)))
        self.since = 0


def verify(region, verify_sig):
    """(entries, checkpoints) if the chain holds and every checkpoint's head
    is the hash of the record before it and its signature verifies
    (verify_sig(head, sig) -> bool); ValueError naming the first fault.
    A torn tail is reported as an error: an audit log must be whole."""
    w = wal.Wal(region)
    entries = checkpoints = 0
    for seq, kind, t, payload, at in w.recover():
        prev = w.head                       # while a record is handed out, head is the one before it
        if kind == ENTRY:
            entries += 1
        elif kind == CHECKPOINT:
            head, sig = F.unfields(payload, 2)
            if head != prev:
                raise ValueError("checkpoint %d signs %s, the chain's head was %s" % (seq, head.hex()[:16],
                                                                                    prev.hex()[:16]))
            if not verify_sig(head, sig):
                raise ValueError("checkpoint %d: the HSM signature does not verify" % seq)
            checkpoints += 1
        else:
            raise ValueError("record %d: kind %d is not an audit record" % (seq, kind))
    if w.corrupt is not None:
        raise ValueError("the log is corrupt at 0x%x (record %d): %s" % w.corrupt)
    if w.torn is not None:
        raise ValueError("the log is cut at 0x%x" % w.torn)
    return entries, checkpoints
