"""`qenex`: the host command-line tool of QENEX OS.

    qenex build [--board B]             build images/<board>/flash.bin (runs make)
    qenex run [--board B] [--icount] [--socket PATH] [--no-monitor]
                                        boot flash.bin in QEMU (console here,
                                        or on a unix socket for `qenex console`;
                                        here with QEMU's monitor on Ctrl-A c
                                        unless --no-monitor)
    qenex console --socket PATH         attach to a console socket (Ctrl-] leaves)
    qenex image info FILE               describe an ELF, a slot image or flash.bin
    qenex image keygen KEY.pem          a new ECDSA P-256 signing key (kept secret)
    qenex image pubkey KEY.pem OUT.h    the C header that builds the key into the bootloader
    qenex image sign --key KEY.pem [--slot a|b] [--security-counter N|auto] FIRMWARE.bin OUT
                                        wrap and sign a kernel binary (alias: pack)
    qenex image verify --key KEY.pem FILE   check a slot image, or both slots of a flash
                                        image, as the bootloader does
    qenex image flash --boot B --slot-a A [--slot-b B2] OUT   assemble flash.bin
    qenex bundle make --key KEY.pem --version V MANIFEST SOURCE.py OUT
                                        a signed task bundle (for `tasks install`)
    qenex bundle info [--key KEY.pem] FILE  check a bundle and show what it holds
    qenex hsm serve [--socket P] [--state F] [--pin PIN]   run the emulated HSM
    qenex hsm audit-verify [--state F]  check the HSM's hash-chained audit log
    qenex hostlink provision [--storage F]  put a host link key into a storage image (kept in build/)
    qenex send [--kind K] [--timeout S] FILE   submit a message to the gateway: over HTTP while `qenex
                                        run` has the board on the network (or --http HOST:PORT:
                                        httpnet), else over the host link (UART2's socket, or --tcp
                                        HOST:PORT: hostnet, production image; --tcp works for each
                                        host link command below)
    qenex compliance reload FILE        send new compliance rules (JSON) to the gateway
    qenex compliance push FILE [--storage F]   write a rules file into a storage image
    qenex accounts load FILE            replace the gateway's account directory (IBAN ACCOUNT [BIC] [STATE] a line)
    qenex audit check                   have the board check its audit log (the HSM verifies the checkpoints)
    qenex time set                      set the board's UTC clock from this host's over the host link
                                        (`qenex run` does it once the gateway answers, unless --no-time)
    qenex audit verify [IMAGE] --pubkey HEX   check the gateway's audit chain and its HSM-signed checkpoints
    qenex ledger verify [IMAGE] [--ids]   replay the ledger's log from a storage image, check
                                        the chain and the invariants (IMAGE: build/<board>/storage.bin);
                                        exit 1 with the record and the reason if the log is corrupt

Run as `python -m tools.qenex` (the Makefile uses build/venv/bin/python).
"""
import argparse
import os
import subprocess
import sys

from tools import imgformat, qemu
from tools.layout import ROOT, load_board, write_if_changed


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


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise SystemExit("qenex: cannot read %s: %s" % (path, e.strerror))


# --- image ---------------------------------------------------------------------

