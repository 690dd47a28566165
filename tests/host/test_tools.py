"""The host tools against the built firmware: `qenex image info/pack/flash` and
the board layout that tools/layout.py derives from board.py."""
import os
import subprocess
import sys

import pytest

from tools import imgformat, layout

ROOT = layout.ROOT
BOARD = layout.load_board("mps2-an385")
BUILD = os.path.join(ROOT, "build", "mps2-an385")
ELF = os.path.join(BUILD, "kernel", "firmware.elf")
FLASH = os.path.join(ROOT, "images", "mps2-an385", "flash.bin")
VERSION = open(os.path.join(ROOT, "VERSION")).read().strip()
KEY = os.path.join(ROOT, "build", "keys", "dev-ecdsa-p256.pem")


def qenex(*args):
    return subprocess.run([sys.executable, "-m", "tools.qenex"] + list(args), cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module", autouse=True)
def built():
    if not (os.path.exists(ELF) and os.path.exists(FLASH)):
        pytest.fail("firmware not built: run `make build` first")


def arm_size_sections(path):
    """Section sizes as binutils' size(1) reports them: an independent reading."""
    out = subprocess.run(["arm-none-eabi-size", "-A", path], capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines()[2:]:
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith("."):
            rows[parts[0]] = (int(parts[1]), int(parts[2]))
    return rows


def test_image_info_on_elf_agrees_with_binutils_size():
    r = qenex("image", "info", ELF)
    assert r.returncode == 0, r.stderr
    sections = arm_size_sections(ELF)
    for name in (".text", ".data", ".bss"):
        size, addr = sections[name]
        line = next(l for l in r.stdout.splitlines() if l.split()[:1] == [name])
        assert int(line.split()[1], 16) == addr and int(line.split()[2]) == size
    in_ram = {n: BOARD.RAM_BASE <= addr < BOARD.RAM_BASE + BOARD.RAM_SIZE for n, (_, addr) in sections.items()}
    alloc = {n: v for n, v in sections.items() if v[1]}      # size(1) lists debug sections at 0
    flash = sum(size for n, (size, _) in alloc.items() if not in_ram[n] or n in (".data", ".vmstate", ".net"))
    ram = sum(size for n, (size, _) in alloc.items() if in_ram[n])
    assert "flash used %d of %d bytes" % (flash, BOARD.SLOT_SIZE - BOARD.IMAGE_HEADER_SIZE) in r.stdout
    assert "RAM used %d of %d bytes" % (ram, BOARD.RAM_SIZE) in r.stdout
    assert "largest symbols:" in r.stdout


def test_image_info_on_flash_reports_version_and_hash():
    r = qenex("image", "info", FLASH)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "version %s+" % VERSION in r.stdout and "hash ok" in r.stdout


def test_image_info_on_a_flipped_payload_byte_says_bad_hash_and_fails(tmp_path):
    data = bytearray(open(FLASH, "rb").read())
    data[BOARD.SLOT_A_BASE + BOARD.IMAGE_HEADER_SIZE + 1000] ^= 0x40
    bad = tmp_path / "flash.bin"
    bad.write_bytes(bytes(data))
    r = qenex("image", "info", str(bad))
    assert r.returncode == 1 and "hash BAD" in r.stdout


def test_image_info_refuses_an_unknown_file_with_a_clear_error(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 100)
    r = qenex("image", "info", str(junk))
    assert r.returncode != 0 and "neither an ELF file" in r.stderr
    r = qenex("image", "info", str(tmp_path / "missing.bin"))
    assert r.returncode != 0 and "cannot read" in r.stderr


@pytest.mark.parametrize("bad", ["1.2", "1.2.x", "256.0.0", "1.2.3+-1", ""])
def test_image_pack_refuses_a_malformed_version(tmp_path, bad):
    r = qenex("image", "pack", "--key", KEY, "--version", bad, os.path.join(BUILD, "kernel", "firmware.bin"),
              str(tmp_path / "out.img"))
    assert r.returncode != 0 and "version" in r.stderr and not (tmp_path / "out.img").exists()


def test_image_pack_and_flash_rebuild_the_same_flash_bin(tmp_path):
    slot = tmp_path / "slot.img"
    r = qenex("image", "pack", "--key", KEY, "--version", VERSION, os.path.join(BUILD, "kernel", "firmware.bin"),
              str(slot))
    assert r.returncode == 0, r.stderr
    info = imgformat.parse_image(slot.read_bytes(), slot_size=BOARD.SLOT_SIZE, slot_addr=BOARD.SLOT_A_BASE)
    assert imgformat.format_version(info.version) == VERSION + "+0"
    assert qenex("image", "verify", "--key", KEY, str(slot)).returncode == 0
    out = tmp_path / "flash.bin"
    r = qenex("image", "flash", "--boot", os.path.join(BUILD, "boot", "boot.bin"), "--slot-a", str(slot), str(out))
    assert r.returncode == 0, r.stderr
    # The same bytes as flash.bin up to the TLV area (ECDSA signs with a fresh
    # nonce, so the signature and the area's length differ); both verify.
    built, rebuilt = open(FLASH, "rb").read(), out.read_bytes()
    tlvs_at = BOARD.SLOT_A_BASE + info.hdr_size + info.img_size
    assert rebuilt[:tlvs_at] == built[:tlvs_at]
    for image in (built, rebuilt):
        imgformat.parse_image(image[BOARD.SLOT_A_BASE:], slot_addr=BOARD.SLOT_A_BASE,
                              key=imgformat.spki(_dev_public()))


def test_image_flash_refuses_a_bootloader_too_big_for_its_area(tmp_path):
    big = tmp_path / "boot.bin"
    big.write_bytes(b"\0" * (BOARD.BOOT_SIZE + 1))
    r = qenex("image", "flash", "--boot", str(big), "--slot-a", FLASH, str(tmp_path / "f.bin"))
    assert r.returncode != 0 and "boot area holds" in r.stderr


def test_board_regions_are_ordered_aligned_and_inside_flash():
    regions = [(BOARD.BOOT_BASE, BOARD.BOOT_SIZE), (BOARD.SLOT_A_BASE, BOARD.SLOT_SIZE),
               (BOARD.SLOT_B_BASE, BOARD.SLOT_SIZE)]
    for (base, size), (nxt, _) in zip(regions, regions[1:]):
        assert base + size <= nxt
    assert regions[-1][0] + regions[-1][1] <= BOARD.FLASH_BASE + BOARD.FLASH_SIZE
    for base in (BOARD.SLOT_A_BASE, BOARD.SLOT_B_BASE):
        assert (base + BOARD.IMAGE_HEADER_SIZE) % imgformat.VECTOR_ALIGN == 0


def test_storage_areas_are_whole_sectors_inside_the_store():
    areas = [(BOARD.BOOT_STATE_OFFSET, 2 * BOARD.SECTOR_SIZE),
             (BOARD.BUNDLE_STORE_OFFSET, BOARD.BUNDLE_STORE_SIZE)]
    for (off, size), (nxt, _) in zip(areas, areas[1:]):
        assert off + size <= nxt
    assert areas[-1][0] + areas[-1][1] <= BOARD.STORAGE_SIZE
    for off, size in areas:
        assert off % BOARD.SECTOR_SIZE == 0 and size % BOARD.SECTOR_SIZE == 0
    # outside the flash and every RAM the firmware uses
    assert BOARD.STORAGE_BASE >= BOARD.RAM_BASE + BOARD.RAM_SIZE


def test_generated_layout_header_matches_board_py():
    text = open(os.path.join(BUILD, "gen", "layout.h")).read()
    for name in ("SLOT_A_BASE", "SLOT_SIZE", "RAM_BASE", "UART0_BASE", "TIMER0_IRQ"):
        assert "#define QX_%s (0x%08xu)" % (name, getattr(BOARD, name)) in text


def test_kernel_vector_table_sits_right_after_the_image_header():
    from elftools.elf.elffile import ELFFile
    with open(ELF, "rb") as f:
        sym = ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name("qx_vectors")[0]
    assert sym["st_value"] == BOARD.SLOT_A_BASE + BOARD.IMAGE_HEADER_SIZE


def _dev_public():
    from cryptography.hazmat.primitives import serialization
    return serialization.load_pem_private_key(open(KEY, "rb").read(), password=None).public_key()


def test_keygen_refuses_to_overwrite_a_key(tmp_path):
    key = tmp_path / "k.pem"
    assert qenex("image", "keygen", str(key)).returncode == 0
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    r = qenex("image", "keygen", str(key))
    assert r.returncode != 0 and "not overwriting" in r.stderr


def test_verify_names_the_check_that_failed(tmp_path):
    other = tmp_path / "other.pem"
    qenex("image", "keygen", str(other))
    r = qenex("image", "verify", "--key", str(other), FLASH)
    assert r.returncode != 0 and "wrong_key" in r.stderr
    assert qenex("image", "verify", "--key", KEY, FLASH).returncode == 0
    data = bytearray(open(FLASH, "rb").read())
    data[-30] ^= 1                                  # inside the signature
    bad = tmp_path / "flash.bin"
    bad.write_bytes(bytes(data))
    r = qenex("image", "verify", "--key", KEY, str(bad))
    assert r.returncode != 0 and "bad_signature" in r.stderr


def test_pack_refuses_a_key_that_is_not_p256(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    k = tmp_path / "ed.pem"
    k.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    r = qenex("image", "pack", "--key", str(k), "--version", VERSION, os.path.join(BUILD, "kernel", "firmware.bin"),
              str(tmp_path / "o.img"))
    assert r.returncode != 0 and "not an ECDSA P-256 key" in r.stderr
