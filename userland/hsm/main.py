"""hsm: the HSM service task. It owns the link to the HSM (drivers/hsm on
UART1, whose interrupt its manifest is granted: the kernel's rings,
drivers/uart/ring.py) and serves other tasks.

Requests are IPC messages of fields (drivers/hsm/frame.fields): an
operation name and its arguments; the reply is a status byte (0 ok, 1
refused or failed) and fields (on failure one: the reason). Results larger
than a message (an ML-DSA signature or public key) are kept and read in
pieces with `read OFFSET`. Every request is checked against the caller's
key policy (userland/hsm/policy.py); a denial is answered and written to the
HSM's audit log.

    info                                  model, firmware, serial, free slots, locked
    login PIN                             open the session (operator)
    pin OLD NEW                           change the PIN (operator; the factory PIN must go before `gen`)
    keys                                  total length, first piece of frame.LIST's answer
    gen ALG LABEL USAGE                   a new key (USAGE: bits of frame.USAGE)
    pubkey LABEL                          total length, first piece
    sign LABEL DATA                       total length, first piece of the signature
    verify LABEL DATA SIG                 b"\\x01" valid / b"\\x00" invalid
    encrypt LABEL PLAIN AAD               nonce, ciphertext+tag
    decrypt LABEL NONCE CT AAD            plaintext
    read OFFSET                           the next piece of the last large result
    audit START                           total, one entry (JSON)
    zeroize CONFIRM                       destroys every key
    stats                                 the driver's counters (JSON)
"""
import binascii
import json

import _crypto
import _manifests
from drivers.hsm import frame as F
from drivers.hsm.client import Client, HsmError
from drivers.uart.ring import RingPort
from kernel import manifest as kmanifest
from userland.hsm.policy import Policy
from userland.lib import qenex

PIECE = 240
LINK_BIT = 0            # manifest: irqs = uart1:0
# The HSM answers a request within a few ms (an ECDSA signature well under
# one): the board, idle meanwhile, polls the line that long before it sleeps
# (SYS_WAIT poll_ms), so the answer is taken as it comes. Under QEMU with
# -icount sleep=off a sleeping board's clock jumps a tick (1 ms) at a time
# while the host computes, a polling one's by what it runs.
POLL_MS = 3


def crc32(data):
    return binascii.crc32(data)


class Service:
    def __init__(self):
        ms = [kmanifest.from_dict(fields, source) for source, fields in _manifests.MANIFESTS]
        self.policy = Policy(ms)
        self.names = {}
        for m in ms:
            try:
                self.names[qenex.lookup(m.name) & 0xFF] = m.name       # by task id (a handle's low byte)
            except qenex.Error:
                pass
        port = RingPort(1, LINK_BIT, POLL_MS)
        self.hsm = Client(port, crc32, _crypto.hmac_sha256, qenex.ticks, qenex.sleep)
        self.big = b""

    def piece(self, data):
        self.big = data
        return F.fields(len(data), data[:PIECE])

    def check(self, who, op, label):
        why = self.policy.allows(who, op, label)
        if why is not None:
            try:
                self.hsm.request(F.AUDIT_NOTE, F.fields(op, label or "", "denied", why))
            except HsmError:
                pass                # the denial is still answered
            raise HsmError("not permitted", why)

    def handle(self, sender, msg):
        args = F.unfields(msg)
        if not args:
            raise HsmError("bad argument", "empty request")
        op = args[0].decode()
        sender &= 0xFF                  # the task id of the handle (kernel/abi.py HANDLE_ID_MASK)
        who = self.names.get(sender, "task %d" % sender)
        a = args[1:]
        h = self.hsm
        if op == "info":
            i = h.info()
            return F.fields(i["model"], i["firmware"], i["serial"], i["free"], int(i["locked"]),
                            int(i["factory_pin"]))
        if op == "stats":
            return F.fields(json.dumps(h.stats))
        if op == "read":
            off = int(a[0].decode())
            return F.fields(self.big[off:off + PIECE])
        label = a[0].decode() if a else None
        if op in ("sign", "verify", "encrypt", "decrypt"):
            self.check(who, op, label)
        elif op != "read":
            self.check(who, op, None)          # login, keys, gen, pubkey, audit, zeroize: the operator
        if op == "login":
            h.login(a[0].decode())
            return b""
        if h.pin is None and op not in ("read",):
            raise HsmError("not logged in", "`hsm login` first")   # answered without touching the link
        if op == "pin":
            h.change_pin(a[0].decode(), a[1].decode())
            return b""
        if op == "keys":
            return self.piece(h.request(F.LIST))
        if op == "gen":
            return self.piece(F.unfields(h.request(F.GENERATE, F.fields(a[0], a[1], a[2])), 1)[0])
        if op == "pubkey":
            return self.piece(F.unfields(h.request(F.PUBKEY, F.fields(a[0])), 1)[0])
        if op == "sign":
            return self.piece(F.unfields(h.request(F.SIGN, F.fields(a[0], a[1])), 1)[0])
        if op == "verify":
            return h.request(F.VERIFY, F.fields(a[0], a[1], a[2]))
        if op == "encrypt":
            return h.request(F.ENCRYPT, F.fields(a[0], a[1], a[2]))
        if op == "decrypt":
            return h.request(F.DECRYPT, F.fields(a[0], a[1], a[2], a[3]))
        if op == "audit":
            got = F.unfields(h.request(F.AUDIT, F.fields(int(a[0].decode()), 1)))
            return F.fields(*got[:2])
        if op == "zeroize":
            return h.request(F.ZEROIZE, F.fields(a[0]))
        raise HsmError("bad argument", "unknown operation %r" % op)


def main():
    s = Service()
    while True:
        sender, msg = qenex.recv()
        try:
            out = b"\x00" + s.handle(sender, msg)
        except (HsmError, F.FrameError, ValueError, IndexError) as e:
            out = b"\x01" + F.fields(str(e)[:200])
        if len(out) > qenex.MSG_MAX:
            out = b"\x01" + F.fields("result of %d bytes does not fit a message" % len(out))
        qenex.reply(sender, out)
