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
quadratic. A document is split at each '<' (one C call); each piece is a
tag and the text after it. A tag is looked up in a table of the tags
seen before (read once, shared by all documents), so most elements cost
a few dict and bytes operations. The
UTF-8 is checked once over the document (MicroPython's decoder only
checks the sequences' shape: the overlong forms, surrogates and code
points above U+10FFFF it lets through are looked for here), and each text
and attribute value is decoded to str once, when its element ends.

Parser reads a document as it arrives: feed(chunk) any number of times,
then close() -> the root. Each chunk is read up to its last '<' (what
follows may be cut short: it waits for the next chunk), and an element is
complete, its text decoded, once its end tag has been read.
parse(data) is the same in one call.

Parser(cut={tag: fn}) reads a document larger than the memory its tree
would take: each element of one of those local names is handed to
fn(element, open ancestors) as soon as it is complete and is then cut out
of the tree (a payment message's transactions, one at a time). What the
reader holds is then bounded whatever it is fed: at most MAX_KEPT elements
in the tree, and no tag, text run, comment or CDATA section longer than
MAX_PENDING bytes waiting for its end.
"""

MAX_DEPTH = 64
PIECE = 1024                # parse() feeds a document in pieces this long
MAX_SIZE = 1 << 20
MAX_KEPT = 1024             # elements in the tree at once (a cut element's leave it)
MAX_PENDING = 16384         # bytes of one piece of markup or text waiting for its end
_NAME_START = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:"
_NAME = _NAME_START + b"0123456789-."
_ENTITIES = {b"lt": b"<", b"gt": b">", b"amp": b"&", b"quot": b'"', b"apos": b"'"}
_SPACE = b" \t\r\n"
_HEX = b"0123456789abcdefABCDEF"
_DEC = b"0123456789"
_NONE = {}              # the attributes of every element without: shared, never written
_TOP = {"xml": "http://www.w3.org/XML/1998/namespace"}     # the scope outside the root element
_BOM = b"\xef\xbb\xbf"
# UTF-8 that MicroPython's decoder accepts and the standard does not: lead bytes that
# are never valid, and leads whose second byte must fall in [lo, hi) (RFC 3629).
_NEVER = (b"\xc0", b"\xc1", b"\xf5", b"\xf6", b"\xf7")
_SECOND = ((b"\xe0", 0xA0, 0xC0), (b"\xed", 0x80, 0xA0), (b"\xf0", 0x90, 0xC0), (b"\xf4", 0x80, 0x90))
_CHECK = 256            # UTF-8 checked in pieces of about this size (no large block taken: the heap is small)
# Tags seen before: b'p:Name a="1"' or b"Name/" (a start tag as written, on one line, no '>' in
# its values) -> (b"/p:Name", local name, prefix, empty, attributes or None, namespace
# declarations or None: both read only); b"/p:Name" (an end tag) -> True. Shared by every
# document, at most _TAGS_MAX entries (a document of new names each time only fills it).
_TAGS = {}
_TAGS_MAX = 512
_KEEP_LEN = 128         # the longest tag (or piece, below) kept: the tables hold at most 512 x 128 bytes
# Pieces seen before whose tag is in _TAGS and whose text is whitespace (or none): b"/Name>\n    "
# -> (its _TAGS info, tag, newlines in the text): a document's indentation repeats, so most of
# its pieces are found whole, without a partition's three new objects. At most _PIECES_MAX.
_PIECES = {}
_PIECES_MAX = 512
_PATHS = {}             # find()'s paths, split once (callers ask for the same few)


class XmlError(ValueError):
    pass


class _More(Exception):
    """A comment or CDATA section goes on past what has been fed."""


class Element:
    # Set on every element: tag, line; the others only where they differ from these.
    ns = ""
    attrs = _NONE
    children = ()       # a list from the first child on (a leaf holds no list)
    text = ""
    _prev = None        # (scope, default namespace) around an element that declares namespaces

    def find(self, path):
        node = self
        parts = _PATHS.get(path)
        if parts is None:
            parts = path.split("/")
            if len(_PATHS) < _TAGS_MAX:
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


def _utf8(b):
    """True if b is UTF-8 (RFC 3629), checked the same under MicroPython and CPython."""
    try:
        t = b.decode()
    except UnicodeError:
        return False
    return len(t) == len(b) or utf8_strict(b)


def _shown(b):
    try:
        return b.decode()
    except UnicodeError:
        return repr(b)


def _is_name(b):
    return b != b"" and b[0] in _NAME_START and not b.strip(_NAME)


def _is_char(n):
    """XML's Char production."""
    return 0x20 <= n <= 0xD7FF or n in (9, 10, 13) or 0xE000 <= n <= 0xFFFD or 0x10000 <= n <= 0x10FFFF


class Parser:
    def __init__(self, cut=None):
        self.cut = cut          # local name -> fn(element, open ancestors), or None
        # a reader with cuts is bounded in what it holds; a whole tree only by MAX_SIZE
        self.max_kept, self.max_pending = (MAX_KEPT, MAX_PENDING) if cut else (MAX_SIZE, MAX_SIZE)
        self.kept = 0           # elements in the tree
        self.rest = b""         # fed and not read: from a '<' whose markup may be cut short
        self.size = 0
        self.line = 1           # the line of the piece being read
        self.stack = []         # the open elements: text holds the raw bytes after the start tag
        self.root = None
        self.state = 0          # 0: the BOM and XML declaration may come, 1: in the document
        self.scope, self.dns = _TOP, ""     # prefixes in force, the default namespace
        self.amp = self.cdata = False       # whether '&' / ']]>' were in what was fed

    def fail(self, what):
        raise XmlError("line %d: %s" % (self.line, what))

    def feed(self, data):
        self._feed(data, False)
        return self

    def close(self, data=b""):
        """The root element once the whole document has been fed (data:
        its last bytes)."""
        self._feed(data, True)
        if self.stack:
            self.fail("<%s> is not closed" % self.stack[-1]._end[1:].decode())
        if self.root is None:
            raise XmlError("no root element")
        return self.root

    def _feed(self, data, final):
        if isinstance(data, str):
            data = data.encode()
        elif not isinstance(data, bytes):
            data = bytes(data)          # bytearray, memoryview: one copy (bytes have find)
        self.size += len(data)
        if self.size > MAX_SIZE:
            raise XmlError("larger than %d bytes" % MAX_SIZE)
        buf = self.rest + data if self.rest else data
        parts = buf.split(b"<")
        if final:
            last = b""
            upto = len(buf)
        else:
            last = parts.pop()
            upto = len(buf) - len(last) - 1     # the bytes before the last '<' are read now
            if not parts:
                self.rest = buf
                if len(buf) > self.max_pending:
                    self._too_long()
                return
        self.rest = b"<" + last if not final else b""
        self._check(buf, upto)
        if not self.amp and b"&" in buf:
            self.amp = True
        if not self.cdata and b"]]>" in buf:
            self.cdata = True
        it = iter(parts)
        if self.state == 0:
            if not self._prolog(it, parts, final):
                self.rest = buf
                return
        elif next(it):                  # (the rest began with '<': nothing before it)
            raise AssertionError("xmlmini: text before the rest")
        try:
            self._read(it)
        except _More as e:              # the comment or CDATA section at e.args[0] waits for more
            self.rest = b"<" + e.args[0] + b"<" + last
        if len(self.rest) > self.max_pending:
            self._too_long()

    def _too_long(self):
        self.fail("a tag, text, comment or CDATA section longer than %d bytes" % self.max_pending)

    def _check(self, buf, upto):
        """The UTF-8 of buf[:upto], in pieces cut before a lead byte."""
        if upto == len(buf) and upto <= _CHECK:
            if not _utf8(buf):
                self._not_utf8(buf)
            return
        i = 0
        while i < upto:
            j = min(upto, i + _CHECK)
            while i < j < upto and 0x80 <= buf[j] < 0xC0:
                j -= 1
            if j == i:
                self.fail("not UTF-8")
            if not _utf8(buf[i:j]):
                self.line += buf.count(b"\n", 0, i)
                self._not_utf8(buf[i:j])
            i = j

    def _not_utf8(self, piece):
        """XmlError naming the line of piece's first bytes that are not UTF-8."""
        for n, text in enumerate(piece.split(b"\n")):
            if not _utf8(text):
                self.line += n
                break
        self.fail("not UTF-8")

    def _prolog(self, it, parts, final):
        """The text before the first '<' (a BOM, whitespace) and the XML
        declaration; False to wait for more."""
        if len(parts) < 2 and not final:
            return False
        head = next(it)
        if head.startswith(_BOM):
            head = head[3:]
        if head.strip(_SPACE):
            self.fail("text outside the root element")
        self.line += head.count(b"\n")
        self.state = 1
        if len(parts) > 1 and parts[1].startswith(b"?xml"):
            p = next(it)
            tag, gt, text = p.partition(b">")
            if not gt or not tag.endswith(b"?"):
                self.fail("an unterminated XML declaration")
            if text.strip(_SPACE):
                self.fail("text outside the root element")
            self.line += p.count(b"\n")
        return True

    def _read(self, it):
        stack, tags, pieces, cut = self.stack, _TAGS, _PIECES, self.cut
        line, scope, dns, kept = self.line, self.scope, self.dns, self.kept
        amp, cdata = self.amp, self.cdata
        for p in it:
            hit = pieces.get(p)
            if hit is not None:                         # a known tag and whitespace: no slicing
                info, tag, nl = hit
                text = b""
            else:
                nl = 0
                tag, gt, text = p.partition(b">")
                info = tags.get(tag) if gt else None
                if info is None:
                    self.line = line
                    info, tag, text = self._slow(p, tag, gt, text, it)
                    line = self.line
                if info is not None and len(p) <= _KEEP_LEN and not text.strip(_SPACE):
                    nl = text.count(b"\n")
                    if p.count(b"\n") == nl:           # (a tag's own newlines are counted by _slow alone)
                        if len(pieces) < _PIECES_MAX:
                            pieces[p] = (info, tag, nl)
                        text = b""                      # read on as the next such piece will be
                    else:
                        nl = 0
            if info is True:                            # </name>
                if not stack:
                    self.fail("</%s> closes nothing" % _shown(tag[1:]))
                el = stack.pop()
                if el._end != tag:
                    self.line = line
                    self.fail("</%s> does not close <%s>" % (_shown(tag[1:]), el._end[1:].decode()))
                t = el.text
                if t:
                    if t.strip(_SPACE):
                        if amp and b"&" in t:
                            self.line = line
                            t = self._unescape(t)
                        if cdata and b"]]>" in t:
                            self.line = line
                            self.fail("']]>' in text")
                        el.text = t.decode()
                    else:
                        el.text = ""
                elif t is None:
                    el.text = b"".join(el._more).decode()
                else:
                    el.text = ""
                if el._prev is not None:
                    scope, dns = el._prev
                if cut is not None and el.tag in cut:
                    kept = self._cut_out(el, stack, line)     # it and all it holds leave the tree
                if text:
                    if text.strip(_SPACE):
                        self.line = line
                        self._mixed(text, False)
                    line += text.count(b"\n")
                line += nl
                continue
            if info is not None:                        # <name ...>
                end, local, prefix, empty, attrs, decls = info
                el = Element()
                el.tag = local
                el.line = line
                if cut is not None and local in cut:
                    el._kept = kept
                kept += 1
                if kept > self.max_kept:
                    self.line = line
                    self.fail("more than %d elements outside the transactions" % MAX_KEPT)
                if decls is not None:
                    el._prev = (scope, dns)
                    scope = dict(scope)
                    scope.update(decls)
                    dns = scope.get("", "")
                if prefix:
                    ns = scope.get(prefix)
                    if ns is None:
                        self.line = line
                        self.fail("namespace prefix %r is not declared" % prefix)
                    if ns:
                        el.ns = ns
                elif dns:
                    el.ns = dns
                if attrs is not None:
                    el.attrs = dict(attrs)          # (the info's own dict is shared: never handed out)
                if stack:
                    parent = stack[-1]
                    if parent.children:
                        parent.children.append(el)
                    else:
                        parent.children = [el]
                elif self.root is None:
                    self.root = el
                else:
                    self.line = line
                    self.fail("a second root element")
                if not empty:
                    if len(stack) >= MAX_DEPTH:
                        self.line = line
                        self.fail("nested deeper than %d" % MAX_DEPTH)
                    el._end = end
                    el.text = text
                    stack.append(el)
                    if text:
                        line += text.count(b"\n")
                    line += nl
                    continue
                if el._prev is not None:
                    scope, dns = el._prev
                if cut is not None and local in cut:
                    kept = self._cut_out(el, stack, line)     # it and all it holds leave the tree
            if text:                                    # after a comment, CDATA or <empty/>
                if text.strip(_SPACE):
                    self.line = line
                    self._mixed(text, False)
                line += text.count(b"\n")
            line += nl
        self.line, self.scope, self.dns, self.kept = line, scope, dns, kept

    def _cut_out(self, el, stack, line):
        """Hand a complete element of a cut name to its function, then take
        it out of its parent; the elements kept after it."""
        self.line, self.kept = line, el._kept
        self.cut[el.tag](el, stack)
        if stack:
            stack[-1].children.pop()
        return el._kept

    def _mixed(self, piece, raw):
        """Text between children (or a CDATA section's, raw: as it is)."""
        if not self.stack:
            self.fail("CDATA outside the root element" if raw else "text outside the root element")
        if not raw:
            if b"]]>" in piece:
                self.fail("']]>' in text")
            if b"&" in piece:
                piece = self._unescape(piece)
        el = self.stack[-1]
        t = el.text
        if t is not None:               # the text after the start tag becomes the first piece
            el._more = [self._unescape(t) if b"&" in t else t] if t.strip(_SPACE) else []
            if b"]]>" in t:
                self.fail("']]>' in text")
            el.text = None
        el._more.append(piece)

    def _slow(self, p, tag, gt, text, it):
        """A piece whose tag is not in _TAGS: (True, b"/name", text) for an
        end tag, (info, tag, text) for a start tag, (None, b"", text) for a
        comment or CDATA section (its text given to the open element)."""
        if not p:
            self.fail("'<' without a name after it")
        c = p[0]
        if c == 47:
            if not gt:
                self.fail("an unterminated end tag")
            name = tag[1:].rstrip(_SPACE)
            if not _is_name(name):
                self.fail("a name was expected after '</'")
            if tag == b"/" + name and len(_TAGS) < _TAGS_MAX and len(tag) <= _KEEP_LEN:
                _TAGS[tag] = True
            self.line += tag.count(b"\n")
            return True, b"/" + name, text
        if c == 33:
            if p.startswith(b"!--"):
                body, text = self._until(p, 3, b"-->", it, "an unterminated comment")
                self.line += body.count(b"\n")
                return None, b"", text
            if p.startswith(b"![CDATA["):
                body, text = self._until(p, 8, b"]]>", it, "an unterminated CDATA section")
                if body:
                    self._mixed(body, True)
                self.line += body.count(b"\n")
                return None, b"", text
            self.fail("DOCTYPE and other declarations are not accepted")
        if c == 63:
            self.fail("processing instructions are not accepted")
        return self._start(p)

    def _until(self, p, start, end, it, what):
        """The body of a comment or CDATA section begun in piece p (joined
        with the next pieces up to `end`) and the text after it."""
        j = p.find(end, start)
        while j < 0:
            nxt = next(it, None)
            if nxt is None:
                if self.rest:           # not the last chunk: wait for the rest
                    raise _More(p)
                self.fail(what)
            p = p + b"<" + nxt
            j = p.find(end, start)
        return p[start:j], p[j + len(end):]

    def _start(self, p):
        """A start tag read out of piece p: (info, tag, text after it);
        its info kept in _TAGS if it has no attributes."""
        k = 0
        n = len(p)
        while k < n and p[k] in _NAME:
            k += 1
        q = p[:k]
        if not _is_name(q):
            self.fail("a name was expected after '<'")
        qname = q.decode()
        attrs, decls, seen = None, None, ()
        while True:
            j = k
            while k < n and p[k] in _SPACE:
                k += 1
            if k >= n:
                self.fail("an unterminated start tag <%s" % qname)
            c = p[k]
            if c == 62:
                after, empty = k + 1, False
                break
            if c == 47:
                if p[k + 1:k + 2] != b">":
                    self.fail("'>' expected after '/' in <%s" % qname)
                after, empty = k + 2, True
                break
            if k == j:
                self.fail("a space expected before an attribute in <%s" % qname)
            a = k
            while k < n and p[k] in _NAME:
                k += 1
            an = p[a:k]
            if not _is_name(an):
                self.fail("an attribute name was expected in <%s" % qname)
            an = an.decode()
            while k < n and p[k] in _SPACE:
                k += 1
            if p[k:k + 1] != b"=":
                self.fail("'=' expected after attribute %s" % an)
            k += 1
            while k < n and p[k] in _SPACE:
                k += 1
            quote = p[k:k + 1]
            if quote not in (b"'", b'"'):
                self.fail("attribute %s: a quoted value expected" % an)
            end = p.find(quote, k + 1)
            if end < 0:
                self.fail("attribute %s: unterminated value" % an)      # ('<' is not allowed in one)
            raw = p[k + 1:end]
            if an in seen:
                self.fail("attribute %s twice" % an)
            seen = seen + (an,)
            value = (self._unescape(raw) if b"&" in raw else raw).decode()
            if an == "xmlns" or an.startswith("xmlns:"):
                if decls is None:
                    decls = {}
                decls[an[6:]] = value
            else:
                if attrs is None:
                    attrs = {}
                attrs[an] = value
            k = end + 1
        prefix, _, local = qname.rpartition(":")
        if not local or ":" in prefix:
            self.fail("<%s> is not a qualified name" % qname)
        info = (b"/" + q, local, prefix, empty, attrs, decls)
        tag = p[:after - 1]
        self.line += tag.count(b"\n")
        if b"\n" not in tag and b">" not in tag and len(_TAGS) < _TAGS_MAX and len(tag) <= _KEEP_LEN:
            _TAGS[tag] = info           # the next one like it is looked up (attributes and all)
        return info, tag, p[after:]

    def _unescape(self, raw):
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
                self.fail("an unterminated entity reference")
            ref = raw[j + 1:k]
            if ref.startswith(b"#x"):
                out.append(chr(self._num(ref[2:], _HEX, 16)).encode())
            elif ref.startswith(b"#"):
                out.append(chr(self._num(ref[1:], _DEC, 10)).encode())
            else:
                e = _ENTITIES.get(ref)
                if e is None:
                    self.fail("the entity &%s; is not one of XML's five" % _shown(ref))
                out.append(e)
            i = k + 1

    def _num(self, digits, allowed, base):
        n = -1
        if 0 < len(digits) <= 8 and not digits.strip(allowed):     # ASCII only, no sign, no "_"
            n = int(digits.decode(), base)
        if not _is_char(n):
            self.fail("a bad character reference")
        return n


def parse(data):
    """The root Element of a whole document (bytes, bytearray, memoryview
    or str)."""
    if len(data) > MAX_SIZE:
        raise XmlError("larger than %d bytes" % MAX_SIZE)
    if isinstance(data, str):
        data = data.encode()
    # Fed a piece at a time: the pieces a feed splits its bytes into live only while it reads
    # them, so a document's peak memory is its tree, not its tree and all of its pieces (a
    # 4 KB pain.001 had run the gateway's 120 KB heap out).
    p = Parser()
    view = memoryview(data)
    i = 0
    while len(data) - i > PIECE:
        p.feed(view[i:i + PIECE])
        i += PIECE
    return p.close(view[i:])


def escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
