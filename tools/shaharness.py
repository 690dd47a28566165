"""Runs the SHA-256 harness (tests/qemu/harness/sha256.c, built by `make
build` as build/<board>/boot/sha256-harness.elf) under `qemu-system-arm
-icount shift=0` and returns what it printed: the digests of the known
vectors by the bootloader's SHA-256 (mbedtls with OpenSSL's ARMv7 assembly
block function), the sweep of lengths and offsets against mbedtls's C, the
digests of BIG pseudo-random bytes by both, and both costs in guest
instructions a byte. Used by tests/qemu/test_sha256.py and `make bench`."""
import os
import re
import select
import struct
import subprocess
import time

from tools.qemu import build_path
from tools.layout import load_board

BIG = 65536


def harness_path(board):
    return os.path.join(build_path(board), "boot", "sha256-harness.elf")


def big_bytes(n=BIG):
    """The harness's pseudo-random bytes: xorshift32 from seed 1, each word little-endian."""
    x, out = 1, bytearray()
    for _ in range(n // 4):
        x ^= (x << 13) & 0xffffffff
        x ^= x >> 17
        x ^= (x << 5) & 0xffffffff
        out += struct.pack("<I", x)
    return bytes(out)


def run(board="mps2-an385", timeout=120):
    """{"vectors": {name: hex}, "sweep": (mismatches, cases), "big": (asm hex, c hex),
    "asm_per_byte": float, "c_per_byte": float}; raises when the harness does not finish."""
    path = harness_path(board)
    if not os.path.isfile(path):
        raise FileNotFoundError("%s does not exist: run `make build` first" % path)
    cmd = ["qemu-system-arm", "-M", load_board(board).QEMU_MACHINE, "-display", "none", "-monitor", "none",
           "-serial", "stdio", "-icount", "shift=0,sleep=off", "-kernel", path]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = []
    try:
        end = time.monotonic() + timeout
        buf = ""
        while not re.search(r"^(done|fault)\r?$", buf, re.M):
            left = end - time.monotonic()
            if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
                raise TimeoutError("the SHA-256 harness did not finish in %d s:\n%s" % (timeout, buf))
            chunk = os.read(proc.stdout.fileno(), 4096).decode(errors="replace")
            if not chunk:
                raise RuntimeError("the SHA-256 harness's QEMU exited:\n%s" % buf)
            buf += chunk
        lines = buf.replace("\r", "").splitlines()
    finally:
        proc.kill()
        proc.wait()
    if "fault" in lines:
        raise RuntimeError("the SHA-256 harness faulted:\n%s" % "\n".join(lines))
    out = {"vectors": {}}
    for line in lines:
        m = re.match(r"vector (\S+) ([0-9a-f]{64})$", line)
        if m:
            out["vectors"][m.group(1)] = m.group(2)
        m = re.match(r"sweep (\d+) (\d+)$", line)
        if m:
            out["sweep"] = (int(m.group(1)), int(m.group(2)))
        m = re.match(r"big ([0-9a-f]{64}) ([0-9a-f]{64})$", line)
        if m:
            out["big"] = m.groups()
        m = re.match(r"perbyte (\d+) (\d+)$", line)
        if m:
            out["asm_per_byte"], out["c_per_byte"] = int(m.group(1)) / 100, int(m.group(2)) / 100
    return out
