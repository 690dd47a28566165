"""The board's lwIP configuration (drivers/net/lwipopts.h) does what the
net task needs, run on the host: lwIP built with it, two netifs joined back
to back (tests/host/lwip_pair.c), resolve each other by ARP, carry 1 MiB over
TCP in order and intact in both a clean and a lossy wire (every 7th frame
dropped: retransmission recovers it), answer over the same connection and
deliver UDP datagrams; the static memory it sizes never runs out doing so."""
import pytest

from tests.host import lwip_host

MIB = 1 << 20


def run(lib, until, limit_ms=120000):
    """Advance the clock a millisecond at a time, delivering frames, until
    until() or limit_ms of simulated time."""
    while not until():
        lib.pair_now_ms += 1
        lib.pair_poll()
        if lib.pair_now_ms > limit_ms:
            return False
    return True


@pytest.mark.parametrize("drop_every", [0, 7])
def test_a_mebibyte_over_tcp_arrives_whole_and_in_order(drop_every):
    ffi, lib = lwip_host.load()
    assert lib.pair_init() == 0
    lib.pair_drop_every = drop_every
    assert lib.pair_tcp_start(MIB) == 0
    assert run(lib, lambda: lib.xtcp_answer_len >= len("done %d" % MIB)), (lib.xtcp_got, lib.pair_now_ms)
    assert lib.xtcp_connected and lib.xtcp_got == MIB and lib.xtcp_bad == 0 and lib.xtcp_errors == 0
    assert ffi.string(lib.xtcp_answer).decode() == "done %d" % MIB
    assert lib.pair_asserts == 0 and lib.pair_queue_full == 0
    if drop_every:
        assert lib.pair_dropped > 100
    else:
        assert lib.pair_dropped == 0 and lib.pair_now_ms < 5000     # a clean wire needs no timer


def test_udp_datagrams_are_delivered_and_sized():
    ffi, lib = lwip_host.load()
    assert lib.pair_init() == 0
    sizes = [1, 100, 512, 1472]                 # 1472: the largest in one Ethernet frame without fragments
    for n in sizes:
        assert lib.pair_udp_send(n) == 0
        run(lib, lambda: False, limit_ms=lib.pair_now_ms + 20)   # ARP, then the datagram
    assert lib.udp_got >= len(sizes) - 1 and lib.udp_bytes >= sum(sizes[1:])
    assert lib.pair_udp_send(1473) != 0 or lib.udp_got <= len(sizes)    # no fragmentation configured
