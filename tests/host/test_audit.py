"""The audit log (userland/audit/log.py) with the emulated HSM signing its
checkpoints: the chain and every signature verify with `cryptography`;
editing an entry, forging a signature or cutting the log is caught."""
import pytest

from drivers.flash.region import MemoryImage, Region
from drivers.hsm import frame as F
from drivers.hsm.client import Client
from tools.hsm.emulator import Hsm, crc32, hmac_sha256
from tools.qenex import ecdsa_checker
from userland.audit import log as audit

SIZE = 1 << 17


class Port:
    def __init__(self, hsm):
        self.hsm, self.out = hsm, b""

    def write(self, data):
        for req in F.Reader(crc32).feed(data):
            self.out += self.hsm.handle(req)

    def read(self):
        out, self.out = self.out, b""
        return out


@pytest.fixture
def setup(tmp_path):
    hsm = Hsm(str(tmp_path / "hsm.json"))
    c = Client(Port(hsm), crc32, hmac_sha256, lambda: 0, lambda ms: None)
    c.login("123456")
    c.change_pin("123456", "246810")           # no key is made under the factory PIN
    pub = F.unfields(c.request(F.GENERATE, F.fields(bytes((0,)), "audit", bytes((F.usage_bits(["sign"]),)))))[0]
    img = MemoryImage(bytearray(b"\xff" * SIZE), 0)
    region = Region(0, SIZE, 4096, img.read, img.write)

    def sign(digest):
        return F.unfields(c.request(F.SIGN, F.fields("audit", digest)))[0]

    return region, img, sign, ecdsa_checker(pub.hex())


def test_entries_and_signed_checkpoints_verify(setup):
    region, img, sign, verify_sig = setup
    log = audit.AuditLog(region, sign, lambda: 1, every=4)
    for i in range(10):
        log.append("accept pacs.008 E2E-%d rules=[]" % i)
    log.checkpoint()
    assert audit.verify(region, verify_sig) == (10, 3)
    again = audit.AuditLog(region, sign, lambda: 2, every=4)     # after a reboot the count goes on
    again.append("hold MT103 REF rules=[R-STRUCTURING]")
    assert audit.verify(region, verify_sig) == (11, 3)


def test_an_edited_entry_a_forged_signature_or_a_cut_log_is_caught(setup):
    region, img, sign, verify_sig = setup
    log = audit.AuditLog(region, sign, lambda: 1, every=2)
    for i in range(4):
        log.append("entry %d" % i)
    good = bytes(img.data)
    at = good.index(b"entry 1")
    img.data[at + 6] ^= 1
    with pytest.raises(ValueError, match="corrupt at 0x[0-9a-f]+ \\(record 2\\): checksum mismatch"):
        audit.verify(region, verify_sig)        # an edit in the middle is corruption, not a torn tail
    img.data[:] = good
    assert audit.verify(region, verify_sig) == (4, 2)
    # a checkpoint whose signature is not the HSM key's
    with pytest.raises(ValueError, match="signature does not verify"):
        audit.verify(region, lambda head, sig: False)
