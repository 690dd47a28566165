"""QEMU tests of booting: the bootloader's check of slot A (good image, and
images corrupted or truncated in several ways, which must never be entered),
the kernel banner and the tasks it starts, reboot (a fresh kernel) and power
off."""
import os
import re
import time

import pytest

from qemu_console import BUILD
from tools.imgformat import RESULTS, ImageError, make_image, parse_image, spki

pytestmark = pytest.mark.timeout(180)

REASONS = dict(RESULTS)            # code -> text the bootloader prints
NEVER_BOOTED = r"kernel:|qenex>"   # must not appear once slot A is rejected
RECOVERY_WAIT = 2.0                # seconds a rejected image is watched for


def started_at_boot(manifests):
    """Names of the tasks the kernel starts at boot, in its order: largest
    memory block first, then by id (kernel.Kernel.start_all)."""
    order = sorted(range(len(manifests)), key=lambda i: (-manifests[i].region_size(), i))
    return [manifests[i].name for i in order if manifests[i].start == "boot"]


@pytest.fixture(scope="module")
def boot_lines(version, board, manifests):
    """A regex of the console from power-on to the first prompt of a good
    image: bootloader, kernel banner, the tasks started (group 1: the build
    number, group 2: the commit)."""
    started = started_at_boot(manifests)
    return re.compile(
        r"\nboot: QENEX boot on mps2-an385\n"
        r"boot: slot A v%s\+(\d+) ok \(ecdsa-p256, key [0-9a-f]{8}\.\.\.\)\n"
        r"boot: slot B empty\n"
        r"boot: booting slot A v%s\+\d+ \((?:first boot: )?confirmed\)\n"
        r"kernel: QENEX OS %s \(commit ([0-9a-f]{12}(?:-dirty)?|unknown)\) on mps2-an385, "
        r"MicroPython 1\.25\.0\n"
        r"kernel: text \d+, data \d+, bss \d+ bytes; heap %d KiB, stack %d KiB\n"
        r"kernel: %d tasks, %d started: %s\n\Z"
        % (re.escape(version), re.escape(version), re.escape(version), board.KERNEL_HEAP_SIZE // 1024,
           board.KERNEL_STACK_SIZE // 1024, len(manifests), len(started),
           re.escape(" ".join(started))))


def slot_a(flash, board):
    """Slot A as the bootloader sees it: what the file holds there, then the
    zeros QEMU leaves in the rest of the (RAM-backed) flash."""
    return flash[board.SLOT_A_BASE:board.SLOT_A_BASE + board.SLOT_SIZE].ljust(board.SLOT_SIZE, b"\0")


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEV_KEY = os.path.join(ROOT, "build", "keys", "dev-ecdsa-p256.pem")


