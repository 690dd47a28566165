"""Writes the frozen-module name index the kernel's import looks names up in
(kernel/port/frozenidx.c, issue 14).

MicroPython's frozen_content.c lists every frozen file's name in one packed
string, mp_frozen_names ("kernel/abi.py\\0kernel/buddy.py\\0...\\0"), and
py/frozenmod.c walks all of it on every import's stat.  This reads that list
back out of the generated frozen_content.c and writes a header with a hash
table of every name and directory ("a/b" of "a/b/c.py"), each with the entry
frozenmod's loop would stop at for it, so frozenidx.c finds that entry in
one probe.  The table is const: it lives in flash.

    python3 tools/frozenindex.py BUILD/frozen_content.c OUT.h [SOURCE_DIR ...]

With the directories the frozen files come from, the header also gives each
module's number of module-level names (globals_count), so that its import
makes the module's dict that size once (kernel/port/patches/
builtinimport-presize.patch) instead of growing it a step at a time:
MicroPython's map rehashes only when completely full and grows by 2 or
about 1.3 entries, so a module of 80 names was rebuilt 14 times, a third of
a task's start.
"""
import re
import sys

_LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
_ESCAPES = {"n": 10, "t": 9, "r": 13, "\\": 92, '"': 34, "'": 39, "?": 63}


def _unescape(body):
    """The bytes of one C string literal's body (the escapes C allows)."""
    out, i = bytearray(), 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        e = body[i + 1]
        if e in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1:])
            out.append(int(m.group(0), 8) & 0xFF)
            i += 1 + len(m.group(0))
        elif e == "x":
            m = re.match(r"[0-9a-fA-F]+", body[i + 2:])
            out.append(int(m.group(0), 16) & 0xFF)
            i += 2 + len(m.group(0))
        else:
            out.append(_ESCAPES[e])
            i += 2
    return bytes(out)


def _literals(text):
    return b"".join(_unescape(m.group(1)) for m in _LITERAL.finditer(text))


def frozen_names_blob(source):
    """mp_frozen_names's bytes, as the C compiler builds them from
    frozen_content.c: the MP_FROZEN_STR_NAMES macro's names, then the rest."""
    str_names = b""
    m = re.search(r"#define MP_FROZEN_STR_NAMES \\\n((?:.*\\\n)*)", source)
    if m:
        str_names = _literals(m.group(1))
    start = source.index("const char mp_frozen_names[] = {")
    end = source.index("};", start)
    body = source[start:end]
    head, sep, rest = body.partition("#endif")
    if "MP_FROZEN_STR_NAMES" not in head or not sep:
        raise ValueError("frozen_content.c: mp_frozen_names has an unexpected layout")
    return str_names + _literals(rest)


def entries(blob):
    """(offset, name) of each entry as py/frozenmod.c's loop walks them: up to
    the first empty name (the list's end)."""
    out, off = [], 0
    while off < len(blob) and blob[off] != 0:
        n = blob.index(b"\0", off) - off
        out.append((off, blob[off:off + n]))
        off += n + 1
    if off >= len(blob):
        raise ValueError("mp_frozen_names does not end with an empty name")
    return out, off


def fnv1a(data):
    """The hash frozenidx.c computes: 32-bit FNV-1a."""
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def stops(blob):
    """{key: (position, offset)} for every query that finds something: each
    name and each directory ("a/b" of "a/b/c.py"), with the entry
    py/frozenmod.c's loop stops at for it -- the first in list order that is
    the key or starts with key "/"."""
    out = {}
    for i, (off, name) in enumerate(entries(blob)[0]):
        keys = [name] + [name[:k] for k in range(len(name)) if name[k] == ord("/")]
        for key in keys:
            if key not in out:
                out[key] = (i, off)
    return out


EMPTY = 0xFFFF


def index(blob):
    """The hash table: a slot per key (its stop entry's offset -- the key is
    that entry's first bytes --, the key's length, the stop's position), a
    power of two at most 3/4 full, linear probing; EMPTY in the length marks
    a free slot."""
    ents, end = entries(blob)
    keys = stops(blob)
    size = 4
    while 4 * len(keys) > 3 * size:
        size *= 2
    table = [(0, EMPTY, 0)] * size
    for key, (pos, off) in sorted(keys.items(), key=lambda kv: kv[1]):
        assert blob[off:off + len(key)] == key
        h = fnv1a(key) & (size - 1)
        while table[h][1] != EMPTY:
            h = (h + 1) & (size - 1)
        table[h] = (off, len(key), pos)
    for value in (end, len(ents)) + tuple(v for row in table for v in row if v != EMPTY):
        if value >= EMPTY:
            raise ValueError("frozen names too long for a 16-bit index")
    return table, end


def globals_count(source):
    """How many names a module's body binds at module level (assignments,
    imports, defs, classes), counted with CPython's symbol table: what its
    globals dict holds after the import, besides __name__."""
    import symtable
    top = symtable.symtable(source, "module", "exec")
    names = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported() or s.is_namespace()}
    todo = list(top.get_children())
    while todo:                 # `global X` then X = ... in a function or class
        t = todo.pop()
        names.update(s.get_name() for s in t.get_symbols() if s.is_declared_global() and s.is_assigned())
        todo.extend(t.get_children())
    return len(names)


def source_of(name, dirs):
    """The path of frozen entry `name` (bytes) under the first of dirs that
    has it, or None."""
    import os
    for d in dirs:
        path = os.path.join(d, name.decode())
        if os.path.isfile(path):
            return path
    return None


def counts(blob, dirs):
    """globals_count of each entry found as a .py file under one of dirs (in
    order), 0 for the others (no hint: the dict grows as before)."""
    out = []
    for _off, name in entries(blob)[0]:
        n, path = 0, source_of(name, dirs) if name.endswith(b".py") else None
        if path is not None:
            with open(path, encoding="utf-8") as f:
                n = globals_count(f.read())
        out.append(n)
    return out


def header(blob, names=None):
    """The header; names: globals_count per entry (counts()), or None."""
    table, end = index(blob)
    lines = [
        "// Generated by tools/frozenindex.py from frozen_content.c: do not edit.",
        "// Every name and directory of mp_frozen_names, hashed (FNV-1a, linear",
        "// probing): the entry frozenmod's loop stops at for the key (whose first",
        "// bytes are the key), the key's length (QX_FROZEN_EMPTY: a free slot),",
        "// the entry's position.",
        "#define QX_FROZEN_SLOTS (%d)" % len(table),
        "#define QX_FROZEN_EMPTY (%d)" % EMPTY,
        "#define QX_FROZEN_END (%d)" % end,
        "static const qx_frozen_slot_t qx_frozen_index[QX_FROZEN_SLOTS] = {",
    ]
    lines += ["    {%d, %d, %d}," % row for row in table]
    lines += ["};", ""]
    names = names or [0] * len(entries(blob)[0])
    lines += [
        "// Module-level names of each entry (by position; 0: not known), for",
        "// qx_frozen_presize.",
        "static const uint16_t qx_frozen_globals[%d] = {" % max(len(names), 1),
        "    " + ", ".join(str(min(n, EMPTY - 1)) for n in names or [0]) + ",",
        "};", ""]
    return "\n".join(lines)


def main(argv):
    src, out, dirs = argv[1], argv[2], argv[3:]
    with open(src, encoding="utf-8") as f:
        blob = frozen_names_blob(f.read())
    text = header(blob, counts(blob, dirs))
    with open(out + ".tmp", "w") as f:
        f.write(text)
    import os
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main(sys.argv)
