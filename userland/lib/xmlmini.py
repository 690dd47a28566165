"""A small, strict XML reader for payment messages, in plain Python (the
device has no XML library). It reads elements, attributes, text and the
five predefined entities and character references; it refuses what a
payment message never needs and an attacker would use: DOCTYPE (so no
entity expansion), processing instructions other than the XML
declaration, CDATA sections, and anything malformed. Namespaces are kept
as written: Element.tag is the local name, Element.ns the prefix's URI.

    root = parse(text)          # Element, or XmlError("line 3: ...")
    root.find("GrpHdr/MsgId")   # the first such descendant path, or None
    root.text, root.attrs, root.children
"""

MAX_DEPTH = 64
MAX_SIZE = 1 << 20
_NAME_START = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:"
_NAME = _NAME_START + "0123456789-."
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_SPACE = " \t\r\n"
_NONE = {}              # the attributes (and namespace scope) of every element without: shared, never written


class XmlError(ValueError):
    pass


class Element:
    __slots__ = ("tag", "ns", "attrs", "children", "text", "line", "_qname")

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


class _Reader:
    def __init__(self, text):
        self.s = text
        self.i = 0
        self._at, self._line = 0, 1         # line number at offset _at: counted on from there (linear)

    def line(self):
        """The line of offset i. Offsets only move forward while reading, so
        each newline is counted once over the whole document; an error
        message (which may point back) counts from the start."""
        if self.i < self._at:
            return self.s.count("\n", 0, self.i) + 1
        self._line += self.s.count("\n", self._at, self.i)
        self._at = self.i
        return self._line

    def fail(self, what):
        raise XmlError("line %d: %s" % (self.line(), what))

    def skip_space(self):
        s, i = self.s, self.i
        while i < len(s) and s[i] in " \t\r\n":
            i += 1
        self.i = i

    def name(self):
        s, i = self.s, self.i
        if i >= len(s) or s[i] not in _NAME_START:
            self.fail("a name was expected")
        j = i + 1
        while j < len(s) and s[j] in _NAME:
            j += 1
        self.i = j
        return s[i:j]

    def unescape(self, raw):
        if "&" not in raw:
            return raw
        out = []
        i = 0
        while True:
            j = raw.find("&", i)
            if j < 0:
                out.append(raw[i:])
                return "".join(out)
            out.append(raw[i:j])
            k = raw.find(";", j)
            if k < 0 or k - j > 10:
                self.fail("an unterminated entity reference")
            ref = raw[j + 1:k]
            if ref.startswith("#x"):
                out.append(chr(self._num(ref[2:], 16)))
            elif ref.startswith("#"):
                out.append(chr(self._num(ref[1:], 10)))
            elif ref in _ENTITIES:
                out.append(_ENTITIES[ref])
            else:
                self.fail("the entity &%s; is not one of XML's five" % ref)
            i = k + 1

    def _num(self, digits, base):
        allowed = "0123456789abcdefABCDEF" if base == 16 else "0123456789"     # ASCII only, no sign, no "_"
        n = -1
        if 0 < len(digits) <= 8 and not digits.strip(allowed):
            n = int(digits, base)
        if not 0 < n < 0x110000:
            self.fail("a bad character reference")
        return n


def _split(qname, scopes):
    prefix, _, local = qname.rpartition(":")
    for scope in reversed(scopes):
        key = "xmlns:" + prefix if prefix else "xmlns"
        if key in scope:
            return local, scope[key]
    if prefix:
        raise XmlError("namespace prefix %r is not declared" % prefix)
    return local, ""


