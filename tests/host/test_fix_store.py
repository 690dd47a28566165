"""The FIX sessions' flash store (userland/gateway/fix_store.py): numbers
and sent messages survive a restart (a new store over the same flash),
the log compacts into the other half when full and keeps the last
MAX_KEPT messages, a torn record (a reset mid-write) loses only itself,
and a scripted session through the acceptor gives the same bytes on a
flash store as on the memory store, under CPython and MicroPython."""
import binascii
import json

from drivers.flash.region import MemoryImage, Region
from tests.host import fix_world as FW, upy
from userland.gateway import fix_store as FS

SIZE = 0x20000


def region():
    img = MemoryImage(bytearray(b"\xff" * SIZE), 0)
    return Region(0, SIZE, 0x1000, img.read, img.write), img


def store(r):
    return FS.FlashStore(r, 0, SIZE, binascii.crc32)


def test_numbers_and_messages_survive_a_restart():
    r, img = region()
    s = store(r)
    assert s.load("HOST") == (1, 1)
    s.save("HOST", 5, 7)
    s.keep("HOST", 6, "8", "20261126-10:00:00.000", "37=Q1\x0111=A\x01")
    s.keep("OTHER", 1, "j", "20261126-10:00:01.000", "58=x\x01")
    again = store(r)
    assert again.load("HOST") == (5, 7) and again.load("OTHER") == (1, 1)
    assert again.kept("HOST", 6) == ("8", "20261126-10:00:00.000", "37=Q1\x0111=A\x01")
    assert again.kept("OTHER", 1)[0] == "j" and again.kept("HOST", 5) is None
    again.reset("HOST")
    third = store(r)
    assert third.load("HOST") == (1, 1) and third.kept("HOST", 6) is None and third.kept("OTHER", 1)


def test_a_full_half_compacts_into_the_other_keeping_the_last_messages():
    r, img = region()
    s = store(r)
    body = "58=" + "x" * 150 + "\x01"
    for seq in range(1, 1500):
        s.keep("HOST", seq, "8", "20261126-10:00:00.000", body + "34=%d\x01" % seq)
        s.save("HOST", seq + 1, seq + 1)
    assert s.gen >= 2                                   # compacted more than once
    again = store(r)
    assert again.load("HOST") == (1500, 1500) and again.gen == s.gen
    assert again.kept("HOST", 1499)[2].endswith("34=1499\x01")
    assert again.kept("HOST", 1500 - FS.MAX_KEPT)[2].endswith("34=%d\x01" % (1500 - FS.MAX_KEPT))
    assert again.kept("HOST", 1499 - FS.MAX_KEPT) is None


def test_a_torn_record_loses_only_itself():
    r, img = region()
    s = store(r)
    s.save("HOST", 3, 4)
    end = s.end
    s.save("HOST", 9, 9)
    img.data[end + 8] ^= 0xFF                            # the last record's payload, half written
    assert store(r).load("HOST") == (3, 4)


def test_a_scripted_session_on_flash_is_the_same_on_micropython():
    want = FW.script(flash=True)
    assert want == FW.script()                          # the same bytes as on the memory store
    got = json.loads(upy.run("import json\nfrom tests.host import fix_world\n"
                             "print(json.dumps(fix_world.script(flash=True)))\n", timeout=240))
    assert got == json.loads(json.dumps(want))
