"""`qenex`: the host command-line tool of QENEX OS.

    qenex build [--board B]             build images/<board>/flash.bin (runs make)
    qenex run [--board B] [--icount] [--socket PATH]
                                        boot flash.bin in QEMU (console here,
                                        or on a unix socket for `qenex console`)
    qenex console --socket PATH         attach to a console socket (Ctrl-] leaves)
    qenex image info FILE               describe an ELF, a slot image or flash.bin
    qenex image pack FIRMWARE.bin OUT   wrap a kernel binary as a slot image
    qenex image flash --boot B --slot-a A OUT   assemble flash.bin

Run as `python -m tools.qenex` (the Makefile uses build/venv/bin/python).
"""
import argparse
import os
import subprocess
import sys

from tools import imgformat, qemu
from tools.layout import ROOT, load_board


def parse_version(text):
    """"1.2.3" or "1.2.3+4" -> (1, 2, 3, 4), with a clear error otherwise."""
    main, _, build = text.strip().partition("+")
    parts = main.split(".")
    try:
        if len(parts) != 3:
            raise ValueError
        v = tuple(int(p) for p in parts) + (int(build) if build else 0,)
    except ValueError:
        raise SystemExit("qenex: bad version %r (expected MAJOR.MINOR.REVISION[+BUILD])" % text)
    limits = (0xff, 0xff, 0xffff, 0xffffffff)
    if any(not 0 <= x <= m for x, m in zip(v, limits)):
        raise SystemExit("qenex: version %r out of range (255.255.65535+4294967295)" % text)
    return v


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise SystemExit("qenex: cannot read %s: %s" % (path, e.strerror))


# --- image ---------------------------------------------------------------------

