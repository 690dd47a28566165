"""Fuzz targets for the board's parsers, run on the host under CPython (and
atheris): each target is a function of bytes that returns on a clean
outcome (the input handled, or refused the way its module documents) and
raises on anything else -- the exception the code under test raised
(KeyError, IndexError, TypeError, UnicodeError, MemoryError,
RecursionError...) or HarnessFailure when a documented property is broken.
tests/fuzz/run.py runs them under atheris; tests/fuzz/test_fuzz.py replays
the corpus and the regression inputs through them.

    fix       Gateway.submit("FIX", data): fix.Reader.feed + Session.receive + the gateway's
              order handlers (risk, the ledger behind stand-ins)
    iso20022  iso20022.parse (xmlmini) and Gateway.submit("pacs.008", data)
    mt103     Gateway.submit("MT103", data)
    frames    drivers/hsm/frame.py Reader.feed / parse / unfields, and the host link server
              (userland/gateway/link.py) fed the same bytes outside a session
    link      LinkServer in a logged-in session: the input is a list of requests the
              harness frames and MACs, so SUBMIT / STATS / RULES / AUDIT are reached
    hsm       tools/hsm/emulator.Hsm.handle in a logged-in session (keys generated),
              requests framed and MAC'd by the harness
    rules     Engine.load(json.loads(data)) as the gateway's reload does it, then payments
              checked with the loaded rules
    ledger    Wal.recover + LedgerService.recover over a storage region built from the
              input with valid hashes and chaining (wal.encode), then the ledger used

Input formats (what the corpus files are):
  fix       a raw FIX byte stream if it starts with "8=FIX"; otherwise one message body a
            line ("35=A|34=1|49=C|56=QENEX|..." with '|' or SOH between fields), framed by
            the harness with the right BodyLength (9) and CheckSum (10)
  link, hsm a list of requests: cmd (u8), flags (u8), sequence step (u16 LE), payload
            length (u16 LE), payload. flags: 1 wrong MAC, 2 no MAC (outside the session),
            4 the line goes quiet before this frame (the stale timer runs), 8 the payload
            is sent as raw bytes on the line (noise, split frames), 16 a response bit.
  ledger    'R' + a raw region image; otherwise a list of records: kind (u8), payload
            length (u16 LE), payload, each written as a valid, chained log record
            (wal.encode). kind 0xFE: the next record is written cut short to the u16 in its
            payload (a torn write); kind 0xFF: flip the bits payload[2] at the image offset
            in payload[0:2] (a flipped bit after the hashes were made).

EXPECTATIONS below is the one place per target that says which exceptions
are a clean refusal; adjust it when the parallel fixes of the gateway, the
link and the ledger are merged.
"""
import builtins
import copy
import hashlib
import hmac as _hmac
import json
import os
import sys
import tempfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from drivers.flash.region import MemoryImage, Region  # noqa: E402
from drivers.hsm import frame as F  # noqa: E402
from userland.compliance.engine import Engine, RulesError, rules_from_json  # noqa: E402
from userland.compliance.risk import Risk  # noqa: E402
from userland.gateway import fix, iso20022, layout, link, service  # noqa: E402
from userland.gateway.payment import Payment, Rejected  # noqa: E402
from userland.ledger import api as ledger_api, wal  # noqa: E402
from userland.ledger.service import LedgerService  # noqa: E402
from userland.ledger.state import RESULTS_TRANSFER, Account, Transfer  # noqa: E402
from userland.lib.money import Money, MoneyError, minor_units  # noqa: E402

RULES_TEXT = open(os.path.join(ROOT, "userland", "compliance", "rules.json"), "rb").read()
RULES = json.loads(RULES_TEXT)


class HarnessFailure(AssertionError):
    """A documented property broken without an exception from the code."""


