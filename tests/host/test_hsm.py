"""The HSM link and the emulated HSM, on the host: the device's frame code
(drivers/hsm/frame.py) against the construct definition
(tools/hsm/protocol.py); the resynchronising reader fuzzed; the driver
(drivers/hsm/client.py) against the emulator in process: login, lockout,
every operation checked with `cryptography` or the ML-DSA package,
retries, the HSM going away and coming back; the audit chain."""
import json
import os
import random

import pytest
from hypothesis import given, settings, strategies as st

from drivers.hsm import frame as F
from drivers.hsm.client import Client, HsmError
from tools.hsm import emulator, protocol
from tools.hsm.emulator import Hsm, crc32, hmac_sha256

KEY = bytes(range(32))


def codec(key=None):
    c = F.Codec(crc32, hmac_sha256)
    c.key = key
    return c


def test_device_frames_are_what_the_construct_definition_builds():
    for key in (None, KEY):
        for cmd, seq, payload in ((F.INFO, 0, b""), (F.SIGN | F.RESPONSE, 65535, b"\0" + b"x" * 300)):
            frame = codec(key).encode(cmd, seq, payload)
            parsed = protocol.Frame.parse(frame)
            assert (parsed.body.cmd, parsed.body.seq, parsed.body.payload) == (cmd, seq, payload)
            mac = parsed.mac if key else bytes(16)
            assert protocol.Frame.build(dict(body=dict(cmd=cmd, seq=seq, payload=payload), mac=mac)) == frame
            assert codec(key).check_mac(frame) and (key is None or not codec(b"other").check_mac(frame))


def test_fields_match_construct():
    items = [b"", b"abc", bytes(300)]
    data = F.fields(*items)
    assert F.unfields(data) == items == list(protocol.Fields.parse(data))
    with pytest.raises(F.FrameError):
        F.unfields(data[:-1])
    with pytest.raises(F.FrameError):
        F.unfields(data, 2)


def test_the_reader_finds_frames_in_garbage_and_split_reads():
    c = codec()
    frames = [c.encode(F.INFO, i, bytes([i]) * i) for i in range(20)]
    rng = random.Random(7)
    stream = bytearray()
    for f in frames:
        stream += bytes(rng.randrange(256) for _ in range(rng.randrange(12)))
        stream += f
    r = F.Reader(crc32)
    got = []
    i = 0
    while i < len(stream):
        n = rng.randrange(1, 40)
        got += r.feed(bytes(stream[i:i + n]))
        i += n
    assert got == frames


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600), st.integers(0, 4))
def test_the_reader_never_crashes_and_a_good_frame_after_garbage_gets_through(junk, cut):
    good = codec().encode(F.LIST, 9, b"payload")
    r = F.Reader(crc32)
    out = r.feed(junk)
    for fr in out:                          # anything it does return has a good CRC
        assert crc32(fr[:-4]) == F.u32(fr, len(fr) - 4)
    out = r.feed(good[:cut]) + r.feed(good[cut:])
    assert good in out or r.buf                  # a half header in the junk may hold it back...
    if good not in out:
        out = r.feed(codec().encode(F.LIST, 10, b"next"))
        assert out, "the reader did not resynchronise"


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=200))
def test_the_emulator_answers_every_malformed_request_cleanly(payload):
    hsm = _shared_hsm()
    for cmd in (F.INFO, F.LOGIN, F.LOGIN_BEGIN, 0x7F):
        response = hsm.handle(codec().encode(cmd, 1, payload))
        c, seq, body = F.parse(response)
        assert c == cmd | F.RESPONSE and body and body[0] < len(F.STATUS)


_HSM = []


def _shared_hsm():
    if not _HSM:
        import tempfile
        _HSM.append(Hsm(os.path.join(tempfile.mkdtemp(), "state.json")))
    return _HSM[0]


