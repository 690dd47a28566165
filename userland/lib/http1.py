"""HTTP/1.1 requests read as they arrive (RFC 9112), for a server task:
feed(bytes) any number of times -> events, in order:

    ("head", Request)   the request line and headers, checked
    ("body", bytes)     the next piece of the body (Content-Length or chunked)
    ("end", None)       the request is complete; the next one may follow

The reader frames requests and nothing else: what the target or the
headers mean is the server's (userland/httpnet/). Everything it refuses
raises HttpError(status, why): the status to answer with, and a reason
that says what was wrong; the connection is to be closed after it (the
framing is lost). What it holds is bounded: the head at most MAX_HEAD
bytes (431), a body at most max_body (413, from Content-Length before a
byte of it is read, or as a chunked body grows past it), a chunk-size
line or trailer at most MAX_LINE.

Checked: the request line (method token, origin-form or asterisk target,
HTTP/1.0 or HTTP/1.1, 505 for another version); header lines (a token
name, no space before the colon, no line folding); Host, once, for
HTTP/1.1; Content-Length digits, equal if repeated; Transfer-Encoding
`chunked` only (501 otherwise) and never beside Content-Length. Empty lines
before a request are skipped; lines may end in CRLF or a bare LF.

response(status, body, ...) writes an answer's bytes. Plain Python
(MicroPython and CPython alike), over bytes."""

