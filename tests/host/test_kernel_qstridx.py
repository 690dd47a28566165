"""kernel/port/qstridx.c (the ROM qstr index qstr-port-find.patch asks
first, issue 14), built here with cffi over the index tools/qstrindex.py
makes from the real build's generated sources: every ROM qstr is found as
its own id from its string and hash, and a string that is not one is a miss
(MP_QSTRnull), so qstr_find_strn's answers are the ones its search gave.
The ids are numbered as py/qstr.h's enum numbers them (QDEF0 lines, QDEF1
lines, then the frozen pool from MP_QSTRnumber_of): that numbering is what
the firmware's MP_QSTR_ constants are, checked here against names the
generated header gives."""
import importlib.util
import os
import random
import re

import pytest

from tools import qstrindex

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KERNEL = os.path.join(ROOT, "build", "mps2-an385", "kernel")
DEFS = os.path.join(KERNEL, "genhdr", "qstrdefs.generated.h")
FROZEN = os.path.join(KERNEL, "frozen_content.c")


def _c_bytes(b):
    return '"%s"' % "".join("\\x%02x" % c for c in b)


@pytest.fixture(scope="module")
def pools():
    if not (os.path.exists(DEFS) and os.path.exists(FROZEN)):
        pytest.fail("firmware not built: run `make build` first")
    with open(DEFS, encoding="utf-8") as f:
        defs = f.read()
    with open(FROZEN, encoding="utf-8") as f:
        frozen = f.read()
    main = qstrindex.main_pool(defs, strings=True)
    return defs, main, qstrindex.frozen_pool(frozen, len(main), strings=True)


@pytest.fixture(scope="module")
def lib(pools, tmp_path_factory):
    import cffi
    _defs, main, frozen = pools
    rows = main + frozen
    inc = tmp_path_factory.mktemp("qstridx")
    (inc / "py").mkdir()
    (inc / "py" / "qstr.h").write_text(
        "#include <stddef.h>\n#include <stdint.h>\ntypedef size_t qstr;\n#define MP_QSTRnull (0)\n"
        "#define MICROPY_QSTR_BYTES_IN_HASH (2)\nsize_t qstr_len(qstr q);\nconst char *qstr_str(qstr q);\n"
        "qstr qx_qstr_find(const char *str, size_t len, size_t hash);\n")
    (inc / "qstr_index.h").write_text(qstrindex.header(qstrindex.table([r[:3] for r in rows])))
    pool = ",\n".join(_c_bytes(r[3]) for r in rows)
    lens = ", ".join(str(len(r[3])) for r in rows)
    src = ('#include "py/qstr.h"\nstatic const char *const strs[] = {%s};\n'
           "static const size_t lens[] = {%s};\n"
           "size_t qstr_len(qstr q) { return lens[q]; }\nconst char *qstr_str(qstr q) { return strs[q]; }\n"
           % (pool, lens))
    ffi = cffi.FFI()
    ffi.cdef("size_t qx_qstr_find(const char *str, size_t len, size_t hash);")
    ffi.set_source("_qx_qstridx", src, sources=[os.path.join(ROOT, "kernel", "port", "qstridx.c")],
                   include_dirs=[str(inc)], extra_compile_args=["-Wall", "-Werror"])
    path = ffi.compile(tmpdir=str(inc))
    spec = importlib.util.spec_from_file_location("_qx_qstridx", path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return ffi, m.lib


def test_ids_are_py_qstr_h_numbering(pools):
    defs, main, frozen = pools
    assert main[0][:3] == (0, 0, 0) and main[1][1:] == (5381, 0, b"")     # MP_QSTRnull, MP_QSTR_
    names = re.findall(r"^QDEF([01])\((MP_QSTR\w*),", defs, re.M)
    order = [n for k, n in names if k == "0"] + [n for k, n in names if k == "1"]
    assert order.index("MP_QSTR___name__") == [r[3] for r in main].index(b"__name__")
    assert order.index("MP_QSTR_append") == [r[3] for r in main].index(b"append")
    assert frozen[0][0] == len(main) and len(frozen) > 100
    for _i, h, n, s in main + frozen:
        if n:
            assert qstrindex.compute_hash(s) == h and len(s) == n


def test_every_rom_qstr_is_found_as_itself(pools, lib):
    ffi, c = lib
    _defs, main, frozen = pools
    for i, h, n, s in main + frozen:
        if n:
            assert c.qx_qstr_find(s, n, h) == i, (i, s)


def test_a_string_that_is_no_rom_qstr_is_a_miss(pools, lib):
    ffi, c = lib
    _defs, main, frozen = pools
    known = {r[3] for r in main + frozen}
    rnd = random.Random(2)
    probes = [b"no_such_qstr", b"__dir_", b"__dir__x", b"userland.lib.qenex.zz"]
    probes += [bytes(rnd.randrange(32, 127) for _ in range(rnd.randrange(1, 12))) for _ in range(3000)]
    probes += [s[:-1] for s in known if len(s) > 1][:500] + [s + b"_" for s in known][:500]
    for p in probes:
        if p not in known:
            assert c.qx_qstr_find(p, len(p), qstrindex.compute_hash(p)) == 0, p
    # the right string with a wrong hash is a miss too (the hash picks the slot)
    i, h, n, s = next(r for r in main if r[3] == b"__name__")
    assert c.qx_qstr_find(s, n, h ^ 1) == 0 and c.qx_qstr_find(s, n, h) == i


def test_the_table_stays_half_empty_and_refuses_ids_it_cannot_hold():
    slots = qstrindex.table([(i, i * 7919 & 0xFFFF, 3) for i in range(1, 1000)])
    assert len(slots) == 2048 and sum(1 for s in slots if s[1] != qstrindex.EMPTY) == 999
    with pytest.raises(ValueError):
        qstrindex.table([(0xFFFF, 5, 1)])
