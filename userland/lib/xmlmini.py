"""A strict XML reader for payment messages, on Expat: the board's
`_expat` (kernel/port/modxml.c; on CPython tools/expat_cpython.py, the same
module on pyexpat). Expat reads the bytes: well-formedness, UTF-8 (its own
strict decoder), the five predefined entities and character references,
CDATA sections, namespaces. What a payment message never needs and an
attacker would use is refused: DOCTYPE (so no entity is ever declared),
processing instructions other than the XML declaration, nesting deeper
than MAX_DEPTH. This module builds the tree: Element.tag is the local name,
Element.ns its namespace's URI, an attribute of a namespace is named
"{uri}name".

    root = parse(data)          # Element, or XmlError("line 3: mismatched tag")
    root.find("GrpHdr/MsgId")   # the first such descendant path, or None
    root.text, root.attrs, root.children

An element's text is its runs of character data joined, leaving out the
runs of whitespace alone (the indentation between its children).

Parser reads a document as it arrives: feed(chunk) any number of times,
then close() -> the root. An element is complete, its text decoded, once
its end tag has been read.

Parser(cut={tag: fn}) reads a document larger than the memory its tree
would take: each element of one of those local names is handed to
fn(element, open ancestors) as soon as it is complete and is then cut out
of the tree (a payment message's transactions, one at a time). What the
reader holds is then bounded whatever it is fed: at most MAX_KEPT elements
in the tree, no text longer than MAX_PENDING bytes, and MEMORY bytes of
Expat's own (a tag's attributes waiting for its end, the names it has seen).
"""
try:
    from _expat import Parser as _Expat
except ImportError:                     # CPython
    from tools.expat_cpython import Parser as _Expat

MAX_DEPTH = 64              # (modxml.c's)
PIECE = 1024                # parse() feeds a document in pieces this long
MAX_SIZE = 1 << 20
MAX_KEPT = 1024             # elements in the tree at once (a cut element's leave it)
MAX_PENDING = 16384         # bytes of one element's text
MEMORY = 48 * 1024          # bytes of Expat's memory for a reader with cuts
_NONE = {}              # the attributes of every element without: shared, never written
_PATHS = {}             # find()'s paths, split once (callers ask for the same few)
_PATHS_MAX = 512
# UTF-8 that MicroPython's decoder accepts and the standard does not: lead bytes that
# are never valid, and leads whose second byte must fall in [lo, hi) (RFC 3629).
_NEVER = (b"\xc0", b"\xc1", b"\xf5", b"\xf6", b"\xf7")
_SECOND = ((b"\xe0", 0xA0, 0xC0), (b"\xed", 0x80, 0xA0), (b"\xf0", 0x90, 0xC0), (b"\xf4", 0x80, 0x90))
try:
    from os import urandom as _urandom
except ImportError:                     # the board: no entropy a task can read
    _urandom = None


class XmlError(ValueError):
    pass


def _salt():
    """Expat's hash salt, for each parser."""
    if _urandom is not None:
        return _urandom(16)
    import random
    return bytes(random.getrandbits(8) for _ in range(16))


class Element:
    # Set on every element: tag, line; the others only where they differ from these.
    ns = ""
    attrs = _NONE
    children = ()       # a list from the first child on (a leaf holds no list)
    text = ""

    def find(self, path):
        node = self
        parts = _PATHS.get(path)
        if parts is None:
            parts = path.split("/")
            if len(_PATHS) < _PATHS_MAX:
                _PATHS[path] = parts
        for part in parts:
            nxt = None
            for c in node.children:
                if c.tag == part:
                    nxt = c
                    break
            if nxt is None:
                return None
            node = nxt
        return node

    def findall(self, tag):
        return [c for c in self.children if c.tag == tag]

    def findtext(self, path):
        e = self.find(path)
        return None if e is None else e.text.strip()


def utf8_strict(b):
    """False if b (which MicroPython's decoder accepted) holds an overlong
    form, a surrogate or a code point above U+10FFFF."""
    for x in _NEVER:
        if x in b:
            return False
    for lead, lo, hi in _SECOND:
        j = b.find(lead)
        while j >= 0:
            if j + 1 >= len(b) or not lo <= b[j + 1] < hi:
                return False
            j = b.find(lead, j + 1)
    return True


class Parser:
    def __init__(self, cut=None):
        self.cut = cut          # local name -> fn(element, open ancestors), or None
        # a reader with cuts is bounded in what it holds; a whole tree only by MAX_SIZE
        if cut:
            self.max_kept, memory, self.max_text = MAX_KEPT, MEMORY, MAX_PENDING
        else:
            self.max_kept, memory, self.max_text = MAX_SIZE, 4 * MAX_SIZE, MAX_SIZE
        self.kept = 0           # elements in the tree
        self.size = 0
        self.stack = []         # the open elements
        self.root = None
        self.x = _Expat(self._start, self._end, _salt(), memory, self.max_text)

    def feed(self, data):
        self._feed(data, False)
        return self

    def close(self, data=b""):
        """The root element once the whole document has been fed (data:
        its last bytes)."""
        self._feed(data, True)
        if self.root is None:
            raise XmlError("no root element")
        return self.root

    def _feed(self, data, final):
        if isinstance(data, str):
            data = data.encode()
        self.size += len(data)
        if self.size > MAX_SIZE:
            raise XmlError("larger than %d bytes" % MAX_SIZE)
        try:
            self.x.feed(data, final)
        except ValueError as e:
            if type(e) is not ValueError or len(e.args) != 2:
                raise                   # what a cut's function raised, or an XmlError of ours
            line, why = e.args
            if why == "no element found":     # (Expat's word for a document cut short)
                if self.root is None:
                    raise XmlError("no root element")
                if self.stack:
                    why = "<%s> is not closed" % self.stack[-1].tag
            elif why == "a text longer than the reader's limit":
                why = "a text longer than %d bytes" % self.max_text
            elif why == "nested deeper than the reader's limit":
                why = "nested deeper than %d" % MAX_DEPTH
            elif why == "mismatched tag" and self.stack:
                why = "an end tag that does not close <%s>" % self.stack[-1].tag
            raise XmlError("line %d: %s" % (line, why))

    def _start(self, local, ns, attrs, line):
        el = Element()
        el.tag = local
        el.line = line
        if ns:
            el.ns = ns
        if attrs is not None:
            el.attrs = attrs
        stack = self.stack
        if stack:
            parent = stack[-1]
            if parent.children:
                parent.children.append(el)
            else:
                parent.children = [el]
        else:
            self.root = el
        cut = self.cut
        if cut is not None and local in cut:
            el._kept = self.kept
        self.kept += 1
        if self.kept > self.max_kept:
            raise XmlError("line %d: more than %d elements outside the transactions" % (line, MAX_KEPT))
        stack.append(el)

    def _end(self, text):
        stack = self.stack
        el = stack.pop()
        if text:
            el.text = text
        cut = self.cut
        if cut is not None and el.tag in cut:   # it and all it holds leave the tree
            self.kept = el._kept
            cut[el.tag](el, stack)
            if stack:
                stack[-1].children.pop()


def parse(data):
    """The root Element of a whole document (bytes, bytearray, memoryview
    or str)."""
    if len(data) > MAX_SIZE:
        raise XmlError("larger than %d bytes" % MAX_SIZE)
    if isinstance(data, str):
        data = data.encode()
    return Parser().close(data)


def escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
