"""The system-call API of a QENEX task: what a task's Python uses to talk to the
kernel and to other tasks. Each function is one syscall through `_qx`
(kernel/port/modqx.c); numbers and limits come from kernel/abi.py. An error
from the kernel raises `Error` with its code and name (kernel/errors.py).

Messages are bytes of at most abi.MSG_MAX; the kernel copies them between the
tasks' heaps, nothing is shared. Bulk data goes by lease (call_lease,
borrow_read, borrow_write; kernel/abi.py, Leases): the caller lends one of its
buffers for one call, the callee copies through the kernel while it holds it."""
import _qx

from kernel import abi, errors

MSG_MAX = abi.MSG_MAX


class Error(Exception):
    """A syscall refused: .code is the kernel's result code, .name its name."""

    def __init__(self, code):
        self.code = code
        self.name = errors.name_of(code)
        super().__init__("%s: %s" % (self.name, errors.doc_of(code)))


class Refused(Error):
    """An install step refused the bundle (BAD_BUNDLE): .reason is the
    kernel's text saying why; the install stream is over."""

    def __init__(self, reason):
        super().__init__(errors.BAD_BUNDLE)
        self.reason = reason


# _qx.syscall returns the first result word and allocates nothing; the
# second, where a call has one, is _qx.r1() (this VM's last syscall).
_r1 = _qx.r1


def _raw(no, a0=0, a1=0, a2=0, a3=0, a4=0):
    try:
        return _qx.syscall(no, a0, a1, a2, a3, a4)
    except OverflowError:           # an argument does not fit a 32-bit word
        raise Error(errors.BAD_ARGUMENT)


def _sys(no, a0=0, a1=0, a2=0, a3=0, a4=0):
    r0 = _raw(no, a0, a1, a2, a3, a4)
    if r0 < 0:
        raise Error(-r0)
    return r0


def _bytes(msg):
    if not isinstance(msg, (bytes, bytearray)):
        raise TypeError("message must be bytes")
    if len(msg) > MSG_MAX:
        raise Error(errors.MSG_TOO_LARGE)
    return msg


def lookup(name):
    """The id of the task called `name`."""
    b = name.encode()
    return _sys(abi.SYS_LOOKUP, _qx.addr(b), len(b))


# One receive buffer and one reply buffer per task, allocated once: a server
# answering calls in a loop then allocates only the bytes it hands back.
_rbuf = bytearray(MSG_MAX)
_cbuf = bytearray(MSG_MAX)
_raddr = _qx.addr(_rbuf)        # MicroPython's GC never moves an object
_caddr = _qx.addr(_cbuf)


def call(dest, msg):
    """Send msg to task `dest` (id or name) and wait for its reply."""
    if isinstance(dest, str):
        dest = lookup(dest)
    msg = _bytes(msg)
    n = _sys(abi.SYS_CALL, dest, _qx.addr(msg), len(msg), _caddr, MSG_MAX)
    return bytes(memoryview(_cbuf)[:n])


_lbuf = None     # call_lease's message out and reply back, made at its first use:
                 # a task that lends nothing keeps its heap (some have 8 KiB)
LEASE_READ = abi.LEASE_READ
LEASE_WRITE = abi.LEASE_WRITE


def call_lease(dest, msg, lease, rights):
    """call(dest, msg), lending `lease` (a buffer: bytes for LEASE_READ,
    a bytearray or memoryview of one to write) to the callee for this one
    call: it may copy from it (rights & LEASE_READ) and into it (rights &
    LEASE_WRITE) with borrow_read / borrow_write until it replies. The reply
    (bytes)."""
    global _lbuf
    if isinstance(dest, str):
        dest = lookup(dest)
    msg = _bytes(msg)
    if _lbuf is None:
        _lbuf = bytearray(MSG_MAX)
    n = len(msg)
    _lbuf[:n] = msg
    lp = _qx.addr(lease) if len(lease) else 0
    r = _sys(abi.SYS_CALL_LEASE, dest, _qx.addr(_lbuf), n | MSG_MAX << abi.LEASE_REPLY_SHIFT, lp,
             len(lease) << abi.LEASE_RIGHTS_BITS | rights)
    return bytes(memoryview(_lbuf)[:r])


def borrow_read(sender, offset, buf):
    """Copy len(buf) bytes of sender's lease at offset into buf (a writable
    buffer); sender is the handle recv gave, its call not yet replied to."""
    return _sys(abi.SYS_BORROW, abi.BORROW_READ, sender, offset, _qx.addr(buf) if len(buf) else 0, len(buf))


def borrow_write(sender, offset, data):
    """Copy data (a buffer) into sender's lease at offset."""
    return _sys(abi.SYS_BORROW, abi.BORROW_WRITE, sender, offset, _qx.addr(data) if len(data) else 0,
                len(data))


def lease_info(sender):
    """(length, rights) of the lease sender's held call carries; Error
    BAD_STATE when it carries none."""
    n = _sys(abi.SYS_BORROW, abi.BORROW_INFO, sender)
    return n, _r1()


