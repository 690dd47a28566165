"""The emulated HSM: keys, PIN, counters and a hash-chained audit log in a
state file, key material encrypted at rest (AES-256-GCM) under a master key
kept in its own file (the stand-in for a secure element's fused key).
Crypto is `cryptography`'s; ML-DSA-65 is dilithium-py's (FIPS 204).

Hsm.handle(frame) takes one request frame (checked by frame.Reader) and
returns the response frame. drivers/hsm/PROTOCOL.md is the specification.
"""
import hashlib
import hmac as _hmac
import json
import os
import secrets
import time
import zlib

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from drivers.hsm import frame as F

MODEL = "QENEX-SE1 (emulated)"
FIRMWARE = "1.0.0"
SLOTS = 32
MAX_TRIES = 5
LABEL_MAX = 32


def hmac_sha256(key, data):
    return _hmac.new(key, data, hashlib.sha256).digest()


def crc32(data):
    return zlib.crc32(data) & 0xFFFFFFFF


class Refused(Exception):
    def __init__(self, status, why=""):
        super().__init__(why or F.STATUS[status])
        self.status = status


def _text(b, what="field"):
    """A text field (UTF-8); `bad argument` when it is not."""
    try:
        return b.decode()
    except UnicodeError:
        raise Refused(F.BAD_ARG, "%s is not UTF-8" % what) from None


def audit_hash(prev_hex, entry):
    text = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(bytes.fromhex(prev_hex) + text.encode()).hexdigest()


def verify_audit(entries):
    """(True, n) if the chain holds, else (False, index of the first bad entry)."""
    prev = "00" * 32
    for i, e in enumerate(entries):
        body = {k: v for k, v in e.items() if k != "hash"}
        if body.get("seq") != i or audit_hash(prev, body) != e.get("hash"):
            return False, i
        prev = e["hash"]
    return True, len(entries)


def _ml_dsa():
    from dilithium_py.ml_dsa import ML_DSA_65
    return ML_DSA_65