class Port:
    """The UART as the driver sees it, wired to an emulator in process;
    `down` makes the HSM silent (the process gone), `garbage` prepends line noise."""

    def __init__(self, hsm):
        self.hsm = hsm
        self.out = b""
        self.down = False
        self.garbage = b""
        self.reader = F.Reader(crc32)

    def write(self, data):
        if self.down:
            return
        for req in self.reader.feed(data):
            self.out += self.garbage + self.hsm.handle(req)

    def read(self):
        out, self.out = self.out, b""
        return out


@pytest.fixture
def link(tmp_path):
    hsm = Hsm(str(tmp_path / "state.json"))
    port = Port(hsm)
    clock = [0]
    client = Client(port, crc32, hmac_sha256, lambda: clock[0], lambda ms: clock.__setitem__(0, clock[0] + ms))
    return hsm, port, client


PIN = "246810"           # the operator's own PIN, set over the factory one before any key is made


def ready(client):
    """Logged in, the factory PIN changed: what an operator does first."""
    client.login("123456")
    client.change_pin("123456", PIN)


def call(client, cmd, *items):
    return F.unfields(client.request(cmd, F.fields(*items)))


def gen(client, alg, label, *usage):
    return call(client, F.GENERATE, bytes((F.ALGS.index(alg),)), label, bytes((F.usage_bits(usage),)))[0]


def test_nothing_but_info_and_login_outside_a_session(link):
    hsm, port, c = link
    assert c.info()["model"].startswith("QENEX")
    with pytest.raises(HsmError) as e:
        c.request(F.LIST)
    assert e.value.status == "not logged in"


def test_wrong_pins_lock_the_hsm_and_the_lock_persists(link, tmp_path):
    hsm, port, c = link
    for left in (4, 3, 2, 1):
        with pytest.raises(HsmError) as e:
            c.login("000000")
        assert e.value.status == "wrong PIN" and "%d tries left" % left in e.value.message
    with pytest.raises(HsmError) as e:
        c.login("000000")
    assert e.value.status == "locked"
    with pytest.raises(HsmError) as e:
        c.login("123456")                            # even the right PIN now
    assert e.value.status == "locked"
    again = Hsm(str(tmp_path / "state.json"))
    assert again.state["locked"] and json.load(open(tmp_path / "state.json"))["tries"] == 5


def test_signatures_verify_with_cryptography_and_the_ml_dsa_package(link):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from dilithium_py.ml_dsa import ML_DSA_65
    hsm, port, c = link
    ready(c)
    msg = b"transaction digest"
    p256 = gen(c, "ecdsa-p256", "p", "sign", "verify")
    sig = call(c, F.SIGN, "p", msg)[0]
    serialization.load_der_public_key(p256).verify(sig, msg, ec.ECDSA(hashes.SHA256()))
    assert call(c, F.VERIFY, "p", msg, sig)[0] == b"\x01"
    assert call(c, F.VERIFY, "p", msg + b"!", sig)[0] == b"\x00"
    ed = gen(c, "ed25519", "e", "sign")
    ed25519.Ed25519PublicKey.from_public_bytes(ed).verify(call(c, F.SIGN, "e", msg)[0], msg)
    pq = gen(c, "ml-dsa-65", "q", "sign", "verify")
    pq_sig = call(c, F.SIGN, "q", msg)[0]
    assert len(pq) == 1952 and ML_DSA_65.verify(pq, msg, pq_sig)
    assert call(c, F.VERIFY, "q", msg, pq_sig)[0] == b"\x01"


def test_aes_gcm_round_trips_and_a_tampered_ciphertext_fails(link):
    hsm, port, c = link
    ready(c)
    gen(c, "aes-256", "k", "encrypt", "decrypt")
    nonce, ct = call(c, F.ENCRYPT, "k", b"secret", b"aad")
    assert call(c, F.DECRYPT, "k", nonce, ct, b"aad")[0] == b"secret"
    with pytest.raises(HsmError) as e:
        call(c, F.DECRYPT, "k", nonce, ct[:-1] + bytes([ct[-1] ^ 1]), b"aad")
    assert e.value.status == "crypto failure"


