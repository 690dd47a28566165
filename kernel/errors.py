"""The kernel's named result codes and KernelError, the one exception that
carries them.

Holds the table of every way a kernel operation can fail. A code is a small
integer so it crosses the syscall boundary as a register; name_of() turns it
back into its name for fault lines, `ps` and test messages.

A code's number is its ABI: it is given once, explicitly, and never changes
(tests/host/test_kernel_errors.py pins every value). A new code takes the next
free number; a retired code's number is never reused. The order in which a
request's conditions are checked -- when several codes apply, which one the
caller gets -- is a separate table, PRECEDENCE, and can change without
renumbering anything: argument shape first, then who, then permission (so a
task without the capability learns nothing about the target's state), then
state, size, then resources.

It does not decide which errors are recoverable (the caller gets the code)
and which fault the caller (the supervisor decides): that is syscall
dispatch's business. Pure Python, runs under MicroPython and CPython.
"""

# The ABI: explicit numbers, never renumbered, never reused.
OK = 0              # success; never raised
BAD_ARGUMENT = 1    # an argument has the wrong type or is out of range; nothing
                    # else about the request is looked at
NO_SUCH_TASK = 2    # the task named by id or name does not exist (never did,
                    # or has been removed)
BAD_STATE = 3       # the task exists but is not in a state that allows this
                    # (e.g. adding a task twice, blocking a blocked task)
NOT_PERMITTED = 4   # the caller's manifest grants no capability for this
MSG_TOO_LARGE = 5   # a message exceeds the IPC size limit
PEER_DIED = 6       # the task at the other end ended while the caller waited:
                    # a call's message may have been received and acted on
                    # (the outcome is unknown); or the handle names an earlier
                    # incarnation of the task
QUOTA = 7           # the owner's memory quota would be exceeded
NO_MEMORY = 8       # the pool holds no free block large enough
BAD_FREE = 9        # a free of an address that is not the start of an
                    # allocated block, or of a block owned by someone else
NOT_RUNNING = 10    # the task exists but is not running (stopped, faulted,
                    # exited, restarting): nothing was delivered, the request
                    # certainly had no effect there
BAD_BUNDLE = 11     # an install step refused the bundle (its format, signature,
                    # manifest or rights, or no room for it): the install
                    # stream is over, nothing was installed

# (code, name, what it means), in code order: code == index.
TABLE = (
    (OK, "OK", "success"),
    (BAD_ARGUMENT, "BAD_ARGUMENT", "an argument has the wrong type or is out of range"),
    (NO_SUCH_TASK, "NO_SUCH_TASK", "no such task"),
    (BAD_STATE, "BAD_STATE", "the task is not in a state that allows this"),
    (NOT_PERMITTED, "NOT_PERMITTED", "no capability for this"),
    (MSG_TOO_LARGE, "MSG_TOO_LARGE", "message too large"),
    (PEER_DIED, "PEER_DIED", "the peer task died"),
    (QUOTA, "QUOTA", "memory quota exceeded"),
    (NO_MEMORY, "NO_MEMORY", "no free block large enough"),
    (BAD_FREE, "BAD_FREE", "not an allocated block of this owner"),
    (NOT_RUNNING, "NOT_RUNNING", "the task is not running; nothing was delivered"),
    (BAD_BUNDLE, "BAD_BUNDLE", "the bundle was refused; nothing installed"),
)

# When several codes apply to one request, the first of these wins; each
# operation checks its conditions in this order. Independent of the numbers.
# PEER_DIED ranks here as the refusal of a handle of an earlier incarnation
# (a call's wait ended by the callee's death is not a check). BAD_BUNDLE is
# last: a bundle's own checks come after every check of the request.
PRECEDENCE = (BAD_ARGUMENT, NO_SUCH_TASK, NOT_PERMITTED, PEER_DIED, BAD_STATE, MSG_TOO_LARGE,
              NOT_RUNNING, QUOTA, NO_MEMORY, BAD_FREE, BAD_BUNDLE)

for _i in range(len(TABLE)):
    assert TABLE[_i][0] == _i, "errors.TABLE out of order at %d" % _i
assert sorted(PRECEDENCE) == list(range(1, len(TABLE))), "errors.PRECEDENCE must hold every code but OK once"


def name_of(code):
    """'NO_MEMORY' for NO_MEMORY; 'UNKNOWN(42)' for a code not in the table."""
    if isinstance(code, int) and not isinstance(code, bool) and 0 <= code < len(TABLE):
        return TABLE[code][1]
    return "UNKNOWN(%r)" % (code,)


def doc_of(code):
    """The table's one-line meaning of a code, or '' when unknown."""
    if isinstance(code, int) and not isinstance(code, bool) and 0 <= code < len(TABLE):
        return TABLE[code][2]
    return ""


def first(codes):
    """Of several codes that apply to one request, the one the caller gets
    (the earliest in PRECEDENCE); OK when codes is empty."""
    best = OK
    for c in codes:
        if best == OK or PRECEDENCE.index(c) < PRECEDENCE.index(best):
            best = c
    return best


class KernelError(Exception):
    """A failed kernel operation: `code` (from TABLE) and `message` (what,
    with the values involved). str() is 'NAME: message'."""

    def __init__(self, code, message):
        assert code != OK, "KernelError with code OK"
        super().__init__("%s: %s" % (name_of(code), message))
        self.code = code
        self.message = message
