"""kernel/port/strlen.c (the firmware's strlen, linked with
-Wl,--wrap=strlen), built here with cffi: it agrees with the C library's
strlen for every length and alignment, whatever bytes follow the NUL, and
walks a packed list of names as MicroPython's frozen-module lookup does."""
import importlib.util
import os
import random

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    import cffi
    ffi = cffi.FFI()
    ffi.cdef("size_t name_len(const char *s); size_t c_strlen(const char *s);")
    ffi.set_source("_qx_strlen", """
        #include <string.h>
        size_t __wrap_strlen(const char *s);
        size_t name_len(const char *s) { return __wrap_strlen(s); }
        size_t c_strlen(const char *s) { return strlen(s); }""",
                   sources=[os.path.join(ROOT, "kernel", "port", "strlen.c")])
    path = ffi.compile(tmpdir=str(tmp_path_factory.mktemp("cffi")))
    spec = importlib.util.spec_from_file_location("_qx_strlen", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return ffi, mod.lib


def test_agrees_with_strlen_at_every_alignment(lib):
    ffi, c = lib
    rnd = random.Random(14)
    for n in range(0, 70):
        for align in range(8):
            # non-zero bytes, including 0x80 and 0x01 (the word test's edge cases)
            body = bytes(rnd.choice((1, 0x7F, 0x80, 0xFF, 0x2F, 0x61)) for _ in range(n))
            buf = ffi.new("char[]", 8 + n + 16)
            tail = bytes(rnd.randrange(256) for _ in range(7))
            data = b"\xAA" * align + body + b"\0" + tail
            ffi.memmove(buf, data, len(data))
            p = buf + align
            assert c.name_len(p) == c.c_strlen(p) == n, (n, align)


def test_a_list_of_names_walks_as_with_strlen(lib):
    """Names packed one after another, as mp_frozen_names holds them."""
    ffi, c = lib
    names = [b"kernel/abi.py", b"userland/lib/qenex.py", b"a", b"userland/benchpeer/main.py", b"xy"]
    blob = b"\0".join(names) + b"\0\0"
    buf = ffi.new("char[]", blob)
    off, got = 0, []
    for _ in names:
        n = c.name_len(buf + off)
        got.append(ffi.unpack(buf + off, n))
        off += n + 1
    assert got == names
    assert c.name_len(buf + off) == 0           # the list's end