def test_usage_flags_and_exportability_are_enforced(link):
    hsm, port, c = link
    ready(c)
    gen(c, "ecdsa-p256", "verify-only", "verify")
    with pytest.raises(HsmError) as e:
        call(c, F.SIGN, "verify-only", b"x")
    assert e.value.status == "not permitted"
    gen(c, "aes-256", "kek", "wrap")
    gen(c, "ecdsa-p256", "stuck", "sign")
    with pytest.raises(HsmError) as e:
        call(c, F.WRAP, "kek", "stuck")
    assert e.value.status == "not permitted" and "not exportable" in e.value.message
    gen(c, "ecdsa-p256", "mobile", "sign", "exportable")
    blob = call(c, F.WRAP, "kek", "mobile")[0]
    assert b"PRIVATE" not in blob and len(blob) > 100
    call(c, F.UNWRAP, "kek", "copy", blob)
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    pub = call(c, F.PUBKEY, "mobile")[0]
    serialization.load_der_public_key(pub).verify(call(c, F.SIGN, "copy", b"m")[0], b"m", ec.ECDSA(hashes.SHA256()))


def test_key_material_is_encrypted_at_rest(link, tmp_path):
    hsm, port, c = link
    ready(c)
    gen(c, "aes-256", "k", "encrypt")
    state = json.load(open(tmp_path / "state.json"))
    material = bytes.fromhex(state["keys"]["k"]["material"])
    assert len(material) == 12 + 32 + 16                     # nonce, sealed key, tag: not the raw key
    assert hsm._open(state["keys"]["k"]["material"], "key:k") not in open(tmp_path / "state.json", "rb").read()


def test_zeroize_needs_the_confirmation_and_destroys_every_key(link):
    hsm, port, c = link
    ready(c)
    gen(c, "aes-256", "a", "encrypt")
    gen(c, "ed25519", "b", "sign")
    with pytest.raises(HsmError):
        call(c, F.ZEROIZE, "yes")
    assert F.u32(call(c, F.ZEROIZE, "ZEROIZE " + hsm.state["serial"])[0], 0) == 2
    assert call(c, F.LIST) == []


def test_retries_and_line_noise_do_not_repeat_an_operation(link):
    hsm, port, c = link
    ready(c)
    port.garbage = b"\xa5\x5a\x01junk\x00"
    gen(c, "aes-256", "k", "encrypt")
    # The answer is lost once: the driver resends the same sequence number and
    # the HSM answers from its cache, so the key is generated once.
    real = port.read
    lost = [True]

    def lossy():
        data = real()
        if data and lost[0]:
            lost[0] = False
            return b""
        return data
    port.read = lossy
    n = len(hsm.state["audit"])
    gen(c, "aes-256", "k2", "encrypt")
    assert c.stats["retries"] == 1 and len(hsm.state["audit"]) == n + 1


def test_the_hsm_going_away_gives_a_timeout_then_the_driver_logs_in_again(link):
    hsm, port, c = link
    ready(c)
    port.down = True
    with pytest.raises(HsmError) as e:
        c.request(F.LIST)
    assert e.value.status == "timeout"
    port.down = False
    hsm.codec.key = None                      # a restarted HSM: no session
    assert call(c, F.LIST) == [] and c.stats["relogins"] == 1


def test_a_frame_with_a_wrong_mac_is_refused_and_audited(link):
    hsm, port, c = link
    ready(c)
    forged = codec(b"not the session key").encode(F.LIST, 77, b"")
    c.port.write(forged)
    status = F.parse(F.Reader(crc32).feed(port.read())[0])[2][0]
    assert F.STATUS[status] == "bad MAC" and hsm.state["audit"][-1]["result"] == "bad MAC"


