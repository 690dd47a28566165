"""gateway: the payment gateway task. It owns the host link (UART2) and the
gateway storage partition (the link key, provisioned by the host tools, and
the audit log); inbound messages go through userland/gateway/service.py;
transfers are posted by IPC to the ledger task; audit checkpoints are
signed by the hsm service with the key labelled `audit` (when the HSM has
one: `hsm gen ecdsa-p256 audit sign verify`)."""
import binascii
import json

import _crypto
import _qx
import _vectors
import board
from drivers.flash.region import Region
from drivers.hsm import frame as F
from drivers.uart.polled import UartPort
from userland.audit import log as audit_log
from userland.audit.log import AuditLog
from userland.compliance.engine import Engine, RulesError
from userland.compliance.risk import Risk
from userland.gateway import layout
from userland.gateway.link import AUDIT, RULES, LinkServer
from userland.gateway.service import Gateway
from userland.hsm import api as hsm
from userland.ledger import codec
from userland.ledger.state import RESULTS_TRANSFER, Transfer
from userland.lib import qenex

def read_rules(store):
    """The rules saved by the last reload (layout.rules_of), or None."""
    return layout.rules_of(lambda off, n: store.read(layout.RULES_OFFSET + off, n))


def save_rules(store, text):
    rec = layout.rules_record(text)
    for off in range(layout.RULES_OFFSET, layout.RULES_OFFSET + layout.RULES_SPACE, store.sector):
        store.erase(off)
    store.program(layout.RULES_OFFSET, rec)


_ledger_down = [False]          # said once when the ledger goes, once when it is back


def post(tid, dr, cr, amount, ledger):
    t = Transfer(tid, dr, cr, amount, ledger, 1)
    try:
        r = qenex.call("ledger", b"T" + codec.encode_transfer(t))
    except qenex.Error as e:
        # NOT_RUNNING / NO_SUCH_TASK: the ledger is down, restarting or gone
        # and the transfer never reached it (as with every other refusal of
        # the call but PEER_DIED): certainly not posted, refused
        # with a reason (service.LEDGER_REASONS: AB07). PEER_DIED: the ledger
        # ended while it held the transfer, which it may have stored: the
        # outcome is unknown (service.LEDGER_PENDING: PDNG). A resubmission
        # posts at most once (the transfer's id derives from the message)
        # and answers which. The gateway serves on either way.
        if not _ledger_down[0]:
            _ledger_down[0] = True
            qenex.write("gateway: ledger unavailable (%s): payments refused (AB07)\n" % e.name)
        return "ledger_outcome_unknown" if e.name == "PEER_DIED" else "ledger_unavailable"
    if _ledger_down[0]:
        _ledger_down[0] = False
        qenex.write("gateway: ledger available again\n")
    if not r or r[0] != 0:
        return "storage_failed"
    return "storage_failed" if r[1] == 255 else RESULTS_TRANSFER[r[1]]


def hsm_sign(digest):
    return hsm.sign("audit", digest)


def hsm_verify(head, sig):
    try:
        return hsm.verify("audit", head, sig)
    except hsm.HsmRefused as e:
        raise ValueError("the HSM cannot check checkpoints: %s" % e)


def main():
    base = board.STORAGE_BASE + board.GATEWAY_STORE_OFFSET
    store = Region(base, board.GATEWAY_STORE_SIZE, board.SECTOR_SIZE, _qx.mem_read, _qx.mem_write)
    key = layout.key_of(store.read(layout.KEY_OFFSET, layout.KEY_RECORD))
    if key is None:
        # Not provisioned: the link stays closed; the task waits for the
        # shell's questions only (polling would cost every other task the
        # kernel's fast paths). `qenex run` provisions.
        while True:
            sender, msg = qenex.recv()
            qenex.reply(sender, b"\x01no host link key provisioned (qenex hostlink provision)")
    audit_region = Region(base + layout.AUDIT_OFFSET, board.GATEWAY_STORE_SIZE - layout.AUDIT_OFFSET,
                          board.SECTOR_SIZE, _qx.mem_read, _qx.mem_write)
    clock = [0]

    def now_ns():
        return qenex.ticks() * 1000000

    audit = AuditLog(audit_region, hsm_sign, now_ns, every=16)

    def record(text):
        try:
            audit.append(text)
        except OSError as e:                # no HSM key yet: the entry stays, the checkpoint waits
            audit.since = 0
            qenex.write("gateway: audit checkpoint not signed (%s)\n" % e)

    rules = json.loads(_vectors.RULES)
    saved = read_rules(store)
    engine = Engine(rules)
    if saved is not None:
        try:
            engine.load(json.loads(saved))          # the operator's last reload wins over the defaults
        except (ValueError, RulesError):
            pass
    gw = Gateway(engine, Risk(rules["risk"]), post, record, rules["ledgers"],
                 lambda: qenex.ticks() // 1000, lambda: "T+%dms" % qenex.ticks(), qenex.ticks)

    def fresh():
        clock[0] += 1
        return _crypto.hmac_sha256(key, b"nonce" + F.p32(audit.wal.seq) + F.p32(clock[0]) +
                                   F.p32(qenex.ticks()))[:16]

    def load_rules(text, save):
        try:
            layout.rules_record(text)                  # fits the rules area, or ValueError
            gw.engine.load(json.loads(text))
        except (ValueError, RulesError) as e:           # a bad file changes nothing
            record("compliance rules refused: %s" % e)
            return False, "rules refused: %s" % e
        if save:
            save_rules(store, text)                    # kept across restarts
        record("compliance rules reloaded, version %s" % gw.engine.version)
        return True, "compliance rules reloaded, version %s" % gw.engine.version

    def check_audit():
        try:
            entries, checkpoints = audit_log.verify(audit_region, hsm_verify)
        except ValueError as e:
            return False, "audit: %s" % e
        return True, "audit: %d entries, %d checkpoints signed by the HSM, chain ok" % (entries, checkpoints)

    def control(cmd, payload):
        """The operator's commands over the host link: new rules; the audit
        log checked here (signatures verified by the HSM)."""
        if cmd == RULES:
            return load_rules(F.unfields(payload, 1)[0], True)
        return check_audit()

    def ipc(msg):
        """The shell's questions: "reload" (the rules file in storage, as
        `qenex compliance push` or a link reload left it) and "audit"."""
        if msg == b"reload":
            text = read_rules(store)
            return load_rules(text if text is not None else _vectors.RULES.encode(), False)
        if msg == b"audit":
            return check_audit()
        return False, "unknown request %r" % msg

    link = LinkServer(UartPort(board.UART2_BASE, board.SYSCLK_HZ), key, binascii.crc32, _crypto.hmac_sha256, fresh,
                      stats=lambda: json.dumps(gw.stats()), now_ms=qenex.ticks, control=control)
    record("gateway start")                 # also makes the next login nonces unlike any before
    qenex.write("gateway: host link open (audit log at record %d)\n" % audit.wal.seq)
    while True:
        busy = link.poll(gw.submit)
        if link.reader.buf:                 # mid-frame: the link first (a poll costs a kernel trip)
            continue
        sender, msg = qenex.recv(poll=True)
        if sender:
            ok, text = ipc(msg)
            qenex.reply(sender, (b"\x00" if ok else b"\x01") + text.encode()[:250])
            busy = 1
        if not busy:
            # Mid-frame: poll again at once (the UART holds one byte); idle: sleep.
            qenex.sleep(0 if link.reader.buf else 2)