MAX_HEAD = 8192
MAX_LINE = 1024
MAX_BODY = 1 << 20
_TCHAR = set(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HEX = set(b"0123456789abcdefABCDEF")
_DIGITS = set(b"0123456789")
REASONS = {100: "Continue", 200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           408: "Request Timeout", 411: "Length Required", 413: "Content Too Large",
           415: "Unsupported Media Type", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
           501: "Not Implemented", 503: "Service Unavailable", 505: "HTTP Version Not Supported"}

HEAD, BODY, SIZE, DATA, CRLF, TRAILER = 0, 1, 2, 3, 4, 5


class HttpError(Exception):
    def __init__(self, status, why):
        super().__init__(why)
        self.status = status
        self.why = why


class Request:
    """method, target and version (str), headers: lower-case name -> value
    (str; repeated ones joined with ", "), length (Content-Length, or None
    when chunked), chunked, keep_alive (what the client asked for), expect
    (Expect: 100-continue)."""

    def __init__(self, method, target, version, headers):
        self.method, self.target, self.version, self.headers = method, target, version, headers
        conn = [t.strip().lower() for t in headers.get("connection", "").split(",")]
        self.keep_alive = "keep-alive" in conn if version == "HTTP/1.0" else "close" not in conn
        self.expect = headers.get("expect", "").lower() == "100-continue"
        self.length = None
        self.chunked = False

    def media_type(self):
        """(type/subtype lower-case, charset lower-case or None) of Content-Type ("" if none)."""
        parts = self.headers.get("content-type", "").split(";")
        charset = None
        for p in parts[1:]:
            k, _, v = p.strip().partition("=")
            if k.strip().lower() == "charset":
                charset = v.strip().strip('"').lower()
        return parts[0].strip().lower(), charset


def _token(b):
    if not b:
        return False
    for c in b:
        if c not in _TCHAR:
            return False
    return True


def _text(b, what):
    """Header or request-line bytes as str: visible ASCII, space and tab
    (obs-text, bytes above 0x7f, is read as Latin-1 as RFC 9110 allows)."""
    high = False
    for c in b:
        if c < 0x20 and c != 9 or c == 0x7f:
            raise HttpError(400, "a control byte 0x%02x in %s" % (c, what))
        high = high or c > 0x7f
    return "".join(chr(c) for c in b) if high else b.decode()


def _lines(head):
    """The head's lines, each without its CRLF or LF."""
    out = []
    for line in head.split(b"\n"):
        out.append(line[:-1] if line[-1:] == b"\r" else line)
    return out


def parse_head(head):
    """The Request of a head (its bytes up to, not including, the empty line)."""
    lines = _lines(head)
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[1]:
        raise HttpError(400, "the request line is not METHOD SP target SP HTTP-version")
    method, target, version = parts
    if not _token(method):
        raise HttpError(400, "the method is not a token")
    if version[:5] != b"HTTP/" or len(version) != 8 or version[6:7] != b"." or \
            version[5] not in _DIGITS or version[7] not in _DIGITS:
        raise HttpError(400, "%r is not an HTTP version" % _text(version[:16], "the version"))
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise HttpError(505, "HTTP/1.1 and HTTP/1.0 only, not %s" % version.decode())
    if not (target[:1] == b"/" or target == b"*"):
        raise HttpError(400, "the target is not a path (origin-form)")
    headers = {}
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            raise HttpError(400, "a header line folded onto the next (obsolete line folding)")
        name, colon, value = line.partition(b":")
        if not colon or not _token(name):
            raise HttpError(400, "%r is not a header field (name: value)" % _text(line[:40], "a header"))
        key = name.decode().lower()
        value = _text(value.strip(b" \t"), "the header " + key)
        if key in headers:
            if key == "host":
                raise HttpError(400, "more than one Host header")
            headers[key] += ", " + value
        else:
            headers[key] = value
    req = Request(method.decode(), _text(target, "the target"), version.decode(), headers)
    if req.version == "HTTP/1.1" and "host" not in headers:
        raise HttpError(400, "an HTTP/1.1 request without a Host header")
    return req


class Reader:
    def __init__(self, max_body=MAX_BODY):
        self.max_body = max_body
        self.state = HEAD
        self.buf = b""              # bytes of a head, chunk-size line or trailer not yet complete
        self.left = 0               # body or chunk bytes still to come
        self.body = 0               # body bytes so far (chunked: against max_body)
        self.head = None            # the lines of a head being read
        self.head_size = 0
        self.request = None

    def idle(self):
        """True between requests with nothing of the next one read (a keep-alive connection at rest)."""
        return self.state == HEAD and not self.buf and self.head is None

    def feed(self, data):
        events = []
        if not isinstance(data, bytes):
            data = bytes(data)
        i = 0
        while i < len(data):
            st = self.state
            if st == BODY or st == DATA:
                n = min(self.left, len(data) - i)
                events.append(("body", data[i:i + n]))
                i += n
                self.left -= n
                if self.left == 0:
                    if st == BODY:
                        self._end(events)
                    else:
                        self.state = CRLF
                continue
            j = data.find(b"\n", i)
            if j < 0:
                self.buf += data[i:]
                self._bound()
                break
            line = self.buf + data[i:j]
            i = j + 1
            self.buf = b""
            if line[-1:] == b"\r":
                line = line[:-1]
            if st == HEAD:
                self._head_line(line, events)
            elif st == SIZE:
                self._size(line, events)
            elif st == CRLF:
                if line:
                    raise HttpError(400, "a chunk's data is longer than its size")
                self.state = SIZE
            else:                       # TRAILER: fields after the last chunk, ignored to the empty line
                if not line:
                    self._end(events)
                elif len(line) > MAX_LINE:
                    raise HttpError(400, "a trailer field longer than %d bytes" % MAX_LINE)
        return events

    def _bound(self):
        if self.state == HEAD:
            if self.head_size + len(self.buf) > MAX_HEAD:
                raise HttpError(431, "the request line and headers are longer than %d bytes" % MAX_HEAD)
        elif len(self.buf) > MAX_LINE:
            raise HttpError(400, "a chunk-size line or trailer longer than %d bytes" % MAX_LINE)

    def _head_line(self, line, events):
        """One line of a head: self.head gathers them until the empty one."""
        head = self.head
        if head is None:
            if not line:
                return                  # empty lines before a request are skipped
            self.head = head = []
            self.head_size = 0
        if line:
            head.append(line)
            self.head_size += len(line) + 2
            if self.head_size > MAX_HEAD:
                raise HttpError(431, "the request line and headers are longer than %d bytes" % MAX_HEAD)
            return
        self.head, self.head_size = None, 0
        req = parse_head(b"\n".join(head))
        self._framing(req)
        self.request = req
        events.append(("head", req))
        self.body = 0
        if req.chunked:
            self.state = SIZE
        elif req.length:
            self.state, self.left = BODY, req.length
        else:
            self._end(events)

    def _framing(self, req):
        te = req.headers.get("transfer-encoding")
        cl = req.headers.get("content-length")
        if te is not None:
            if cl is not None:
                raise HttpError(400, "both Transfer-Encoding and Content-Length")
            codings = [t.strip().lower() for t in te.split(",")]
            if codings != ["chunked"]:
                raise HttpError(501, "Transfer-Encoding %r: only chunked is understood" % te[:40])
            if req.version == "HTTP/1.0":
                raise HttpError(400, "Transfer-Encoding in an HTTP/1.0 request")
            req.chunked = True
            return
        if cl is not None:
            values = [v.strip() for v in cl.split(",")]
            for v in values:
                if not v or len(v) > 16 or [c for c in v if c not in "0123456789"]:
                    raise HttpError(400, "Content-Length %r is not a number of bytes" % cl[:40])
            if len(set(values)) != 1:
                raise HttpError(400, "Content-Length given twice, differently")
            req.length = int(values[0])
            if req.length > self.max_body:
                raise HttpError(413, "a body of %d bytes; at most %d" % (req.length, self.max_body))
        elif req.method in ("POST", "PUT", "PATCH"):
            req.length = None
            raise HttpError(411, "a %s needs Content-Length or Transfer-Encoding: chunked" % req.method)
        else:
            req.length = 0

    def _size(self, line, events):
        size = line.split(b";")[0].strip(b" \t")
        if not size or len(size) > 8 or [c for c in size if c not in _HEX]:
            raise HttpError(400, "%r is not a chunk size (hex digits)" % _text(line[:20], "a chunk size"))
        n = int(size.decode(), 16)
        if n == 0:
            self.state = TRAILER
            return
        self.body += n
        if self.body > self.max_body:
            raise HttpError(413, "a chunked body longer than %d bytes" % self.max_body)
        self.state, self.left = DATA, n

    def _end(self, events):
        events.append(("end", None))
        self.state = HEAD


def response(status, body=b"", content_type="text/plain; charset=utf-8", close=False, date=None, extra=(),
             length=None):
    """The bytes of an answer: status line, Date (an IMF-fixdate, when the
    clock is set), Server, Content-Type and Content-Length (of body, or
    `length` for a body sent after these bytes), Connection: close when the
    connection ends after it, the extra (name, value) pairs."""
    head = ["HTTP/1.1 %d %s" % (status, REASONS.get(status, "Status"))]
    if date:
        head.append("Date: " + date)
    head.append("Server: qenex")
    if status >= 200:
        if body or status not in (204, 304):
            head.append("Content-Type: " + content_type)
        head.append("Content-Length: %d" % (len(body) if length is None else length))
    if close:
        head.append("Connection: close")
    for k, v in extra:
        head.append("%s: %s" % (k, v))
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body