def load_key(path):
    """An ECDSA P-256 private key (PEM), or from a public one only its DER SPKI."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    data = read(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError:
            raise SystemExit("qenex: %s is not a PEM key" % path)
    curve = getattr(key, "curve", None)
    if not isinstance(curve, ec.SECP256R1):
        raise SystemExit("qenex: %s is not an ECDSA P-256 key" % path)
    return key


def public_spki(key):
    return imgformat.spki(key.public_key() if hasattr(key, "public_key") else key)


def cmd_image_keygen(args):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    if os.path.exists(args.out):
        raise SystemExit("qenex: %s exists; not overwriting a key" % args.out)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    print("key: %s (ECDSA P-256, key hash %s)" % (args.out, key_id(public_spki(key))))


def key_id(spki):
    """The short name of a key: the first 4 bytes of its key hash (the TLV)."""
    import hashlib
    return hashlib.sha256(spki).hexdigest()[:8]


def cmd_image_pubkey(args):
    spki = public_spki(load_key(args.key))
    body = ", ".join("0x%02x" % b for b in spki)
    text = ("/* generated by `qenex image pubkey` from %s: the key the bootloader trusts */\n"
            "#pragma once\n#include <stdint.h>\n"
            "static const uint8_t qx_boot_key_spki[%d] = {%s};\n"
            "#define QX_BOOT_KEY_ID \"%s\"\n" % (os.path.basename(args.key), len(spki), body, key_id(spki)))
    write_if_changed(args.out, text)


def cmd_image_verify(args):
    board = load_board(args.board)
    data = read(args.file)
    spki = public_spki(load_key(args.key))
    slots = flash_slots(data, board) or [(slot_of(data, board), data)]
    for name, image in slots:
        addr = slot_base(board, name)
        try:
            info = imgformat.parse_image(image, slot_size=board.SLOT_SIZE, slot_addr=addr, key=spki)
        except imgformat.ImageError as e:
            raise SystemExit("verify: %s slot %s: %s" % (args.file, name, e))
        print("verify: %s slot %s v%s ok (ecdsa-p256, key %s, security counter %s)" % (
            args.file, name, imgformat.format_version(info.version), key_id(spki), info.security_counter))


def cmd_image_pack(args):
    board = load_board(args.board)
    payload = read(args.firmware)
    key = load_key(args.key)
    if not hasattr(key, "sign"):
        raise SystemExit("qenex: %s is a public key; signing needs the private key" % args.key)
    counter = args.security_counter
    if counter != "auto":
        try:
            counter = int(counter, 0)
        except ValueError:
            raise SystemExit("qenex: bad security counter %r (a number or auto)" % counter)
    try:
        img = imgformat.make_image(payload, parse_version(args.version), hdr_size=board.IMAGE_HEADER_SIZE,
                                   key=key, security_counter=counter)
        info = imgformat.parse_image(img, slot_size=board.SLOT_SIZE, slot_addr=slot_base(board, args.slot),
                                     key=public_spki(key))
    except (ValueError, imgformat.ImageError) as e:
        raise SystemExit("qenex: refusing to write %s for slot %s: %s" % (args.out, args.slot.upper(), e))
    with open(args.out, "wb") as f:
        f.write(img)
    print("image: %s v%s for slot %s, security counter %d, %d bytes payload, %d bytes in slot (%d%% of %d KiB)" % (
        args.out, imgformat.format_version(info.version), args.slot.upper(), info.security_counter,
        len(payload), len(img), len(img) * 100 // board.SLOT_SIZE, board.SLOT_SIZE // 1024))


def cmd_image_flash(args):
    board = load_board(args.board)
    boot, slot_a = read(args.boot), read(args.slot_a)
    slot_b = read(args.slot_b) if args.slot_b else b""
    if len(slot_b) > board.SLOT_SIZE:
        raise SystemExit("qenex: slot B image is %d bytes, the slot holds %d" % (len(slot_b), board.SLOT_SIZE))
    if len(boot) > board.BOOT_SIZE:
        raise SystemExit("qenex: bootloader is %d bytes, the boot area holds %d" % (len(boot), board.BOOT_SIZE))
    if len(slot_a) > board.SLOT_SIZE:
        raise SystemExit("qenex: slot A image is %d bytes, the slot holds %d" % (len(slot_a), board.SLOT_SIZE))
    # Unused flash reads as erased (0xff), as on a board.
    flash = boot.ljust(board.SLOT_A_BASE - board.BOOT_BASE, b"\xff") + slot_a
    if slot_b:
        flash = flash.ljust(board.SLOT_B_BASE - board.BOOT_BASE, b"\xff") + slot_b
    with open(args.out, "wb") as f:
        f.write(flash)
    print("flash: %s, %d bytes (boot %d at %#x, slot A %d at %#x%s)" % (
        args.out, len(flash), len(boot), board.BOOT_BASE, len(slot_a), board.SLOT_A_BASE,
        ", slot B %d at %#x" % (len(slot_b), board.SLOT_B_BASE) if slot_b else ""))


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
    out("  version %s, header %d bytes, payload %d bytes, flags %#x, security counter %s" % (
        imgformat.format_version(info.version), info.hdr_size, info.img_size, info.flags,
        info.security_counter))
    for t, v in info.tlvs:
        name = {imgformat.TLV_SHA256: "sha256", imgformat.TLV_KEYHASH: "keyhash",
                imgformat.TLV_ECDSA_SIG: "ecdsa-p256 sig",
                imgformat.TLV_SEC_CNT: "security counter"}.get(t, "unknown type %#x" % t)
        out("  TLV %-18s %s" % (name, v.hex()))
    out("  hash %s" % ("ok" if info.sha256_ok else "BAD"))
    return info.sha256_ok


def slot_base(board, name):
    return board.SLOT_A_BASE if name.upper() == "A" else board.SLOT_B_BASE


def slot_of(image, board):
    """"A" or "B": the slot a slot image is linked to run from (where its
    reset vector points); "A" when that cannot be told."""
    if len(image) >= imgformat.HEADER_STRUCT_SIZE and \
            image[:4] == imgformat.IMAGE_MAGIC.to_bytes(4, "little"):
        hdr = int.from_bytes(image[8:10], "little")
        reset = int.from_bytes(image[hdr + 4:hdr + 8], "little")
        if board.SLOT_B_BASE <= reset < board.SLOT_B_BASE + board.SLOT_SIZE:
            return "B"
    return "A"


def flash_slots(data, board):
    """[(name, bytes)] of the slots of a whole flash image that hold an image
    (magic at the slot's start); [] when data is not a flash image."""
    magic = imgformat.IMAGE_MAGIC.to_bytes(4, "little")
    if data[:4] == magic or len(data) <= board.SLOT_A_BASE:
        return []
    return [(name, data[base:base + board.SLOT_SIZE]) for name, base in
            (("A", board.SLOT_A_BASE), ("B", board.SLOT_B_BASE)) if data[base:base + 4] == magic]


def cmd_image_info(args):
    board = load_board(args.board)
    data = read(args.file)
    if data[:4] == b"\x7fELF":
        describe_elf(args.file, board, print)
        return
    slots = flash_slots(data, board)
    if data[:4] == imgformat.IMAGE_MAGIC.to_bytes(4, "little"):
        name = slot_of(data, board)
        print("slot image %s, %d bytes, linked for slot %s" % (args.file, len(data), name))
        ok = describe_slot(data, board, print, slot_base(board, name))
    elif slots:
        print("flash image %s, %d bytes; boot area %d bytes at %#x" % (
            args.file, len(data), board.BOOT_SIZE, board.BOOT_BASE))
        ok = True
        for name, image in slots:
            print("slot %s at %#x:" % (name, slot_base(board, name)))
            ok = describe_slot(image, board, print, slot_base(board, name)) and ok
    else:
        raise SystemExit("qenex: %s is neither an ELF file, a slot image nor a flash image" % args.file)
    if not ok:
        raise SystemExit(1)


# --- task bundles ------------------------------------------------------------------

MPY_CROSS = os.path.join(ROOT, "build", "mpy-cross", "mpy-cross")


def cmd_bundle_make(args):
    from kernel import manifest as kmanifest
    from tools import bundle
    key = load_key(args.key)
    if not hasattr(key, "sign"):
        raise SystemExit("qenex: %s is a public key; signing needs the private key" % args.key)
    text = read(args.manifest).decode()
    try:
        m = kmanifest.parse(text, args.manifest)
    except ValueError as e:
        raise SystemExit("qenex: %s" % e)
    if m.kernel or m.devices:
        raise SystemExit("qenex: %s: an installed task may hold neither the kernel capability nor a device"
                         % args.manifest)
    try:
        code = bundle.compile_module(args.source, args.mpy_cross)
    except (bundle.BundleError, OSError) as e:
        raise SystemExit("qenex: %s" % e)
    try:
        data = bundle.make_bundle(text, code, parse_version(args.version), key)
    except bundle.BundleError as e:
        raise SystemExit("qenex bundle make: %s: %s" % (args.source, e))
    with open(args.out, "wb") as f:
        f.write(data)
    print("bundle: %s, task %s v%s, %d bytes (%d of code)" % (
        args.out, m.name, imgformat.format_version(parse_version(args.version)), len(data), len(code)))


def cmd_bundle_info(args):
    from tools import bundle
    data = read(args.file)
    spki = public_spki(load_key(args.key)) if args.key else None
    try:
        info, text, code = bundle.parse_bundle(data, key=spki)
    except (imgformat.ImageError, bundle.BundleError) as e:
        raise SystemExit("bundle: %s: %s" % (args.file, e))
    print("bundle %s v%s, security counter %s, %d bytes of code, %s" % (
        args.file, imgformat.format_version(info.version), info.security_counter, len(code),
        "signature ok (key %s)" % key_id(spki) if spki else "signature not checked (no --key)"))
    for line in text.splitlines():
        print("  " + line)


# --- the emulated HSM ---------------------------------------------------------------

def hsm_paths(board):
    d = os.path.join(ROOT, "build", board)
    return os.path.join(d, "hsm.sock"), os.path.join(d, "hsm-state.json")


def cmd_hsm_serve(args):
    from tools.hsm import server
    sock, state = hsm_paths(args.board)
    os.makedirs(os.path.dirname(sock), exist_ok=True)
    import signal
    signal.signal(signal.SIGTERM, _terminated)   # stopped by `qenex run`: serve()'s finally removes the socket
    try:
        server.serve(args.socket or sock, args.state or state, pin=args.pin)
    except KeyboardInterrupt:
        pass
    except SystemExit as e:
        if e.code != 128 + signal.SIGTERM:
            raise


def cmd_hsm_audit_verify(args):
    import json
    from tools.hsm import emulator
    path = args.state or hsm_paths(args.board)[1]
    with open(path) as f:
        entries = json.load(f)["audit"]
    ok, n = emulator.verify_audit(entries)
    if not ok:
        raise SystemExit("audit: %s: the chain breaks at entry %d" % (path, n))
    print("audit: %s: %d entries, chain ok, head %s" % (path, n, entries[-1]["hash"] if entries else "-"))


# --- the host link ----------------------------------------------------------------------

def hostlink_paths(board):
    d = os.path.join(ROOT, "build", board)
    return os.path.join(d, "hostlink.sock"), os.path.join(d, "hostlink.key")


def http_port_path(board):
    """Where `qenex run` writes the host port of the board's HTTP (port 80) while it runs."""
    return os.path.join(ROOT, "build", board, "http.port")


HTTP_PATHS = {"pacs.008": ("/iso20022", "application/xml"), "pain.001": ("/iso20022", "application/xml"),
              "MT103": ("/mt103", "text/plain; charset=utf-8")}


def http_submit(what, where, kind, data, timeout, refused=None):
    """The board's answer to one message POSTed over HTTP (httpnet: POST
    /iso20022 or /mt103), or SystemExit with the HTTP status and the
    board's reason (never a traceback); `refused` if nothing listens there
    and refused is not None."""
    import http.client
    host, _, port = where.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SystemExit("%s: --http takes HOST:PORT (e.g. 127.0.0.1:8080), not %r" % (what, where))
    if kind not in HTTP_PATHS:
        raise SystemExit("%s: %s does not go over HTTP (FIX: --tcp, or a FIX engine on the board's port 9878)"
                         % (what, kind))
    path, ctype = HTTP_PATHS[kind]
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("POST", path, body=data, headers={"Content-Type": ctype})
        r = conn.getresponse()
        body = r.read().decode("utf-8", "replace")
    except ConnectionRefusedError as e:
        if refused is not None:
            return refused
        raise SystemExit("%s: HTTP to %s failed: %s" % (what, where, e.strerror)) from None
    except (OSError, http.client.HTTPException) as e:
        raise SystemExit("%s: HTTP to %s failed: %s" % (what, where, getattr(e, "strerror", None) or e or
                                                         type(e).__name__)) from None
    finally:
        conn.close()
    if r.status != 200:
        raise SystemExit("%s: the board refused it: HTTP %d %s: %s" % (what, r.status, r.reason, body.strip()))
    return body


def cmd_hostlink_provision(args):
    from tools import hostlink
    storage = qemu.ensure_storage(args.storage or qemu.storage_path(args.board),
                                  load_board(args.board).STORAGE_SIZE)
    key_path = args.key or hostlink_paths(args.board)[1]
    hostlink.provision(storage, args.board, key_path)
    print("hostlink: key in %s (gateway partition), host copy %s" % (storage, key_path))


def _link(args):
    """A logged-in host link to the board, or SystemExit saying what is
    wrong: no board at the socket, no gateway answering on it."""
    from tools import hostlink
    sock, key_path = hostlink_paths(args.board)
    tcp = getattr(args, "tcp", None)
    path = getattr(args, "socket", None) or sock
    if tcp:
        return _tcp_link(args, tcp, key_path)
    shown = os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path
    timeout = getattr(args, "timeout", None) or 30
    what = "qenex %s" % command_name(args)
    nobody = "%s: no board at %s (is `qenex run` running?)" % (what, shown)
    if not os.path.exists(path):
        raise SystemExit(nobody)
    key_file = getattr(args, "key", None) or key_path
    if not os.path.exists(key_file):
        raise SystemExit("%s: no host link key at %s (`qenex run` or `qenex hostlink provision` makes it)"
                         % (what, key_file))
    key = read(key_file)
    try:
        return hostlink.Link(path, key, timeout=timeout)
    except (FileNotFoundError, ConnectionRefusedError):
        raise SystemExit(nobody) from None
    except TimeoutError:
        raise SystemExit("%s: the board at %s does not answer in %d s (is the gateway task running? `ps` at "
                         "the shell)" % (what, shown, timeout)) from None
    except ConnectionError as e:
        raise SystemExit("%s: %s: %s" % (what, path, e)) from None
    except OSError as e:
        raise SystemExit("%s: cannot connect to %s: %s" % (what, path, e.strerror or e)) from None


def _tcp_link(args, where, key_path):
    """The host link over TCP (the production image's hostnet task, board
    port 4700; `qenex run` prints its host port): HOST:PORT."""
    import socket
    from tools import hostlink
    what = "qenex %s" % command_name(args)
    host, _, port = where.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SystemExit("%s: --tcp takes HOST:PORT (e.g. 127.0.0.1:4700), not %r" % (what, where))
    timeout = getattr(args, "timeout", None) or 30
    key_file = getattr(args, "key", None) or key_path
    if not os.path.exists(key_file):
        raise SystemExit("%s: no host link key at %s (`qenex run` or `qenex hostlink provision` makes it)"
                         % (what, key_file))
    try:
        s = socket.create_connection((host, int(port)), timeout=timeout)
    except OSError as e:
        raise SystemExit("%s: cannot connect to %s: %s" % (what, where, e.strerror or e)) from None
    try:
        return hostlink.Link(None, read(key_file), timeout=timeout, sock=s)
    except TimeoutError:
        s.close()
        raise SystemExit("%s: the board at %s does not answer in %d s (is the hostnet task running? `ps` at "
                         "the shell)" % (what, where, timeout)) from None
    except ConnectionError as e:
        s.close()
        raise SystemExit("%s: %s: %s" % (what, where, e)) from None


def link_options(sp):
    """The options of a command that goes over the host link."""
    sp.add_argument("--socket", help="UART2's unix socket (default build/<board>/hostlink.sock)")
    sp.add_argument("--tcp", metavar="HOST:PORT", help="over TCP instead (hostnet; `qenex run` prints the port)")
    sp.add_argument("--key", help="default build/<board>/hostlink.key")


def _over_link(args, fn):
    """fn(link) over a fresh link, the link closed after; a lost or
    refused answer said in one line."""
    link = _link(args)
    what = "qenex %s" % command_name(args)
    try:
        return fn(link)
    except TimeoutError:
        raise SystemExit("%s: no answer from the board in %d s (is the gateway task running? `ps` at the shell)"
                         % (what, link.timeout)) from None
    except ConnectionError as e:
        raise SystemExit("%s: %s" % (what, e)) from None
    finally:
        link.close()


def _control(args, cmd, payload=b""):
    """Print the board's answer to a host-link control command."""
    print(_over_link(args, lambda link: link.control(cmd, payload)))


def cmd_compliance_reload(args):
    from drivers.hsm import frame as F
    _control(args, 0x42, F.fields(read(args.file)))


def cmd_compliance_push(args):
    from userland.compliance.engine import Engine, RulesError, rules_from_json
    from userland.gateway import layout
    text = read(args.file)
    try:
        Engine(rules_from_json(text))            # refuse a bad file here, not on the board
        rec = layout.rules_record(text)
    except (ValueError, RulesError) as e:
        raise SystemExit("qenex: %s: %s" % (args.file, e))
    b = load_board(args.board)
    storage = qemu.ensure_storage(args.storage or qemu.storage_path(args.board), b.STORAGE_SIZE)
    with open(storage, "r+b") as f:
        f.seek(b.GATEWAY_STORE_OFFSET + layout.RULES_OFFSET)
        f.write(rec.ljust(layout.RULES_SPACE, b"\xff"))
    print("compliance: %s written to %s; `compliance reload` at the shell loads it" % (args.file, storage))


ACCOUNTS_PART = 3500             # bytes of directory text per ACCOUNTS frame (whole lines)


def cmd_accounts_load(args):
    """A whole account directory (userland/gateway/accounts.py's text form)
    sent over the host link in parts; checked here first, so a bad file is
    refused before anything is sent, and by the board again."""
    from drivers.hsm import frame as F
    from userland.gateway import accounts
    from userland.gateway.link import ACCOUNTS
    text = read(args.file)
    try:
        d = accounts.parse(text.decode("utf-8"))
    except (UnicodeError, accounts.AccountError) as e:
        raise SystemExit("qenex: %s: %s" % (args.file, e))
    lines = d.to_text().encode().splitlines(True) or [b""]
    parts, cur = [], b""
    for line in lines:
        if cur and len(cur) + len(line) > ACCOUNTS_PART:
            parts.append(cur)
            cur = b""
        cur += line
    parts.append(cur)

    def send(link):
        answer = ""
        for i, part in enumerate(parts):
            flags = (b"F" if i == 0 else b"") + (b"L" if i == len(parts) - 1 else b"")
            answer = link.control(ACCOUNTS, F.fields(flags, part))
        return answer
    print(_over_link(args, send))


def cmd_audit_check(args):
    _control(args, 0x43)


def time_payload():
    """The host link's TIME payload: this host's UTC ms since 1970."""
    import time
    from drivers.hsm import frame as F
    return F.fields(b"%d" % (time.time_ns() // 1000000))


def cmd_time_set(args):
    from userland.gateway.link import TIME
    print(_over_link(args, lambda link: link.control(TIME, time_payload())))


def provision_time_when_up(path, key_file, timeout=180):
    """`qenex run`'s provisioning of the board's clock, in a thread: wait
    for the gateway's host link (QEMU creates the socket, the gateway
    answers once it runs), then set the board's clock from this host's.
    Says what happened in one line; a board without a gateway stays unset."""
    import threading
    import time

    def run():
        from tools import hostlink
        from userland.gateway.link import TIME
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(path) and os.path.exists(key_file):
                try:
                    link = hostlink.Link(path, read(key_file), timeout=20)
                    try:
                        print("\r\nqenex: %s\r" % link.control(TIME, time_payload()), flush=True)
                    finally:
                        link.close()
                    return
                except (OSError, ConnectionError, TimeoutError):
                    pass
            time.sleep(1)
        print("\r\nqenex: the board's clock was not set: no gateway answered on %s in %d s\r" % (path, timeout),
              flush=True)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def cmd_send(args):
    """Over HTTP (--http, or by default while `qenex run` has the board on
    the network: build/<board>/http.port) for ISO 20022 and MT103; over
    the host link otherwise (--socket, --tcp, FIX)."""
    from tools import hostlink
    data = read(args.file)
    kind = args.kind or hostlink.guess_kind(data)
    where, auto = args.http, False
    if where is None and not (args.tcp or args.socket) and kind in HTTP_PATHS:
        try:
            where, auto = "127.0.0.1:%d" % int(read(http_port_path(args.board)).decode()), True
        except (SystemExit, ValueError):
            where = None                    # no board on the network: the host link
    if where:
        answer = http_submit("qenex send", where, kind, data, args.timeout, refused=False if auto else None)
        if answer is not False:             # False: a port left by a `qenex run` that is gone
            print(answer, end="")
            return
    print(_over_link(args, lambda link: link.submit(kind, data)))


def image_partition(path, board, offset, size):
    """A Region over [offset, offset + size) of the storage image file at
    path, read into memory (nothing is written back)."""
    from drivers.flash.region import MemoryImage, Region
    b = load_board(board)
    data = bytearray(read(path))
    if len(data) != b.STORAGE_SIZE:
        raise SystemExit("qenex: %s is %d bytes, a storage image is %d" % (path, len(data), b.STORAGE_SIZE))
    img = MemoryImage(data, b.STORAGE_BASE)
    return Region(b.STORAGE_BASE + offset, size, b.SECTOR_SIZE, img.read, img.write)


def cmd_audit_verify(args):
    from userland.audit import log as audit
    from userland.gateway.layout import AUDIT_OFFSET, audit_size
    b = load_board(args.board)
    path = args.image or qemu.storage_path(args.board)
    region = image_partition(path, args.board, b.GATEWAY_STORE_OFFSET + AUDIT_OFFSET,
                             audit_size(b.GATEWAY_STORE_SIZE))
    verify_sig = ecdsa_checker(args.pubkey)
    try:
        entries, checkpoints = audit.verify(region, verify_sig)
    except ValueError as e:
        raise SystemExit("audit: %s: %s" % (path, e))
    print("audit: %s: %d entries, %d checkpoints signed by the HSM key, chain ok" % (path, entries, checkpoints))


# --- the ledger ------------------------------------------------------------------------

def ledger_from_image(path, board):
    """A LedgerService recovered from a storage image file (read only)."""
    from userland.ledger.service import LedgerService
    b = load_board(board)
    s = LedgerService(image_partition(path, board, b.LEDGER_STORE_OFFSET, b.LEDGER_STORE_SIZE), lambda: 0)
    s.recover()
    return s


def ecdsa_checker(pubkey_hex):
    """verify_sig(head, sig) -> bool for an HSM key's public part (hex DER)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    try:
        key = serialization.load_der_public_key(bytes.fromhex(pubkey_hex))
    except ValueError as e:
        raise SystemExit("qenex: bad public key: %s" % e)

    def verify_sig(head, sig):
        try:
            key.verify(sig, head, ec.ECDSA(hashes.SHA256()))
            return True
        except InvalidSignature:
            return False
    return verify_sig


def cmd_ledger_verify(args):
    path = args.image or qemu.storage_path(args.board)
    try:
        s = ledger_from_image(path, args.board)
        if s.corrupt is not None:
            raise SystemExit("ledger: %s: CORRUPT at %s (0x%x in the image); %d records before it replay" % (
                path, s.describe(), load_board(args.board).LEDGER_STORE_OFFSET + s.corrupt[0], s.stats["records"]))
        v = s.verify(ecdsa_checker(args.pubkey) if args.pubkey else None)
    except (AssertionError, ValueError) as e:
        raise SystemExit("ledger: %s: %s" % (path, e))
    print("ledger: %s: %d records chained (head %s), %d accounts, %d transfers, invariants hold; "
          "%d checkpoints%s%s" % (
              path, v["records"], v["head"].hex()[:16], v["accounts"], v["transfers"], v["checkpoints"],
              ", signatures verified" if args.pubkey else " (signatures not checked: no --pubkey)",
              "; torn tail at 0x%x skipped" % v["torn"] if v["torn"] is not None else ""))
    if args.ids:
        from userland.ledger import codec, wal
        for seq, kind, now, payload, at in wal.Wal(s.region).recover():
            if kind == wal.TRANSFERS:
                for t in codec.decode_many(payload, codec.TRANSFER_SIZE, codec.decode_transfer):
                    print(t.id)


# --- build, run, console ---------------------------------------------------------

def cmd_build(args):
    raise SystemExit(subprocess.call(["make", "-C", ROOT, "build", "BOARD=" + args.board]))


def _terminated(signum, frame):
    raise SystemExit(128 + signum)          # unwinds `run`'s ExitStack: the HSM stops with it


def cmd_run(args):
    """QEMU with the emulated HSM and the host link. Whatever it starts
    (the HSM process) is stopped on every way out: QEMU ending, QEMU
    failing to start, a bad board or flash, an error, Ctrl-C, SIGTERM or
    SIGHUP (an ExitStack around everything).

    The console: `mon:stdio` by default, for development, where Ctrl-A c
    opens QEMU's monitor (which can dump guest RAM: the keys in it
    included); --no-monitor (the operator's console) and --socket have no
    monitor and no Ctrl-A escapes."""
    import contextlib
    import signal
    b = load_board(args.board)                   # before anything is started
    flash = args.flash or qemu.flash_path(args.board)
    if not os.path.isfile(flash):
        raise SystemExit("qenex run: no flash image %s (qenex build, or make build)" % flash)
    extra = []
    if args.socket:
        serial = "unix:%s,server=on,wait=off" % args.socket
        print("qenex: console on %s (attach with: qenex console --socket %s)" % (args.socket, args.socket))
    elif args.no_monitor:
        serial = "chardev:console"               # no monitor, no Ctrl-A; Ctrl-C goes to the shell
        extra = ["-chardev", "stdio,id=console,signal=off"]
        print("qenex: booting %s; 'poweroff' leaves (no QEMU monitor on this console)" % flash)
    else:
        serial = "mon:stdio"
        print("qenex: booting %s; Ctrl-A X (or 'poweroff') leaves; Ctrl-A c is QEMU's monitor "
              "(development only: it can read guest RAM)" % flash)
    sock, state = hsm_paths(args.board)
    with contextlib.ExitStack() as stack:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            stack.callback(signal.signal, sig, signal.signal(sig, _terminated))
        hsm = None
        if not args.no_hsm:
            # The emulated HSM on UART1, as QEMU's TPM is swtpm: started here, stopped with QEMU.
            from tools.hsm import process as hsm_process
            os.makedirs(os.path.dirname(sock), exist_ok=True)
            try:
                hsm = hsm_process.start(sock, state)
            except RuntimeError as e:
                raise SystemExit("qenex run: %s" % e)
            stack.callback(hsm_process.stop, hsm)
            print("qenex: HSM on %s (state %s)" % (sock, state))
        link_sock, link_key = hostlink_paths(args.board)
        from tools import hostlink
        hostlink.provision(qemu.ensure_storage(qemu.storage_path(args.board), b.STORAGE_SIZE), args.board, link_key)
        print("qenex: host link on %s (qenex send FILE)" % link_sock)
        if not args.no_time:
            provision_time_when_up(link_sock, link_key)
        fwd = qemu.forwards()
        what = {(proto, port): w for proto, port, w in qemu.SERVICES}
        for (proto, port), host in sorted(fwd.items()):
            print("qenex: net %s 127.0.0.1:%d -> board %s:%d, %s" % (proto, host, qemu.GUEST_IP, port,
                                                                 what[(proto, port)]))
        if ("tcp", 80) in fwd:              # `qenex send` goes over HTTP while this runs
            with open(http_port_path(args.board), "w") as f:
                f.write("%d\n" % fwd[("tcp", 80)])
            stack.callback(_remove, http_port_path(args.board))
        cmd = qemu.command(args.board, flash, serial=serial, icount=args.icount, hsm=sock if hsm else None,
                           hostlink=link_sock, net=fwd) + extra
        try:
            rc = subprocess.call(cmd)
        except FileNotFoundError:
            raise SystemExit("qenex run: qemu-system-arm not found (make deps, or install QEMU)") from None
    if rc:
        raise SystemExit("qenex run: QEMU exited with status %d" % rc if rc > 0 else
                         "qenex run: QEMU killed by signal %d" % -rc)


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


SUBCOMMANDS = ("imgcmd", "bundlecmd", "hsmcmd", "hlcmd", "aucmd", "cocmd", "ledgercmd", "timecmd")


def command_name(args):
    """"send", "bundle make", ...: the command as typed."""
    words = [getattr(args, "cmd", None) or "?"]
    words += [getattr(args, a) for a in SUBCOMMANDS if getattr(args, a, None)]
    return " ".join(words)


def _one_line(e):
    """What went wrong, in a line: an OSError's words and file, or the message."""
    if isinstance(e, OSError) and e.strerror:
        return "%s%s" % (e.filename + ": " if e.filename else "", e.strerror)
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def main(argv=None):
    """Every command ends with its output, or one line on stderr saying what
    was wrong and exit status 1 (2 for a usage error, from argparse). The
    known kinds of failure (OSError: a file, a socket, a timeout; ValueError
    and construct's errors: a malformed file or field; the tools' own errors) are turned into that
    line here, `qenex CMD: what`; anything else is a bug and keeps its
    traceback. QENEX_DEBUG=1 shows the traceback of everything."""
    p = _parser()
    args = p.parse_args(argv)
    from construct import ConstructError
    from tools import bundle
    known = (OSError, ValueError, ConstructError, bundle.BundleError, imgformat.ImageError)
    try:
        args.fn(args)
    except SystemExit as e:
        # A command's own one-line refusal; one without its prefix (a
        # helper's, e.g. load_board's "unknown board") gets the command's.
        if isinstance(e.code, str):
            text = e.code[len("qenex: "):] if e.code.startswith("qenex: ") else e.code
            if text is not e.code or not (text.split(" ", 1)[0].endswith(":") or text.startswith("qenex ")):
                raise SystemExit("qenex %s: %s" % (command_name(args), text)) from None
        raise
    except KeyboardInterrupt:
        if os.environ.get("QENEX_DEBUG"):
            raise
        sys.stderr.write("qenex %s: interrupted\n" % command_name(args))
        raise SystemExit(130) from None
    except known as e:
        if os.environ.get("QENEX_DEBUG"):
            raise
        sys.stderr.write("qenex %s: %s\n" % (command_name(args), _one_line(e)))
        raise SystemExit(1) from None


def _parser():
    p = argparse.ArgumentParser(prog="qenex", description="QENEX OS host tool")
    p.add_argument("--board", default=os.environ.get("BOARD", "mps2-an385"))
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="build images/<board>/flash.bin").set_defaults(fn=cmd_build)
    r = sub.add_parser("run", help="boot flash.bin in QEMU")
    r.add_argument("--flash", help="flash image to boot (default images/<board>/flash.bin)")
    r.add_argument("--icount", action="store_true", help="count guest instructions (-icount shift=0)")
    r.add_argument("--socket", help="serve the console on this unix socket instead of here")
    r.add_argument("--no-hsm", action="store_true", help="do not start the emulated HSM on UART1")
    r.add_argument("--no-monitor", action="store_true",
                   help="the console without QEMU's monitor and Ctrl-A escapes (the operator's console; "
                        "leave with poweroff)")
    r.add_argument("--no-time", action="store_true",
                   help="leave the board's UTC clock unset (by default it is set from this host's once the "
                        "gateway answers)")
    r.set_defaults(fn=cmd_run)
    c = sub.add_parser("console", help="attach to a console socket")
    c.add_argument("--socket", required=True)
    c.set_defaults(fn=cmd_console)
    img = sub.add_parser("image", help="image tools").add_subparsers(dest="imgcmd", required=True)
    i = img.add_parser("info", help="describe an ELF, slot image or flash image")
    i.add_argument("file")
    i.set_defaults(fn=cmd_image_info)
    g = img.add_parser("keygen", help="a new ECDSA P-256 signing key")
    g.add_argument("out")
    g.set_defaults(fn=cmd_image_keygen)
    u = img.add_parser("pubkey", help="C header of the key the bootloader trusts")
    u.add_argument("key")
    u.add_argument("out")
    u.set_defaults(fn=cmd_image_pubkey)
    v = img.add_parser("verify", help="check a slot or flash image's hash, key and signature")
    v.add_argument("--key", required=True, help="the signing key (private or public PEM)")
    v.add_argument("file")
    v.set_defaults(fn=cmd_image_verify)
    k = img.add_parser("sign", aliases=["pack"], help="wrap and sign a kernel binary as a slot image")
    k.add_argument("--key", required=True, help="ECDSA P-256 private key (PEM)")
    k.add_argument("--version", required=True, help="MAJOR.MINOR.REVISION[+BUILD]")
    k.add_argument("--slot", choices=("a", "b", "A", "B"), default="a",
                   help="the slot the firmware was linked for (default a)")
    k.add_argument("--security-counter", default="auto",
                   help="rollback counter in the protected TLVs (default auto: from the version, as imgtool)")
    k.add_argument("firmware")
    k.add_argument("out")
    k.set_defaults(fn=cmd_image_pack)
    f = img.add_parser("flash", help="assemble flash.bin from the bootloader and slot images")
    f.add_argument("--boot", required=True)
    f.add_argument("--slot-a", required=True)
    f.add_argument("--slot-b", help="an image for slot B, linked for it (an upgrade, or the fallback)")
    f.add_argument("out")
    f.set_defaults(fn=cmd_image_flash)
    bun = sub.add_parser("bundle", help="task bundles").add_subparsers(dest="bundlecmd", required=True)
    bm = bun.add_parser("make", help="compile and sign a task as a bundle")
    bm.add_argument("--key", required=True, help="ECDSA P-256 private key (PEM)")
    bm.add_argument("--version", required=True, help="MAJOR.MINOR.REVISION[+BUILD]")
    bm.add_argument("--mpy-cross", default=MPY_CROSS, help="the firmware's mpy-cross")
    bm.add_argument("manifest")
    bm.add_argument("source")
    bm.add_argument("out")
    bm.set_defaults(fn=cmd_bundle_make)
    bi = bun.add_parser("info", help="check a bundle and show its manifest")
    bi.add_argument("--key", help="check the signature against this key")
    bi.add_argument("file")
    bi.set_defaults(fn=cmd_bundle_info)
    hs = sub.add_parser("hsm", help="the emulated HSM").add_subparsers(dest="hsmcmd", required=True)
    hv = hs.add_parser("serve", help="serve the emulated HSM on a unix socket")
    hv.add_argument("--socket", help="default build/<board>/hsm.sock")
    hv.add_argument("--state", help="default build/<board>/hsm-state.json")
    hv.add_argument("--pin", default="123456", help="the PIN of a new HSM (default 123456)")
    hv.set_defaults(fn=cmd_hsm_serve)
    ha = hs.add_parser("audit-verify", help="check the audit log's hash chain")
    ha.add_argument("--state", help="default build/<board>/hsm-state.json")
    ha.set_defaults(fn=cmd_hsm_audit_verify)
    hl = sub.add_parser("hostlink", help="the gateway's host link").add_subparsers(dest="hlcmd", required=True)
    hp = hl.add_parser("provision", help="put a host link key into a storage image")
    hp.add_argument("--storage", help="default build/<board>/storage.bin")
    hp.add_argument("--key", help="where the host keeps its copy (default build/<board>/hostlink.key)")
    hp.set_defaults(fn=cmd_hostlink_provision)
    sd = sub.add_parser("send", help="submit a message to the gateway over the host link")
    sd.add_argument("--kind", choices=("pacs.008", "pain.001", "MT103", "FIX"))
    link_options(sd)
    sd.add_argument("--http", metavar="HOST:PORT", help="POST it over HTTP (httpnet; the default while `qenex run` "
                                                        "has the board on the network)")
    sd.add_argument("--timeout", type=int, default=30, help="seconds to wait for the answer (default 30)")
    sd.add_argument("file")
    sd.set_defaults(fn=cmd_send)
    au = sub.add_parser("audit", help="the gateway's audit log").add_subparsers(dest="aucmd", required=True)
    av = au.add_parser("verify", help="check the audit chain and its HSM-signed checkpoints in a storage image")
    av.add_argument("image", nargs="?")
    av.add_argument("--pubkey", required=True, help="the HSM audit key's public part (hex DER, `hsm pubkey audit`)")
    av.set_defaults(fn=cmd_audit_verify)
    ac = au.add_parser("check", help="have the board check its audit log over the host link")
    link_options(ac)
    ac.set_defaults(fn=cmd_audit_check)
    tm = sub.add_parser("time", help="the board's UTC clock").add_subparsers(dest="timecmd", required=True)
    ts = tm.add_parser("set", help="set the board's clock from this host's over the host link")
    link_options(ts)
    ts.set_defaults(fn=cmd_time_set)
    co = sub.add_parser("compliance", help="the gateway's compliance rules").add_subparsers(dest="cocmd",
                                                                                          required=True)
    cr = co.add_parser("reload", help="send new rules (JSON) to the gateway over the host link")
    cr.add_argument("file")
    link_options(cr)
    cr.set_defaults(fn=cmd_compliance_reload)
    cp = co.add_parser("push", help="write a rules file into a storage image (then `compliance reload`)")
    cp.add_argument("file")
    cp.add_argument("--storage", help="default build/<board>/storage.bin")
    cp.set_defaults(fn=cmd_compliance_push)
    acc = sub.add_parser("accounts", help="the gateway's account directory (IBAN to ledger account)"
                         ).add_subparsers(dest="acccmd", required=True)
    al = acc.add_parser("load", help="replace the directory over the host link: a line per account, "
                                     "IBAN ACCOUNT [BIC|-] [open|closed|blocked]")
    al.add_argument("file")
    link_options(al)
    al.set_defaults(fn=cmd_accounts_load)
    led = sub.add_parser("ledger", help="the ledger's log").add_subparsers(dest="ledgercmd", required=True)
    lv = led.add_parser("verify", help="replay and check the ledger's log in a storage image")
    lv.add_argument("image", nargs="?")
    lv.add_argument("--ids", action="store_true", help="list the transfer ids in the log")
    lv.add_argument("--pubkey", help="the HSM audit key's public part (hex DER): check the checkpoints' signatures")
    lv.set_defaults(fn=cmd_ledger_verify)
    for sp in (r, c, i, k, f, v, hv, ha, lv, hp, sd, av, ac, cr, cp, al):
        sp.add_argument("--board", default=argparse.SUPPRESS)
    return p


if __name__ == "__main__":
    main()
