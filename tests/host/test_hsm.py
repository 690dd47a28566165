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
