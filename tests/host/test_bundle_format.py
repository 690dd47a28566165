"""Task bundles: the host's format (tools/bundle.py) against the device's
reader (kernel/bundles.py), with boot/image.c (cffi) as the device's
verifier; the bundle store on a buffer with the storage driver's rules."""
import pytest

from kernel import bundles
from test_image_format import KEY, PUB, c, c_check  # noqa: F401 (c: the compiled checker fixture)
from tools import bundle, imgformat

MANIFEST = "name = hello\nentry = main\npriority = 4\nheap = 16384\nstack = 4096\nrestart = never\n"
CODE = b"M\x06\x00\x1f fake mpy bytes"


def verifier(c):
    def verify(data):
        code, info = c_check(c, data, slot_addr=0, key=PUB)
        return (code.replace("_", " ").replace("tlv", "TLV"), info.flags,
                (info.major, info.minor, info.revision, info.build), info.security_counter,
                info.hdr_size, info.img_size, bytes(info.hash))
    return verify


def test_the_device_reads_what_the_host_makes(c):
    data = bundle.make_bundle(MANIFEST, CODE, (1, 2, 3, 4), KEY)
    info, text, code = bundle.parse_bundle(data, key=PUB)
    b = bundles.open_bundle(data, verifier(c))
    assert (text, code) == (MANIFEST, CODE) and b.code == CODE and b.manifest.name == "hello"
    assert b.version == (1, 2, 3, 4) == info.version and b.counter == (1 << 24) | (2 << 16) | 3


@pytest.mark.parametrize("case,why", [
    ("unsigned", "refused: wrong key"),
    ("kernel flag", "refused: bad vectors"),          # checked as a kernel: its payload has no vectors
    ("no code", "refused: the payload has no code"),
    ("kernel capability", "refused: kernel: an installed task may not hold the kernel capability"),
    ("bad manifest", "refused: bad manifest"),
    ("device", "refused: devices uart1: an installed task may not be granted devices"),
    ("payload overrun", "payload: a TLV runs past its end"),
])
def test_the_device_refuses_bad_bundles_saying_why(c, case, why):
    tlvs = [(bundle.T_MANIFEST, MANIFEST.encode()), (bundle.T_CODE, CODE)]
    key, flags = KEY, imgformat.F_NON_BOOTABLE
    if case == "unsigned":
        key = None
    elif case == "kernel flag":
        flags = 0
    elif case == "no code":
        tlvs = tlvs[:1]
    elif case == "kernel capability":
        tlvs[0] = (bundle.T_MANIFEST, (MANIFEST + "kernel = true\n").encode())
    elif case == "device":
        tlvs[0] = (bundle.T_MANIFEST, (MANIFEST + "devices = uart1\n").encode())
    elif case == "bad manifest":
        tlvs[0] = (bundle.T_MANIFEST, b"name = 9lives\n")
    payload = b"".join(imgformat.Tlv.build(dict(type=t, value=v)) for t, v in tlvs)
    if case == "payload overrun":
        payload += b"\x02\x00\xff\x00"
    data = imgformat.make_image(payload, version=(1, 0, 0, 0), hdr_size=bundle.HEADER_SIZE, key=key, flags=flags,
                                security_counter="auto")
    with pytest.raises(bundles.BundleError) as e:
        bundles.open_bundle(data, verifier(c))
    assert why in str(e.value)


class Flash:
    def __init__(self, size, sector=4096):
        self.mem = bytearray(b"\xff" * size)
        self.sector = sector

    def read(self, off, n):
        return bytes(self.mem[off:off + n])

    def erase(self, off):
        assert off % self.sector == 0
        self.mem[off:off + self.sector] = b"\xff" * self.sector

    def program(self, off, data):
        for i, b in enumerate(data):
            assert self.mem[off + i] & b == b, "programming a 0 bit back to 1"
            self.mem[off + i] = b


def test_the_store_keeps_a_bundle_per_slot_and_finds_it_again():
    f = Flash(4 * bundles.SLOT_SIZE)
    s = bundles.Store(f.read, f.erase, f.program, 0, 4 * bundles.SLOT_SIZE, 4096)
    one = bundle.make_bundle(MANIFEST, CODE, (1, 0, 0, 0), KEY)
    two = bundle.make_bundle(MANIFEST, CODE * 300, (2, 0, 0, 0), KEY)
    assert s.used() == [] and s.load(0) is None
    s.save(2, two)
    s.save(2, one)                               # smaller over larger: erased first
    s.save(0, two)
    assert s.used() == [0, 2] and s.load(2) == one and s.load(0) == two
    s.clear(2)
    assert s.used() == [0] and s.load(2) is None
    with pytest.raises(bundles.BundleError, match="a bundle slot holds"):
        s.save(1, b"\0" * (bundles.SLOT_SIZE + 1))