# =====================================================================================
# EXPECTATIONS: per target, the exceptions that are a clean refusal. Anything else
# raised is a crash. Adjust here (and only here) after the parallel fixes merge.
# -------------------------------------------------------------------------------------
# fix: the gateway answers every FIX input with session messages (Reject 3,
# BusinessMessageReject j, Logout 5) and never raises (issue 12: "Every malformed input
# gets its protocol's refusal ... and the task keeps running").
FIX_REFUSALS = ()
# iso20022: iso20022.parse raises Rejected (a reason code) and nothing else; the gateway
# answers a pacs.002 RJCT and never raises.
ISO_PARSE_REFUSALS = (Rejected,)
ISO_GATEWAY_REFUSALS = ()
# mt103: the gateway answers "MT103 rejected: ..." (mt103.MtError inside) and never raises.
MT103_REFUSALS = ()
# frames: frame.Reader.feed and parse never raise; unfields raises FrameError.
FRAME_UNFIELDS_REFUSALS = (F.FrameError,)
# link: LinkServer.poll answers every request frame with a status (bad MAC, bad sequence,
# bad argument...) and never raises, whatever the frame holds (issue 12: a SUBMIT whose
# kind is b"\xff" gets "a link error").
LINK_REFUSALS = ()
# hsm: Hsm.handle answers every frame with a status and never raises (issue 12: "refuse
# and keep serving").
HSM_REFUSALS = ()
# link and hsm: the session's rules the harness checks on the answers (HarnessFailure):
# a request with a wrong MAC is never answered OK (issue 12: the emulator answered a frame
# reusing the last sequence number from its cache before checking the MAC); the link
# never accepts the same frame twice in a session (issue 12: replay once the sequence
# number is 32,768 ahead).
CHECK_MAC_BEFORE_ANSWER = True
CHECK_NO_REPLAY = True
# rules: a file that is not JSON (ValueError, incl. UnicodeDecodeError), too large for the
# rules area (ValueError) or refused by Engine.load (RulesError, a ValueError) is refused;
# what main.load_rules catches. Once loaded, checking any payment raises nothing.
RULES_REFUSALS = (ValueError, RulesError)
# ledger: recovery never raises; a bad record is reported as corruption (issue 12: the
# ledger goes read-only, the reason and the offset in its stats). Until the ledger fix
# merges recover() has no corruption report: any exception from it is a crash (KeyError
# on a record naming unknown accounts is the issue's).
LEDGER_RECOVER_REFUSALS = ()
# ... after recovery the ledger task answers requests: server.answer turns these into an
# error answer (userland/ledger/server.py), anything else ends the task.
LEDGER_REQUEST_REFUSALS = (ValueError, IndexError, AssertionError)
# ... and `qenex ledger verify` / LedgerService.verify reports a bad log by raising these.
LEDGER_VERIFY_REFUSALS = (AssertionError, ValueError)
# =====================================================================================


# --- the board's str semantics ------------------------------------------------------
# On the board bytes.decode ignores the codec's name and decodes UTF-8 strictly
# (MicroPython's bytes_decode: UnicodeError otherwise), so fix.Reader's
# bytes(data).decode("latin-1"), which cannot fail on the host, fails there on any byte
# that is not UTF-8 (issue 12: "58=caf\xe9" stops the gateway). Under board_str() the FIX
# module's `bytes` decodes as the board would fail -- UnicodeError unless the bytes are
# UTF-8 -- and otherwise as the host does (latin-1: its str.encode("latin-1") in
# checksum() must keep working, as the board's, which ignores the codec, does).
class _BytesMeta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, builtins.bytes)


class BoardBytes(builtins.bytes, metaclass=_BytesMeta):
    def decode(self, encoding="utf-8", errors="strict"):
        builtins.bytes.decode(self, "utf-8")            # where the board raises UnicodeError
        return builtins.bytes.decode(self, encoding, errors)


