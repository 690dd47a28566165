"""Host tests of the socket service (userland/net/sockets.py) and its client
(userland/lib/net.py) against a simulated stack (tests/host/fake_net.py) and
a fake kernel that holds calls and leases as the real one does
(tests/host/net_world.py): listen, accept, connect, send, recv, close;
timeouts; port grants refused; another task's socket refused; a dead task's
sockets freed, in a call or not; partial sends and flow control; 1 MiB
through a socket pair with nothing lost. Each scenario runs under CPython
here and under MicroPython's unix port, which must log the same."""

from tests.host import net_world as w
from tests.host import upy
from userland.lib import net, netproto as P
from userland.net import sockets


def test_echo_with_the_host_and_a_connection_out():
    assert w.echo() == [
        ("peer", ("10.0.2.2", 40001)), ("recv", b"hello"), ("sendall", 5), ("remote", b"HELLO"),
        ("eof", b""), ("live", 0, 0), ("refused", ("Refused", "ECONNREFUSED")),
        ("connect", ("10.0.2.2", 80), 5, b"GET /"),
        ("reset", ("Reset", "ECONNRESET"), ("Reset", "ECONNRESET")), ("live", 0, 0)]


def test_timeouts_and_never_waiting():
    assert w.timeouts() == [
        ("accept", ("TimedOut", "ETIMEDOUT"), True, True), ("accept0", ("WouldBlock", "EAGAIN")),
        ("recv", ("TimedOut", "ETIMEDOUT"), True), ("recv0", ("WouldBlock", "EAGAIN")),
        ("connect", ("TimedOut", "ETIMEDOUT"), True, 2),     # the timed-out connect is freed
        ("bad timeout", ("InvalidArgument", "EINVAL")), ("after", b"late"), ("live", 0, 0)]


def test_port_grants_and_other_tasks_sockets():
    assert w.grants() == [
        ("b listen 7", ("PortNotGranted", "EACCES")), ("a listen 9", ("PortNotGranted", "EACCES")),
        ("again", ("AddrInUse", "EADDRINUSE")), ("bad port", ("InvalidArgument", "EINVAL")),
        ("b recv", ("BadSocket", "EBADF")), ("b send", ("BadSocket", "EBADF")),
        ("b close", ("BadSocket", "EBADF")), ("b accept", ("BadSocket", "EBADF")),
        ("b info-less", ("BadSocket", "EBADF")), ("a recv", b"secret"),
        ("stale", ("BadSocket", "EBADF"), ("BadSocket", "EBADF")), ("raw junk", True),
        ("send on a listener", -P.ENOTCONN), ("info", True)]


def test_a_dead_tasks_sockets_are_freed():
    assert w.deaths() == [
        ("before", 4, 3),                   # listener, accepted, connected out, one in the backlog
        ("after", 0, 0, 3), ("remote sees a reset", True, True),
        ("old sid", ("BadSocket", "EBADF")),
        ("held", 1, 1),                     # the dead task's listener gone, a's new one stays
        ("end", 0, 0)]


def test_a_restarted_task_gets_its_port_back_before_the_sweep():
    assert w.relisten() == [
        ("before", 1, 1, 0),                # the ended owner's listener, not yet reaped
        ("listens again", 1, 1, 1),
        ("a live owner keeps it", ("AddrInUse", "EADDRINUSE")),
        ("end", 0, 0)]


def test_partial_sends_and_flow_control():
    assert w.flow() == [("partial", 4096), ("full", ("WouldBlock", "EAGAIN"), ("TimedOut", "ETIMEDOUT")),
                        ("sendall", 10000, 14096), ("live", 0, 0)]


def test_one_mib_through_a_socket_pair():
    n, same, eof, live, count, calls, copied = w.pair()
    assert (n, same, eof, live, count, copied) == (1 << 20, True, b"", 0, 0, True)
    assert calls < (1 << 20) // 1024, calls     # a lease moves a window per call, not 256 bytes


def test_the_net_tasks_loop_with_a_stand_in_of_recv_with_timeout():
    assert w.loop() == [("waits", True, True), ("listen", True), ("accept timed out", True, 50),
                        ("accepted", 5, True, True),
                        ("waits", [100, 100, 100, 50, 99, 100])]   # WAIT_MAX, then the accept's deadline


def test_a_malformed_request_and_the_error_classes():
    assert P.parse_request(b"x" * 12) is None and P.parse_request(P.request(P.CLOSE, 5)) == (P.CLOSE, 0, 5, 0)
    for code in range(2, len(P.NAMES)):
        e = net.error(code)
        assert isinstance(e, net.NetError) and e.name == P.NAMES[code] and getattr(net, e.name) is type(e)
    assert P.ip_int("10.0.2.15") == 0x0A00020F and P.ip_text(0x0A00020F) == "10.0.2.15"
    for bad in ("10.0.2", "10.0.2.256", "a.b.c.d", ""):
        try:
            P.ip_int(bad)
            raise AssertionError(bad)
        except ValueError:
            pass


def test_the_socket_table_imports_no_stack_and_no_kernel():
    imports = [line.split() for line in open(sockets.__file__) if line.startswith(("import ", "from "))]
    assert [i[1] for i in imports] == ["errno", "json", "userland.lib"], imports


def test_the_board_transport_finds_net_again_after_it_restarts():
    from kernel import errors

    class KernelRefused(Exception):
        def __init__(self, code):
            self.code = code
            self.name = errors.name_of(code)

    class FakeQenex:
        Error = KernelRefused
        looked = 0
        answer = None

        def lookup(self, name):
            assert name == "net"
            self.looked += 1
            return 5 | self.looked << 8

        def call(self, dest, msg):
            if dest != 5 | 2 << 8:
                raise KernelRefused(errors.PEER_DIED)      # the net of the first lookup restarted
            return P.reply(0)

    t = net._Qenex.__new__(net._Qenex)
    t.q, t.dest = FakeQenex(), None
    net.use(t)
    try:
        try:
            net.Socket(3).close()
            raise AssertionError("no NetDown")
        except net.NetDown as e:
            assert e.name == "ENETDOWN" and t.dest is None
        net.Socket(3).close()                       # looked up again: the new net answers
        assert t.q.looked == 2
    finally:
        net.use(None)


def test_micropython_logs_the_same():
    upy.same_logs("net_world")
