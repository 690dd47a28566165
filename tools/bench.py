"""`make bench`: QENEX OS costs measured under QEMU with `-icount shift=0`, where
one guest instruction takes one virtual nanosecond, so figures are guest
instructions and repeat exactly from run to run. Wall time is reported where a
person feels it (boot to prompt).

Measured now: firmware footprint, bootloader + image check, kernel start, boot
to prompt (guest instructions and wall time).
"""
import argparse
import re
import time

import pexpect
from elftools.elf.elffile import ELFFile

from tools import qemu
from tools.layout import ROOT, load_board

NS_PER_COUNT = 40           # the FPGA counter runs at 25 MHz


def footprint(path):
    with open(path, "rb") as f:
        elf = ELFFile(f)
        sizes = {"text": 0, "data": 0, "bss": 0}
        for s in elf.iter_sections():
            if not s["sh_flags"] & 2:
                continue
            kind = "bss" if s["sh_type"] == "SHT_NOBITS" else "data" if s["sh_flags"] & 1 else "text"
            sizes[kind] += s["sh_size"]
        return sizes


def boot_figures(board):
    cmd = qemu.command(board, serial="stdio", icount=True)
    t0 = time.monotonic()
    child = pexpect.spawn(cmd[0], cmd[1:], timeout=60, encoding="utf-8", codec_errors="replace")
    try:
        child.expect_exact("qenex> ")
        wall = time.monotonic() - t0
        child.send("uptime\r")
        child.expect(r"boot to prompt: (\d+) counts.*\n\s+bootloader and image check (\d+) counts, "
                     r"kernel start (\d+) counts")
        prompt, entry, start = (int(x) for x in child.match.groups())
        child.expect_exact("qenex> ")
        child.send("poweroff\r")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    return {"boot_to_prompt": prompt * NS_PER_COUNT, "bootloader": entry * NS_PER_COUNT,
            "kernel_start": start * NS_PER_COUNT, "wall_s": wall}


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--board", default="mps2-an385")
    args = p.parse_args()
    board = load_board(args.board)
    b = "%s/build/%s" % (ROOT, args.board)
    k, bl = footprint(b + "/kernel/firmware.elf"), footprint(b + "/boot/boot.elf")
    f = boot_figures(args.board)
    rows = [
        ("kernel firmware text / data / bss (bytes)", "%d / %d / %d" % (k["text"], k["data"], k["bss"])),
        ("bootloader text / data / bss (bytes)", "%d / %d / %d" % (bl["text"], bl["data"], bl["bss"])),
        ("bootloader + SHA-256 image check (guest instr.)", "{:,}".format(f["bootloader"])),
        ("kernel start to prompt (guest instr.)", "{:,}".format(f["kernel_start"])),
        ("reset to qenex> prompt (guest instr.)", "{:,}".format(f["boot_to_prompt"])),
        ("reset to qenex> prompt (wall, QEMU start incl.)", "%.2f s" % f["wall_s"]),
    ]
    print("QENEX OS benchmarks on %s (qemu-system-arm -icount shift=0)" % board.NAME)
    w = max(len(r[0]) for r in rows)
    print("| %s | %s |" % ("measure".ljust(w), "value"))
    print("| %s | --- |" % ("-" * w))
    for name, value in rows:
        print("| %s | %s |" % (name.ljust(w), value))


if __name__ == "__main__":
    main()
