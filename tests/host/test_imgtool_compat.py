"""Compatibility with MCUboot's own tool, tested rather than claimed: imgtool
(PyPI, pinned) validates the images `qenex image sign` makes, and images
imgtool signs pass our host checker and the bootloader's C checker (the QEMU
test boots one: tests/qemu/test_boot.py)."""
import os
import subprocess
import sys

import pytest

from tools import imgformat
from tools.layout import ROOT, load_board

BOARD = load_board("mps2-an385")
BUILD = os.path.join(ROOT, "build", "mps2-an385")
KEY = os.path.join(ROOT, "build", "keys", "dev-ecdsa-p256.pem")
IMGTOOL = os.path.join(os.path.dirname(sys.executable), "imgtool")


def imgtool(*args):
    return subprocess.run([IMGTOOL, *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module", autouse=True)
def built():
    for path in (KEY, os.path.join(BUILD, "kernel", "slot-a.img"), IMGTOOL):
        if not os.path.exists(path):
            pytest.fail("%s missing: run `make build`" % path)


def imgtool_signed(tmp_path, version="0.1.0+7", *extra):
    out = tmp_path / "imgtool.img"
    r = imgtool("sign", "-k", KEY, "--header-size", hex(BOARD.IMAGE_HEADER_SIZE), "--pad-header", "--align", "4",
                "--version", version, "--slot-size", hex(BOARD.SLOT_SIZE), *extra,
                os.path.join(BUILD, "kernel", "firmware.bin"), str(out))
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


def test_imgtool_validates_our_signed_image():
    r = imgtool("verify", "-k", KEY, os.path.join(BUILD, "kernel", "slot-a.img"))
    assert r.returncode == 0 and "Image was correctly validated" in r.stdout, r.stdout + r.stderr


def test_imgtool_refuses_our_image_with_another_key(tmp_path):
    other = tmp_path / "other.pem"
    assert imgtool("keygen", "-k", str(other), "-t", "ecdsa-p256").returncode == 0
    r = imgtool("verify", "-k", str(other), os.path.join(BUILD, "kernel", "slot-a.img"))
    assert r.returncode != 0


def test_an_imgtool_signed_image_passes_our_checker(tmp_path):
    from cryptography.hazmat.primitives import serialization
    image = imgtool_signed(tmp_path)
    pub = imgformat.spki(serialization.load_pem_private_key(open(KEY, "rb").read(), None).public_key())
    info = imgformat.parse_image(image, slot_size=BOARD.SLOT_SIZE, slot_addr=BOARD.SLOT_A_BASE, key=pub)
    assert info.version == (0, 1, 0, 7)
    assert [t for t, _ in info.tlvs] == [imgformat.TLV_SHA256, imgformat.TLV_KEYHASH, imgformat.TLV_ECDSA_SIG]
    r = subprocess.run([sys.executable, "-m", "tools.qenex", "image", "verify", "--key", KEY,
                        str(tmp_path / "imgtool.img")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and "v0.1.0+7 ok" in r.stdout, r.stderr


@pytest.fixture(scope="module")
def c_checker(tmp_path_factory):
    import test_image_format
    return test_image_format.build_checker(str(tmp_path_factory.mktemp("cffi-compat")))


def test_the_c_checker_accepts_the_imgtool_image(tmp_path, c_checker):
    import test_image_format
    from cryptography.hazmat.primitives import serialization
    image = imgtool_signed(tmp_path)
    pub = imgformat.spki(serialization.load_pem_private_key(open(KEY, "rb").read(), None).public_key())
    assert test_image_format.c_check(c_checker, image, slot_addr=BOARD.SLOT_A_BASE, key=pub)[0] == "ok"


def test_imgtools_security_counter_is_the_one_we_read(tmp_path, c_checker):
    """imgtool --security-counter puts TLV 0x50 in the protected area; both
    our checkers read it (the bootloader's rollback protection uses it)."""
    import test_image_format
    from cryptography.hazmat.primitives import serialization
    pub = imgformat.spki(serialization.load_pem_private_key(open(KEY, "rb").read(), None).public_key())
    for arg, want in (("9", 9), ("auto", (1 << 24) | (2 << 16) | 3)):
        image = imgtool_signed(tmp_path, "1.2.3+4", "--security-counter", arg)
        info = imgformat.parse_image(image, slot_size=BOARD.SLOT_SIZE, slot_addr=BOARD.SLOT_A_BASE, key=pub)
        code, cinfo = test_image_format.c_check(c_checker, image, slot_addr=BOARD.SLOT_A_BASE, key=pub)
        assert info.security_counter == cinfo.security_counter == want and code == "ok"
    ours = imgformat.parse_image(open(os.path.join(BUILD, "kernel", "slot-a.img"), "rb").read())
    assert ours.security_counter == imgformat.auto_counter(ours.version)
