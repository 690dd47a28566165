"""kernel/port/frozenidx.c (the frozen-module hash index
frozenmod-port-find.patch asks, issue 14), built here with cffi over the index tools/frozenindex.py
makes: for every query the patched mp_find_frozen_module gives what
MicroPython's original loop over mp_frozen_names gives (file and its
position, directory, or nothing), on the real name lists of both images and
on made-up lists with the awkward cases (a name that is also a directory,
the same name twice, '.' and '-' sorting before '/', bytes over 0x7F)."""
import importlib.util
import os
import random
import re

import pytest

from tools import frozenindex

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGES = {
    "production": os.path.join(ROOT, "build", "mps2-an385", "kernel", "frozen_content.c"),
    "test": os.path.join(ROOT, "build", "mps2-an385-test", "kernel", "frozen_content.c"),
}
FILE, DIR, NONE = "file", "dir", "none"


def original(blob, query, start=0, offset=0, first_step=False):
    """py/frozenmod.c's loop (MicroPython 1.25.0), from entry `start` at
    `offset`: (FILE, i), (DIR, None) or (NONE, None).  With first_step, also
    whether it answered at the entry it started at."""
    name, i, steps = offset, start, 0
    while blob[name] != 0:
        entry_len = blob.index(b"\0", name) - name
        steps += 1
        if entry_len >= len(query) and blob[name:name + len(query)] == query:
            if entry_len == len(query):
                return ((FILE, i), steps == 1) if first_step else (FILE, i)
            if blob[name + len(query)] == ord("/"):
                return ((DIR, None), steps == 1) if first_step else (DIR, None)
        name += entry_len + 1
        i += 1
    return ((NONE, None), steps == 0) if first_step else (NONE, None)


def build(tmp_path, blob, tag, names=None):
    import cffi
    inc = tmp_path / tag
    inc.mkdir()
    (inc / "frozen_index.h").write_text(frozenindex.header(blob, names))
    ffi = cffi.FFI()
    ffi.cdef("const char *qx_frozen_find(const char *str, size_t len, size_t *pos);"
             "unsigned qx_frozen_globals_of(const char *name);"
             "extern const char mp_frozen_names[];")
    data = ", ".join(str(b) for b in blob)
    mod = "_qx_frozenidx_" + tag
    ffi.set_source(mod, "#include \"frozenidx.h\"\nconst char mp_frozen_names[] = {%s};" % data,
                   sources=[os.path.join(ROOT, "kernel", "port", "frozenidx.c")],
                   include_dirs=[str(inc), os.path.join(ROOT, "kernel", "port")],
                   extra_compile_args=["-Wall", "-Werror"])
    path = ffi.compile(tmpdir=str(inc))
    spec = importlib.util.spec_from_file_location(mod, path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return ffi, m.lib


def patched(ffi, c, blob, query):
    """The patched mp_find_frozen_module: the index's entry, then the loop."""
    buf = ffi.new("char[]", query)
    pos = ffi.new("size_t *")
    p = c.qx_frozen_find(buf, len(query), pos)
    offset = int(ffi.cast("uintptr_t", p)) - int(ffi.cast("uintptr_t", c.mp_frozen_names))
    assert 0 <= offset < len(blob)
    return original(blob, query, pos[0], offset, first_step=True)


def queries(names, seed):
    rnd = random.Random(seed)
    out = {b"", b"/", b"x", b"kernel", b"kernel/", b"userland", b"nope/x.py", b"\xff"}
    for n in names:
        out.add(n)
        for k in range(len(n) + 1):
            out.add(n[:k])                              # every prefix: dirs and misses
            out.add(n[:k] + b"/")
        out.add(n + b"x")
        out.add(n + b"/")
        out.add(n.rsplit(b".", 1)[0])                   # "kernel/abi" for "kernel/abi.py"
        out.add(n.rsplit(b"/", 1)[0])                   # its directory
        b = bytearray(n)
        b[rnd.randrange(len(b))] = rnd.randrange(1, 256)
        out.add(bytes(b))
    alphabet = b"abk/._-ez\x7f\x80"
    for _ in range(400):
        out.add(bytes(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 8))))
    return sorted(out)