def test_the_audit_chain_verifies_and_any_edit_breaks_it(link, tmp_path):
    hsm, port, c = link
    ready(c)
    gen(c, "aes-256", "k", "encrypt")
    entries = json.load(open(tmp_path / "state.json"))["audit"]
    assert emulator.verify_audit(entries) == (True, len(entries))
    entries[1]["note"] = "edited"
    assert emulator.verify_audit(entries) == (False, 1)


# --- replays, retries, the session's end (PROTOCOL.md, "Sequence numbers") -----------------

def session_codec(hsm):
    return codec(hsm.codec.key)


def answer(hsm, frame):
    """(status, body) of the emulator's answer to a frame."""
    body = F.parse(hsm.handle(frame))[2]
    return body[0], body[1:]


def test_a_captured_frame_is_refused_however_far_the_session_has_gone(link):
    hsm, port, c = link
    ready(c)
    sc = session_codec(hsm)
    seq = c.seq + 1
    note = sc.encode(F.AUDIT_NOTE, seq, F.fields("sign", "k", "denied", "captured"))
    assert answer(hsm, note)[0] == F.OK
    n = len(hsm.state["audit"])
    for ahead in range(1, 0x8002):           # the old rule accepted it again 32,768 frames on
        seq += 1
        assert answer(hsm, sc.encode(F.LIST, seq, b""))[0] == F.OK
        if ahead in (1, 0x7FFF, 0x8000, 0x8001):
            status, why = answer(hsm, note)
            assert status == F.BAD_SEQ and b"sequence number" in why, (ahead, status)
    assert len(hsm.state["audit"]) == n + 4 and {e["result"] for e in hsm.state["audit"][n:]} == {"bad sequence"}


def test_a_retry_is_answered_from_the_cache_only_when_its_mac_is_right(link):
    hsm, port, c = link
    ready(c)
    sc = session_codec(hsm)
    seq = c.seq + 1
    note = sc.encode(F.AUDIT_NOTE, seq, F.fields("sign", "k", "denied", "once"))
    first = hsm.handle(note)
    n = len(hsm.state["audit"])
    assert hsm.handle(note) == first and len(hsm.state["audit"]) == n       # the same answer, not run again
    forged = codec(b"not the session key").encode(F.AUDIT_NOTE, seq, F.fields("sign", "k", "denied", "once"))
    assert answer(hsm, forged)[0] == F.BAD_MAC                             # the MAC first, then the cache
    other = sc.encode(F.AUDIT_NOTE, seq, F.fields("sign", "k", "denied", "twice"))
    assert answer(hsm, other)[0] == F.BAD_SEQ                              # same number, other request
    assert answer(hsm, sc.encode(F.LIST, seq + 2, b""))[0] == F.BAD_SEQ    # a number skipped
    assert answer(hsm, sc.encode(F.LIST, seq + 1, b""))[0] == F.OK


def test_the_session_ends_before_its_sequence_numbers_wrap(link):
    hsm, port, c = link
    ready(c)
    hsm.seqs.last = c.seq = F.SEQ_LAST - 2                # as if 65,000 frames had gone by
    call(c, F.LIST)
    call(c, F.LIST)
    assert hsm.seqs.last == F.SEQ_LAST and c.stats["relogins"] == 0
    sc = session_codec(hsm)
    status, why = answer(hsm, sc.encode(F.LIST, 0, b""))                  # the number wrapped: no
    assert status == F.NOT_LOGGED_IN and why == b"session ended: log in again" and hsm.codec.key is None
    ready_again = call(c, F.LIST)                                          # the driver logs in again first
    assert ready_again == [] and c.stats["relogins"] == 1 and c.seq < 10


def test_an_hsm_without_our_session_says_so_and_the_driver_logs_in_again_at_once(link):
    hsm, port, c = link
    ready(c)
    hsm.end_session()                                      # the HSM restarted
    t = c.now_ms()
    assert call(c, F.LIST) == [] and c.stats["relogins"] == 1 and c.stats["timeouts"] == 0
    assert c.now_ms() - t < c.timeout_ms                   # no waiting for a timeout


