"""The XML reader (userland/lib/xmlmini.py, on Expat: kernel/port/modxml.c
under MicroPython, pyexpat under CPython), under both alike: CDATA sections,
non-ASCII text, UTF-8 checked strictly (overlong forms, surrogates, code
points above U+10FFFF refused), str, bytes, bytearray and memoryview input,
and a document fed in chunks of any size giving the same tree as one parse;
each refusal with Expat's message and the line."""
import json

import pytest

from tests.host import upy
from userland.lib import xmlmini

# (name, document as latin-1 text of its bytes, the tree or the error expected)
CASES = [
    ("cdata", "<a><![CDATA[x < y & z]]> &amp; w</a>", ["a", "", {}, "x < y & z & w", []]),
    ("cdata-markup", "<a><![CDATA[<b>not an element</b>]]></a>", ["a", "", {}, "<b>not an element</b>", []]),
    ("cdata-no-entities", "<a><![CDATA[&lt;&#65;]]></a>", ["a", "", {}, "&lt;&#65;", []]),
    ("cdata-bracket", "<a><![CDATA[a]b]]c]]]></a>", ["a", "", {}, "a]b]]c]", []]),
    ("cdata-unterminated", "<a><![CDATA[x</a>", "line 1: unclosed CDATA section"),
    ("cdata-outside", "<![CDATA[x]]><a/>", "line 1: syntax error"),
    ("cdata-end-in-text", "<a>x]]>y</a>", "line 1: not well-formed (invalid token)"),
    ("accents", "<Nm>Jos\xc3\xa9 M\xc3\xbcller \xe2\x82\xac</Nm>", ["Nm", "", {}, "Jos\u00e9 M\u00fcller \u20ac", []]),
    ("accents-attr", '<a n="\xc3\xa9t\xc3\xa9"/>', ["a", "", {"n": "\u00e9t\u00e9"}, "", []]),
    ("astral", "<a>\xf0\x9f\x92\xb6&#x1F4B6;</a>", ["a", "", {}, "\U0001F4B6\U0001F4B6", []]),
    ("bom", "\xef\xbb\xbf<?xml version='1.0'?>\n<a>1</a>", ["a", "", {}, "1", []]),
    ("not-utf8", "<a>caf\xe9</a>", "line 1: not UTF-8"),
    ("overlong", "<a>\xc0\xbc</a>", "line 1: not UTF-8"),
    ("overlong-3", "<a>\xe0\x80\xbc</a>", "line 1: not UTF-8"),
    ("surrogate", "<a>\xed\xa0\x80</a>", "line 1: not UTF-8"),
    ("above-10ffff", "<a>\xf4\x90\x80\x80</a>", "line 1: not UTF-8"),
    ("cut-sequence", "<a>\xc3</a>", "line 1: not UTF-8"),
    ("bad-in-comment", "<a><!-- \xff --></a>", "line 1: not UTF-8"),
    ("bad-in-attr", '<a\n b="\xff"/>', "line 2: not UTF-8"),
    ("charref-surrogate", "<a>&#xD800;</a>", "line 1: reference to invalid character number"),
    ("charref-nul", "<a>&#0;</a>", "line 1: reference to invalid character number"),
    ("namespaces", '<p:a xmlns:p="urn:p" xmlns="urn:d"><b/><p:c x="1"/></p:a>',
     ["a", "urn:p", {}, "", [["b", "urn:d", {}, "", []], ["c", "urn:p", {"x": "1"}, "", []]]]),
    ("gt-in-attr", '<a x="1>2">t</a>', ["a", "", {"x": "1>2"}, "t", []]),
    ("lines", "<a>\n<b>\n</c>", "line 3: an end tag that does not close <b>"),
    ("doctype", "<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>", "line 1: DOCTYPE and other declarations are not accepted"),
    ("entity", "<a>&e;</a>", "line 1: undefined entity"),
    ("pi", "<a><?x y?></a>", "line 1: processing instructions are not accepted"),
    ("unclosed", "<a><b>", "line 1: <b> is not closed"),
    ("second-root", "<a/><b/>", "line 1: junk after document element"),
    ("no-root", "  ", "no root element"),
    ("lt-lt", "<a><<b/></a>", "line 1: not well-formed (invalid token)"),
    ("bad-name", "<1a/>", "line 1: not well-formed (invalid token)"),
    ("attr-twice", '<a x="1" x="2"/>', "line 1: duplicate attribute"),
    ("mixed", "<a>x<!-- c -->y<b/>z</a>", ["a", "", {}, "xyz", [["b", "", {}, "", []]]]),
]