class board_str:
    """with board_str(): fix.py decodes bytes as MicroPython does (the host's latin-1
    otherwise); the FIX target runs each input both ways, the link (the board) this way."""

    def __enter__(self):
        fix.bytes = BoardBytes

    def __exit__(self, *exc):
        del fix.bytes


# --- stand-ins -------------------------------------------------------------------------
def _crc(data):
    return zlib.crc32(data) & 0xFFFFFFFF


def _hmac_sha256(key, data):
    return _hmac.new(key, data, hashlib.sha256).digest()


ACCOUNTS = [(1, 1), (2, 1), (3, 1), (21, 2), (22, 2)]        # (id, ledger): USD and EUR


def gateway():
    """A Gateway as main.py builds it, with the in-memory ledger state machine behind
    post() (the transfer goes through the IPC encoding, as main.post sends it)."""
    from userland.ledger.state import Ledger
    L = Ledger()
    L.create_accounts([Account(i, led, 1) for i, led in ACCOUNTS])
    audit = []

    def post(tid, dr, cr, amount, ledger):
        # through the ledger's wire format both ways, as main.post and the ledger task send it
        t = Transfer(tid, dr, cr, amount, ledger, 1)
        _, events = ledger_api.decode_request(ledger_api.encode_create_transfers([t]))
        results = ledger_api.reply_results(L.create_transfers(events))
        return ledger_api.decode_results(results, 1, RESULTS_TRANSFER)[0]

    def record(text):
        if not isinstance(text, str):
            raise HarnessFailure("audit entry is not text: %r" % (text,))
        audit.append(text)
    g = service.Gateway(Engine(RULES), Risk(RULES["risk"]), post, record, RULES["ledgers"],
                        lambda: 0, lambda: 1795687200000)
    return g


def _answer(g, kind, data):
    out = g.submit(kind, data)
    if not isinstance(out, str):
        raise HarnessFailure("the gateway answered %r, not text" % (type(out),))
    out.encode()                            # the link sends it as UTF-8
    return out


# --- 1. FIX ----------------------------------------------------------------------------
def frame_fix(body):
    body = body.replace(b"|", b"\x01")
    if body and not body.endswith(b"\x01"):
        body += b"\x01"
    head = b"8=FIX.4.4\x019=%d\x01" % len(body)
    return head + body + b"10=%03d\x01" % (sum(head + body) % 256)


def fix_stream(data):
    if data.startswith(b"8=FIX"):
        return data
    return b"".join(frame_fix(line) for line in data.split(b"\n") if line.strip())


def target_fix(data):
    stream = fix_stream(data)
    for board in (False, True):              # as the host (CPython) runs it, then as the board does
        g = gateway()
        try:
            if board:
                with board_str():
                    _answer(g, "FIX", stream)
            else:
                _answer(g, "FIX", stream)
        except FIX_REFUSALS:
            pass


# --- 2. ISO 20022 ------------------------------------------------------------------------
def target_iso20022(data):
    try:
        text = data.decode("utf-8")
    except UnicodeError:
        text = None
    if text is not None:
        try:
            iso20022.parse(text)
        except ISO_PARSE_REFUSALS:
            pass
    g = gateway()
    try:
        _answer(g, "pain.001" if b"pain.001" in data else "pacs.008", data)
    except ISO_GATEWAY_REFUSALS:
        pass


# --- 3. MT103 ----------------------------------------------------------------------------
def target_mt103(data):
    g = gateway()
    try:
        _answer(g, "MT103", data)
    except MT103_REFUSALS:
        pass


# --- 4. frames, the host link, the HSM emulator ------------------------------------------
class FakePort:
    """The board's UART as LinkServer sees it: read() what the host sent, write() answers."""

    def __init__(self):
        self.inbox = b""
        self.sent = b""

    def read(self):
        out, self.inbox = self.inbox, b""
        return out

    def write(self, data):
        self.sent += data


