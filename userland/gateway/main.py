"""gateway: the payment gateway task. It owns the host link (UART2) and the
gateway storage partition (the link key, provisioned by the host tools, and
the audit log); inbound messages go through userland/gateway/service.py;
transfers are posted by IPC to the ledger task; audit checkpoints are
signed by the hsm service with the key labelled `audit` (when the HSM has
one: `hsm gen ecdsa-p256 audit sign verify`)."""
import binascii
import gc
import json

import _crypto
import _qx
import _vectors
import board
from kernel import abi
from drivers.flash.region import Region
from drivers.hsm import frame as F
from drivers.uart.ring import RingPort
from userland.audit import log as audit_log
from userland.audit.log import AuditLog
from userland.compliance.engine import Engine, rules_from_json
from userland.compliance.risk import Risk
from userland.gateway import layout
from userland.gateway.accounts_store import AccountStore
from userland.gateway.fix_store import FlashStore
from userland.gateway.fixrelay import FIXNET_TASK, FixRelay
from userland.gateway.isorelay import HTTPNET_TASK, IsoRelay
from userland.gateway.link import ACCOUNTS, RELAY_TASK, RULES, STALE_MS, TIME, LinkServer, host_time, relay
from userland.gateway import fix_session
from userland.gateway.service import FIX_SESSIONS, Gateway
from userland.hsm import api as hsm
from userland.ledger import api as ledger
from userland.ledger.state import Transfer
from userland.lib import qenex, utc, utcclock

AUDIT_MARGIN = 0x4000       # room kept free in the audit log: one message's entry and a checkpoint
LINK_BIT = 0                # manifest: irqs = uart2:0 (the host link's ring events)
LINK_MASK = 1 << LINK_BIT
IDLE_MS = 1000              # an idle link is looked at this often anyway (a lost event costs no more)
GC_EVERY = 131072           # collect after this many bytes allocated (gc.threshold), see main()
# Each collection marks all that lives (about 75 KB) and sweeps the 248 KB heap: 16 KiB made a
# 4.5 KB pacs.008 pay 6 of them, 64 KiB about one (10.8 M -> 6.1 M), 128 KiB with no collection
# at each HTTP message's start as well (Expat's reader holds no large buffer) 13.6 M -> 11.8 M
# for the whole message; a collection leaves at least 248 - 75 - 128 = 45 KB free (a link
# message's submit() still collects first).


def read_rules(store):
    """The rules saved by the last reload (layout.rules_of), or None."""
    return layout.rules_of(lambda off, n: store.read(layout.RULES_OFFSET + off, n))


def save_rules(store, text):
    rec = layout.rules_record(text)
    for off in range(layout.RULES_OFFSET, layout.RULES_OFFSET + layout.RULES_SPACE, store.sector):
        store.erase(off)
    store.program(layout.RULES_OFFSET, rec)


_ledger_down = [False]          # said once when the ledger goes, once when it is back


def post(tid, dr, cr, amount, ledger_no):
    try:
        r = ledger.create_transfers([Transfer(tid, dr, cr, amount, ledger_no, 1)])[0]
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
    except ledger.BadReply:
        r = "ledger_outcome_unknown"        # it answered, but not a result: stored or not is not known
    except ledger.LedgerRefused:
        r = "storage_failed"                # it refused the request: nothing stored
    if _ledger_down[0]:
        _ledger_down[0] = False
        qenex.write("gateway: ledger available again\n")
    return r


def hsm_sign(digest):
    return hsm.sign("audit", digest)


def hsm_verify(head, sig):
    try:
        return hsm.verify("audit", head, sig)
    except hsm.HsmRefused as e:
        raise ValueError("the HSM cannot check checkpoints: %s" % e)