SCRIPT = r"""
import json
from userland.lib import xmlmini

def tree(e):
    return [e.tag, e.ns, e.attrs, e.text, [tree(c) for c in e.children]]

def run(data, how):
    try:
        if how == "bytes":
            return tree(xmlmini.parse(data))
        if how == "str":
            return tree(xmlmini.parse(data.decode()))
        if how == "bytearray":
            return tree(xmlmini.parse(bytearray(data)))
        if how == "memoryview":
            return tree(xmlmini.parse(memoryview(data)))
        p = xmlmini.Parser()
        k = int(how)
        for i in range(0, len(data), k):
            p.feed(data[i:i + k])
        return tree(p.close())
    except xmlmini.XmlError as e:
        return str(e)

def main(cases):
    out = []
    for name, text in cases:
        data = text.encode("latin-1") if hasattr(text, "encode") else text
        data = bytes([ord(c) for c in text])
        row = [run(data, h) for h in ("bytes", "bytearray", "memoryview", "1", "2", "3", "7")]
        try:
            data.decode()
            row.append(run(data, "str"))
        except UnicodeError:
            row.append(row[0])
        out.append(row)
    return out
"""


def run_cpython(cases):
    env = {}
    exec(SCRIPT, env)
    return env["main"](cases)


def run_micropython(cases):
    return json.loads(upy.run(SCRIPT + "\nprint(json.dumps(main(json.loads(sys.stdin.read()))))\n",
                              json.dumps(cases)))


def test_each_case_gives_its_tree_or_error_whatever_the_input_type_or_chunks():
    got = run_cpython([(n, t) for n, t, _ in CASES])
    for (name, _, want), row in zip(CASES, got):
        for how, r in zip(("bytes", "bytearray", "memoryview", "feed 1", "feed 2", "feed 3", "feed 7", "str"), row):
            assert r == want, (name, how, r)


def test_micropython_gives_the_same_trees_and_errors():
    cases = [(n, t) for n, t, _ in CASES]
    cases.append(("pacs.008", open(upy.ROOT + "/tests/vectors/gateway/pacs008.xml", encoding="latin-1").read()))
    assert run_micropython(cases) == run_cpython(cases)


def test_a_long_document_fed_in_pieces_is_read_as_it_comes():
    p = xmlmini.Parser()
    p.feed(b"<Document><A>1</A><B>tw")
    assert [(c.tag, c.text) for c in p.root.children] == [("A", "1"), ("B", "")]     # B's text: at its end
    p.feed(b"o &amp;")
    p.feed(b" three</B><!-- a comment cut")
    assert [c.text for c in p.root.children] == ["1", "two & three"]
    p.feed(b" short --><C><![CDATA[x<")
    p.feed(b"y]]></C></Document>")
    root = p.close()
    assert [(c.tag, c.text) for c in root.children] == [("A", "1"), ("B", "two & three"), ("C", "x<y")]


def test_a_document_over_the_size_limit_is_refused_as_it_is_fed():
    p = xmlmini.Parser()
    p.feed(b"<a>" + b"x" * (xmlmini.MAX_SIZE - 3))
    with pytest.raises(xmlmini.XmlError, match="larger than"):
        p.feed(b"y")


def test_nesting_deeper_than_the_limit_is_refused():
    d = xmlmini.MAX_DEPTH
    assert xmlmini.parse("<a>" * d + "</a>" * d).tag == "a"
    with pytest.raises(xmlmini.XmlError, match="nested deeper than %d" % d):
        xmlmini.parse("<a>" * (d + 1) + "</a>" * (d + 1))


def _outcome(f):
    try:
        e = f()
    except xmlmini.XmlError as x:
        return str(x)

    def tree(e):
        return [e.tag, e.ns, e.attrs, e.text, e.line, [tree(c) for c in e.children]]
    return tree(e)


def test_a_document_read_again_gives_the_same_tree_and_its_lines():
    doc = open(upy.ROOT + "/tests/vectors/gateway/pacs008_3tx.xml", "rb").read()
    first = _outcome(lambda: xmlmini.parse(doc))
    assert _outcome(lambda: xmlmini.parse(doc)) == first
    spaced = doc.replace(b">\n", b">\n\n")         # the same tags with other whitespace
    cold = _outcome(lambda: xmlmini.parse(spaced))
    assert cold[4] == 3 and cold[5][0][4] == 5
    assert _outcome(lambda: xmlmini.parse(spaced)) == cold
    assert _outcome(lambda: xmlmini.parse(doc.replace(b"</Document>", b"</Documents>"))) == \
        "line 93: an end tag that does not close <Document>"


