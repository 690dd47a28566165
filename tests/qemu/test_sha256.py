"""The bootloader's SHA-256 on the board (mbedtls with OpenSSL's CRYPTOGAMS
ARMv7 block function, boot/sha256_arm.c), run by the harness
tests/qemu/harness/sha256.c under QEMU: known vectors against hashlib, every
length 0..300 at four offsets and six update sizes against mbedtls's own C
(linked into the same harness), and 64 KiB of pseudo-random bytes against both.
The host build of the checker keeps mbedtls's C (tests/host/test_image_format.py)."""
import hashlib

import pytest

from tools import shaharness

VECTORS = {
    "0": b"",
    "1": b"abc",
    "2": b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
    "3": b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
         b"mnopqrstnopqrstu",
    "a*1000000": b"a" * 1000000,
}


@pytest.fixture(scope="module")
def result():
    return shaharness.run()


def test_known_vectors(result):
    assert sorted(result["vectors"]) == sorted(VECTORS)
    for name, msg in VECTORS.items():
        assert result["vectors"][name] == hashlib.sha256(msg).hexdigest(), name


def test_assembly_matches_mbedtls_c_at_every_length_offset_and_split(result):
    bad, cases = result["sweep"]
    assert cases == 301 * 4 * 6
    assert bad == 0


def test_big_buffer_matches_c_and_hashlib(result):
    want = hashlib.sha256(shaharness.big_bytes()).hexdigest()
    assert result["big"] == (want, want)


def test_assembly_is_faster_than_c(result):
    # The figures themselves are make bench's; this only catches the
    # harness timing the wrong thing (or the C build picking up the assembly).
    assert 20 < result["asm_per_byte"] < 35
    assert result["c_per_byte"] > result["asm_per_byte"] + 5
