"""A strict XML reader for payment messages, on Expat: the board's
`_expat` (kernel/port/modxml.c; on CPython tools/expat_cpython.py, the same
module on pyexpat). Expat reads the bytes: well-formedness, UTF-8 (its own
strict decoder), the five predefined entities and character references,
CDATA sections, namespaces. What a payment message never needs and an
attacker would use is refused: DOCTYPE (so no entity is ever declared),
processing instructions other than the XML declaration, nesting deeper
than MAX_DEPTH. The module builds the tree too (its Element, with find in
C); this one sets its bounds and words its refusals. Element.tag is the
local name, Element.ns its namespace's URI, an attribute of a namespace is
named "{uri}name"; Element.info is the reader's to set.

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
    import _expat
except ImportError:                     # CPython
    from tools import expat_cpython as _expat

Element = _expat.Element

MAX_DEPTH = 64              # (modxml.c's)
PIECE = 1024                # parse() feeds a document in pieces this long
MAX_SIZE = 1 << 20
MAX_KEPT = 1024             # elements in the tree at once (a cut element's leave it)
MAX_PENDING = 16384         # bytes of one element's text
MEMORY = 48 * 1024          # bytes of Expat's memory for a reader with cuts
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
    """Expat's hash salt (one for the task's parsers: drawn when it imports this)."""
    if _urandom is not None:
        return _urandom(16)
    import random
    return bytes(random.getrandbits(8) for _ in range(16))


_SALT = _salt()


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
        # a reader with cuts is bounded in what it holds; a whole tree only by MAX_SIZE
        if cut:
            memory, self.max_text, max_kept = MEMORY, MAX_PENDING, MAX_KEPT
        else:
            memory, self.max_text, max_kept = 4 * MAX_SIZE, MAX_SIZE, MAX_SIZE
        self.size = 0
        self.x = _expat.Parser(cut or None, _SALT, memory, self.max_text, max_kept)

    @property
    def root(self):
        return self.x.root

    @property
    def kept(self):
        return self.x.kept

    def feed(self, data):
        self._feed(data, False)
        return self

    def close(self, data=b""):
        """The root element once the whole document has been fed (data:
        its last bytes)."""
        self._feed(data, True)
        if self.x.root is None:
            raise XmlError("no root element")
        return self.x.root

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
                raise                   # what a cut's function raised
            if e.args[1] == "no element found" and self.x.root is None:
                raise XmlError("no root element")
            raise XmlError("line %d: %s" % (e.args[0], self._why(e.args[1])))

    def _why(self, why):
        """Expat's or the C module's reason, in the reader's words where it has them."""
        if why == "no element found" and self.x.stack:    # (Expat's word for a document cut short)
            return "<%s> is not closed" % self.x.stack[-1].tag
        if why == "mismatched tag" and self.x.stack:
            return "an end tag that does not close <%s>" % self.x.stack[-1].tag
        if why == "a text longer than the reader's limit":
            return "a text longer than %d bytes" % self.max_text
        if why == "nested deeper than the reader's limit":
            return "nested deeper than %d" % MAX_DEPTH
        if why == "more elements than the reader keeps":
            return "more than %d elements outside the transactions" % MAX_KEPT
        return why


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
