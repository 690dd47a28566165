"""The kernel image format, defined once: MCUboot's header + payload + TLVs.

Layout of an image at the start of a slot:

    0         ImageHeader (32 bytes), zero-padded to hdr_size
    hdr_size  payload: the kernel firmware, vector table first (img_size bytes)
    ...       protected TLV area (TlvInfo magic 0x6908), only if protect_tlv_size
    ...       TLV area (TlvInfo magic 0x6907): SHA-256 TLV, then the key
              hash and ECDSA P-256 signature TLVs of a signed image, then others

The SHA-256 covers the header with its padding, the payload and the protected
TLV area; a signed image carries the SHA-256 of its key (DER
SubjectPublicKeyInfo, as imgtool and MCUboot use) and the ECDSA P-256
signature of that digest. This module builds, signs and checks images on the
host (with `cryptography`); boot/image.c is the bootloader's reader of the
same format and the host tests hold the two together (same result codes,
same precedence).
"""

import hashlib
from collections import namedtuple

from construct import Bytes, Default, Int8ul, Int16ul, Int32ul, Rebuild, StreamError, Struct, len_, this

IMAGE_MAGIC = 0x96F3B83D
TLV_INFO_MAGIC = 0x6907
TLV_PROT_INFO_MAGIC = 0x6908
TLV_SHA256 = 0x10
TLV_KEYHASH = 0x01
TLV_ECDSA_SIG = 0x22
TLV_SEC_CNT = 0x50                    # security counter (u32), only counted when protected
HEADER_STRUCT_SIZE = 32
F_NON_BOOTABLE = 0x10                 # a task bundle: no vector table, never booted
VECTOR_ALIGN = 128                    # Cortex-M3 VTOR alignment
RAM_BOUNDS = (0x20000000, 0x20400000)  # initial SP must lie here (as QX_RAM_BASE/END)

ImageVersion = Struct("major" / Int8ul, "minor" / Int8ul, "revision" / Int16ul, "build_num" / Int32ul)

ImageHeader = Struct(                  # MCUboot's struct image_header, ih_ prefix dropped
    "magic" / Default(Int32ul, IMAGE_MAGIC),
    "load_addr" / Default(Int32ul, 0),
    "hdr_size" / Int16ul,
    "protect_tlv_size" / Default(Int16ul, 0),
    "img_size" / Int32ul,
    "flags" / Default(Int32ul, 0),
    "version" / ImageVersion,
    "pad1" / Default(Int32ul, 0),
)

TlvInfo = Struct("magic" / Int16ul, "tlv_tot" / Int16ul)   # tlv_tot includes these 4 bytes

Tlv = Struct("type" / Int16ul, "len" / Rebuild(Int16ul, len_(this.value)), "value" / Bytes(this.len))

# Result codes in precedence order: checks run in this order, the first failing
# one is reported. Index = value of the C enum QX_IMG_<CODE> in boot/image.h;
# text = qx_image_result_str().
RESULTS = (
    ("ok", "ok"),
    ("bad_magic", "bad magic"),      # magic is not IMAGE_MAGIC
    ("bad_header", "bad header"),    # hdr_size < 32 or not 4-aligned; vectors not 128-aligned
    ("too_large", "too large"),      # header + payload + TLV info exceed the slot or the data
    ("bad_tlv", "bad TLV"),          # TLV info magic/size wrong, a TLV runs past its area,
                                     # a SHA-256 TLV not 32 / a counter TLV not 4 bytes long
    ("no_hash", "no hash"),          # no SHA-256 TLV in the (unprotected) TLV area
    ("bad_hash", "bad hash"),        # SHA-256 mismatch
    ("wrong_key", "wrong key"),      # (with a key) no key-hash TLV, or another key's
    ("bad_signature", "bad signature"),  # (with a key) no signature TLV, or it does not verify
    ("bad_vectors", "bad vectors"),  # initial SP / reset vector implausible (needs slot_addr)
)
CODES = tuple(code for code, _ in RESULTS)

ImageInfo = namedtuple("ImageInfo", "version hdr_size img_size protect_tlv_size flags load_addr "
                                    "tlvs sha256_ok total_len security_counter sha256")


