"""Task bundles, the host side: a task installed at run time (`tasks install`).

A bundle is an image in the kernel image's format (tools/imgformat.py:
MCUboot header, SHA-256, key hash, ECDSA P-256 signature, security counter
in the protected TLVs) with the header flag NON_BOOTABLE, so the bootloader
never takes one for a kernel. Its payload is TLVs of the same shape:

    0x01 MANIFEST  the task's manifest (kernel/manifest.py's key = value text)
    0x02 CODE      the task's module, compiled to .mpy by the firmware's mpy-cross

The device reads the payload with kernel/bundles.py; tests hold the two
together. Bundles are signed with the key the bootloader trusts.
"""
import os
import subprocess
import tempfile

from construct import GreedyRange

from tools import imgformat

HEADER_SIZE = 0x80
T_MANIFEST = 0x01
T_CODE = 0x02
PayloadTlvs = GreedyRange(imgformat.Tlv)


class BundleError(Exception):
    pass


def compile_module(source, mpy_cross):
    """The .mpy bytes of a Python source file, for the firmware's VM."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "main.mpy")
        r = subprocess.run([mpy_cross, "-march=armv7m", "-o", out, "-s", "main.py", source],
                           capture_output=True, text=True)
        if r.returncode:
            raise BundleError("mpy-cross failed on %s: %s" % (source, r.stderr.strip()))
        with open(out, "rb") as f:
            return f.read()


CODE_MAX = 0xFFFF          # a TLV's length is 16 bits


def make_bundle(manifest_text, code, version, key, security_counter="auto"):
    """The signed bundle; BundleError when the code or the manifest does not
    fit a TLV, or the bundle a slot of the board's bundle store."""
    from kernel.bundles import SLOT_SIZE
    if len(code) > CODE_MAX:
        raise BundleError("the bundle's code is %d bytes, the limit is %d" % (len(code), CODE_MAX))
    if len(manifest_text.encode()) > CODE_MAX:
        raise BundleError("the manifest is %d bytes, the limit is %d" % (len(manifest_text.encode()), CODE_MAX))
    payload = PayloadTlvs.build([dict(type=T_MANIFEST, value=manifest_text.encode()),
                                 dict(type=T_CODE, value=code)])
    data = imgformat.make_image(payload, version=version, hdr_size=HEADER_SIZE, key=key,
                                security_counter=security_counter, flags=imgformat.F_NON_BOOTABLE)
    if len(data) > SLOT_SIZE:
        raise BundleError("the bundle is %d bytes, a bundle slot on the board holds %d" % (len(data), SLOT_SIZE))
    return data


def parse_bundle(data, key=None):
    """(ImageInfo, manifest text, code) of a bundle; ImageError for a bad
    image, BundleError for a good image that is not a well-formed bundle."""
    info = imgformat.parse_image(data, slot_addr=0, key=key)
    if not info.flags & imgformat.F_NON_BOOTABLE:
        raise BundleError("not a task bundle (a kernel image?)")
    payload = bytes(data[info.hdr_size:info.hdr_size + info.img_size])
    tlvs = PayloadTlvs.parse(payload)
    if sum(4 + len(t.value) for t in tlvs) != len(payload):
        raise BundleError("payload: a TLV runs past its end")
    found = {}
    for t in tlvs:
        found.setdefault(t.type, t.value)
    if T_MANIFEST not in found or T_CODE not in found:
        raise BundleError("payload lacks its %s" % ("manifest" if T_MANIFEST not in found else "code"))
    return info, found[T_MANIFEST].decode(), found[T_CODE]