class Hsm:
    def __init__(self, state_path, master_path=None, pin="123456"):
        # defer_save: the state is written by flush(), not before each
        # answer (`qenex hsm serve` flushes right after sending it, before
        # it reads the next request: the link does not wait for the fsync).
        self.defer_save = False
        self.dirty = False
        self.state_path = state_path
        self.master_path = master_path or state_path + ".master"
        self.master = self._master_key()
        if os.path.exists(state_path):
            with open(state_path) as f:
                self.state = json.load(f)
        else:
            self.state = {"serial": secrets.token_hex(8), "tries": 0, "locked": False, "keys": {}, "audit": []}
            self._set_pin(pin)
            self.state["factory_pin"] = True           # keys wait for the operator's own PIN (CHANGE_PIN)
            self.state["factory_pin_hash"] = hashlib.sha256(self._open(self.state["pin_key"], "pin")).hexdigest()
            self._log("init", "", "ok", "new HSM")
        self.serial = self.state["serial"].encode()
        self.codec = F.Codec(crc32, hmac_sha256)
        self.nonce_h = None
        self.seqs = F.Sequence()                       # the session's replay rule and retry cache
        self.open_cache = None                         # (the last LOGIN_BEGIN or LOGIN frame, its answer)

    # --- state at rest -----------------------------------------------------------
    def _master_key(self):
        if not os.path.exists(self.master_path):
            fd = os.open(self.master_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(AESGCM.generate_key(bit_length=256))
        if os.stat(self.master_path).st_mode & 0o077:
            os.chmod(self.master_path, 0o600)          # the owner's alone, whoever made it
        with open(self.master_path, "rb") as f:
            return f.read()

    def _seal(self, data, what):
        nonce = secrets.token_bytes(12)
        return (nonce + AESGCM(self.master).encrypt(nonce, data, what.encode())).hex()

    def _open(self, blob, what):
        raw = bytes.fromhex(blob)
        return AESGCM(self.master).decrypt(raw[:12], raw[12:], what.encode())

    def _save(self):
        tmp = self.state_path + ".tmp"
        if os.path.exists(tmp):
            os.unlink(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)    # the sealed keys: owner only
        with os.fdopen(fd, "w") as f:
            json.dump(self.state, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_path)

    def _set_pin(self, pin):
        self._set_pin_key(F.pin_key(hmac_sha256, pin, self.state["serial"].encode()))

    def _set_pin_key(self, pkey):
        self.state["pin_key"] = self._seal(pkey, "pin")
        self.state["tries"] = 0
        self.state["locked"] = False

    def factory_pin(self):
        """True while the PIN is the one the HSM was made with."""
        return self.state.get("factory_pin", True)

    def _log(self, op, label, result, note=""):
        audit = self.state["audit"]
        entry = {"seq": len(audit), "t": int(time.time()), "op": op, "label": label, "result": result,
                 "note": note}
        entry["hash"] = audit_hash(audit[-1]["hash"] if audit else "00" * 32, entry)
        audit.append(entry)
        if self.defer_save:
            self.dirty = True
        else:
            self._save()

    def flush(self):
        """Write the state if an answer changed it since (defer_save)."""
        if self.dirty:
            self.dirty = False
            self._save()

    # --- frames --------------------------------------------------------------------
    def handle(self, request):
        """The answer frame to one request frame (checked by frame.Reader).
        Whatever the frame holds, it is answered: a malformed request gets
        `bad argument` with the reason, and the HSM serves on.

        Order (PROTOCOL.md, "Sequence numbers"): an open command (INFO,
        LOGIN_BEGIN, LOGIN) is answered outside the session rules, an exact
        repeat of the last LOGIN_BEGIN or LOGIN from its cached answer;
        anything else needs a session, then a right MAC, and only then is
        its sequence number looked at (a retry is answered from the cache
        only once its MAC is known to be good)."""
        cmd, seq, payload = F.parse(request)
        if cmd in F.OPEN_COMMANDS:
            if self.open_cache is not None and self.open_cache[0] == bytes(request):
                return self.open_cache[1]              # a retry: the same answer, nothing run again
            if self.codec.key is not None and cmd != INFO:
                self.end_session()                     # a new login ends the session
            if cmd == INFO and self.codec.key is not None and not self.codec.check_mac(request):
                # Not from our session (a device that restarted and has
                # none, or another one): answered without a MAC it could
                # not check, the session going on.
                return self._respond_plain(cmd, seq, F.OK, self.do_info(payload))
            response = self._run(cmd, seq, payload)
            if cmd != INFO:
                self.open_cache = (bytes(request), response)
            return response
        if self.codec.key is None:
            return self._respond(cmd, seq, F.NOT_LOGGED_IN, b"no session: log in again")
        if not self.codec.check_mac(request):
            # The sender does not hold the session key (noise, a forgery, or
            # a device that restarted): a MAC it cannot check is no use to it.
            self._log(F.COMMANDS.get(cmd, "?"), "", "bad MAC")
            return self._respond_plain(cmd, seq, F.BAD_MAC, b"bad MAC: not this session's, log in again")
        mac = F.frame_mac(request)
        verdict = self.seqs.check(seq, mac)
        if verdict == "retry":
            return self.seqs.answer                    # the same answer again
        if verdict == "ended":
            self.end_session()
            return self._respond(cmd, seq, F.NOT_LOGGED_IN, b"session ended: log in again")
        if verdict == "bad":
            self._log(F.COMMANDS.get(cmd, "?"), "", "bad sequence", "%d after %s" % (seq, self.seqs.last))
            return self._respond(cmd, seq, F.BAD_SEQ, ("sequence number %d after %s" % (seq, self.seqs.last)).encode())
        response = self._run(cmd, seq, payload)
        if cmd == F.LOGOUT:
            self.end_session()
        else:
            self.seqs.done(seq, mac, response)
        return response

    def end_session(self):
        """No session (a new connection, a logout, a new login)."""
        self.codec.key = None
        self.seqs.start(None)

    def _run(self, cmd, seq, payload):
        handler = getattr(self, "do_" + F.COMMANDS[cmd], None) if cmd in F.COMMANDS else None
        if handler is None:
            return self._respond(cmd, seq, F.UNKNOWN, b"unknown command 0x%02x" % cmd)
        try:
            status, body = F.OK, handler(payload)
        except Refused as e:
            status, body = e.status, str(e).encode()
        except F.FrameError as e:
            status, body = F.BAD_ARG, ("malformed request: %s" % e).encode()
        except Exception as e:                        # whatever else a frame's fields can cause
            status, body = F.BAD_ARG, ("malformed request: %s: %s" % (type(e).__name__, e)).encode()[:200]
        response = self._respond(cmd, seq, status, body)
        if cmd == F.LOGIN and status == F.OK:
            self.seqs.start(seq)                       # the session's numbers follow the LOGIN's
        return response

    def _respond(self, cmd, seq, status, body):
        return self.codec.encode(cmd | F.RESPONSE, seq, bytes((status,)) + body)

    def _respond_plain(self, cmd, seq, status, body):
        """An answer without a MAC, outside the session (which goes on)."""
        saved, self.codec.key = self.codec.key, None
        try:
            return self._respond(cmd, seq, status, body)
        finally:
            self.codec.key = saved

    # --- session ---------------------------------------------------------------------
    def do_info(self, payload):
        free = SLOTS - len(self.state["keys"])
        return F.fields(MODEL, FIRMWARE, self.state["serial"], free, int(self.state["locked"]),
                        int(self.factory_pin()))

    def do_login_begin(self, payload):
        if self.state["locked"]:
            raise Refused(F.LOCKED, "locked after %d wrong PINs" % MAX_TRIES)
        self.nonce_h = secrets.token_bytes(16)
        return F.fields(self.nonce_h)

    def do_login(self, payload):
        nonce_d, proof = F.unfields(payload, 2)
        if self.state["locked"]:
            raise Refused(F.LOCKED, "locked after %d wrong PINs" % MAX_TRIES)
        if self.nonce_h is None or len(nonce_d) != 16:
            raise Refused(F.BAD_ARG, "login without login_begin")
        pkey = self._open(self.state["pin_key"], "pin")
        nonce_h, self.nonce_h = self.nonce_h, None
        if not _hmac.compare_digest(F.login_proof(hmac_sha256, pkey, nonce_h, nonce_d), proof):
            self._wrong_pin("login")
        self.state["tries"] = 0
        self.codec.key = F.session_key(hmac_sha256, pkey, nonce_h, nonce_d)
        self._log("login", "", "ok")
        return b""

    def _wrong_pin(self, op):
        """Count a wrong PIN (five lock the HSM for good) and refuse."""
        self.state["tries"] += 1
        left = MAX_TRIES - self.state["tries"]
        if left <= 0:
            self.state["locked"] = True
        self._log(op, "", "wrong PIN", "locked" if left <= 0 else "%d tries left" % left)
        raise Refused(F.LOCKED if left <= 0 else F.WRONG_PIN,
                      "locked" if left <= 0 else "wrong PIN, %d tries left" % left)

    def do_logout(self, payload):
        return b""                                     # handle() ends the session once this is answered

    def do_change_pin(self, payload):
        """fields(nonce, proof, wrapped): proof = change_proof(old PIN key,
        session key, nonce), wrapped = new PIN key ^ pin_pad(session key, nonce)."""
        nonce, proof, wrapped = F.unfields(payload, 3)
        if len(nonce) != 16 or len(wrapped) != 32:
            raise Refused(F.BAD_ARG, "change_pin: a 16-byte nonce and a 32-byte wrapped key")
        if self.state["locked"]:
            raise Refused(F.LOCKED, "locked after %d wrong PINs" % MAX_TRIES)
        old = self._open(self.state["pin_key"], "pin")
        skey = self.codec.key
        if not _hmac.compare_digest(F.change_proof(hmac_sha256, old, skey, nonce), proof):
            self._wrong_pin("change_pin")
        new = F.xor(wrapped, F.pin_pad(hmac_sha256, skey, nonce)[:32])
        if new == old:
            raise Refused(F.BAD_ARG, "the new PIN is the current one")
        if hashlib.sha256(new).hexdigest() == self.state.get("factory_pin_hash"):
            raise Refused(F.BAD_ARG, "the new PIN is the factory PIN")
        self._set_pin_key(new)
        self.state["factory_pin"] = False
        self._log("change_pin", "", "ok")
        return b""

    # --- keys ----------------------------------------------------------------------------
    def _key(self, label, need=None):
        k = self.state["keys"].get(label)
        if k is None:
            raise Refused(F.NO_KEY, "no key %r" % label)
        if need is not None and not k["usage"] & (1 << F.USAGE.index(need)):
            self._log(need, label, "not permitted", "key usage")
            raise Refused(F.NOT_PERMITTED, "key %r is not for %s" % (label, need))
        return k

    def _material(self, label, k):
        return self._open(k["material"], "key:" + label)

    def do_random(self, payload):
        (n,) = F.unfields(payload, 1)
        count = F.u32(n, 0) if len(n) == 4 else -1
        if not 0 < count <= 1024:
            raise Refused(F.BAD_ARG, "random: 1..1024 bytes")
        return F.fields(secrets.token_bytes(count))

    def do_generate(self, payload):
        alg, label, usage = F.unfields(payload, 3)
        label = _text(label, "label")
        if self.factory_pin():
            self._log("generate", label, "not permitted", "factory PIN")
            raise Refused(F.NOT_PERMITTED, "change the factory PIN first (hsm pin)")
        if not alg or alg[0] >= len(F.ALGS):
            raise Refused(F.BAD_ARG, "unknown algorithm")
        if not 0 < len(label) <= LABEL_MAX:
            raise Refused(F.BAD_ARG, "label of 1..%d characters" % LABEL_MAX)
        if label in self.state["keys"]:
            raise Refused(F.EXISTS, "key %r exists" % label)
        if len(self.state["keys"]) >= SLOTS:
            raise Refused(F.FULL)
        name = F.ALGS[alg[0]]
        material, public = self._new_key(name)
        self.state["keys"][label] = {"alg": name, "usage": usage[0] if usage else 0,
                                     "material": self._seal(material, "key:" + label), "public": public.hex()}
        self._log("generate", label, "ok", name)
        return F.fields(public)

    def _new_key(self, name):
        if name == "ecdsa-p256":
            k = ec.generate_private_key(ec.SECP256R1())
            return (k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()),
                    k.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo))
        if name == "ed25519":
            k = ed25519.Ed25519PrivateKey.generate()
            return (k.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                    serialization.NoEncryption()),
                    k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
        if name == "aes-256":
            return AESGCM.generate_key(bit_length=256), b""
        pk, sk = _ml_dsa().keygen()
        return sk + pk, pk

    def do_pubkey(self, payload):
        (label,) = F.unfields(payload, 1)
        k = self._key(_text(label))
        if not k["public"]:
            raise Refused(F.BAD_ARG, "a secret key has no public part")
        return F.fields(bytes.fromhex(k["public"]))

    def do_sign(self, payload):
        label, data = F.unfields(payload, 2)
        label = _text(label)
        k = self._key(label, "sign")
        m = self._material(label, k)
        if k["alg"] == "ecdsa-p256":
            sig = serialization.load_der_private_key(m, None).sign(data, ec.ECDSA(hashes.SHA256()))
        elif k["alg"] == "ed25519":
            sig = ed25519.Ed25519PrivateKey.from_private_bytes(m).sign(data)
        elif k["alg"] == "ml-dsa-65":
            sig = _ml_dsa().sign(m[:-len(bytes.fromhex(k["public"]))], data)
        else:
            raise Refused(F.BAD_ARG, "an AES key does not sign")
        self._log("sign", label, "ok", "%d bytes" % len(data))
        return F.fields(sig)

    def do_verify(self, payload):
        label, data, sig = F.unfields(payload, 3)
        label = _text(label)
        k = self._key(label, "verify")
        pub = bytes.fromhex(k["public"])
        ok = True
        try:
            if k["alg"] == "ecdsa-p256":
                serialization.load_der_public_key(pub).verify(sig, data, ec.ECDSA(hashes.SHA256()))
            elif k["alg"] == "ed25519":
                ed25519.Ed25519PublicKey.from_public_bytes(pub).verify(sig, data)
            elif k["alg"] == "ml-dsa-65":
                ok = _ml_dsa().verify(pub, data, sig)
            else:
                raise Refused(F.BAD_ARG, "an AES key does not verify")
        except (InvalidSignature, ValueError):
            ok = False
        self._log("verify", label, "ok", "valid" if ok else "invalid")
        return F.fields(bytes((int(ok),)))

    def _aes(self, label, need):
        k = self._key(label, need)
        if k["alg"] != "aes-256":
            raise Refused(F.BAD_ARG, "key %r is not an AES key" % label)
        return AESGCM(self._material(label, k))

    def do_encrypt(self, payload):
        label, plain, aad = F.unfields(payload, 3)
        nonce = secrets.token_bytes(12)
        ct = self._aes(_text(label), "encrypt").encrypt(nonce, plain, aad)
        self._log("encrypt", _text(label), "ok", "%d bytes" % len(plain))
        return F.fields(nonce, ct)

    def do_decrypt(self, payload):
        label, nonce, ct, aad = F.unfields(payload, 4)
        try:
            plain = self._aes(_text(label), "decrypt").decrypt(nonce, ct, aad)
        except (InvalidTag, ValueError):
            self._log("decrypt", _text(label), "crypto failure", "tag mismatch")
            raise Refused(F.CRYPTO, "authentication failed") from None
        self._log("decrypt", _text(label), "ok", "%d bytes" % len(plain))
        return F.fields(plain)

    def do_wrap(self, payload):
        kek_label, label = (_text(x) for x in F.unfields(payload, 2))
        kek = self._key(kek_label, "wrap")
        k = self._key(label)
        if not k["usage"] & F.EXPORTABLE:
            self._log("wrap", label, "not permitted", "not exportable")
            raise Refused(F.NOT_PERMITTED, "key %r is not exportable" % label)
        if kek["alg"] != "aes-256":
            raise Refused(F.BAD_ARG, "the wrapping key must be AES")
        blob = json.dumps({"alg": k["alg"], "usage": k["usage"], "public": k["public"],
                           "material": self._material(label, k).hex()}).encode()
        blob += b" " * (-len(blob) % 8)
        wrapped = aes_key_wrap(self._material(kek_label, kek), blob)
        self._log("wrap", label, "ok", "under " + kek_label)
        return F.fields(wrapped)

    def do_unwrap(self, payload):
        kek_label, label, wrapped = F.unfields(payload, 3)
        kek_label, label = _text(kek_label), _text(label)
        kek = self._key(kek_label, "wrap")
        if label in self.state["keys"]:
            raise Refused(F.EXISTS, "key %r exists" % label)
        try:
            blob = json.loads(aes_key_unwrap(self._material(kek_label, kek), wrapped))
        except (InvalidUnwrap, ValueError):
            raise Refused(F.CRYPTO, "the wrapped key does not unwrap") from None
        self.state["keys"][label] = {"alg": blob["alg"], "usage": blob["usage"], "public": blob["public"],
                                     "material": self._seal(bytes.fromhex(blob["material"]), "key:" + label)}
        self._log("unwrap", label, "ok", "under " + kek_label)
        return b""

    def do_delete(self, payload):
        (label,) = F.unfields(payload, 1)
        self._key(_text(label))
        del self.state["keys"][_text(label)]
        self._log("delete", _text(label), "ok")
        return b""

    def do_list(self, payload):
        items = []
        for label in sorted(self.state["keys"]):
            k = self.state["keys"][label]
            items += [label, bytes((F.ALGS.index(k["alg"]), k["usage"]))]
        return F.fields(*items)

    def do_attrs(self, payload):
        (label,) = F.unfields(payload, 1)
        k = self._key(_text(label))
        return F.fields(bytes((F.ALGS.index(k["alg"]), k["usage"])))

    def do_audit(self, payload):
        start, count = F.unfields(payload, 2)
        if len(start) != 4 or len(count) != 4:
            raise Refused(F.BAD_ARG, "audit: start and count are u32 fields")
        start, count = F.u32(start, 0), F.u32(count, 0)
        audit = self.state["audit"]
        picked = audit[start:start + min(count, 16)]
        return F.fields(len(audit), *[json.dumps(e, sort_keys=True) for e in picked])

    def do_audit_note(self, payload):
        op, label, result, note = (_text(x) for x in F.unfields(payload, 4))
        self._log(op, label, result, "device: " + note)
        return b""

    def do_zeroize(self, payload):
        (confirm,) = F.unfields(payload, 1)
        if _text(confirm) != "ZEROIZE " + self.state["serial"]:
            raise Refused(F.BAD_ARG, "confirm with 'ZEROIZE <serial>'")
        n = len(self.state["keys"])
        self.state["keys"] = {}
        self._log("zeroize", "", "ok", "%d keys destroyed" % n)
        return F.fields(n)


INFO = F.INFO