def check(ffi, c, blob, seed):
    names = [n for _, n in frozenindex.entries(blob)[0]]
    qs = queries(names, seed)
    for q in qs:
        got, at_once = patched(ffi, c, blob, q)
        assert got == original(blob, q), q
        assert at_once, q                               # the loop's first step answers
    return names, qs


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_real_name_lists(tmp_path, image):
    path = IMAGES[image]
    if not os.path.exists(path):
        pytest.fail("firmware not built: run `make build` first")
    with open(path, encoding="utf-8") as f:
        blob = frozenindex.frozen_names_blob(f.read())
    dirs = (ROOT, os.path.join(ROOT, "hal", "board", "mps2-an385"), os.path.join(os.path.dirname(path), "..", "gen"))
    counts = frozenindex.counts(blob, dirs)
    ffi, c = build(tmp_path, blob, image, counts)
    names, qs = check(ffi, c, blob, 14)
    # each module's count of names, as the import's presize reads it (a
    # directory or a miss has none); kernel/abi.py's, counted by hand
    assert [c.qx_frozen_globals_of(n) for n in names] == counts
    for q in (b"kernel", b"kernel/", b"nope.py", b"kernel/abi"):
        assert c.qx_frozen_globals_of(q) == 0
    with open(os.path.join(ROOT, "kernel", "abi.py")) as f:
        top = re.findall(r"^([A-Z_][A-Z0-9_]*) *=", f.read(), re.M)
    assert c.qx_frozen_globals_of(b"kernel/abi.py") == len(set(top)) + 1     # + table()
    # every frozen file's source was found (the repository, the board, gen/)
    assert all(frozenindex.source_of(n, dirs) for n in names)
    assert len(names) > 50 and all(n.endswith(b".py") for n in names)
    # every name and directory has its slot, with a free one left to end a probe
    table, end = frozenindex.index(blob)
    keys = frozenindex.stops(blob)
    used = [row for row in table if row[1] != frozenindex.EMPTY]
    assert len(used) == len(keys) and 4 * len(used) <= 3 * len(table)
    assert set(keys) >= set(names) and b"kernel" in keys and b"userland" in keys
    assert blob[end] == 0 and end == len(b"".join(n + b"\0" for n in names))


AWKWARD = [
    [b"a/b.py", b"a/b/c.py", b"a/b", b"a-b", b"a/b/c.py", b"a.b/x", b"a"],
    [b"a/b/c.py", b"a/b", b"a/b/d.py", b"a/b"],            # the directory comes first
    [b"a/b/z.py", b"a/b", b"a/b/c.py"],                    # ... but sorts after the name
    [b"a/b", b"a/b/c.py", b"a/b/d.py"],                    # the name comes first
    [b"x", b"x", b"x/y"],                                  # the same name twice
    [b"\xc3\xa9/a.py", b"\x80", b"/root", b"z"],           # bytes over 0x7F, a leading '/'
    [b"only.py"],
    [b"n%d/m%d.py" % (k % 7, k) for k in range(300)],    # many collisions in 512 slots
    [],
]


@pytest.mark.parametrize("k", range(len(AWKWARD)))
def test_awkward_lists(tmp_path, k):
    names = AWKWARD[k]
    blob = b"".join(n + b"\0" for n in names) + b"\0"
    ffi, c = build(tmp_path, blob, "awk%d" % k)
    check(ffi, c, blob, k)


def test_the_header_is_parsed_as_c_builds_it():
    src = ('#define MP_FROZEN_STR_NAMES \\\n"s.py\\0" \\\n"t\\\\u.py\\0" \\\n\n'
           'const char mp_frozen_names[] = {\n    #ifdef MP_FROZEN_STR_NAMES\n'
           '    MP_FROZEN_STR_NAMES\n    #endif\n    "m/a.py\\0"\n    "m/\\x62.py\\0"\n    "\\0"\n};\n')
    blob = frozenindex.frozen_names_blob(src)
    assert blob == b"s.py\0t\\u.py\0m/a.py\0m/b.py\0\0"
    with pytest.raises(ValueError):
        frozenindex.frozen_names_blob(src.replace("#endif", ""))


def test_globals_count_is_what_the_module_binds():
    src = ("import os\nfrom a import b, c as d\nX = 1\nY, Z = 2, 3\ndef f():\n    global G\n    G = 1\n    w = 2\n"
           "class K:\n    q = 1\nfor i in range(3):\n    pass\nif X:\n    W = 4\n")
    # os, b, d, X, Y, Z, f, G (bound through `global`), K, i, W; not w or q
    assert frozenindex.globals_count(src) == 11
    assert frozenindex.globals_count("") == 0