def parse(text):
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeError:
            raise XmlError("not UTF-8")
    if len(text) > MAX_SIZE:
        raise XmlError("larger than %d characters" % MAX_SIZE)
    r = _Reader(text)
    if text.startswith("\ufeff"):
        r.i = 1
    r.skip_space()
    if text.startswith("<?xml", r.i):
        end = text.find("?>", r.i)
        if end < 0:
            r.fail("an unterminated XML declaration")
        r.i = end + 2
    stack, scopes, root = [], [], None
    texts = []                  # the text pieces of each open element (None: none yet), joined at its end tag
    names = {}                  # each distinct name once (MicroPython does not intern slices)
    while True:
        lt = text.find("<", r.i)
        if lt != r.i:
            chunk = text[r.i:] if lt < 0 else text[r.i:lt]
            if stack:
                if "]]>" in chunk:
                    r.fail("']]>' in text")
                if chunk.strip(_SPACE):         # whitespace between elements is not kept
                    piece = r.unescape(chunk)
                    if texts[-1] is None:
                        texts[-1] = [piece]
                    else:
                        texts[-1].append(piece)
            elif chunk.strip():
                r.fail("text outside the root element")
        if lt < 0:
            break
        r.i = lt
        if text.startswith("<!--", lt):
            end = text.find("-->", lt + 4)
            if end < 0:
                r.fail("an unterminated comment")
            r.i = end + 3
            continue
        if text.startswith("<!", lt):
            r.fail("DOCTYPE, CDATA and other declarations are not accepted")
        if text.startswith("<?", lt):
            r.fail("processing instructions are not accepted")
        if text.startswith("</", lt):
            r.i = lt + 2
            qname = r.name()
            r.skip_space()
            if not text.startswith(">", r.i):
                r.fail("'>' expected after </%s" % qname)
            r.i += 1
            if not stack or stack[-1]._qname != qname:
                r.fail("</%s> does not close <%s>" % (qname, stack[-1]._qname if stack else ""))
            t = texts.pop()
            stack.pop().text = "" if t is None else t[0] if len(t) == 1 else "".join(t)
            scopes.pop()
            continue
        r.i = lt + 1
        line = r.line()
        qname = r.name()
        qname = names.setdefault(qname, qname)
        attrs = _NONE
        while True:
            r.skip_space()
            if text.startswith("/>", r.i) or text.startswith(">", r.i):
                break
            an = r.name()
            r.skip_space()
            if not text.startswith("=", r.i):
                r.fail("'=' expected after attribute %s" % an)
            r.i += 1
            r.skip_space()
            q = text[r.i:r.i + 1]
            if q not in ("'", '"'):
                r.fail("attribute %s: a quoted value expected" % an)
            end = text.find(q, r.i + 1)
            if end < 0:
                r.fail("attribute %s: unterminated value" % an)
            raw = text[r.i + 1:end]
            if "<" in raw:
                r.fail("attribute %s: '<' in a value" % an)
            if an in attrs:
                r.fail("attribute %s twice" % an)
            if attrs is _NONE:
                attrs = {}
            attrs[an] = r.unescape(raw)
            r.i = end + 1
        if attrs is _NONE:
            scopes.append(_NONE)
            own = _NONE
        else:
            scopes.append({k: v for k, v in attrs.items() if k == "xmlns" or k.startswith("xmlns:")})
            own = {k: v for k, v in attrs.items() if not (k == "xmlns" or k.startswith("xmlns:"))} or _NONE
        if ":" in qname:
            try:
                local, ns = _split(qname, scopes)
            except XmlError as e:
                r.fail(str(e))
            local = names.setdefault(local, local)
        else:
            local, ns = _split(qname, scopes)
            local = qname
        el = Element(local, ns, own, line, qname)
        if stack:
            parent = stack[-1]
            if parent.children:
                parent.children.append(el)
            else:
                parent.children = [el]
        elif root is None:
            root = el
        else:
            r.fail("a second root element")
        if len(stack) >= MAX_DEPTH:
            r.fail("nested deeper than %d" % MAX_DEPTH)
        if text.startswith("/>", r.i):
            r.i += 2
            scopes.pop()
        else:
            r.i += 1
            stack.append(el)
            texts.append(None)
    if stack:
        r.fail("<%s> is not closed" % stack[-1]._qname)
    if root is None:
        raise XmlError("no root element")
    return root


def escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