def recv(poll=False, mask=0, timeout_ms=0):
    """Wait for a call: (sender handle, message bytes). With mask, a pending
    notification of mask ends the wait too: (0, bits) -- an int, where a
    call gives bytes, and sender 0, which no caller has. With poll, return
    at once; with timeout_ms (0: none), at the latest then: (0, b"") when
    nothing came."""
    n = _sys(abi.SYS_RECV, _raddr, MSG_MAX, 1 if poll else 0, mask, timeout_ms)
    sender = _r1()
    if sender:
        return sender, bytes(memoryview(_rbuf)[:n])
    if n:
        return 0, n
    return 0, b""


def reply(sender, msg):
    """Answer the call recv gave as `sender` (a handle). True when answered;
    False when that caller has since restarted (the kernel refuses a reply
    to an earlier incarnation, PEER_DIED, and the new one never sees it): a
    caller's death does not end its server."""
    msg = _bytes(msg)
    r0 = _raw(abi.SYS_REPLY, sender, _qx.addr(msg), len(msg))
    if r0 == -errors.PEER_DIED:
        return False
    if r0 < 0:
        raise Error(-r0)
    return True


def notify(dest, bits):
    if isinstance(dest, str):
        dest = lookup(dest)
    _sys(abi.SYS_NOTIFY, dest, bits)


def wait(mask, timeout_ms=0, poll_ms=0):
    """Wait until one of the notification bits in mask is set; returns them
    (cleared); 0 when timeout_ms (0: none) passed first. poll_ms (at most
    abi.POLL_MAX_MS): for that long an idle board polls for the interrupt
    instead of sleeping (a device expected to answer within it)."""
    return _sys(abi.SYS_WAIT, mask, timeout_ms, poll_ms)


def irq_ack(bits):
    """Acknowledge the interrupts granted at notification bits `bits`
    (manifest irqs): they are unmasked and may fire again."""
    _sys(abi.SYS_IRQ, abi.IRQ_ACK, bits)



def sleep(ms):
    _sys(abi.SYS_SLEEP, ms)


# yield_(): the CPU to the next ready task of the same priority, if any. The
# C function itself, no Python around it: a yield between two tasks costs
# the switch and one builtin call.
yield_ = _qx.yield_


_syscall = _qx.syscall
_TICKS = abi.SYS_TICKS


def ticks():
    """Milliseconds since boot (modulo 2**31). Allocates nothing."""
    return _syscall(_TICKS)


def exit(code=0):
    _sys(abi.SYS_EXIT, code)


def write(text):
    """Console output (needs the console capability)."""
    b = text.encode() if isinstance(text, str) else text
    _sys(abi.SYS_WRITE, _qx.addr(b), len(b))


def say_once(prefix):
    """say(text): "prefix: text" on the console, unless it is what say said
    last (a task that retries does not fill the console with one line)."""
    said = [None]

    def say(text):
        if said[0] != text:
            said[0] = text
            write("%s: %s\n" % (prefix, text))
    return say


def read_byte():
    """The next console byte, waiting for it (needs console = read; only the
    console's owner gets bytes: any other task waits until it owns it)."""
    return _sys(abi.SYS_READ)


def wait_console():
    """Wait until this task owns the console (at once if it does)."""
    _sys(abi.SYS_READ, 2)


def poll_byte():
    """The next console byte if one is waiting, else None (never waits)."""
    b = _sys(abi.SYS_READ, 1)
    return b if _r1() else None


_kbuf = None     # kctl's reply buffer, kept: a task that polls the kernel
                 # should not need a fresh multi-KiB block each time


def kctl(op, arg=0):
    """A kernel query or control (needs the kernel capability): the reply
    (JSON text for queries). A reply larger than the buffer is asked again
    with the size the kernel says it needs."""
    global _kbuf
    if _kbuf is None:
        _kbuf = bytearray(1024)
    while True:
        r0 = _raw(abi.SYS_KCTL, op, arg, _qx.addr(_kbuf), len(_kbuf))
        r1 = _r1()
        if r0 >= 0:
            return bytes(memoryview(_kbuf)[:r0])
        if -r0 != errors.MSG_TOO_LARGE or r1 <= len(_kbuf):
            raise Error(-r0)
        _kbuf = None                # let the old one go before the larger one
        _kbuf = bytearray(r1 + 512)


_ibuf = None     # install_step's buffer: a chunk out, the kernel's reply back


def install_step(step, data=b""):
    """One step of the install stream (KCTL_INSTALL, abi.INSTALL_*; needs
    the kernel capability): the kernel's reply as JSON text, saying how far
    it got; Refused (with the kernel's reason) when the bundle is refused.
    data: at most 1024 bytes."""
    global _ibuf
    if _ibuf is None:
        _ibuf = bytearray(1024)
    n = len(data)
    if n > len(_ibuf):
        raise Error(errors.MSG_TOO_LARGE)
    _ibuf[:n] = data
    r0 = _raw(abi.SYS_KCTL, abi.KCTL_INSTALL, n << 3 | step, _qx.addr(_ibuf), len(_ibuf))
    if r0 == -errors.BAD_BUNDLE:
        raise Refused(bytes(memoryview(_ibuf)[:_r1()]).decode())
    if r0 < 0:
        raise Error(-r0)
    return bytes(memoryview(_ibuf)[:r0])
