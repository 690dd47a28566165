"""`_expat` (kernel/port/modxml.c, the board's and MicroPython's unix
port's) for CPython: the same Parser and Element on CPython's pyexpat,
which is Expat too, so the board's XML reader (userland/lib/xmlmini.py)
runs in the host tests and tools under both interpreters. Same trees,
texts, cuts, refusals and messages (Expat's own); one thing the C module
does that this cannot: bound the parser's memory (`limit`, counted in
Expat's allocations), which the tests check under MicroPython."""
import pyexpat

MAX_DEPTH = 64          # modxml.c's
SEP = "\x01"
_SPACE = " \t\n\r"


def _utf8_seq(s):
    """modxml.c's utf8_seq: whether s begins with a UTF-8 sequence (RFC 3629)."""
    c, lo, hi = s[0], 0x80, 0xC0
    if c < 0x80:
        return True
    if 0xC2 <= c <= 0xDF:
        k = 1
    elif 0xE0 <= c <= 0xEF:
        k = 2
        lo, hi = 0xA0 if c == 0xE0 else 0x80, 0xA0 if c == 0xED else 0xC0
    elif 0xF0 <= c <= 0xF4:
        k = 3
        lo, hi = 0x90 if c == 0xF0 else 0x80, 0x90 if c == 0xF4 else 0xC0
    else:
        return False
    return len(s) > k and lo <= s[1] < hi and all(0x80 <= x < 0xC0 for x in s[2:k + 1])


class _Refused(Exception):
    pass


class Element:
    """modxml.c's Element."""
    __slots__ = ("tag", "ns", "text", "_attrs", "_children", "info", "line")
    _NONE = {}

    @property
    def attrs(self):
        return self._attrs if self._attrs is not None else self._NONE

    @property
    def children(self):
        return self._children if self._children is not None else ()

    def find(self, path):
        el = self
        for part in path.split("/"):
            for c in el.children:
                if c.tag == part:
                    el = c
                    break
            else:
                return None
        return el

    def findtext(self, path):
        el = self.find(path)
        return None if el is None else el.text.strip(_SPACE)

    def findall(self, tag):
        return [c for c in self.children if c.tag == tag]


class Parser:
    def __init__(self, cut, salt, limit, max_text, max_kept):
        if len(salt) != 16:
            raise ValueError("salt: 16 bytes")
        if cut is not None and not isinstance(cut, dict):
            raise TypeError("cut: a dict or None")
        self.cut, self.max_text, self.max_kept = cut, max_text, max_kept
        self.used = 0
        self.root = None
        self.stack = []
        self.kept = 0
        self.error = None
        self.done = False
        self.fed = b""           # the document so far (a refusal looks at its bytes)
        self.runs = []          # per open element: [runs kept, the last run, count of elements before it]
        p = self.p = pyexpat.ParserCreate("UTF-8", SEP)
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._text
        p.StartDoctypeDeclHandler = lambda *a: self._refuse("DOCTYPE and other declarations are not accepted")
        p.ProcessingInstructionHandler = lambda *a: self._refuse("processing instructions are not accepted")

    def _refuse(self, why):
        self.error = ValueError(self.p.CurrentLineNumber, why)
        raise _Refused()

    def _end_run(self, top):
        if top[1].strip(_SPACE):
            top[0].append(top[1])
        top[1] = ""

    def _text(self, s):
        if not self.runs:
            return
        top = self.runs[-1]
        if len(s.encode()) > self.max_text - sum(len(r.encode()) for r in top[0]) - len(top[1].encode()):
            self._refuse("a text longer than the reader's limit")
        top[1] += s

    def _start(self, name, attrs):
        if len(self.runs) >= MAX_DEPTH:
            self._refuse("nested deeper than the reader's limit")
        if self.runs:
            self._end_run(self.runs[-1])
        self.runs.append([[], "", self.kept])
        el = Element()
        ns, _, el.tag = name.rpartition(SEP)
        el.ns, el.text, el.info, el._children = ns, "", None, None
        el.line = self.p.CurrentLineNumber
        el._attrs = None
        if attrs:
            el._attrs = {}
            for k, v in attrs.items():
                u, s, n = k.partition(SEP)
                el._attrs["{%s}%s" % (u, n) if s else k] = v
        if self.stack:
            parent = self.stack[-1]
            if parent._children is None:
                parent._children = []
            parent._children.append(el)
        else:
            self.root = el
        self.kept += 1
        if self.kept > self.max_kept:
            self._refuse("more elements than the reader keeps")
        self.stack.append(el)

    def _end(self, name):
        top = self.runs.pop()
        self._end_run(top)
        el = self.stack.pop()
        el.text = "".join(top[0])
        if self.cut is not None and el.tag in self.cut:
            self.kept = top[2]
            self.cut[el.tag](el, self.stack)
            if self.stack:
                self.stack[-1]._children.pop()

    def feed(self, data, final):
        if self.error is not None:
            raise self.error
        if self.done:
            raise ValueError("fed after the document's end")
        data = bytes(data)
        self.fed += data
        try:
            self.p.Parse(data, bool(final))
        except _Refused:
            pass
        except pyexpat.ExpatError as e:
            why = pyexpat.ErrorString(e.code)
            if e.code == pyexpat.errors.codes[pyexpat.errors.XML_ERROR_INVALID_TOKEN] and \
                    not _utf8_seq(self.fed[self.p.ErrorByteIndex:]):
                why = "not UTF-8"
            self.error = ValueError(e.lineno, why)
        except BaseException as e:
            self.error = e
        self.done = bool(final) or self.error is not None
        if self.done:                   # no cycle through the handlers left behind
            self.p = self.cut = None
        if self.error is not None:
            raise self.error