def target_frames(data):
    r = F.Reader(_crc)
    frames = r.feed(data) + r.stale() + r.stale()
    for fr in frames:
        cmd, seq, payload = F.parse(fr)
        try:
            F.unfields(payload)
        except FRAME_UNFIELDS_REFUSALS:
            pass
    # the board's link server, outside any session, fed the same bytes (in two reads)
    srv, port, clock, g = _link_server()
    try:
        half = len(data) // 2
        for chunk in (data[:half], data[half:]):
            port.inbox += chunk
            srv.poll(g.submit)
        clock[0] += link.STALE_MS + 1
        srv.poll(g.submit)
        srv.poll(g.submit)
    except LINK_REFUSALS:
        pass


def requests(data):
    """(cmd, flags, seq step, payload) of a link / hsm input (module docstring)."""
    out = []
    i = 0
    while i + 6 <= len(data):
        cmd, flags = data[i], data[i + 1]
        step, n = F.u16(data, i + 2), F.u16(data, i + 4)
        payload = data[i + 6:i + 6 + n]
        i += 6 + n
        out.append((cmd, flags, step, payload[:F.MAX_PAYLOAD]))
    return out


def encode_request(codec_, cmd, seq, payload, flags):
    body = bytes((F.VERSION, cmd | (F.RESPONSE if flags & 16 else 0))) + F.p16(seq & 0xFFFF) \
        + F.p16(len(payload)) + payload
    mac = bytes(F.MAC_LEN) if flags & 2 or codec_.key is None else codec_.hmac(codec_.key, body)[:F.MAC_LEN]
    if flags & 1:
        mac = bytes((mac[0] ^ 1,)) + mac[1:]
    fr = F.SYNC + body + mac
    return fr + F.p32(_crc(fr))


def record(cmd, payload=b"", flags=0, step=1):
    return bytes((cmd, flags)) + F.p16(step) + F.p16(len(payload)) + payload


LINK_KEY = bytes(range(32))


def _link_server():
    g = gateway()
    port = FakePort()
    clock = [0]
    nonces = [0]

    def fresh():
        nonces[0] += 1
        return bytes(15) + bytes((nonces[0] & 0xFF,))

    def control(cmd, payload):
        """main.py's control(): RULES reloads the engine as load_rules does, AUDIT answers."""
        if cmd == link.RULES:
            text = F.unfields(payload, 1)[0]
            try:
                layout.rules_record(text)
                g.engine.load(rules_from_json(text))
            except (ValueError, RulesError) as e:
                return False, "rules refused: %s" % e
            return True, "compliance rules reloaded, version %s" % g.engine.version
        return True, "audit: 0 entries, 0 checkpoints signed by the HSM, chain ok"
    srv = link.LinkServer(port, LINK_KEY, _crc, _hmac_sha256, fresh, stats=lambda: json.dumps(g.stats()),
                          now_ms=lambda: clock[0], control=control)
    return srv, port, clock, g


def _link_session():
    """A LinkServer with a host logged in (the login the host's client does)."""
    srv, port, clock, g = _link_server()
    host = F.Codec(_crc, _hmac_sha256)
    port.inbox = host.encode(F.LOGIN_BEGIN, 1, b"")
    srv.poll(g.submit)
    cmd, seq, payload = F.parse(F.Reader(_crc).feed(port.sent)[0])
    (nonce_h,) = F.unfields(payload[1:], 1)
    nonce_d = b"\x11" * 16
    port.sent = b""
    port.inbox = host.encode(F.LOGIN, 2, F.fields(nonce_d, F.login_proof(_hmac_sha256, LINK_KEY, nonce_h, nonce_d)))
    srv.poll(g.submit)
    assert F.parse(F.Reader(_crc).feed(port.sent)[0])[2][0] == F.OK, "harness: the link login failed"
    port.sent = b""
    host.key = F.session_key(_hmac_sha256, LINK_KEY, nonce_h, nonce_d)
    return srv, port, clock, g, host