def main():
    # MicroPython's heap is never compacted, and after a collection it allocates from the
    # bottom up. Collecting every GC_EVERY bytes (and before each link message, below) keeps what lives long
    # packed low and the top of the heap free in one piece for a 4 KB message's buffers;
    # without it, objects that outlive a message scattered over the heap until one of
    # those buffers found no room although most of it was free (MemoryError after about
    # 800 to 3,800 FIX orders in the soak, with 36 KB of 120 KB live).
    try:
        gc.threshold(GC_EVERY)
    except AttributeError:
        pass
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
    audit_region = Region(base + layout.AUDIT_OFFSET, layout.audit_size(board.GATEWAY_STORE_SIZE),
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
        except audit_log.wal.LogFull as e:  # audit_room() keeps AUDIT_MARGIN: only a huge entry gets here
            qenex.write("gateway: audit entry not written (%s)\n" % e)
            raise

    full = [False]

    def audit_room():
        """Room for one more message's entry (and its checkpoint); when
        there is none, every message is refused (said once on the console)."""
        ok = audit.wal.end + AUDIT_MARGIN <= audit_region.size
        if not ok and not full[0]:
            full[0] = True
            qenex.write("gateway: audit log full (%d bytes): every message is refused until it is archived\n"
                        % audit_region.size)
        return ok

    rules = json.loads(_vectors.RULES)
    saved = read_rules(store)
    engine = Engine(rules)
    if saved is not None:
        try:
            engine.load(rules_from_json(saved))     # the operator's last reload wins over the defaults
        except Exception as e:                      # ValueError, RulesError: the defaults stay
            qenex.write("gateway: stored compliance rules ignored (%s): the built-in rules %s apply\n"
                        % (str(e)[:120], engine.version))
            saved = None
    risk = Risk(rules["risk"])
    if engine.risk_limits is not None:
        risk.set(engine.risk_limits)
    # the FIX session table is the built-in rules' (read at start: a reload does not change it)
    gw = Gateway(engine, risk, post, record, engine.ledgers or rules["ledgers"],
                 lambda: qenex.ticks() // 1000, utcclock.utc_ms, qenex.ticks, audit_room,
                 lambda text: qenex.write("gateway: %s\n" % text[:200]),
                 fix_table=fix_session.parse_table(rules.get("fix_sessions", FIX_SESSIONS)),
                 fix_store=FlashStore(store, layout.fix_offset(board.GATEWAY_STORE_SIZE), layout.FIX_SPACE,
                                      binascii.crc32))
    ignored = saved is None and read_rules(store) is not None
    directory = AccountStore(store, record, lambda text: qenex.write("gateway: %s\n" % text))
    gw.accounts = directory                 # resolves through the directory in use

    def fresh():
        clock[0] += 1
        return _crypto.hmac_sha256(key, b"nonce" + F.p32(audit.wal.seq) + F.p32(clock[0]) +
                                   F.p32(qenex.ticks()))[:16]

    def load_rules(text, save):
        try:
            layout.rules_record(text)                  # fits the rules area, or ValueError
            gw.engine.load(rules_from_json(text))      # checks the whole document first (parse_rules)
        except Exception as e:                          # a bad file changes nothing (ValueError, RulesError)
            why = str(e)[:160]
            record("compliance rules refused: %s" % why)
            return False, "rules refused: %s" % why
        if gw.engine.risk_limits is not None:
            gw.risk.set(gw.engine.risk_limits)
        if gw.engine.ledgers is not None:
            gw.ledgers = gw.engine.ledgers
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
        log checked here (signatures verified by the HSM); the board's UTC
        clock set from the host's (capability clock: the host provisions it)."""
        if cmd == RULES:
            return load_rules(F.unfields(payload, 1)[0], True)
        if cmd == ACCOUNTS:
            return directory.load_part(*F.unfields(payload, 2))
        if cmd == TIME:
            try:
                st = utcclock.clock(host_time(payload), "host")
            except qenex.Error as e:
                return False, "time: %s" % e
            moved = st["correction_ms"]
            gw.audit("clock set by the host" + ("" if moved is None else ", moved %+d ms" % moved))
            return True, "clock: %s (set by the host%s)" % (
                utc.iso(st["utc_ms"]), "" if moved is None else ", moved %+d ms" % moved)
        return check_audit()

    def ipc(msg):
        """The shell's questions: "reload" (the rules file in storage, as
        `qenex compliance push` or a link reload left it) and "audit"."""
        if msg == b"reload":
            text = read_rules(store)
            return load_rules(text if text is not None else _vectors.RULES.encode(), False)
        if msg == b"audit":
            return check_audit()
        if msg[:9] == b"accounts ":
            try:
                words = msg[9:].decode().split()
            except UnicodeError:
                return False, "accounts: the request is not UTF-8"
            return directory.request(words)
        return False, "unknown request %r" % msg[:40]

    def stats():
        """The gateway's counters and its heap after a collection (bytes)."""
        s = gw.stats()
        gc.collect()
        s["heap"] = {"alloc": gc.mem_alloc(), "free": gc.mem_free()}
        s["audit"] = {"end": audit.wal.end, "size": audit_region.size}
        return json.dumps(s)

    port = RingPort(2, LINK_BIT)
    link = LinkServer(port, key, binascii.crc32, _crypto.hmac_sha256, fresh,
                      stats=stats, now_ms=qenex.ticks, control=control)
    # The same link over TCP (userland/hostnet/ relays its frames, where the
    # image has it): a session and login tries of its own.
    tcp = LinkServer(None, key, binascii.crc32, _crypto.hmac_sha256, fresh,
                     stats=stats, now_ms=qenex.ticks, control=control)
    fixrelay = FixRelay(gw)
    isorelay = IsoRelay(gw)
    peer_ids = {}

    def called_by(sender, name):
        """True if the caller is the task `name` (looked up once; an image without it: never)."""
        if name not in peer_ids:
            try:
                peer_ids[name] = qenex.lookup(name) & abi.HANDLE_ID_MASK
            except qenex.Error:
                peer_ids[name] = -1
        return sender & abi.HANDLE_ID_MASK == peer_ids[name]

    def relayed(sender, msg):
        """A RELAY_* call's reply (from hostnet only), a FIX relay call's
        (from fixnet only) or an ISO relay call's (from httpnet only); any
        other caller is refused, as is every call where the image has no
        such task."""
        who = FIXNET_TASK if msg[:4] == b"fix " else HTTPNET_TASK if msg[:4] == b"iso " else RELAY_TASK
        if not called_by(sender, who):
            return b"\x01" + ("only %s makes these calls" % who).encode()
        try:
            n = qenex.lease_info(sender)[0]
        except qenex.Error:
            n = 0

        def borrow(k):
            buf = bytearray(k)
            qenex.borrow_read(sender, 0, buf)
            return bytes(buf)

        def lend(data):
            qenex.borrow_write(sender, 0, data)
        if who == FIXNET_TASK:
            return fixrelay.call(msg, n, borrow, lend)
        if who == HTTPNET_TASK:
            return isorelay.call(msg, n, borrow, lend)
        return relay(tcp, msg, n, borrow, lend, submit)

    start = audit.wal.seq                   # this start's entry's number: the epoch of the ids handed out
    record("gateway start" + (" (stored compliance rules ignored: they fail their checks)" if ignored else ""))
    gw.epoch = start
    qenex.write("gateway: host link open (audit log at record %d)\n" % audit.wal.seq)

    def submit(kind, message):
        gc.collect()                        # each message starts on a heap with no garbage in it
        return gw.submit(kind, message)

    while True:
        if link.poll(submit):
            continue                        # answered frames: more may wait already
        # Nothing complete: wait for the host link's bytes (the kernel's
        # notification; the read that found the ring empty armed it) or a
        # call, whichever comes first; mid-frame, no longer than the link's
        # stale-frame time, so a line that stopped mid-frame is resynced.
        need = link.reader.need()
        if need > 1 and port.arm(need) >= need:
            continue                        # the rest of the frame is in already
        sender, msg = qenex.recv(mask=LINK_MASK, timeout_ms=STALE_MS if link.reader.buf else IDLE_MS)
        if sender and (msg[:6] == b"relay " or msg[:4] in (b"fix ", b"iso ")):
            try:
                qenex.reply(sender, relayed(sender, msg))
            except qenex.Error:
                pass                        # hostnet or fixnet ended mid-call: nobody to answer
        elif sender:
            ok, text = ipc(msg)
            qenex.reply(sender, (b"\x00" if ok else b"\x01") + text.encode()[:250])
