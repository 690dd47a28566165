"""Host tests of the kernel image format: tools/imgformat.py (the definition)
against boot/image.c (the bootloader's checker, built here with cffi).

Every C call reads its slot from memory that ends at an unmapped page, so a
read past the slot crashes the test run instead of passing unnoticed.
"""
import ctypes
import importlib.util
import mmap
import os
import random
import re
import shutil
import struct
import subprocess

import pytest

from tools.imgformat import (CODES, HEADER_STRUCT_SIZE, IMAGE_MAGIC, RESULTS, TLV_ECDSA_SIG, TLV_INFO_MAGIC,
                             TLV_KEYHASH, TLV_PROT_INFO_MAGIC, TLV_SEC_CNT, TLV_SHA256, ImageError, ImageHeader,
                             Tlv, TlvInfo, format_version, make_image, parse_image, spki)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MBEDTLS = os.path.join(ROOT, "build", "deps", "mbedtls-3.6.6")
MBEDTLS_SRC = [os.path.join(MBEDTLS, "library", f + ".c") for f in (
    "sha256", "platform_util", "platform", "bignum", "bignum_core", "ecp", "ecp_curves", "ecdsa",
    "asn1parse", "asn1write", "memory_buffer_alloc", "constant_time")]
MBEDTLS_FLAGS = ["-I" + os.path.join(MBEDTLS, "include"), "-I" + os.path.join(ROOT, "boot"),
                 '-DMBEDTLS_CONFIG_FILE="qx_mbedtls_config.h"']
IMAGE_H = os.path.join(ROOT, "boot", "image.h")
SLOT = 0x10000          # slot A's address, as the payloads below are linked
SLOT_SIZE = 0x180000
RAM_END = 0x20400000


def enum_names():
    text = re.sub(r"/\*.*?\*/", "", open(IMAGE_H).read(), flags=re.S)
    body = re.search(r"typedef enum \{(.*?)\} qx_img_result_t;", text, re.S).group(1)
    return re.findall(r"\b(QX_IMG_\w+)", body)


@pytest.fixture(scope="session")
def c(tmp_path_factory):
    """The compiled checker: (ffi, lib)."""
    return build_checker(str(tmp_path_factory.mktemp("cffi")))