def _answers(reader, data):
    """(cmd, seq, status, payload) of the response frames in data."""
    out = []
    for fr in reader.feed(data):
        cmd, seq, payload = F.parse(fr)
        out.append((cmd, seq, payload[0] if payload else None, bytes(payload)))
    return out


def check_answers(sent, flags, answers, accepted, replay):
    """The session's rules, for one request frame `sent` (cmd, seq, frame bytes) and the
    answers it got: a frame with a wrong or no MAC is never answered OK; with replay, a
    frame accepted once is never accepted again (issue 12: the link took a captured frame
    once the session's sequence number was 32,768 ahead), except as a retry of the last
    accepted frame, which gets the answer it had (kept, not run again: PROTOCOL.md).
    accepted: {frame: its answer}, and "last": the last accepted frame."""
    cmd, seq, frame = sent
    for c, s, status, payload in answers:
        if c != cmd | F.RESPONSE or s != seq or status != F.OK or cmd in F.OPEN_COMMANDS:
            continue
        if flags & 3 and CHECK_MAC_BEFORE_ANSWER:
            raise HarnessFailure("command 0x%02x seq %d with %s MAC answered OK"
                                 % (cmd, seq, "a wrong" if flags & 1 else "no"))
        if replay and CHECK_NO_REPLAY:
            if frame in accepted:
                if accepted.get("last") == frame and accepted[frame] == payload:
                    continue                # a retry answered from the kept answer
                raise HarnessFailure("command 0x%02x seq %d: a frame accepted before was accepted again"
                                     % (cmd, seq))
            accepted[frame] = payload
            accepted["last"] = frame


def target_link(data):
    srv, port, clock, g, host = _link_session()
    seq = 2
    responses = F.Reader(_crc)
    accepted = {}
    try:
        with board_str():
            for cmd, flags, step, payload in requests(data):
                seq += step
                if flags & 4:
                    clock[0] += link.STALE_MS
                    srv.poll(g.submit)
                if flags & 8:
                    port.inbox += payload
                    srv.poll(g.submit)
                    _answers(responses, port.sent)
                else:
                    frame = encode_request(host, cmd, seq, payload, flags)
                    port.inbox += frame
                    srv.poll(g.submit)
                    if not flags & 16:
                        check_answers((cmd, seq & 0xFFFF, frame), flags, _answers(responses, port.sent),
                                      accepted, True)
                port.sent = b""
            clock[0] += link.STALE_MS
            srv.poll(g.submit)
    except LINK_REFUSALS:
        pass


class _FakeMlDsa:
    """ML-DSA-65 stand-in for the emulator under the fuzzer (dilithium-py's keygen and
    signing take tens of ms; the emulator's own code paths are what is fuzzed)."""

    @staticmethod
    def keygen():
        return b"P" * 32, b"S" * 64

    @staticmethod
    def sign(sk, m):
        return hashlib.sha256(sk + m).digest() * 4

    @staticmethod
    def verify(pk, m, sig):
        return len(sig) == 128


_HSM = {}
HSM_PIN = "123456"


class _fake_ml_dsa:
    """with _fake_ml_dsa(): the emulator signs with _FakeMlDsa (restored after, so the
    HSM tests in the same pytest process get the real one)."""

    def __enter__(self):
        from tools.hsm import emulator
        self.emulator, self.saved = emulator, emulator._ml_dsa
        emulator._ml_dsa = lambda: _FakeMlDsa

    def __exit__(self, *exc):
        self.emulator._ml_dsa = self.saved


def _hsm_base():
    with _fake_ml_dsa():
        return _hsm_setup()


