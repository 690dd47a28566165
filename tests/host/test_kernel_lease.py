"""Host tests of leases (SYS_CALL_LEASE, SYS_BORROW; kernel/abi.py, Leases) and
of KCTL_PEER (what a server learns of its callers: their ports, their end):
bulk copies both ways through a lease bounded by it, every refusal in its
documented order, a lease ending with the reply, with the caller's death
(and its restart: the old handle's lease is PEER_DIED) and with the callee's.
The scenarios (tests/host/lease_world.py) run under CPython here and under
MicroPython's unix port, which must log the same."""

from kernel import abi
from tests.host import lease_world as w
from tests.host import scenarios
from tests.host import upy



def test_bulk_reads_and_writes_through_leases():
    assert w.bulk() == [("info", b"in", 4096, abi.LEASE_READ), ("read", 4096, True), ("reply", b"ok"),
                        ("info", b"out", 4096, abi.LEASE_READ | abi.LEASE_WRITE), ("wrote", 4096),
                        ("reply", b"ok", True)]


def test_refusals_in_their_order():
    assert w.refusals() == [
        "BAD_ARGUMENT",         # the lease is outside the caller's block
        "BAD_ARGUMENT",         # rights 0
        (-1, 0),                # rights bits 0 again (length 17): the raw word
        "BAD_STATE",            # INFO on a plain call: it lends nothing
        b"p",
        "BAD_ARGUMENT",         # op 3
        "BAD_ARGUMENT",         # the borrower's buffer is not its own
        "NO_SUCH_TASK",
        "PEER_DIED",            # a handle of another incarnation of the caller
        "BAD_STATE",            # task 3 is not calling the server
        "NOT_PERMITTED",        # writing a read lease
        "BAD_ARGUMENT",         # past the lease's end
        "BAD_ARGUMENT",         # offset near 2**32: no wrap
        (0, 0),                 # an empty borrow at the end is fine
        "BAD_STATE",            # after the reply: the lease is over
        b"r",
        "BAD_ARGUMENT",         # a 1 MiB lease does not fit the caller's block
    ]


def test_a_dead_callers_lease_is_gone():
    assert w.caller_dies() == [("read", b"AAAA"), "PEER_DIED", "PEER_DIED", "PEER_DIED",
                               ("new", True, True), ("read", b"AAAA"), b"ok"]


def test_a_dead_callee_frees_the_caller():
    assert w.callee_dies() == ["PEER_DIED", b"mine"]


def test_a_server_learns_its_callers_ports_and_their_end():
    assert w.peer() == [
        b'{"name": "c", "ports": [7, 8080]}',
        "NOT_PERMITTED",        # x does not call s: nothing about it is told
        "NO_SUCH_TASK",         # no task 99
        "PEER_DIED",            # a generation c never had
        "NOT_RUNNING",          # c stopped
        "PEER_DIED",            # c restarted: the old handle names an earlier incarnation
        b'{"name": "c", "ports": [7, 8080]}']


def test_the_same_with_the_c_fast_path():
    """Leased calls go through the kernel; their replies may take the C fast
    path (kernel/port/ipcfast.c), which must end the lease as any reply does."""
    want = scenarios.logs(w)
    w.FAST = True
    try:
        got = scenarios.logs(w)
    finally:
        w.FAST = False
    assert got == want


def test_micropython_logs_the_same():
    upy.same_logs("lease_world")