def test_a_lost_login_answer_is_asked_for_again_and_costs_no_try(link):
    hsm, port, c = link
    real = port.read
    lost = []

    def lossy():
        data = real()
        if data and F.parse(F.Reader(crc32).feed(data)[0])[0] == F.LOGIN | F.RESPONSE and not lost:
            lost.append(data)
            return b""
        return data
    port.read = lossy
    c.login("123456")
    assert lost and c.stats["retries"] == 1 and hsm.state["tries"] == 0 and c.codec.key == hsm.codec.key


def test_an_answer_paused_mid_frame_is_still_taken(link):
    hsm, port, c = link
    ready(c)
    real = port.read
    held = []

    def slow():                                # half the answer, then 30 ms of nothing, then the rest
        if held:
            if c.now_ms() - held[0][0] < 30:
                return b""
            return held.pop()[1]
        data = real()
        if data:
            held.append((c.now_ms(), data[len(data) // 2:]))
            return data[:len(data) // 2]
        return data
    port.read = slow
    assert call(c, F.LIST) == [] and c.stats["retries"] == 0


# --- malformed authenticated frames: refused, and the HSM serves on --------------------------

def test_malformed_authenticated_frames_get_bad_argument_and_the_hsm_serves_on(link):
    hsm, port, c = link
    ready(c)
    gen(c, "ed25519", "e", "sign")
    bad = [(F.GENERATE, F.fields(b"\x01", b"\xff\xfe", b"\x01")),      # a label that is not UTF-8
           (F.SIGN, F.fields(b"\xc3", b"data")),
           (F.PUBKEY, F.fields(b"\xff")),
           (F.DELETE, F.fields(b"\x80")),
           (F.AUDIT, F.fields(b"\x00", b"\x01")),                      # 1-byte fields where u32 go
           (F.AUDIT_NOTE, F.fields(b"\xff", b"", b"", b"")),
           (F.RANDOM, F.fields(b"\x01")),
           (F.GENERATE, F.fields(b"", b"x", b"")),
           (F.VERIFY, F.fields("e", b"x")),                              # a field short
           (F.ENCRYPT, b"\x05\x00ab"),                                   # a field cut off
           (F.UNWRAP, F.fields(b"\xfe", b"\xfe", b"")),
           (F.ZEROIZE, F.fields(b"\xff"))]
    for cmd, payload in bad:
        with pytest.raises(HsmError) as e:
            c.request(cmd, payload)
        assert e.value.status == "bad argument" and e.value.message, (cmd, e.value)
        assert call(c, F.LIST) == [b"e", bytes((1, 1))]                # and the next one is served


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(set(F.COMMANDS) - {F.LOGOUT, F.ZEROIZE, F.CHANGE_PIN} - set(F.OPEN_COMMANDS))),
       st.binary(max_size=120))
def test_the_emulator_answers_every_malformed_authenticated_request_cleanly(cmd, payload):
    hsm = _session_hsm()
    sc = session_codec(hsm)
    seq = hsm.seqs.last + 1
    c, s, body = F.parse(hsm.handle(sc.encode(cmd, seq, payload)))
    assert (c, s) == (cmd | F.RESPONSE, seq) and body and body[0] < len(F.STATUS)
    assert F.parse(hsm.handle(sc.encode(F.LIST, seq + 1, b"")))[2][0] == F.OK


_SESSION = []


def _session_hsm():
    if not _SESSION or _SESSION[0].seqs.last > F.SEQ_LAST - 10:
        import tempfile
        hsm = Hsm(os.path.join(tempfile.mkdtemp(), "state.json"))
        c = Client(Port(hsm), crc32, hmac_sha256, lambda: 0, lambda ms: None)
        c.login("123456")
        _SESSION[:] = [hsm]
    return _SESSION[0]


def test_the_server_answers_a_malformed_frame_and_serves_on(tmp_path):
    import socket
    import threading
    from tools.hsm import server
    sock = str(tmp_path / "hsm.sock")
    up = threading.Event()
    threading.Thread(target=server.serve, args=(sock, str(tmp_path / "state.json")),
                     kwargs=dict(log=lambda *a: None, ready=up.set), daemon=True).start()
    assert up.wait(10)
    assert os.stat(sock).st_mode & 0o777 == 0o600
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    s.settimeout(10)
    from tools.hostlink import SocketPort
    import time
    c = Client(SocketPort(s), crc32, hmac_sha256, lambda: int(time.monotonic() * 1000),
               lambda ms: time.sleep(ms / 1000), timeout_ms=2000)
    c.login("123456")
    for payload in (F.fields(b"\xff\xfe", b"x"), F.fields(b"\x00", b"\x01")):
        with pytest.raises(HsmError) as e:
            c.request(F.SIGN if len(payload) > 7 else F.AUDIT, payload)
        assert e.value.status == "bad argument"
    assert call(c, F.LIST) == []
    s.close()


# --- the PIN: the factory one must go before any key is made -------------------------------

def test_no_key_is_generated_until_the_factory_pin_is_changed(link, tmp_path):
    hsm, port, c = link
    c.login("123456")
    assert c.info()["factory_pin"]
    with pytest.raises(HsmError) as e:
        gen(c, "aes-256", "k", "encrypt")
    assert e.value.status == "not permitted" and e.value.message == "change the factory PIN first (hsm pin)"
    with pytest.raises(HsmError) as e:
        c.change_pin("123456", "123456")
    assert e.value.status == "bad argument"
    c.change_pin("123456", PIN)
    assert not c.info()["factory_pin"] and not json.load(open(tmp_path / "state.json"))["factory_pin"]
    gen(c, "aes-256", "k", "encrypt")                           # the session went on
    assert hsm.state["audit"][-2]["op"] == "change_pin" and hsm.state["audit"][-2]["result"] == "ok"
    with pytest.raises(HsmError) as e:
        c.change_pin(PIN, "123456")
    assert e.value.status == "bad argument" and "factory" in e.value.message
    with pytest.raises(HsmError) as e:
        c.login("123456")                                       # the old PIN is gone
    assert e.value.status == "wrong PIN"
    c.login(PIN)
    assert [x.decode() for x in call(c, F.LIST)[::2]] == ["k"]
    again = Hsm(str(tmp_path / "state.json"))                   # and it stays changed
    assert not again.factory_pin()


def test_a_wrong_old_pin_counts_as_a_wrong_pin(link):
    hsm, port, c = link
    c.login("123456")
    with pytest.raises(HsmError) as e:
        c.change_pin("000000", PIN)
    assert e.value.status == "wrong PIN" and hsm.state["tries"] == 1 and hsm.factory_pin()
    c.change_pin("123456", PIN)
    assert hsm.state["tries"] == 0


def test_the_new_pin_does_not_cross_the_link_in_clear(link):
    hsm, port, c = link
    c.login("123456")
    sent = []
    real = port.write
    port.write = lambda data: (sent.append(data), real(data))
    c.change_pin("123456", PIN)
    new_key = F.pin_key(hmac_sha256, PIN, hsm.state["serial"].encode())
    assert all(new_key not in d and PIN.encode() not in d for d in sent)


# --- secrets at rest --------------------------------------------------------------------

def test_the_state_and_master_key_files_are_the_owners_alone(tmp_path):
    state = str(tmp_path / "state.json")
    open(state + ".master", "wb").write(os.urandom(32))
    os.chmod(state + ".master", 0o644)                      # made by an older version
    h = Hsm(state)
    assert os.stat(state).st_mode & 0o777 == 0o600 and os.stat(state + ".master").st_mode & 0o777 == 0o600
    os.chmod(state, 0o644)
    h._log("x", "", "ok")
    assert os.stat(state).st_mode & 0o777 == 0o600


def test_change_pin_and_info_are_what_the_construct_definition_says(link):
    hsm, port, c = link
    c.login("123456")
    info = protocol.Info.parse(F.parse(hsm.handle(codec(hsm.codec.key).encode(F.INFO, c.seq, b"")))[2][1:])
    assert (info.free, info.locked, info.factory_pin) == (emulator.SLOTS, 0, 1)
    sent = []
    real = port.write
    port.write = lambda data: (sent.append(data), real(data))
    c.change_pin("123456", PIN)
    frame = protocol.Frame.parse(sent[-1])
    assert frame.body.cmd == F.CHANGE_PIN
    req = protocol.ChangePin.parse(frame.body.payload)
    skey = hsm.codec.key
    old = F.pin_key(hmac_sha256, "123456", hsm.state["serial"].encode())
    assert req.proof == F.change_proof(hmac_sha256, old, skey, req.nonce)
    assert F.xor(req.wrapped, F.pin_pad(hmac_sha256, skey, req.nonce)) == \
        F.pin_key(hmac_sha256, PIN, hsm.state["serial"].encode())


def test_a_pin_change_after_the_hsm_lost_our_session_logs_in_again_first(link):
    hsm, port, c = link
    c.login("123456")
    hsm.end_session()
    c.change_pin("123456", PIN)
    assert not hsm.factory_pin() and c.stats["relogins"] == 1
    gen(c, "ed25519", "e", "sign")


def test_a_pin_change_without_an_answer_logs_in_again_with_no_pin_at_all(link):
    hsm, port, c = link
    c.login("123456")
    real = port.write

    def silent_after(data):                    # the HSM takes the change; its answers never arrive
        real(data)
        port.out = b""
    port.write = silent_after
    with pytest.raises(HsmError) as e:
        c.change_pin("123456", PIN)
    assert e.value.status == "timeout" and "log in again" in e.value.message
    port.write = real
    assert not hsm.factory_pin() and c.pin is None and c.pkey is None
    with pytest.raises(HsmError):
        c.request(F.LIST)                      # no login by itself with the old PIN
    assert hsm.state["tries"] == 0


def _fresh_driver(port):
    """The hsm task restarted: a new driver on the same line, its sequence
    numbers back at 0, no session and no PIN (they went with its RAM)."""
    clock = [0]
    return Client(port, crc32, hmac_sha256, lambda: clock[0], lambda ms: clock.__setitem__(0, clock[0] + ms))


def test_a_restarted_driver_is_answered_at_once_while_the_hsm_keeps_the_old_session(link):
    """Issue 13: after a login, the hsm task restarted (or the board
    rebooted, QEMU keeping the connection) left the link dead until the
    emulator restarted: the HSM still held the old session and MACed its
    INFO answer with that session's key, which the new driver could not
    check, so the login's INFO timed out, again and again."""
    hsm, port, c = link
    ready(c)
    gen(c, "ed25519", "e", "sign")
    assert hsm.codec.key is not None                       # the old session, kept by the HSM
    d = _fresh_driver(port)
    assert d.info()["serial"] == hsm.state["serial"]       # INFO answered without the session's MAC
    with pytest.raises(HsmError) as e:                     # no PIN: says so, at once, without a timeout
        d.request(F.LIST)
    assert e.value.status in ("not logged in", "bad MAC") and d.stats["timeouts"] == 0
    d.login(PIN)                                           # the operator logs in again
    assert len(call(d, F.SIGN, "e", b"after")[0]) == 64 and d.stats["timeouts"] == 0
    # The old driver's frames are not this session's: refused without a MAC,
    # and a driver holding the PIN logs in again by itself (once) and goes on.
    assert len(call(c, F.SIGN, "e", b"old")[0]) == 64 and c.stats["relogins"] == 1 and c.stats["timeouts"] == 0


def test_a_restarted_driver_mid_login_gets_a_fresh_nonce_or_the_pending_one_never_an_old_session(link):
    hsm, port, c = link
    ready(c)
    c.port.write(codec().encode(F.LOGIN_BEGIN, 2, b""))     # the task died right after its LOGIN_BEGIN
    port.read()
    d = _fresh_driver(port)                                # ...whose frame the new one sends again, byte for byte
    d.login(PIN)
    assert len(call(d, F.LIST)) == 0 and d.stats["timeouts"] == 0


def test_a_wrong_mac_is_answered_without_one(link):
    hsm, port, c = link
    ready(c)
    c.port.write(codec(b"not the session key").encode(F.LIST, 77, b""))
    fr = F.Reader(crc32).feed(port.read())[0]
    assert F.frame_mac(fr) == bytes(16) and codec().check_mac(fr)
    assert hsm.codec.key is not None                       # the session goes on


def test_the_hsm_service_down_is_a_refusal_for_its_callers():
    """A caller of the hsm service (the gateway's and the ledger's
    checkpoints, the shell) gets HsmRefused, which it already handles, when
    the task is down or restarting, not the kernel's NOT_RUNNING or
    PEER_DIED (which faulted the gateway); other kernel errors still go up."""
    from userland.hsm import api

    class KernelRefusal(Exception):
        def __init__(self, name):
            super().__init__(name)
            self.name = name

    def down(name):
        def call(dest, msg):
            raise KernelRefusal(name)
        return call
    for name in ("NOT_RUNNING", "PEER_DIED", "NO_SUCH_TASK"):
        with pytest.raises(api.HsmRefused, match=r"the hsm service is unavailable \(%s\)" % name):
            api.sign("audit", bytes(32), call=down(name))
    with pytest.raises(KernelRefusal):
        api.request("info", call=down("NOT_PERMITTED"))


def test_a_frame_cut_off_by_a_driver_restart_does_not_swallow_the_next_drivers_frames(tmp_path):
    """The hsm task killed in the middle of writing a request: the emulator
    holds a partial frame whose length field claims more bytes. Dropped
    after a quiet time (as on the device's side), it does not eat the new
    driver's login, which is answered without a timeout."""
    import socket
    import threading
    import time
    from tools.hostlink import SocketPort
    from tools.hsm import server
    sock = str(tmp_path / "hsm.sock")
    up = threading.Event()
    threading.Thread(target=server.serve, args=(sock, str(tmp_path / "state.json")),
                     kwargs=dict(log=lambda *a: None, ready=up.set), daemon=True).start()
    assert up.wait(10)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    whole = codec().encode(F.SIGN, 7, F.fields("k", bytes(300)))
    s.sendall(whole[:60])                                 # ...and the task is gone
    c = Client(SocketPort(s), crc32, hmac_sha256, lambda: int(time.monotonic() * 1000),
               lambda ms: time.sleep(ms / 1000))          # the device's 400 ms, 3 tries
    c.login("123456")
    assert call(c, F.LIST) == [] and c.stats["timeouts"] == 0
    s.close()


def test_a_deferred_save_writes_the_state_on_flush_not_before(tmp_path):
    """`qenex hsm serve` answers first and writes the state after
    (defer_save, flush()): the audit entry reaches the file on flush."""
    path = str(tmp_path / "state.json")
    hsm = emulator.Hsm(path)
    n = len(json.load(open(path))["audit"])
    hsm.defer_save = True
    hsm._log("sign", "k", "ok", "32 bytes")
    assert len(json.load(open(path))["audit"]) == n and hsm.dirty
    hsm.flush()
    entries = json.load(open(path))["audit"]
    assert len(entries) == n + 1 and entries[-1]["op"] == "sign" and not hsm.dirty
    assert emulator.verify_audit(entries) == (True, n + 1)
