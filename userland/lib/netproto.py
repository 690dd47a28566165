"""The wire format between a task and the `net` task (userland/net/): the
request and reply of each socket operation, and the named error codes.

Holds numbers and the pack/unpack of one request and one reply, nothing
else: the client is userland/lib/net.py, the service userland/net/sockets.py.
Pure Python, runs under MicroPython and CPython.

A request is one IPC message of REQ_LEN bytes, "<BBHII": op, 0, port, a, b.
Bulk data never rides in it: SEND lends the data (a read lease), RECV and
INFO lend the buffer to fill (a write lease); kernel/abi.py, Leases.

    op        port   a        b            lease          reply value
    LISTEN    port   -        -            -              sid of the listener
    ACCEPT    -      sid      timeout_ms   -              sid; x = ip, y = port of the peer
    CONNECT   port   ip       timeout_ms   -              sid
    SEND      -      sid      timeout_ms   read: data     bytes taken (>= 1, or an error)
    RECV      -      sid      timeout_ms   write: buffer  bytes written (0: the peer closed)
    CLOSE     -      sid      -            -              0
    INFO      -      -        -            write: buffer  bytes of JSON written
    SNTP      port   ip       -            -              0: the board's clock is kept by SNTP
                                                          against ip:port (ip 0: stop); the
                                                          console task alone (EACCES)

timeout_ms: 0 never waits (EAGAIN when nothing is ready), FOREVER waits
without end; anything else is how long the net task holds the call before it
answers ETIMEDOUT. A reply is REP_LEN bytes, "<iII": value (or -code), x, y.
ip: 32-bit int, network order read as big-endian (10.0.2.15 = 0x0A00020F).
"""
import struct

from userland.lib import asciinum

LISTEN, ACCEPT, CONNECT, SEND, RECV, CLOSE, INFO, SNTP = 1, 2, 3, 4, 5, 6, 7, 8
OPS = (LISTEN, ACCEPT, CONNECT, SEND, RECV, CLOSE, INFO, SNTP)
OP_NAMES = {LISTEN: "listen", ACCEPT: "accept", CONNECT: "connect", SEND: "send", RECV: "recv",
            CLOSE: "close", INFO: "info", SNTP: "sntp"}

FOREVER = 0xFFFFFFFF
REQ = "<BBHII"
REQ_LEN = 12
REP = "<iII"
REP_LEN = 12

# Error codes: the number is the wire ABI (never renumbered); the names are
# the POSIX errno names the client's exception classes carry.
EPERM = 1           # unused on the wire; kept so codes start at 1
EBADF = 2           # no such socket, a closed one, or another task's
EACCES = 3          # listen on a port the caller's manifest does not grant
EADDRINUSE = 4      # the port is listened on already
ECONNREFUSED = 5
ECONNRESET = 6      # the connection is gone (RST, abort, timeout in the stack)
ENOTCONN = 7        # not a connected socket (a listener, still connecting)
ETIMEDOUT = 8
EAGAIN = 9          # timeout 0 and nothing ready
EINVAL = 10         # a malformed request, an op on the wrong kind of socket
EMFILE = 11         # the caller holds SOCKETS_PER_TASK sockets already
ENOMEM = 12         # the table or the stack has no room
ENETDOWN = 13       # the stack is not up
EBUSY = 14          # another call waits on this socket already

NAMES = ("OK", "EPERM", "EBADF", "EACCES", "EADDRINUSE", "ECONNREFUSED", "ECONNRESET", "ENOTCONN",
         "ETIMEDOUT", "EAGAIN", "EINVAL", "EMFILE", "ENOMEM", "ENETDOWN", "EBUSY")


def name_of(code):
    if 0 <= code < len(NAMES):
        return NAMES[code]
    return "E%d" % code


def code_of(name):
    """The wire code of an errno name ("ECONNRESET"), EINVAL when unknown."""
    for i in range(len(NAMES)):
        if NAMES[i] == name:
            return i
    return EINVAL


def request(op, a=0, b=0, port=0):
    return struct.pack(REQ, op, 0, port, a, b)


def parse_request(msg):
    """(op, port, a, b), or None when msg is not a request."""
    if len(msg) != REQ_LEN:
        return None
    op, zero, port, a, b = struct.unpack(REQ, msg)
    if op not in OPS or zero:
        return None
    return op, port, a, b


def reply(value, x=0, y=0):
    return struct.pack(REP, value, x, y)


def parse_reply(msg):
    """(value, x, y); value < 0 is -code. ValueError when msg is no reply."""
    if len(msg) != REP_LEN:
        raise ValueError("net reply of %d bytes, not %d" % (len(msg), REP_LEN))
    return struct.unpack(REP, msg)


def ip_text(ip):
    return "%d.%d.%d.%d" % (ip >> 24 & 255, ip >> 16 & 255, ip >> 8 & 255, ip & 255)


def ip_int(text):
    """0x0A00020F for "10.0.2.15"; ValueError when it is not a dotted quad."""
    parts = text.split(".")
    if len(parts) != 4:
        raise ValueError("%r is not an IPv4 address" % (text,))
    v = 0
    for p in parts:
        if not asciinum.is_digits(p, 3) or int(p) > 255:
            raise ValueError("%r is not an IPv4 address" % (text,))
        v = v << 8 | int(p)
    return v