def _hsm_setup():
    """One emulated HSM, logged in, with keys of every algorithm; its state is copied
    back before each input."""
    from tools.hsm import emulator
    if _HSM:
        return _HSM["hsm"]
    tmp = tempfile.mkdtemp(prefix="qenex-fuzz-hsm-")
    h = emulator.Hsm(os.path.join(tmp, "state.json"), pin=HSM_PIN)
    h._save = lambda: None                     # no fsync per audit entry under the fuzzer
    host = F.Codec(_crc, _hmac_sha256)

    def call(cmd, seq, payload=b""):
        resp = h.handle(host.encode(cmd, seq, payload))
        c, s, p = F.parse(resp)
        assert p[0] == F.OK, "harness: HSM setup %s failed: %r" % (F.COMMANDS.get(cmd), p)
        return p[1:]
    call(F.INFO, 1)
    (nonce_h,) = F.unfields(call(F.LOGIN_BEGIN, 2), 1)
    pkey = F.pin_key(_hmac_sha256, HSM_PIN, h.serial)
    nonce_d = b"\x22" * 16
    call(F.LOGIN, 3, F.fields(nonce_d, F.login_proof(_hmac_sha256, pkey, nonce_h, nonce_d)))
    host.key = F.session_key(_hmac_sha256, pkey, nonce_h, nonce_d)
    # The factory PIN goes first, as an operator's `hsm pin` does (keys wait for it).
    nonce = b"\x33" * 16
    new_pkey = F.pin_key(_hmac_sha256, HSM_PIN[::-1], h.serial)
    call(F.CHANGE_PIN, 4, F.fields(nonce, F.change_proof(_hmac_sha256, pkey, host.key, nonce),
                                   F.xor(new_pkey, F.pin_pad(_hmac_sha256, host.key, nonce)[:32])))
    seq = 4
    for alg, label, usage in (("ecdsa-p256", "sig", ("sign", "verify")), ("ed25519", "ed", ("sign", "verify")),
                              ("aes-256", "aes", ("encrypt", "decrypt")), ("aes-256", "kek", ("wrap",)),
                              ("ml-dsa-65", "pq", ("sign", "verify")),
                              ("ecdsa-p256", "exp", ("sign", "verify", "exportable"))):
        seq += 1
        call(F.GENERATE, seq, F.fields(bytes((F.ALGS.index(alg),)), label, bytes((F.usage_bits(usage),))))
    _HSM.update(hsm=h, state=copy.deepcopy(h.state), key=host.key, seq=seq, host=host)
    return h


def target_hsm(data):
    h = _hsm_base()
    h.state = copy.deepcopy(_HSM["state"])
    h.codec.key = _HSM["key"]
    h.nonce_h, h.last_seq, h.last_response = None, _HSM["seq"], None
    host = _HSM["host"]
    host.key = _HSM["key"]
    reader = F.Reader(_crc)
    seq = _HSM["seq"]
    try:
        with _fake_ml_dsa():
            _hsm_requests(h, host, reader, seq, data)
    except HSM_REFUSALS:
        pass


def _hsm_requests(h, host, reader, seq, data):
    responses = F.Reader(_crc)
    for cmd, flags, step, payload in requests(data):
        seq += step
        line = payload if flags & 8 else encode_request(host, cmd, seq, payload, flags)
        frames = reader.feed(line) + (reader.stale() if flags & 4 else [])
        for request in frames:                  # as tools/hsm/server.py serves them
            if request[3] & F.RESPONSE:
                continue
            out = h.handle(request)
            if not isinstance(out, bytes) or not out.startswith(F.SYNC):
                raise HarnessFailure("the HSM answered %r" % (out,))
            if request == line and not flags & 16:
                check_answers((cmd, seq & 0xFFFF, line), flags, _answers(responses, out), {}, False)


# --- 5. rules ----------------------------------------------------------------------------
def _engine_state(e):
    return (e.version, e.threshold, dict(e.rates), e.structuring, list(e.sanctions), e.score_min, set(e.blocked))


