"""A small, strict XML reader for payment messages, in plain Python (the
device has no XML library). It reads elements, attributes, text, CDATA
sections and the five predefined entities and character references; it
refuses what a payment message never needs and an attacker would use:
DOCTYPE (so no entity expansion), processing instructions other than the
XML declaration, bytes that are not UTF-8, and anything malformed.
Namespaces are kept as written: Element.tag is the local name, Element.ns
the prefix's URI.

    root = parse(data)          # Element, or XmlError("line 3: ...")
    root.find("GrpHdr/MsgId")   # the first such descendant path, or None
    root.text, root.attrs, root.children

The reader works on bytes (str input is encoded to UTF-8 once): on
MicroPython a str with non-ASCII support finds s[i] and its length by
walking its UTF-8 from the start, so a reader that indexes a str is
quadratic. Markup is found with bytes.find, names are compared as bytes
and decoded once per distinct name, and each text and attribute value is
decoded to str once, when its element ends; that decoding is the UTF-8
check (MicroPython's decoder only checks the sequences' shape, so the
overlong forms, surrogates and code points above U+10FFFF it lets through
are looked for here). Every byte of a document is in a name (ASCII name
characters), in markup, in whitespace between elements, or in a piece
that is decoded.

Parser reads a document as it arrives: feed(chunk) any number of times,
then close() -> the root. Each chunk is read as far as it goes; what is
left (a tag, comment or CDATA section cut by the chunk's end) waits for
the next one, and an element is complete, its text decoded, when its end
tag has been read. parse(data) is Parser().feed(data).close().
"""

MAX_DEPTH = 64
MAX_SIZE = 1 << 20
_NAME_START = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:"
_NAME = _NAME_START + b"0123456789-."
_ENTITIES = {b"lt": b"<", b"gt": b">", b"amp": b"&", b"quot": b'"', b"apos": b"'"}
_SPACE = b" \t\r\n"
_HEX = b"0123456789abcdefABCDEF"
_DEC = b"0123456789"
_NONE = {}              # the attributes of every element without: shared, never written
_TOP = {"xml": "http://www.w3.org/XML/1998/namespace"}     # the scope outside the root element
# UTF-8 that MicroPython's decoder accepts and the standard does not: lead bytes that
# are never valid, and leads whose second byte must fall in [lo, hi) (RFC 3629).
_NEVER = (b"\xc0", b"\xc1", b"\xf5", b"\xf6", b"\xf7")
_SECOND = ((b"\xe0", 0xA0, 0xC0), (b"\xed", 0x80, 0xA0), (b"\xf0", 0x90, 0xC0), (b"\xf4", 0x80, 0x90))


class XmlError(ValueError):
    pass


class Element:
    __slots__ = ("tag", "ns", "attrs", "children", "text", "line", "_qname", "_q", "_scope")

    def __init__(self, tag, ns, attrs, line, qname=None):
        self.tag, self.ns, self.attrs, self.line = tag, ns, attrs, line
        self._qname = qname or tag
        self.children = ()      # a list from the first child on (a leaf holds no list)
        self.text = ""

    def find(self, path):
        node = self
        for part in path.split("/"):
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


def _shown(b):
    try:
        return b.decode()
    except UnicodeError:
        return repr(b)


def _is_char(n):
    """XML's Char production."""
    return 0x20 <= n <= 0xD7FF or n in (9, 10, 13) or 0xE000 <= n <= 0xFFFD or 0x10000 <= n <= 0x10FFFF


