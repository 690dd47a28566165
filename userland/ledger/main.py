"""ledger: the ledger task. Recovers its state from the log in its storage
partition (manifest `devices = ledger_store`), then serves requests.

IPC protocol (a message is at most 256 bytes; numbers little-endian):
    request  op (1 byte), then the op's bytes
      "A" + accounts (48 bytes each, codec.py; up to 5)   -> a result byte each (state.RESULTS_ACCOUNT)
      "T" + transfers (116 bytes each; up to 2)           -> a result byte each (state.RESULTS_TRANSFER)
      "a" + account id (16)                                -> the account (48) + 4 balances (16 each), or nothing
      "t" + transfer id (16)                               -> the transfer (116), or nothing
      "h" + account id (16) + start (4)                    -> total (4) + up to 3 entries (ts 8 + 4 x 16)
      "v"                                                  -> JSON: verify(): invariants and the whole chain
      "s"                                                  -> JSON: counts; "corrupt": null or offset, seq, reason
      "c"                                                  -> JSON: "corrupt" alone (the whole reason)
    reply    status (1 byte: 0 ok, 1 refused) + the op's bytes, or the reason (text)
A result code 255 is storage_failed: the batch could not be logged, nothing was kept.
A result code 254 is read_only: recovery found the log corrupt (the "s" JSON's
"corrupt": offset, seq, reason), so nothing is written; lookups still answer
(from the state up to the last good record) and "v" answers refused."""
import json

import _qx
import board
import uctypes
from drivers.flash.region import Region
from userland.ledger import codec
from userland.ledger.service import READ_ONLY, LedgerService
from userland.hsm import api as hsm
from userland.ledger.state import RESULTS_ACCOUNT, RESULTS_TRANSFER
from userland.lib import qenex


def code_of(result, table):
    if result == "storage_failed":
        return 255
    if result == READ_ONLY:
        return 254
    return table.index(result)


def le(v, n):
    return v.to_bytes(n, "little")


def handle(s, msg):
    op, body = chr(msg[0]), msg[1:]
    if op == "A":
        events = codec.decode_many(body, codec.ACCOUNT_SIZE, codec.decode_account)
        return bytes(code_of(r, RESULTS_ACCOUNT) for r in s.create_accounts(events))
    if op == "T":
        events = codec.decode_many(body, codec.TRANSFER_SIZE, codec.decode_transfer)
        return bytes(code_of(r, RESULTS_TRANSFER) for r in s.create_transfers(events))
    if op == "a":
        a = s.ledger.accounts.get(int.from_bytes(body[:16], "little"))
        if a is None:
            return b""
        return codec.encode_account(a) + b"".join(le(v, 16) for v in a.balances())
    if op == "t":
        t = s.ledger.transfer(int.from_bytes(body[:16], "little"))
        return codec.encode_transfer(t) if t is not None else b""
    if op == "h":
        h = s.ledger.balances_of(int.from_bytes(body[:16], "little"))
        start = int.from_bytes(body[16:20], "little")
        out = le(len(h), 4)
        for e in h[start:start + 3]:
            out += le(e[0], 8) + b"".join(le(v, 16) for v in e[1:])
        return out
    if op == "v":
        v = s.verify(hsm_verify)
        v["head"] = "".join("%02x" % b for b in v["head"])
        return json.dumps(v).encode()
    if op == "c":
        return json.dumps(s.stats["corrupt"]).encode()[:255]
    if op == "s":
        st = dict(s.stats)
        st.update({"accounts_now": len(s.ledger.accounts), "transfers_now": s.index.count,
                   "log_bytes": s.wal.end, "log_records": s.wal.seq, "read_only": s.corrupt is not None})
        out = json.dumps(st).encode()
        if len(out) > 255 and st["corrupt"]:    # a reply is at most 256 bytes: shorten the reason ("c": all of it)
            bad = dict(st["corrupt"])
            bad["reason"] = bad["reason"][:max(0, len(bad["reason"]) - (len(out) - 255) - 3)] + "..."
            st["corrupt"] = bad
            out = json.dumps(st).encode()
        return out
    raise ValueError("unknown operation %r" % op)


def hsm_verify(head, sig):
    """A checkpoint's signature checked by the HSM: True, False, or None
    when the HSM cannot say (no session, no link)."""
    try:
        return hsm.verify("audit", head, sig)
    except hsm.HsmRefused:
        return None


def hsm_sign(digest):
    """A checkpoint over the log's head, signed by the HSM's `audit` key
    (HsmRefused, an OSError, when it cannot)."""
    return hsm.sign("audit", digest)


def main():
    base = board.STORAGE_BASE + board.LEDGER_STORE_OFFSET
    region = Region(base, board.LEDGER_STORE_SIZE, board.SECTOR_SIZE, _qx.mem_read, _qx.mem_write)
    addr, size = _qx.arena()                    # the transfer index, outside the GC heap
    slots = 1
    while slots * 2 * 12 <= size:
        slots *= 2
    s = LedgerService(region, qenex.ticks, slots, uctypes.bytearray_at(addr, size), sign=hsm_sign)
    t0 = qenex.ticks()
    st = s.recover()
    if st["records"] or st["torn"] is not None or s.corrupt is not None:     # a fresh ledger says nothing
        qenex.write("ledger: recovered %d records (%d accounts, %d transfers) in %d ms%s\n" % (
        st["records"], st["accounts"], st["transfers"], qenex.ticks() - t0,
        "; torn tail at 0x%x skipped" % st["torn"] if st["torn"] is not None else ""))
    if s.corrupt is not None:
        qenex.write("ledger: ALARM: the log is corrupt at %s; replayed the %d records before it; "
                    "read-only: new transfers are refused, nothing is erased or written\n" % (
                        s.describe(), st["records"]))
    while True:
        sender, msg = qenex.recv()
        try:
            out = b"\x00" + handle(s, msg) if msg else b"\x01empty request"
        except (ValueError, IndexError, AssertionError) as e:
            out = b"\x01" + str(e)[:200].encode()
        qenex.reply(sender, out)
        if s.ledger.expiries:
            s.expire()