MEMORY_SCRIPT = r"""
from userland.lib import xmlmini
p = xmlmini.Parser({"X": lambda el, above: None})
p.feed(b"<r>")
try:
    for i in range(5000):           # each name new: Expat keeps every name it has seen
        p.feed(b"<X><n%d%s/></X>" % (i, b"x" * 40))
    print("read")
except xmlmini.XmlError as e:
    print(i, e)
"""


def test_a_reader_with_cuts_holds_at_most_its_memory_of_expat_whatever_is_fed():
    """Names never seen before fill Expat's tables; a reader with cuts is
    refused once they pass MEMORY (counted by the C module: MicroPython
    only, pyexpat gives no account), well before the document's size limit."""
    out = upy.run(MEMORY_SCRIPT).split(" ", 1)
    assert out[1].strip() == "line 1: markup larger than the reader's memory", out
    assert 100 < int(out[0]) < 2000


from hypothesis import given, settings, strategies as st  # noqa: E402

PACS = open(upy.ROOT + "/tests/vectors/gateway/pacs008.xml", "rb").read()


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(PACS) - 1), st.binary(min_size=0, max_size=6), st.integers(1, 64))
def test_a_corrupted_document_fed_in_chunks_reads_as_in_one_piece(at, junk, k):
    data = PACS[:at] + junk + PACS[at + 1:]

    def fed():
        p = xmlmini.Parser()
        for i in range(0, len(data), k):
            p.feed(data[i:i + k])
        return p.close()
    whole, chunked = _outcome(lambda: xmlmini.parse(data)), _outcome(fed)
    if isinstance(whole, str):
        # refused both ways, at the same line; which fault is named first may differ (the
        # whole document's UTF-8 is checked before its syntax, a chunk's syntax before the
        # bytes that have not come yet)
        assert isinstance(chunked, str) and chunked.split(":")[0] == whole.split(":")[0], (whole, chunked)
    else:
        assert chunked == whole


CUT_SCRIPT = r"""
import json
from userland.lib import xmlmini


def run(doc, size):
    seen = []

    def tx(el, above):
        seen.append([el.tag, el.findtext("Id"), [a.tag for a in above], len(above[-1].children)])
    p = xmlmini.Parser({"Tx": tx})
    out = {"seen": seen}
    try:
        for i in range(0, len(doc), size):
            p.feed(doc[i:i + size])
        root = p.close()
        out["left"] = [c.tag for c in root.children] + [c.tag for c in root.children[-1].children]
    except xmlmini.XmlError as e:
        out["error"] = str(e)
    return out


docs = [b"<D><H><Id>h</Id></H><L><Tx><Id>1</Id><A>x</A></Tx><Tx><Id>2</Id></Tx><Tx/><E/></L></D>",
        b"<D><L>" + b"<Tx><Id>n</Id></Tx>" * 3000 + b"</L></D>",
        b"<D><L>" + b"<X/>" * 1100 + b"</L></D>",
        b"<D><L><Tx><Id>" + b"9" * 20000 + b"</Id></Tx></L></D>"]
print(json.dumps([[run(d, size) for size in ((1, 13, 1024) if len(d) < 100 else (13, 1024))] for d in docs]))
"""


def test_a_cut_element_is_handed_on_complete_and_leaves_the_tree():
    """Parser(cut=...) as iso20022.Reader uses it: each Tx goes to its function with its
    ancestors open, then out of the tree, so 3,000 of them leave none behind; what stays is
    bounded (MAX_KEPT elements, MAX_PENDING bytes waiting), on CPython and MicroPython alike."""
    import subprocess
    import sys
    got = json.loads(upy.run(CUT_SCRIPT))
    cp = subprocess.run([sys.executable, "-c", "import sys\nsys.path.insert(0, %r)\n%s" % (upy.ROOT, CUT_SCRIPT)],
                        capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout) == got
    for sizes in got:
        assert all(r == sizes[0] for r in sizes), sizes       # whatever the pieces
    small, many, wide, long_text = (s[0] for s in got)
    # each handed on while still its parent's last child (the ones before it gone already)
    assert small["seen"] == [["Tx", "1", ["D", "L"], 1], ["Tx", "2", ["D", "L"], 1], ["Tx", None, ["D", "L"], 1]]
    assert small["left"] == ["H", "L", "E"] and "error" not in small     # L holds only what was not cut
    assert len(many["seen"]) == 3000 and many["left"] == ["L"]
    assert wide["error"].endswith("more than %d elements outside the transactions" % xmlmini.MAX_KEPT)
    assert long_text["error"].endswith("longer than %d bytes" % xmlmini.MAX_PENDING) and not long_text["seen"]