class Parser:
    def __init__(self):
        self.buf = b""          # bytes fed and not yet read (from offset i)
        self.i = 0
        self.size = 0
        self.line_at, self.line_no = 0, 1       # the line of offset line_at of buf: counted on from there
        self.stack = []         # the open elements; an open element's text is None, bytes or a list of bytes
        self.root = None
        self.names = {}         # the bytes of each start tag without attributes -> (qname bytes, qname, prefix, local, empty)
        self.pend = None        # text cut by a chunk's end: its pieces, read when the next markup is
        self.state = 0          # 0: at the start (BOM, XML declaration), 1: in the document

    def line(self, i):
        """The line of offset i of buf. Offsets move forward while reading,
        so each newline is counted once over the whole document."""
        if i >= self.line_at:
            self.line_no += self.buf.count(b"\n", self.line_at, i)
            self.line_at = i
            return self.line_no
        return self.line_no - self.buf.count(b"\n", i, self.line_at)

    def fail(self, what, i):
        raise XmlError("line %d: %s" % (self.line(i), what))

    def feed(self, data):
        if isinstance(data, str):
            data = data.encode()
        elif not isinstance(data, bytes):
            data = bytes(data)          # bytearray, memoryview: one copy (bytes have find)
        self.size += len(data)
        if self.size > MAX_SIZE:
            raise XmlError("larger than %d bytes" % MAX_SIZE)
        if self.i >= len(self.buf):
            self.line(len(self.buf))
            self.buf = data
        else:                           # the rest of a construct cut short: kept, the new bytes after it
            self.line(self.i)
            self.buf = self.buf[self.i:] + data
        self.line_at = 0
        self.i = 0
        self._run(False)
        return self

    def close(self):
        """The root element once the whole document has been fed."""
        self._run(True)
        if self.stack:
            self.fail("<%s> is not closed" % self.stack[-1]._qname, len(self.buf))
        if self.root is None:
            raise XmlError("no root element")
        return self.root

    def text(self, b, at):
        """b decoded: XmlError unless it is UTF-8."""
        try:
            t = b.decode()
        except UnicodeError:
            t = None
        if t is None or len(t) != len(b) and not utf8_strict(b):
            self.fail("not UTF-8", at)
        return t

    def _run(self, final):
        s, i, stack, names = self.buf, self.i, self.stack, self.names
        n = len(s)
        if self.state == 0:
            i = self._prolog(s, i, n, final)
            if i < 0:
                return
        while i < n:
            lt = s.find(b"<", i)
            if lt != i or self.pend is not None:
                if lt < 0:
                    if not final:           # text to be continued
                        if self.pend is None:
                            self.pend = [s[i:]]
                        else:
                            self.pend.append(s[i:])
                        i = n
                        break
                    chunk = s[i:]
                else:
                    chunk = s[i:lt]
                if self.pend is not None:
                    self.pend.append(chunk)
                    chunk = b"".join(self.pend)
                    self.pend = None
                if chunk.strip(_SPACE):         # whitespace between elements is not kept
                    if not stack:
                        self.fail("text outside the root element", i)
                    if b"]]>" in chunk:
                        self.fail("']]>' in text", i)
                    if b"&" in chunk:
                        chunk = self._unescape(chunk, i)
                    el = stack[-1]
                    t = el.text
                    if t is None:
                        el.text = chunk
                    elif type(t) is list:
                        t.append(chunk)
                    else:
                        el.text = [t, chunk]
                if lt < 0:
                    i = n
                    break
            i = lt
            if lt + 1 >= n:
                if final:
                    self.fail("'<' at the end", lt)
                break
            c = s[lt + 1]
            if c == 47:                                 # </name>
                gt = s.find(b">", lt + 2)
                if gt < 0:
                    if final:
                        self.fail("an unterminated end tag", lt)
                    break
                if not stack:
                    self.fail("</%s> closes nothing" % _shown(s[lt + 2:gt].rstrip(_SPACE)), lt)
                el = stack[-1]
                q = el._q
                if gt - lt - 2 != len(q) or not s.startswith(q, lt + 2):
                    name = s[lt + 2:gt].rstrip(_SPACE)
                    if name != q:
                        self.fail("</%s> does not close <%s>" % (_shown(name), el._qname), lt)
                t = el.text
                if t is None:
                    el.text = ""
                else:
                    el.text = self.text(b"".join(t) if type(t) is list else t, lt)
                stack.pop()
                i = gt + 1
                continue
            if c == 33:                                 # <!-- -->, <![CDATA[ ]]>, <!DOCTYPE
                if n - lt < 9 and not final:
                    break
                if s.startswith(b"<!--", lt):
                    end = s.find(b"-->", lt + 4)
                    if end < 0:
                        if final:
                            self.fail("an unterminated comment", lt)
                        break
                    self.text(s[lt + 4:end], lt)
                    i = end + 3
                    continue
                if s.startswith(b"<![CDATA[", lt):
                    end = s.find(b"]]>", lt + 9)
                    if end < 0:
                        if final:
                            self.fail("an unterminated CDATA section", lt)
                        break
                    if not stack:
                        self.fail("CDATA outside the root element", lt)
                    i = end + 3
                    if end > lt + 9:
                        chunk = s[lt + 9:end]
                        el = stack[-1]
                        t = el.text
                        if t is None:
                            el.text = chunk
                        elif type(t) is list:
                            t.append(chunk)
                        else:
                            el.text = [t, chunk]
                    continue
                self.fail("DOCTYPE and other declarations are not accepted", lt)
            if c == 63:
                self.fail("processing instructions are not accepted", lt)
            gt = s.find(b">", lt + 1)
            if gt < 0:
                if final:
                    self.fail("an unterminated start tag", lt)
                break
            info = names.get(s[lt + 1:gt])
            if info is None:
                info = self._start(s, lt, n, final)
                if info is None:
                    break
                q, qname, prefix, local, empty, attrs, decls, after = info
            else:
                q, qname, prefix, local, empty = info
                attrs, decls, after = _NONE, None, gt + 1
            scope = stack[-1]._scope if stack else _TOP
            if decls is not None:
                scope = dict(scope)
                scope.update(decls)
            if prefix:
                ns = scope.get(prefix)
                if ns is None:
                    self.fail("namespace prefix %r is not declared" % prefix, lt)
            else:
                ns = scope.get("", "")
            if lt > self.line_at:
                self.line_no += s.count(b"\n", self.line_at, lt)
                self.line_at = lt
            el = Element(local, ns, attrs, self.line_no, qname)
            el._scope = scope
            if stack:
                parent = stack[-1]
                if parent.children:
                    parent.children.append(el)
                else:
                    parent.children = [el]
            elif self.root is None:
                self.root = el
            else:
                self.fail("a second root element", lt)
            if len(stack) >= MAX_DEPTH:
                self.fail("nested deeper than %d" % MAX_DEPTH, lt)
            if not empty:
                el._q = q
                el.text = None
                stack.append(el)
            i = after
        self.i = i

    def _prolog(self, s, i, n, final):
        """Past a byte order mark and the XML declaration: the offset after
        them, or -1 to wait for more."""
        if n - i < 6 and not final:
            return -1
        if s.startswith(b"\xef\xbb\xbf", i):
            i += 3
        j = i
        while j < n and s[j] in _SPACE:
            j += 1
        if j == n and not final:
            return -1
        if n - j < 6 and not final:
            return -1
        if s.startswith(b"<?xml", j):
            end = s.find(b"?>", j)
            if end < 0:
                if final:
                    self.fail("an unterminated XML declaration", j)
                return -1
            self.text(s[j:end], j)
            i = end + 2
        self.state = 1
        self.i = i
        return i

    def _name(self, s, j, n):
        """The offset after the name at j (j itself if there is none)."""
        if j >= n or s[j] not in _NAME_START:
            return j
        j += 1
        while j < n and s[j] in _NAME:
            j += 1
        return j

    def _start(self, s, lt, n, final):
        """The start tag at lt read: (qname bytes, qname, prefix, local,
        empty, attrs, namespace declarations or None, offset after it); None
        if the buffer ends inside it and more is to come."""
        k = self._name(s, lt + 1, n)
        if k == lt + 1:
            self.fail("a name was expected", lt)
        q = s[lt + 1:k]
        qname = q.decode()
        attrs, decls, seen = _NONE, None, ()
        while True:
            while k < n and s[k] in _SPACE:
                k += 1
            if k >= n:
                if final:
                    self.fail("an unterminated start tag <%s" % qname, lt)
                return None
            c = s[k]
            if c == 62:
                after, empty = k + 1, False
                break
            if c == 47:
                if k + 1 >= n and not final:
                    return None
                if k + 1 >= n or s[k + 1] != 62:
                    self.fail("'>' expected after '/' in <%s" % qname, k)
                after, empty = k + 2, True
                break
            a = k
            k = self._name(s, a, n)
            if k == a:
                self.fail("a name was expected in <%s" % qname, a)
            an = s[a:k].decode()
            while k < n and s[k] in _SPACE:
                k += 1
            if k >= n and not final:
                return None
            if k >= n or s[k] != 61:
                self.fail("'=' expected after attribute %s" % an, k)
            k += 1
            while k < n and s[k] in _SPACE:
                k += 1
            if k >= n and not final:
                return None
            if k >= n or s[k] not in b"'\"":
                self.fail("attribute %s: a quoted value expected" % an, k)
            end = s.find(s[k:k + 1], k + 1)
            if end < 0:
                if final:
                    self.fail("attribute %s: unterminated value" % an, k)
                return None
            raw = s[k + 1:end]
            if b"<" in raw:
                self.fail("attribute %s: '<' in a value" % an, k)
            if an in seen:
                self.fail("attribute %s twice" % an, k)
            seen = seen + (an,)
            value = self.text(self._unescape(raw, k) if b"&" in raw else raw, k)
            if an == "xmlns" or an.startswith("xmlns:"):
                if decls is None:
                    decls = {}
                decls[an[6:]] = value
            else:
                if attrs is _NONE:
                    attrs = {}
                attrs[an] = value
            k = end + 1
        prefix, _, local = qname.rpartition(":")
        if not local or ":" in prefix:
            self.fail("<%s> is not a qualified name" % qname, lt)
        if attrs is _NONE and decls is None:        # the next one like it is looked up
            self.names[s[lt + 1:after - 1]] = (q, qname, prefix, local, empty)
        return q, qname, prefix, local, empty, attrs, decls, after

    def _unescape(self, raw, at):
        out = []
        i = 0
        while True:
            j = raw.find(b"&", i)
            if j < 0:
                out.append(raw[i:])
                return b"".join(out)
            out.append(raw[i:j])
            k = raw.find(b";", j)
            if k < 0 or k - j > 10:
                self.fail("an unterminated entity reference", at)
            ref = raw[j + 1:k]
            if ref.startswith(b"#x"):
                out.append(chr(self._num(ref[2:], _HEX, 16, at)).encode())
            elif ref.startswith(b"#"):
                out.append(chr(self._num(ref[1:], _DEC, 10, at)).encode())
            else:
                e = _ENTITIES.get(ref)
                if e is None:
                    self.fail("the entity &%s; is not one of XML's five" % _shown(ref), at)
                out.append(e)
            i = k + 1

    def _num(self, digits, allowed, base, at):
        n = -1
        if 0 < len(digits) <= 8 and not digits.strip(allowed):     # ASCII only, no sign, no "_"
            n = int(digits.decode(), base)
        if not _is_char(n):
            self.fail("a bad character reference", at)
        return n


def parse(data):
    """The root Element of a whole document (bytes, bytearray, memoryview
    or str)."""
    if len(data) > MAX_SIZE:
        raise XmlError("larger than %d bytes" % MAX_SIZE)
    return Parser().feed(data).close()


def escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