def _payments(rules):
    ccys = {"USD", "EUR", "GBP", "JPY", "CHF", "BHD", "SGD"}
    if isinstance(rules, dict) and isinstance(rules.get("usd_rates"), dict):
        for c in rules["usd_rates"]:
            try:
                minor_units(c)
                ccys.add(c)
            except (MoneyError, TypeError):
                pass
    names = ["Alice Example"]
    if isinstance(rules, dict) and isinstance(rules.get("sanctions"), dict):
        listed = rules["sanctions"].get("names")
        if isinstance(listed, list) and listed and isinstance(listed[0], str):
            names.append(listed[0])
    out = []
    for ccy in sorted(ccys):
        for units in (1, 9500, 1000000):
            for name in names:
                m = Money(units * 10 ** minor_units(ccy), ccy)
                out.append(Payment("pacs.008", "M", "E", m, "SHAR", name, "QNXBUS33", "Bob Example",
                                   "QNXBGB2L", "1", "2", "", "US", "GB"))
    return out


def target_rules(data):
    """What the gateway's reload (main.load_rules) does, then what every payment after it
    does: a refused file changes nothing; an accepted one never makes a check raise."""
    e = Engine(RULES)
    before = _engine_state(e)
    try:
        layout.rules_record(bytes(data))
        rules = rules_from_json(data)
        e.load(rules)
    except RULES_REFUSALS:
        if _engine_state(e) != before:
            raise HarnessFailure("a refused rules file changed the engine")
        return
    for t, p in enumerate(_payments(rules)):
        e.check(p, t)


# --- 6. the ledger's log -----------------------------------------------------------------
LEDGER_SIZE = 1 << 16
LEDGER_SECTOR = 4096


def ledger_image(data):
    img = bytearray(b"\xff" * LEDGER_SIZE)
    if data[:1] == b"R":
        raw = data[1:LEDGER_SIZE + 1]
        img[:len(raw)] = raw
        return img
    off, seq, prev, now, cut = 0, 0, wal.ZERO, 10 ** 9, None
    i = 0
    while i + 3 <= len(data):
        kind, n = data[i], F.u16(data, i + 1)
        payload = data[i + 3:i + 3 + n]
        i += 3 + n
        if kind == 0xFF:
            if len(payload) >= 3:
                at = F.u16(payload, 0) % LEDGER_SIZE
                img[at] ^= payload[2] or 1
            continue
        if kind == 0xFE:
            cut = F.u16(payload, 0) if len(payload) >= 2 else 0
            continue
        seq += 1
        now += 10 ** 9
        rec = wal.encode(seq, kind, now, prev, payload)
        if off + len(rec) > LEDGER_SIZE:
            break
        if cut is not None:
            # a write cut short: the board appends the same record again at the next sector
            img[off:off + min(cut, len(rec))] = rec[:cut]
            off = (off // LEDGER_SECTOR + 1) * LEDGER_SECTOR
            seq, cut = seq - 1, None
            continue
        prev = rec[wal.HEAD + len(payload):wal.HEAD + len(payload) + 32]
        img[off:off + len(rec)] = rec
        off += len(rec)
    return img


def target_ledger(data):
    img = ledger_image(data)
    mem = MemoryImage(img, 0)
    reg = Region(0, LEDGER_SIZE, LEDGER_SECTOR, mem.read, mem.write)
    s = LedgerService(reg, lambda: 0, 1024)
    try:
        s.recover()
    except LEDGER_RECOVER_REFUSALS:
        return
    try:
        s.create_accounts([Account(9001, 1, 1), Account(9002, 1, 1)])
        s.create_transfers([Transfer(9100, 9001, 9002, 5, 1, 1), Transfer(9101, 1, 2, 5, 1, 1)])
        s.expire()
    except LEDGER_REQUEST_REFUSALS:
        pass
    try:
        s.verify()
    except LEDGER_VERIFY_REFUSALS:
        pass


TARGETS = {"fix": target_fix, "iso20022": target_iso20022, "mt103": target_mt103, "frames": target_frames,
           "link": target_link, "hsm": target_hsm, "rules": target_rules, "ledger": target_ledger}