def dev_key():
    """The build's signing key (the bootloader trusts its public half)."""
    from cryptography.hazmat.primitives import serialization
    with open(DEV_KEY, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def host_verdict(flash, board):
    """What tools/imgformat.py says of slot A: "ok" or the bootloader's text
    ("empty" for erased or zeroed flash, which the bootloader names so)."""
    slot = slot_a(flash, board)
    if slot[:4] in (b"\0\0\0\0", b"\xff\xff\xff\xff"):
        return "empty"
    try:
        parse_image(slot, slot_size=board.SLOT_SIZE, slot_addr=board.SLOT_A_BASE,
                    key=spki(dev_key().public_key()))
    except ImageError as e:
        return REASONS[e.code]
    return "ok"


@pytest.fixture(scope="module")
def good(flash_bin, board):
    """(flash bytes, ImageInfo of slot A) of the built image."""
    with open(flash_bin, "rb") as f:
        flash = f.read()
    return flash, parse_image(slot_a(flash, board), slot_size=board.SLOT_SIZE,
                              slot_addr=board.SLOT_A_BASE)


def flipped(data, offset, mask=0xFF):
    data = bytearray(data)
    data[offset] ^= mask
    return bytes(data)


def repacked(flash, info, board, payload=None, version=None, key="dev"):
    """flash.bin with slot A rebuilt (valid hash; signed with the build's key,
    another key, or none) from a changed payload/version."""
    start = board.SLOT_A_BASE + info.hdr_size
    old = flash[start:start + info.img_size]
    if key == "dev":
        key = dev_key()
    image = make_image(old if payload is None else payload, version=version or info.version,
                       hdr_size=info.hdr_size, key=key)
    return flash[:board.SLOT_A_BASE] + image


def write(tmp_path, data):
    path = tmp_path / "flash.bin"
    path.write_bytes(data)
    return str(path)


def test_boot_reaches_prompt(device, boot_lines, good):
    m = boot_lines.fullmatch(device.boot_output)
    assert m, device.boot_output
    assert int(m.group(1)) == good[1].version[3]    # build number from the image header
    assert device.cmd("echo ready") == "ready\n"
    # The tasks started at boot run: heartbeat answers its first call.
    assert re.fullmatch(r"beat 1 at \d+ ms: hello\n", device.cmd("call heartbeat hello"))


# name -> (how to corrupt flash.bin, the rejection the bootloader must print
# or None for "whatever tools/imgformat.py says, as long as it is a rejection")
def _payload_byte(flash, info, b):
    return flipped(flash, b.SLOT_A_BASE + info.hdr_size + info.img_size // 3)


def _first_payload_byte(flash, info, b):
    return flipped(flash, b.SLOT_A_BASE + info.hdr_size, 0x01)


def _magic(flash, info, b):
    return flipped(flash, b.SLOT_A_BASE + 0, 0x01)


def _hash_tlv(flash, info, b):
    # The SHA-256 TLV comes first in the TLV area: info (4), type+len (4), hash.
    tlv_area = b.SLOT_A_BASE + info.hdr_size + info.img_size + info.protect_tlv_size
    return flipped(flash, tlv_area + 4 + 4 + 31)


def _truncated(flash, info, b):
    return flash[:b.SLOT_A_BASE + info.hdr_size + info.img_size // 2]


def _erased(flash, info, b):
    return flash[:b.SLOT_A_BASE]


def _too_large(flash, info, b):
    hdr = b.SLOT_A_BASE
    return flash[:hdr + 12] + (b.SLOT_SIZE).to_bytes(4, "little") + flash[hdr + 16:]


def _bad_sp(flash, info, b):
    start = b.SLOT_A_BASE + info.hdr_size
    payload = b"\0\0\0\0" + flash[start + 4:start + info.img_size]
    return repacked(flash, info, b, payload=payload)


def _bad_reset(flash, info, b):
    start = b.SLOT_A_BASE + info.hdr_size
    payload = flash[start:start + 4] + (0x10000001).to_bytes(4, "little") + flash[start + 8:start + info.img_size]
    return repacked(flash, info, b, payload=payload)


def _unsigned(flash, info, b):
    return repacked(flash, info, b, key=None)


def _other_key(flash, info, b):
    from cryptography.hazmat.primitives.asymmetric import ec
    return repacked(flash, info, b, key=ec.generate_private_key(ec.SECP256R1()))


def _signature_byte(flash, info, b):
    # TLV area: info (4), SHA-256 TLV (36), key-hash TLV (36), then the
    # signature TLV's header (4) and its DER bytes: flip one inside s.
    tlv_area = b.SLOT_A_BASE + info.hdr_size + info.img_size + info.protect_tlv_size
    return flipped(flash, tlv_area + 4 + 36 + 36 + 4 + 60, 0x01)


CORRUPTIONS = {
    "unsigned": (_unsigned, "wrong key"),
    "signed-with-another-key": (_other_key, "wrong key"),
    "signature-byte": (_signature_byte, "bad signature"),
    "payload-byte": (_payload_byte, "bad hash"),
    "first-payload-byte": (_first_payload_byte, "bad hash"),
    "magic": (_magic, "bad magic"),
    "hash-tlv": (_hash_tlv, "bad hash"),
    "truncated": (_truncated, None),
    "erased": (_erased, "empty"),
    "too-large": (_too_large, "too large"),
    "bad-sp": (_bad_sp, "bad vectors"),
    "bad-reset-vector": (_bad_reset, "bad vectors"),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_corrupt_slot_a_is_never_entered(name, boot, board, good, tmp_path):
    flash, info = good
    corrupt, reason = CORRUPTIONS[name]
    data = corrupt(flash, info, board)
    expected = host_verdict(data, board)
    assert expected != "ok", "the corruption left a valid image"
    if reason is not None:
        assert expected == reason, "host image check disagrees with the test's expectation"

    dev = boot(write(tmp_path, data))
    dev.expect_exact("boot: QENEX boot on mps2-an385\r\n", timeout=30)
    m = dev.expect(r"boot: slot A ([^\r\n]*)\r\n")
    assert m.group(1) == expected                 # the same verdict as the host tool
    dev.expect_exact("boot: no bootable image; staying in recovery\r\n")
    # Typing at the recovery loop does nothing: its UART is write-only.
    dev.send("help\r\r")
    dev.expect_absent(NEVER_BOOTED, RECOVERY_WAIT)
    assert dev.child.isalive()


def test_repacked_image_version_is_reported(boot, board, good, tmp_path):
    flash, info = good
    dev = boot(write(tmp_path, repacked(flash, info, board, version=(9, 8, 7, 6))))
    out = dev.wait_prompt()
    assert re.search(r"\nboot: slot A v9\.8\.7\+6 ok \(ecdsa-p256, key [0-9a-f]{8}\.\.\.\)\nboot: slot B empty\n", out)
    assert dev.cmd("echo up") == "up\n"


def test_an_image_signed_by_mcuboots_imgtool_boots(boot, board, tmp_path):
    """imgtool (PyPI) signs the kernel binary with the build's key; the
    bootloader verifies and boots it."""
    import subprocess
    import sys
    build = BUILD
    out = tmp_path / "slot.img"
    r = subprocess.run([os.path.join(os.path.dirname(sys.executable), "imgtool"), "sign", "-k", DEV_KEY,
                        "--header-size", hex(board.IMAGE_HEADER_SIZE), "--pad-header", "--align", "4",
                        "--version", "3.2.1+5", "--slot-size", hex(board.SLOT_SIZE),
                        os.path.join(build, "kernel", "firmware.bin"), str(out)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    boot_bin = open(os.path.join(build, "boot", "boot.bin"), "rb").read()
    flash = boot_bin.ljust(board.SLOT_A_BASE, b"\xff") + out.read_bytes()
    dev = boot(write(tmp_path, flash))
    out = dev.wait_prompt()
    assert re.search(r"\nboot: slot A v3\.2\.1\+5 ok \(ecdsa-p256, key [0-9a-f]{8}\.\.\.\)\n", out)
    assert dev.cmd("echo up") == "up\n"


# ---- two slots, trial boots, rollback --------------------------------------------
# Each slot's image is linked to run from it: slot B holds firmware-b.bin.
FIRMWARE_B = os.path.join(BUILD, "kernel", "firmware-b.bin")


def with_slot_b(flash, board, image):
    return flash.ljust(board.SLOT_B_BASE, b"\xff")[:board.SLOT_B_BASE] + image


def slot_b_image(version, key="dev", counter="auto"):
    """The built kernel, linked for slot B, signed as version `version`."""
    with open(FIRMWARE_B, "rb") as f:
        payload = f.read()
    return make_image(payload, version=version, hdr_size=0x200, key=dev_key() if key == "dev" else key,
                      security_counter=counter)


def slot_a_image(flash, info, board, version):
    return repacked(flash, info, board, version=version)[board.SLOT_A_BASE:]


def booted(out):
    """(slot, version text, how) from the bootloader's "booting" line."""
    m = re.search(r"\nboot: booting slot ([AB]) v(\S+) (.*)\n", out)
    assert m, out
    return m.groups()


def test_a_tampered_slot_a_falls_back_to_slot_b(boot, board, good, tmp_path):
    """A (the newer) is chosen, fails its check; B is verified before it boots."""
    flash, info = good
    data = with_slot_b(_payload_byte(flash, info, board), board, slot_b_image((0, 0, 9, 1)))
    dev = boot(write(tmp_path, data))
    out = dev.wait_prompt()
    assert re.search(r"\nboot: slot A bad hash\nboot: slot B v0\.0\.9\+1 ok \(ecdsa-p256, [^\n]*\n"
                     r"boot: booting slot B v0\.0\.9\+1 \(first boot: confirmed\)\nkernel: ", out), out
    assert dev.cmd("boot").startswith("boot: slot B v0.0.9+1, confirmed (first boot)\n")


def test_a_tampered_slot_that_would_not_boot_is_not_read_whole(boot, board, good, tmp_path):
    """A tampered A beside a newer B: B boots, verified; A's hash is never
    computed (the bootloader says so), so it costs nothing."""
    flash, info = good
    data = with_slot_b(_payload_byte(flash, info, board), board, slot_b_image((0, 9, 0, 1)))
    out = boot(write(tmp_path, data)).wait_prompt()
    assert re.search(r"\nboot: slot A v%s not verified \(not booting it\)\n"
                     r"boot: slot B v0\.9\.0\+1 ok \(ecdsa-p256, [^\n]*\n"
                     r"boot: booting slot B v0\.9\.0\+1 " % re.escape(info_version(info)), out), out


ICOUNT = ("-icount", "shift=0,sleep=off")     # the counter then counts instructions, not host time


def bootloader_counts(dev):
    """The bootloader's share of the boot (25 MHz counts), from `uptime`."""
    m = re.search(r"bootloader and image check (\d+) counts", dev.cmd("uptime"))
    assert m
    return int(m.group(1))


def test_an_image_linked_for_slot_a_is_refused_in_slot_b(boot, board, good, tmp_path):
    flash, info = good
    data = with_slot_b(flash, board, slot_a_image(flash, info, board, (9, 0, 0, 0)))
    out = boot(write(tmp_path, data)).wait_prompt()
    assert "\nboot: slot B bad vectors\n" in out and booted(out)[:2] == ("A", info_version(info))


def info_version(info):
    return "%d.%d.%d+%d" % tuple(info.version)


def test_an_older_image_in_slot_b_is_left_alone(boot, board, good, tmp_path):
    flash, info = good
    data = with_slot_b(repacked(flash, info, board, version=(5, 0, 0, 0)), board, slot_b_image((4, 0, 0, 0)))
    dev = boot(write(tmp_path, data), qemu_args=ICOUNT)
    out = dev.wait_prompt()
    assert re.search(r"boot: slot A v5\.0\.0\+0 ok .*\nboot: slot B v4\.0\.0\+0 not verified \(not booting it\)\n",
                     out), out
    assert booted(out) == ("A", "5.0.0+0", "(first boot: confirmed)")
    # Only the slot that boots is verified: the bootloader takes about as
    # long with B full as with B empty. A second check would add ~40 M
    # instructions (1,000,000 counts); B's header costs nothing to speak of,
    # its console line ~30,000 counts, more when the host reads the console
    # slowly (the UART then holds the bootloader's writes).
    with_b = bootloader_counts(dev)
    dev.terminate()
    alone = boot(write(tmp_path, repacked(flash, info, board, version=(5, 0, 0, 0))), qemu_args=ICOUNT)
    alone.wait_prompt()
    assert abs(with_b - bootloader_counts(alone)) < 300000, (with_b, bootloader_counts(alone))


def test_two_bad_slots_give_recovery_with_both_reasons(boot, board, good, tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec
    flash, info = good
    data = with_slot_b(_payload_byte(flash, info, board), board,
                       slot_b_image((1, 0, 0, 0), key=ec.generate_private_key(ec.SECP256R1())))
    dev = boot(write(tmp_path, data))
    dev.expect_exact("boot: slot A bad hash\r\n", timeout=30)
    dev.expect_exact("boot: slot B wrong key\r\n")
    dev.expect_exact("boot: no bootable image; staying in recovery\r\n")
    dev.expect_absent(NEVER_BOOTED, RECOVERY_WAIT)


@pytest.fixture
def upgraded(boot, board, good, tmp_path):
    """A board whose slot A image was confirmed on its first boot (the
    storage file keeps that), then given slot B = v9.0.0 and booted: the
    upgrade's trial boot, at the prompt. Returns (device, storage, paths)."""
    flash, info = good
    storage = str(tmp_path / "storage.bin")
    first = boot(write(tmp_path, flash), storage)
    assert booted(first.wait_prompt())[2] == "(first boot: confirmed)"
    first.terminate()
    both = tmp_path / "both.bin"
    both.write_bytes(with_slot_b(flash, board, slot_b_image((9, 0, 0, 0))))
    only_a = tmp_path / "a.bin"
    only_a.write_bytes(flash)
    dev = boot(str(both), storage)
    out = dev.wait_prompt()
    assert booted(out) == ("B", "9.0.0+0", "on trial (confirm with `boot confirm`)")
    status = dev.cmd("boot")
    assert status.startswith("boot: slot B v9.0.0+0, trial\n") and "confirms itself in" in status
    return dev, storage, str(both), str(only_a)


def test_an_unconfirmed_upgrade_reverts_at_the_next_reset(upgraded, good):
    dev, storage, both, only_a = upgraded
    dev.send("reboot\r")
    out = dev.wait_prompt()
    assert "boot: slot B v9.0.0+0 refused: its trial boot was never confirmed (reverted)\n" in out
    assert booted(out) == ("A", info_version(good[1]), "(confirmed)")
    assert dev.cmd("boot").startswith("boot: slot A v%s, confirmed\n" % info_version(good[1]))


def test_a_confirmed_upgrade_sticks_and_the_old_image_is_refused(upgraded, boot):
    dev, storage, both, only_a = upgraded
    out = dev.cmd("boot confirm")
    assert out == "boot: slot B v9.0.0+0 confirmed; security counter %d\n" % (9 << 24)
    dev.terminate()
    # The state is in the storage file: a new QEMU boots B as confirmed.
    dev = boot(both, storage)
    assert booted(dev.wait_prompt()) == ("B", "9.0.0+0", "(confirmed)")
    dev.terminate()
    # Slot B gone: the old image in A is below the stored security counter.
    dev = boot(only_a, storage)
    dev.expect(r"boot: slot A v\S+ refused: rolled back \(security counter 65536 < %d\)\r\n" % (9 << 24),
               timeout=30)
    dev.expect_exact("boot: no bootable image; staying in recovery\r\n")
    dev.expect_absent(NEVER_BOOTED, RECOVERY_WAIT)


def test_a_healthy_trial_boot_confirms_itself(upgraded, boot):
    dev, storage, both, only_a = upgraded
    mark = dev.mark()
    dev.wait_line(r"boot: slot B v9\.0\.0\+0 confirmed \(boot tasks healthy for 5000 ms\); "
                  r"security counter now %d" % (9 << 24), since=mark, timeout=30)
    assert dev.cmd("boot").startswith("boot: slot B v9.0.0+0, confirmed\n")
    dev.send("reboot\r")
    assert booted(dev.wait_prompt()) == ("B", "9.0.0+0", "(confirmed)")


def _uptime_ms(dev):
    return int(re.search(r"\((\d+) ms\)", dev.cmd("uptime")).group(1))


def test_reboot(device, boot_lines):
    for _ in range(2):
        device.cmd("echo before")                  # something in the history
        # Leave some state behind: a fault, a spinning task, heartbeat beats.
        mark = device.mark()
        device.cmd("start peek_kernel")
        device.wait_line(r"fault: task peek_kernel \(id \d+\): .*", since=mark)
        assert device.cmd("start spin").startswith("started task ")
        device.cmd("call heartbeat one")
        # The guest's ms clock counts timer interrupts, which a loaded host
        # delivers late: wait for 400 ms of it, not of the host's.
        deadline = time.monotonic() + 20
        before = _uptime_ms(device)
        while before < 400 and time.monotonic() < deadline:
            time.sleep(0.1)
            before = _uptime_ms(device)
        assert before >= 400
        device.send("reboot\r")
        device.expect_exact("reboot\r\nrebooting...\r\n")
        out = device.wait_prompt()
        assert boot_lines.fullmatch(out), out
        # A fresh kernel: its history is empty (up-arrow recalls nothing, so
        # Enter runs an empty line) and its clock started again.
        device.send("\x1b[A\r")
        device.expect_exact("\r\n" + "qenex> ")
        assert _uptime_ms(device) < before
        assert device.cmd("echo back") == "back\n"
        # A fresh kernel: no faults, spin stopped, heartbeat counts from 1.
        assert device.faults() == (0, [])
        assert device.ps()["spin"]["STATE"] == "stopped"
        assert re.fullmatch(r"beat 1 at \d+ ms: two\n", device.cmd("call heartbeat two"))


def test_poweroff_exits_qemu_with_status_0(device):
    device.send("poweroff\r")
    device.expect_exact("poweroff\r\npower off\r\n")
    assert device.wait_exit(timeout=10) == (0, None)


def test_poweroff_while_a_task_spins(device):
    """Power off works with a task hogging the CPU at priority 2."""
    assert device.cmd("start spin").startswith("started task ")
    device.send("poweroff\r")
    device.expect_exact("poweroff\r\npower off\r\n")
    assert device.wait_exit(timeout=10) == (0, None)