def cmd_image_pack(args):
    board = load_board(args.board)
    payload = read(args.firmware)
    img = imgformat.make_image(payload, parse_version(args.version), hdr_size=board.IMAGE_HEADER_SIZE)
    try:
        imgformat.parse_image(img, slot_size=board.SLOT_SIZE, slot_addr=board.SLOT_A_BASE)
    except imgformat.ImageError as e:
        raise SystemExit("qenex: refusing to write %s: %s" % (args.out, e))
    with open(args.out, "wb") as f:
        f.write(img)
    print("image: %s v%s, %d bytes payload, %d bytes in slot (%d%% of %d KiB)" % (
        args.out, imgformat.format_version(parse_version(args.version)), len(payload), len(img),
        len(img) * 100 // board.SLOT_SIZE, board.SLOT_SIZE // 1024))


def cmd_image_flash(args):
    board = load_board(args.board)
    boot, slot_a = read(args.boot), read(args.slot_a)
    if len(boot) > board.BOOT_SIZE:
        raise SystemExit("qenex: bootloader is %d bytes, the boot area holds %d" % (len(boot), board.BOOT_SIZE))
    if len(slot_a) > board.SLOT_SIZE:
        raise SystemExit("qenex: slot A image is %d bytes, the slot holds %d" % (len(slot_a), board.SLOT_SIZE))
    # Unused flash reads as erased (0xff), as on a board.
    flash = boot.ljust(board.SLOT_A_BASE - board.BOOT_BASE, b"\xff") + slot_a
    with open(args.out, "wb") as f:
        f.write(flash)
    print("flash: %s, %d bytes (boot %d at %#x, slot A %d at %#x)" % (
        args.out, len(flash), len(boot), board.BOOT_BASE, len(slot_a), board.SLOT_A_BASE))


def describe_elf(path, board, out):
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection
    with open(path, "rb") as f:
        elf = ELFFile(f)
        out("ELF %s (%s, entry %#010x)" % (path, elf.get_machine_arch(), elf["e_entry"]))
        out("%-12s %10s %10s %8s" % ("section", "address", "size", "flags"))
        flash = ram = 0
        for s in elf.iter_sections():
            if not s["sh_flags"] & 0x2:      # SHF_ALLOC
                continue
            flags = "".join(c for c, bit in (("w", 1), ("a", 2), ("x", 4)) if s["sh_flags"] & bit)
            out("%-12s %#10x %10d %8s" % (s.name, s["sh_addr"], s["sh_size"], flags))
            in_ram = board.RAM_BASE <= s["sh_addr"] < board.RAM_BASE + board.RAM_SIZE
            if in_ram:
                ram += s["sh_size"]
            if s["sh_type"] != "SHT_NOBITS":
                flash += s["sh_size"]       # code, constants and .data's initial values
        slot = board.SLOT_SIZE - board.IMAGE_HEADER_SIZE
        out("flash used %d of %d bytes (%d%%), RAM used %d of %d bytes (%d%%)" % (
            flash, slot, flash * 100 // slot, ram, board.RAM_SIZE, ram * 100 // board.RAM_SIZE))
        symtab = elf.get_section_by_name(".symtab")
        if isinstance(symtab, SymbolTableSection):
            syms = [(sym["st_size"], sym.name, sym["st_info"]["type"]) for sym in symtab.iter_symbols()
                    if sym["st_size"] and sym["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT")]
            syms.sort(reverse=True)
            out("largest symbols:")
            for size, name, kind in syms[:10]:
                out("  %8d  %-6s %s" % (size, "code" if kind == "STT_FUNC" else "data", name))


def describe_slot(data, board, out, slot_addr):
    try:
        info = imgformat.parse_image(data, slot_size=board.SLOT_SIZE, slot_addr=slot_addr, verify=False)
    except imgformat.ImageError as e:
        out("  invalid: %s" % e)
        return False
    out("  version %s, header %d bytes, payload %d bytes, flags %#x" % (
        imgformat.format_version(info.version), info.hdr_size, info.img_size, info.flags))
    for t, v in info.tlvs:
        name = {imgformat.TLV_SHA256: "sha256"}.get(t, "unknown type %#x" % t)
        out("  TLV %-18s %s" % (name, v.hex()))
    out("  hash %s" % ("ok" if info.sha256_ok else "BAD"))
    return info.sha256_ok


def cmd_image_info(args):
    board = load_board(args.board)
    data = read(args.file)
    if data[:4] == b"\x7fELF":
        describe_elf(args.file, board, print)
        return
    magic = imgformat.IMAGE_MAGIC.to_bytes(4, "little")
    if data[:4] == magic:
        print("slot image %s, %d bytes" % (args.file, len(data)))
        ok = describe_slot(data, board, print, board.SLOT_A_BASE)
    elif data[board.SLOT_A_BASE:board.SLOT_A_BASE + 4] == magic:
        print("flash image %s, %d bytes; boot area %d bytes at %#x" % (
            args.file, len(data), board.BOOT_SIZE, board.BOOT_BASE))
        print("slot A at %#x:" % board.SLOT_A_BASE)
        ok = describe_slot(data[board.SLOT_A_BASE:board.SLOT_A_BASE + board.SLOT_SIZE], board, print,
                           board.SLOT_A_BASE)
    else:
        raise SystemExit("qenex: %s is neither an ELF file, a slot image nor a flash image" % args.file)
    if not ok:
        raise SystemExit(1)


# --- build, run, console ---------------------------------------------------------

def cmd_build(args):
    raise SystemExit(subprocess.call(["make", "-C", ROOT, "build", "BOARD=" + args.board]))


def cmd_run(args):
    serial = "mon:stdio"
    if args.socket:
        serial = "unix:%s,server=on,wait=off" % args.socket
        print("qenex: console on %s (attach with: qenex console --socket %s)" % (args.socket, args.socket))
    else:
        print("qenex: booting %s; Ctrl-A X (or 'poweroff') leaves" % qemu.flash_path(args.board))
    cmd = qemu.command(args.board, args.flash, serial=serial, icount=args.icount)
    os.execvp(cmd[0], cmd)


def cmd_console(args):
    import select
    import socket
    import termios
    import tty
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(args.socket)
    except OSError as e:
        raise SystemExit("qenex: cannot connect to %s: %s" % (args.socket, e.strerror))
    print("qenex: connected to %s; Ctrl-] leaves" % args.socket)
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    if saved:
        tty.setraw(fd)
    try:
        while True:
            ready, _, _ = select.select([s, fd], [], [])
            if s in ready:
                data = s.recv(4096)
                if not data:
                    break
                os.write(sys.stdout.fileno(), data)
            if fd in ready:
                data = os.read(fd, 1024)
                if not data or b"\x1d" in data:
                    break
                s.sendall(data)
    finally:
        if saved:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
    print("\r\nqenex: console closed")


def main(argv=None):
    p = argparse.ArgumentParser(prog="qenex", description="QENEX OS host tool")
    p.add_argument("--board", default=os.environ.get("BOARD", "mps2-an385"))
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="build images/<board>/flash.bin").set_defaults(fn=cmd_build)
    r = sub.add_parser("run", help="boot flash.bin in QEMU")
    r.add_argument("--flash", help="flash image to boot (default images/<board>/flash.bin)")
    r.add_argument("--icount", action="store_true", help="count guest instructions (-icount shift=0)")
    r.add_argument("--socket", help="serve the console on this unix socket instead of here")
    r.set_defaults(fn=cmd_run)
    c = sub.add_parser("console", help="attach to a console socket")
    c.add_argument("--socket", required=True)
    c.set_defaults(fn=cmd_console)
    img = sub.add_parser("image", help="image tools").add_subparsers(dest="imgcmd", required=True)
    i = img.add_parser("info", help="describe an ELF, slot image or flash image")
    i.add_argument("file")
    i.set_defaults(fn=cmd_image_info)
    k = img.add_parser("pack", help="wrap a kernel binary as a slot image")
    k.add_argument("--version", required=True, help="MAJOR.MINOR.REVISION[+BUILD]")
    k.add_argument("firmware")
    k.add_argument("out")
    k.set_defaults(fn=cmd_image_pack)
    f = img.add_parser("flash", help="assemble flash.bin from the bootloader and slot A")
    f.add_argument("--boot", required=True)
    f.add_argument("--slot-a", required=True)
    f.add_argument("out")
    f.set_defaults(fn=cmd_image_flash)
    for sp in (r, c, i, k, f):
        sp.add_argument("--board", default=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.fn(args)


if __name__ == "__main__":
    main()