def build_checker(tmpdir):
    """boot/image.c and the mbedtls it uses, built for the host: (ffi, lib)."""
    if not os.path.exists(MBEDTLS_SRC[0]):
        pytest.fail(f"mbedtls source not found at {MBEDTLS}: run `make build`")
    import cffi
    ffi = cffi.FFI()
    ffi.cdef("typedef enum { %s } qx_img_result_t;" % ", ".join(enum_names()) + """
        typedef struct { uint8_t major, minor; uint16_t revision; uint32_t build;
                         uint32_t hdr_size, img_size, flags; uint32_t vector_offset; uint32_t total;
                         uint32_t security_counter; uint8_t hash[32]; }
                       qx_img_info_t;
        typedef struct { const uint8_t *spki; uint32_t spki_len; } qx_img_key_t;
        qx_img_result_t qx_image_check(const uint8_t *slot, uint32_t slot_size,
                                       uint32_t slot_addr, const qx_img_key_t *key, qx_img_info_t *info);
        qx_img_result_t qx_image_parse(const uint8_t *slot, uint32_t slot_size, uint32_t slot_addr,
                                       qx_img_info_t *info);
        const char *qx_image_result_str(qx_img_result_t r);""")
    ffi.set_source("_qx_image", '#include "boot/image.h"',
                   sources=[os.path.join(ROOT, "boot", "image.c")] + MBEDTLS_SRC, include_dirs=[ROOT],
                   extra_compile_args=MBEDTLS_FLAGS)
    path = ffi.compile(tmpdir=tmpdir)
    spec = importlib.util.spec_from_file_location("_qx_image", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.ffi, mod.lib


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


def c_check(c, data, slot_addr=SLOT, key=None, parse_only=False):
    """Runs qx_image_check on `data` as the whole slot (with `key`, DER SPKI
    bytes, the signature is checked too; parse_only: qx_image_parse, no
    hash, key or signature); returns (code, info)."""
    ffi, lib = c
    ckey = ffi.NULL
    if key is not None:
        buf = ffi.new("uint8_t[]", key)
        ckey = ffi.new("qx_img_key_t *", {"spki": buf, "spki_len": len(key)})
    page = mmap.PAGESIZE
    size = (len(data) // page + 2) * page
    addr = _libc.mmap(None, size, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    assert addr not in (None, ctypes.c_void_p(-1).value)
    try:
        guard = addr + size - page
        assert _libc.mprotect(guard, page, 0) == 0
        ctypes.memmove(guard - len(data), bytes(data), len(data))
        info = ffi.new("qx_img_info_t *")
        at = ffi.cast("const uint8_t *", guard - len(data))
        if parse_only:
            r = lib.qx_image_parse(at, len(data), slot_addr, info)
        else:
            r = lib.qx_image_check(at, len(data), slot_addr, ckey, info)
    finally:
        _libc.munmap(addr, size)
    return CODES[r], info


def py_check(data, **kw):
    try:
        parse_image(data, **kw)
        return "ok"
    except ImageError as e:
        return e.code


def both(c, data):
    """(C code, Python code) with the same view: data is the slot at SLOT."""
    return c_check(c, data)[0], py_check(data, slot_addr=SLOT)


def payload(size, hdr=0x200, sp=RAM_END, reset_off=None, seed=0):
    """Random bytes behind a vector table linked at SLOT + hdr."""
    body = bytearray(random.Random(seed).randbytes(size))
    reset_off = (size // 2) & ~1 if reset_off is None else reset_off
    body[:8] = struct.pack("<II", sp, (SLOT + hdr + reset_off) | 1)[:size]
    return bytes(body)


def tlv_area(magic, tlvs, tot=None):
    body = b"".join(Tlv.build(dict(type=t, value=v)) for t, v in tlvs)
    return TlvInfo.build(dict(magic=magic, tlv_tot=len(body) + 4 if tot is None else tot)) + body


def with_tlvs(image, area):
    """`image` with its (unprotected) TLV area replaced by `area`."""
    info = parse_image(image)
    return image[:info.hdr_size + info.img_size + info.protect_tlv_size] + area


def patch(image, off, fmt, value):
    b = bytearray(image)
    struct.pack_into(fmt, b, off, value)
    return bytes(b)


BASE = make_image(payload(64), version=(1, 2, 3, 4))
T = 0x200 + 64          # BASE's TLV area


# ---- the definition ---------------------------------------------------------

def test_header_struct_round_trips_and_is_32_bytes():
    fields = dict(magic=IMAGE_MAGIC, load_addr=0x1234, hdr_size=0x200, protect_tlv_size=8, img_size=0xABCDE,
                  flags=0x20, version=dict(major=1, minor=2, revision=0x304, build_num=0x05060708), pad1=0)
    raw = ImageHeader.build(fields)
    assert len(raw) == HEADER_STRUCT_SIZE == ImageHeader.sizeof()
    assert raw[:4] == bytes.fromhex("3db8f396") and raw[20:28] == bytes.fromhex("0102040308070605")
    back = ImageHeader.parse(raw)
    assert {k: back[k] for k in fields if k != "version"} == {k: v for k, v in fields.items() if k != "version"}
    assert {k: back.version[k] for k in fields["version"]} == fields["version"]
    assert Tlv.parse(Tlv.build(dict(type=0x10, value=b"ab"))).value == b"ab"
    assert TlvInfo.sizeof() == 4


def test_make_image_lays_out_header_payload_and_hash_tlv():
    p = payload(64)
    assert BASE[:4] == struct.pack("<I", IMAGE_MAGIC) and BASE[32:0x200] == bytes(0x200 - 32)
    assert BASE[0x200:T] == p
    assert struct.unpack_from("<HHHH", BASE, T) == (TLV_INFO_MAGIC, 40, TLV_SHA256, 32)
    info = parse_image(BASE)
    assert info.version == (1, 2, 3, 4) and info.total_len == len(BASE) == T + 40
    assert info.tlvs[0][0] == TLV_SHA256 and info.sha256_ok


def test_format_version():
    assert format_version((1, 2, 3, 4)) == "1.2.3+4"
    assert format_version(parse_image(BASE).version) == "1.2.3+4"


def test_result_codes_map_one_to_one_onto_the_c_enum_and_strings(c):
    ffi, lib = c
    assert enum_names() == ["QX_IMG_" + code.upper() for code in CODES] + ["QX_IMG__COUNT"]
    for value, (code, text) in enumerate(RESULTS):
        assert getattr(lib, "QX_IMG_" + code.upper()) == value
        assert ffi.string(lib.qx_image_result_str(value)).decode() == text
    assert ffi.string(lib.qx_image_result_str(len(RESULTS))) == b"unknown"


# ---- valid images -------------------------------------------------------------

@pytest.mark.parametrize("size", [8, 9, 64, 127, 1000, 70001])
@pytest.mark.parametrize("hdr", [0x80, 0x200, 0x400])
def test_valid_images_pass_both_checkers_with_the_same_fields(c, size, hdr):
    rng = random.Random(size * hdr)
    version = (rng.randrange(256), rng.randrange(256), rng.randrange(65536), rng.randrange(2 ** 32))
    image = make_image(payload(size, hdr=hdr, seed=size), version=version, hdr_size=hdr)
    code, ci = c_check(c, image)
    info = parse_image(image, slot_size=SLOT_SIZE, slot_addr=SLOT)
    assert code == "ok"
    assert (ci.major, ci.minor, ci.revision, ci.build) == info.version == version
    assert (ci.hdr_size, ci.img_size, ci.flags, ci.vector_offset) == (hdr, size, info.flags, hdr)
    assert ci.total == info.total_len == len(image)
    assert info.img_size == size and info.hdr_size == hdr


def test_unknown_and_protected_tlvs_are_kept_and_hashed(c):
    image = make_image(payload(100), tlvs=[(0x7777, b"hello")], protected_tlvs=[(0x50, b"\1\0\0\0")])
    info = parse_image(image, slot_addr=SLOT)
    assert [t for t, _ in info.tlvs] == [0x50, TLV_SHA256, 0x7777]
    assert info.tlvs[2] == (0x7777, b"hello") and info.protect_tlv_size == 12
    assert c_check(c, image)[0] == "ok"
    prot = 0x200 + 100
    assert both(c, patch(image, prot + 8, "<B", 2)) == ("bad_hash", "bad_hash")   # protected value
    assert both(c, patch(image, prot + 2, "<H", 16)) == ("bad_tlv", "bad_tlv")     # prot tot != header
    assert both(c, patch(image, prot, "<H", TLV_INFO_MAGIC)) == ("bad_tlv", "bad_tlv")


def test_parse_image_reports_a_bad_hash_without_raising_when_asked():
    info = parse_image(patch(BASE, 0x210, "<B", BASE[0x210] ^ 0xFF), verify=False)
    assert not info.sha256_ok


# ---- every single-byte corruption -----------------------------------------------

FLIPS = [  # (start, end, code): what XOR 0x01 of a byte in BASE turns into
    (0, 4, "bad_magic"),
    (4, 8, "bad_hash"),        # load_addr: only the hash covers it
    (8, 9, "bad_header"),      # hdr_size 0x201
    (9, 10, "too_large"),      # hdr_size 0x300
    (10, 11, "bad_tlv"),       # protect_tlv_size 1
    (11, 12, "too_large"),     # protect_tlv_size 0x100
    (12, 13, "bad_tlv"),       # img_size 65: the TLV magic is not where it says
    (13, 16, "too_large"),
    (16, T, "bad_hash"),       # flags, version, pad, header padding, payload
    (T, T + 4, "bad_tlv"),     # TLV info magic, tlv_tot
    (T + 4, T + 6, "no_hash"),  # SHA-256 TLV type becomes an unknown type
    (T + 6, T + 8, "bad_tlv"),  # SHA-256 TLV length
    (T + 8, T + 40, "bad_hash"),
]


def test_every_single_byte_flip_is_rejected_by_both_with_the_same_code(c):
    assert [r[0] for r in FLIPS[1:]] == [r[1] for r in FLIPS[:-1]] and FLIPS[-1][1] == len(BASE)
    for start, end, expected in FLIPS:
        for i in range(start, end):
            bad = bytearray(BASE)
            bad[i] ^= 1
            assert both(c, bad) == (expected, expected), f"byte {i:#x}"


# ---- named corruptions ------------------------------------------------------------

CORRUPT = {
    "mcuboot_v1_magic": (patch(BASE, 0, "<I", 0x96F3B83C), "bad_magic"),
    "zero_image": (bytes(len(BASE)), "bad_magic"),
    "hdr_size_below_32": (patch(BASE, 8, "<H", 28), "bad_header"),
    "hdr_size_zero": (patch(BASE, 8, "<H", 0), "bad_header"),
    "hdr_size_unaligned": (patch(BASE, 8, "<H", 0x202), "bad_header"),
    "vectors_not_128_aligned": (make_image(payload(64, hdr=0x220), hdr_size=0x220), "bad_header"),
    "img_size_is_the_slot": (patch(BASE, 12, "<I", SLOT_SIZE), "too_large"),
    "img_size_max": (patch(BASE, 12, "<I", 0xFFFFFFFF), "too_large"),
    "sizes_wrap_32_bits": (patch(BASE, 12, "<I", 2 ** 32 - 0x204), "too_large"),
    "protect_tlv_size_max": (patch(BASE, 10, "<H", 0xFFFF), "too_large"),
    "tlv_magic_protected": (patch(BASE, T, "<H", TLV_PROT_INFO_MAGIC), "bad_tlv"),
    "tlv_tot_past_data": (patch(BASE, T + 2, "<H", 0xFFFF), "bad_tlv"),
    "tlv_tot_below_4": (patch(BASE, T + 2, "<H", 3), "bad_tlv"),
    "tlv_tot_cuts_a_tlv": (patch(BASE, T + 2, "<H", 10), "bad_tlv"),
    "tlv_len_past_area": (patch(BASE, T + 6, "<H", 0xFFFF), "bad_tlv"),
    "sha_tlv_31_bytes": (with_tlvs(BASE, tlv_area(TLV_INFO_MAGIC, [(TLV_SHA256, bytes(31))])), "bad_tlv"),
    "no_tlvs": (with_tlvs(BASE, tlv_area(TLV_INFO_MAGIC, [])), "no_hash"),
    "only_unknown_tlv": (with_tlvs(BASE, tlv_area(TLV_INFO_MAGIC, [(0x7777, bytes(32))])), "no_hash"),
    "sha_only_in_protected_area": (
        make_image(payload(64), protected_tlvs=[(TLV_SHA256, bytes(32))])[:0x200 + 64 + 40]
        + tlv_area(TLV_INFO_MAGIC, []), "no_hash"),
    "hash_of_other_image": (with_tlvs(BASE, make_image(payload(64, seed=1))[T:]), "bad_hash"),
    "sp_zero": (make_image(payload(64, sp=0)), "bad_vectors"),
    "sp_unaligned": (make_image(payload(64, sp=0x20000004)), "bad_vectors"),
    "sp_below_ram": (make_image(payload(64, sp=0x1FFFFFF8)), "bad_vectors"),
    "sp_above_ram": (make_image(payload(64, sp=RAM_END + 8)), "bad_vectors"),
    "reset_without_thumb_bit": (make_image(patch(payload(64), 4, "<I", SLOT + 0x200 + 8)), "bad_vectors"),
    "reset_into_header": (make_image(payload(64, reset_off=-4)), "bad_vectors"),
    "reset_past_payload": (make_image(payload(64, reset_off=64)), "bad_vectors"),
    "payload_shorter_than_vectors": (make_image(payload(4)), "bad_vectors"),
}


@pytest.mark.parametrize("name", CORRUPT)
def test_named_corruption_gives_its_code_in_both(c, name):
    image, expected = CORRUPT[name]
    assert both(c, image) == (expected, expected)


def test_every_code_is_reached():
    assert {code for _, code in CORRUPT.values()} | {"wrong_key", "bad_signature"} == set(CODES[1:])


# ---- signatures (ECDSA P-256, as imgtool and MCUboot make them) ------------------------

def _key(seed):
    from cryptography.hazmat.primitives.asymmetric import ec
    return ec.derive_private_key(seed, ec.SECP256R1())


KEY, OTHER = _key(0x51), _key(0x52)
PUB = spki(KEY.public_key())
SIGNED = make_image(payload(64), version=(1, 2, 3, 4), key=KEY, security_counter=7)


def both_signed(c, data):
    return c_check(c, data, key=PUB)[0], py_check(data, slot_addr=SLOT, key=PUB)


def test_a_signed_image_passes_both_and_carries_key_hash_then_signature(c):
    info = parse_image(SIGNED, slot_addr=SLOT, key=PUB)
    assert [t for t, _ in info.tlvs] == [TLV_SEC_CNT, TLV_SHA256, TLV_KEYHASH, TLV_ECDSA_SIG]
    assert both_signed(c, SIGNED) == ("ok", "ok")
    assert c_check(c, SIGNED)[0] == "ok"            # no key: structure and hash only


def test_every_single_bit_flip_of_a_signed_image_is_rejected_by_both(c):
    """Header, payload, protected TLVs (the counter), hash, key hash and
    signature: all 8 bits of every byte."""
    info = parse_image(SIGNED)
    t = info.hdr_size + info.img_size                 # the protected TLV area
    for i in range(len(SIGNED)):
        for bit in range(8):
            bad = bytearray(SIGNED)
            bad[i] ^= 1 << bit
            cv, pv = both_signed(c, bytes(bad))
            assert cv == pv != "ok", f"byte {i:#x} bit {bit} (TLVs at {t:#x}): C {cv}, Python {pv}"


# ---- the security counter (rollback protection) --------------------------------------

def test_the_security_counter_is_read_from_the_protected_area_by_both(c):
    for counter in (0, 1, 0x10203, 0xFFFFFFFF):
        image = make_image(payload(64), version=(1, 0, 0, 0), key=KEY, security_counter=counter)
        code, info = c_check(c, image, key=PUB)
        assert code == "ok" and info.security_counter == counter
        assert parse_image(image, slot_addr=SLOT, key=PUB).security_counter == counter


def test_auto_counter_is_imgtools_encoding_of_the_version():
    image = make_image(payload(64), version=(1, 2, 3, 4), security_counter="auto")
    assert parse_image(image).security_counter == (1 << 24) | (2 << 16) | 3


def test_a_counter_outside_the_protected_area_does_not_count(c):
    """Only protected TLVs are covered by the hash; an unprotected counter
    could be changed by anyone, so it is ignored (counter 0)."""
    image = make_image(payload(64), key=KEY, tlvs=[(TLV_SEC_CNT, (99).to_bytes(4, "little"))])
    code, info = c_check(c, image, key=PUB)
    assert code == "ok" and info.security_counter == 0
    assert parse_image(image, key=PUB).security_counter is None


def test_a_counter_tlv_that_is_not_4_bytes_is_a_bad_tlv_in_both(c):
    for value in (b"", b"\1\2\3", bytes(5)):
        image = make_image(payload(64), key=KEY, protected_tlvs=[(TLV_SEC_CNT, value)])
        assert both_signed(c, image) == ("bad_tlv", "bad_tlv"), value
        image = make_image(payload(64), key=KEY, tlvs=[(TLV_SEC_CNT, value)])
        assert both_signed(c, image) == ("bad_tlv", "bad_tlv"), value


def test_the_image_hash_is_reported_by_the_c_checker(c):
    code, info = c_check(c, SIGNED, key=PUB)
    p = parse_image(SIGNED)
    hashed = SIGNED[:p.hdr_size + p.img_size + p.protect_tlv_size]
    assert code == "ok" and bytes(info.hash) == p.sha256 == __import__("hashlib").sha256(hashed).digest()


def test_signature_failures_have_their_own_codes(c):
    info = parse_image(SIGNED)
    t = info.hdr_size + info.img_size + info.protect_tlv_size
    area = info.tlvs[1:]                          # the unprotected TLVs (after the counter)
    cases = {
        "unsigned image": (make_image(payload(64)), "wrong_key"),
        "signed with another key": (make_image(payload(64), key=OTHER), "wrong_key"),
        "key hash of another key": (patch(SIGNED, t + 4 + 36 + 4, "<B", SIGNED[t + 44] ^ 0x80), "wrong_key"),
        "signature missing": (with_tlvs(SIGNED, tlv_area(TLV_INFO_MAGIC, area[:2])), "bad_signature"),
        "signature of another image": (with_tlvs(SIGNED, tlv_area(TLV_INFO_MAGIC, area[:2] + [
            (TLV_ECDSA_SIG, dict(parse_image(make_image(payload(64, seed=3), key=KEY)).tlvs)[TLV_ECDSA_SIG])])),
            "bad_signature"),
        "signature empty": (with_tlvs(SIGNED, tlv_area(TLV_INFO_MAGIC, area[:2] + [
            (TLV_ECDSA_SIG, b"")])), "bad_signature"),
        "key hash 31 bytes": (with_tlvs(SIGNED, tlv_area(TLV_INFO_MAGIC, [area[0],
                                                                          (TLV_KEYHASH, bytes(31))])), "bad_tlv"),
    }
    for name, (image, code) in cases.items():
        assert both_signed(c, image) == (code, code), name


def test_a_key_that_is_not_p256_is_refused_by_the_checker(c):
    from cryptography.hazmat.primitives.asymmetric import ec
    p384 = spki(ec.derive_private_key(7, ec.SECP384R1()).public_key())
    assert c_check(c, SIGNED, key=p384)[0] == "wrong_key"          # its hash is not in the image
    image = make_image(payload(64), tlvs=[(TLV_KEYHASH, __import__("hashlib").sha256(p384).digest())])
    assert c_check(c, image, key=p384)[0] == "bad_signature"       # the checker knows only P-256


def test_vector_edge_values_are_accepted(c):
    for p in (payload(64, sp=0x20000000, reset_off=0), payload(64, sp=RAM_END, reset_off=62)):
        assert both(c, make_image(p)) == ("ok", "ok")


def test_python_checks_vectors_only_when_given_the_slot_address():
    assert py_check(CORRUPT["sp_zero"][0]) == "ok"
    assert py_check(CORRUPT["vectors_not_128_aligned"][0]) == "ok"


def test_slot_size_bounds_the_image_in_python():
    with pytest.raises(ImageError, match="slot holds") as e:
        parse_image(BASE, slot_size=len(BASE) - 40)
    assert e.value.code == "too_large"
    with pytest.raises(ImageError, match="truncated") as e:
        parse_image(BASE[:T], slot_size=SLOT_SIZE)
    assert e.value.code == "too_large"


# ---- truncation -----------------------------------------------------------------

def test_truncated_images_are_rejected_cleanly_at_every_cut(c):
    image = make_image(payload(64), tlvs=[(0x7777, b"abc"), (0x20, bytes(9))], protected_tlvs=[(0x51, b"v1")])
    need = 0x200 + 64 + 10 + 4          # header + payload + protected area + TLV info
    cuts = [0, 1, 3, 4, 31, 32, 0x1FF, 0x200, 0x23F] + list(range(0x240, len(image)))
    for cut in cuts:
        expected = "too_large" if cut < need else "bad_tlv"
        assert both(c, image[:cut]) == (expected, expected), f"cut at {cut:#x}"
    assert both(c, image) == ("ok", "ok")


def tlv_boundaries(image):
    """Offsets where a TLV area or a TLV of `image` starts or ends."""
    info = parse_image(image)
    out, off = [], info.hdr_size + info.img_size
    for magic_area in (True, False):
        if magic_area and not info.protect_tlv_size:
            continue
        end = off + int.from_bytes(image[off + 2:off + 4], "little")
        out.append(off)
        pos = off + 4
        while pos < end:
            out.append(pos)
            pos += 4 + int.from_bytes(image[pos + 2:pos + 4], "little")
        out.append(end)
        off = end
    return sorted(set(out))


def test_a_signed_image_cut_at_every_tlv_boundary_is_refused_by_both(c):
    cuts = tlv_boundaries(SIGNED)
    assert len(cuts) >= 7 and cuts[-1] == len(SIGNED)
    for cut in cuts[:-1]:
        for at in (cut - 1, cut, cut + 1):
            cv, pv = both_signed(c, SIGNED[:at])
            assert cv == pv and cv in ("too_large", "bad_tlv"), f"cut at {at:#x}: C {cv}, Python {pv}"


def test_bytes_after_the_image_are_not_part_of_it(c):
    """A slot holds whatever was written there before: what follows the TLV
    area is ignored (and not hashed)."""
    for tail in (b"\xff" * 100, random.Random(5).randbytes(300), SIGNED):
        assert both_signed(c, SIGNED + tail) == ("ok", "ok")
        assert parse_image(SIGNED + tail).total_len == len(SIGNED)


def test_an_oversize_image_is_refused_by_both(c):
    """The header says more than the slot holds: too_large; the header and
    payload fit but the TLVs run past the slot's end: bad_tlv."""
    for size, code in ((SLOT_SIZE - 0x200, "too_large"), (SLOT_SIZE - 0x200 - 100, "bad_tlv")):
        big = make_image(payload(size), key=KEY)
        assert c_check(c, big[:SLOT_SIZE], key=PUB)[0] == code
        assert py_check(big, slot_size=SLOT_SIZE, slot_addr=SLOT, key=PUB) == code


# ---- the C file builds clean ------------------------------------------------------

@pytest.mark.parametrize("cc,flags", [
    ("cc", ["-std=c99", "-pedantic"]),
    ("arm-none-eabi-gcc", ["-mthumb", "-mcpu=cortex-m3", "-Os", "-ffreestanding"]),
])
def test_image_c_compiles_without_warnings(tmp_path, cc, flags):
    if not shutil.which(cc):
        pytest.fail(f"{cc} missing")
    subprocess.run([cc, *flags, "-Wall", "-Wextra", "-Werror", "-c", os.path.join(ROOT, "boot", "image.c"),
                    *MBEDTLS_FLAGS, "-o", str(tmp_path / "image.o")], check=True)


# ---- qx_image_parse: the header and TLVs only (what the bootloader reads of a slot it may not boot)

def test_parse_reads_what_an_image_claims_without_reading_it_whole(c):
    code, info = c_check(c, SIGNED, parse_only=True)
    full = c_check(c, SIGNED, key=PUB)[1]
    assert code == "ok" and (info.major, info.minor, info.revision, info.build) == (1, 2, 3, 4)
    assert info.security_counter == 7 and bytes(info.hash) == bytes(full.hash) == parse_image(SIGNED).sha256
    assert info.total == full.total and info.vector_offset == full.vector_offset
    # The vector table is the full check's last step, after the hash.
    for name in ("sp_zero", "reset_past_payload"):
        data, code = CORRUPT[name]
        assert c_check(c, data, parse_only=True)[0] == "ok" and c_check(c, data)[0] == code == "bad_vectors"


def test_parse_leaves_hash_key_and_signature_to_the_full_check(c):
    """A corrupt payload, another key, no signature: well formed, so parse
    says ok; only qx_image_check finds them."""
    p = parse_image(SIGNED)
    corrupt = patch(SIGNED, p.hdr_size + 20, "<B", SIGNED[p.hdr_size + 20] ^ 1)
    for image, full in ((corrupt, "bad_hash"), (make_image(payload(64), key=OTHER), "wrong_key"),
                        (make_image(payload(64)), "wrong_key")):
        assert c_check(c, image, parse_only=True)[0] == "ok"
        assert c_check(c, image, key=PUB)[0] == full


@pytest.mark.parametrize("name", sorted(n for n, (_, code) in CORRUPT.items()
                                        if code not in ("bad_hash", "bad_vectors")))
def test_parse_finds_every_structural_fault_the_full_check_finds(c, name):
    data, code = CORRUPT[name]
    assert c_check(c, data, parse_only=True)[0] == code == c_check(c, data)[0]