class ImageError(Exception):
    def __init__(self, code, message):
        assert code in CODES[1:], code
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def _check_signature(hashed, area, key_spki):
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    keyhashes = [v for t, v in area if t == TLV_KEYHASH]
    if not keyhashes or keyhashes[0] != hashlib.sha256(key_spki).digest():
        raise ImageError("wrong_key", "no key-hash TLV" if not keyhashes else
                         "signed with key %s, not %s" % (keyhashes[0][:4].hex(),
                                                          hashlib.sha256(key_spki).digest()[:4].hex()))
    sigs = [v for t, v in area if t == TLV_ECDSA_SIG]
    if not sigs:
        raise ImageError("bad_signature", "no ECDSA signature TLV")
    try:
        serialization.load_der_public_key(key_spki).verify(sigs[0], hashed, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise ImageError("bad_signature", "the ECDSA signature does not verify") from None


def format_version(v):
    return "%d.%d.%d+%d" % tuple(v)


def _tlv_area(magic, tlvs):
    body = b"".join(Tlv.build(dict(type=t, value=bytes(v))) for t, v in tlvs)
    if len(body) + 4 > 0xFFFF:
        raise ValueError("TLV area larger than 64 KiB")
    return TlvInfo.build(dict(magic=magic, tlv_tot=len(body) + 4)) + body


def spki(public_key):
    """The DER SubjectPublicKeyInfo of a public key: what the bootloader embeds
    and what the key-hash TLV hashes."""
    from cryptography.hazmat.primitives import serialization
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def auto_counter(version):
    """The security counter imgtool's `--security-counter auto` derives from
    a version: major << 24 | minor << 16 | revision."""
    return (version[0] << 24) | (version[1] << 16) | version[2]


def make_image(payload, version=(0, 0, 0, 0), hdr_size=0x200, load_addr=0, tlvs=(), protected_tlvs=(), key=None,
               security_counter=None, flags=0):
    """Header + padding + payload + [protected TLVs] + TLVs (SHA-256 first;
    with `key`, an ECDSA P-256 private key, its key hash and signature; then
    `tlvs`). security_counter: an int, "auto" (from the version, as imgtool)
    or None (no counter TLV); it goes first in the protected area."""
    if hdr_size < HEADER_STRUCT_SIZE or hdr_size % 4:
        raise ValueError(f"hdr_size {hdr_size:#x}: must be >= 32 and a multiple of 4")
    if security_counter == "auto":
        security_counter = auto_counter(version)
    if security_counter is not None:
        if not 0 <= security_counter <= 0xFFFFFFFF:
            raise ValueError(f"security counter {security_counter} is not a 32-bit unsigned number")
        protected_tlvs = [(TLV_SEC_CNT, security_counter.to_bytes(4, "little")), *protected_tlvs]
    prot = _tlv_area(TLV_PROT_INFO_MAGIC, protected_tlvs) if protected_tlvs else b""
    major, minor, revision, build = version
    header = ImageHeader.build(dict(
        load_addr=load_addr, hdr_size=hdr_size, protect_tlv_size=len(prot), img_size=len(payload), flags=flags,
        version=dict(major=major, minor=minor, revision=revision, build_num=build)))
    hashed = header.ljust(hdr_size, b"\0") + bytes(payload) + prot
    signed = []
    if key is not None:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        signed = [(TLV_KEYHASH, hashlib.sha256(spki(key.public_key())).digest()),
                  (TLV_ECDSA_SIG, key.sign(hashed, ec.ECDSA(hashes.SHA256())))]
    return hashed + _tlv_area(TLV_INFO_MAGIC, [(TLV_SHA256, hashlib.sha256(hashed).digest()), *signed, *tlvs])


def _walk(data, off, end):
    """TLVs of the area whose info header is at `off` and ends at `end`."""
    tlvs, pos = [], off + 4
    while pos < end:
        try:
            t = Tlv.parse(data[pos:end])
        except StreamError:
            raise ImageError("bad_tlv", f"TLV at {pos:#x} runs past the end of its area ({end:#x})") from None
        if t.type in (TLV_SHA256, TLV_KEYHASH) and t.len != 32:
            raise ImageError("bad_tlv", f"SHA-256 TLV at {pos:#x} is {t.len} bytes long, not 32")
        if t.type == TLV_SEC_CNT and t.len != 4:
            raise ImageError("bad_tlv", f"security counter TLV at {pos:#x} is {t.len} bytes long, not 4")
        tlvs.append((t.type, t.value))
        pos += 4 + t.len
    return tlvs


def parse_image(data, slot_size=None, slot_addr=None, verify=True, key=None):
    """Check an image and describe it; raise ImageError on the first failing check.

    slot_size: the image must fit in it (default: the data is the whole slot).
    slot_addr: the slot's device address; when given, also check what the
    bootloader checks: vector table 128-aligned, initial SP and reset vector.
    verify=False reports a hash mismatch as sha256_ok=False instead of raising.
    key: DER SubjectPublicKeyInfo of the key the image must be signed with
    (ECDSA P-256), as the bootloader checks it.
    """
    data = bytes(data)
    room = len(data) if slot_size is None else min(slot_size, len(data))
    if room < HEADER_STRUCT_SIZE:
        raise ImageError("too_large", f"truncated: {room} bytes, the header alone needs {HEADER_STRUCT_SIZE}")
    h = ImageHeader.parse(data)
    if h.magic != IMAGE_MAGIC:
        raise ImageError("bad_magic", f"magic {h.magic:#010x}, expected {IMAGE_MAGIC:#010x}")
    hdr, img, prot = h.hdr_size, h.img_size, h.protect_tlv_size
    if hdr < HEADER_STRUCT_SIZE or hdr % 4:
        raise ImageError("bad_header", f"hdr_size {hdr:#x}: must be >= 32 and a multiple of 4")
    if slot_addr is not None and (slot_addr + hdr) % VECTOR_ALIGN:
        raise ImageError("bad_header", f"vector table at {slot_addr + hdr:#x} is not {VECTOR_ALIGN}-byte aligned")
    need = hdr + img + prot + 4
    if slot_size is not None and need > slot_size:
        raise ImageError("too_large", f"image needs {need:#x} bytes, the slot holds {slot_size:#x}")
    if need > len(data):
        raise ImageError("too_large", f"truncated: image needs {need:#x} bytes, only {len(data):#x} given")

    off, tlvs, counter = hdr + img, [], None
    if prot:
        info = TlvInfo.parse(data[off:])
        if prot < 4 or info.magic != TLV_PROT_INFO_MAGIC or info.tlv_tot != prot:
            raise ImageError("bad_tlv", f"protected TLV area at {off:#x}: magic {info.magic:#06x}, "
                                        f"size {info.tlv_tot:#x}, header says {prot:#x}")
        protected = _walk(data, off, off + prot)
        counters = [v for t, v in protected if t == TLV_SEC_CNT]
        counter = int.from_bytes(counters[0], "little") if counters else None
        tlvs += protected
        off += prot
    info = TlvInfo.parse(data[off:])
    if info.magic != TLV_INFO_MAGIC:
        raise ImageError("bad_tlv", f"TLV area at {off:#x}: magic {info.magic:#06x}, expected {TLV_INFO_MAGIC:#06x}")
    if info.tlv_tot < 4 or off + info.tlv_tot > room:
        raise ImageError("bad_tlv", f"TLV area at {off:#x}: size {info.tlv_tot:#x} does not fit in {room:#x} bytes")
    area = _walk(data, off, off + info.tlv_tot)
    tlvs += area
    hashes = [v for t, v in area if t == TLV_SHA256]
    if not hashes:
        raise ImageError("no_hash", "no SHA-256 TLV")
    sha256_ok = hashlib.sha256(data[:hdr + img + prot]).digest() == hashes[0]
    if verify and not sha256_ok:
        raise ImageError("bad_hash", "SHA-256 of header + payload does not match the TLV")
    if key is not None:
        _check_signature(data[:hdr + img + prot], area, key)

    if slot_addr is not None and not h.flags & F_NON_BOOTABLE:
        sp, reset = (int.from_bytes(data[hdr + i:hdr + i + 4], "little") for i in (0, 4))
        base, entry = slot_addr + hdr, reset & ~1
        if img < 8:
            raise ImageError("bad_vectors", f"payload of {img} bytes has no vector table")
        if not sp or sp % 8 or not RAM_BOUNDS[0] <= sp <= RAM_BOUNDS[1]:
            raise ImageError("bad_vectors", f"initial SP {sp:#010x} not 8-aligned in RAM")
        if not reset & 1 or not base <= entry < base + img:
            raise ImageError("bad_vectors", f"reset vector {reset:#010x} not a Thumb address in "
                                            f"[{base:#x}, {base + img:#x})")
    v = h.version
    return ImageInfo((v.major, v.minor, v.revision, v.build_num), hdr, img, prot, h.flags, h.load_addr,
                     tlvs, sha256_ok, hdr + img + prot + info.tlv_tot, counter, hashes[0])
