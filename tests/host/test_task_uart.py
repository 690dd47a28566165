"""The task UARTs' rings and interrupt path (drivers/uart/task_uart.c),
compiled for the host (tools/task_uart_host.py) over a model of the CMSDK
UART: bursts through the receive ring with wraparound and nothing lost, a
full ring holding the sender back (the byte stays in the UART, the receive
interrupt off) until a read makes room, the transmit ring filling and
draining, and one event per wait, only when a read found the ring empty or
a write found it full."""
import pytest

from tools import task_uart_host

RING = 4096
RX_IRQ, TX_IRQ = 2, 3


@pytest.fixture
def uart():
    ffi, lib = task_uart_host.build()
    for i in range(32):
        lib.events[i] = 0
    lib.wire_in_len = lib.wire_in_pos = lib.wire_out_len = lib.rx_held = lib.tx_full = 0
    lib.line_room = 1 << 30
    lib.qx_tuart_setup(1, 0x40005000, RX_IRQ, TX_IRQ)   # the model answers its registers: never dereferenced
    lib.qx_tuart_open(1, 217)
    yield ffi, lib
    lib.qx_tuart_close(1)


def feed(ffi, lib, data):
    n = lib.wire_in_len
    ffi.memmove(ffi.addressof(lib.wire_in, n), data, len(data))
    lib.wire_in_len = n + len(data)


def nvic(lib, rounds=1):
    """Serve the UART's interrupts while it asserts them (at most rounds)."""
    for _ in range(rounds):
        busy = False
        if lib.qx_model_rx_irq():
            lib.qx_tuart_rx_isr(1)
            busy = True
        if lib.qx_model_tx_irq():
            lib.qx_tuart_tx_isr(1)
            busy = True
        if not busy:
            return


def read(ffi, lib, n):
    buf = ffi.new("uint8_t[]", max(n, 1))
    k = lib.qx_tuart_read(1, buf, n, 0)
    return bytes(ffi.buffer(buf, k))


def test_a_burst_larger_than_the_ring_arrives_whole_with_the_sender_held_back(uart):
    ffi, lib = uart
    data = bytes((i * 31 + (i >> 9)) & 0xFF for i in range(100000))
    feed(ffi, lib, data)
    got = bytearray()
    held = 0
    while len(got) < len(data):
        nvic(lib, 10)
        u = lib.qx_tuarts[0]
        if u.rx_paused:
            held += 1
            assert u.rx_head - u.rx_tail == RING          # full, and the UART keeps its byte
            assert lib.rx_held == 1 and not lib.qx_model_rx_irq()
        got += read(ffi, lib, 1000 + len(got) % 3000)     # reads of odd sizes: the ring wraps
    assert bytes(got) == data
    assert held > 0 and lib.qx_tuarts[0].overruns == 0
    assert lib.qx_tuarts[0].received == len(data)


def test_an_event_only_after_a_read_found_the_ring_empty(uart):
    ffi, lib = uart
    feed(ffi, lib, b"abc")
    nvic(lib, 10)
    assert lib.events[RX_IRQ] == 0                      # nobody waits: no event while data comes
    assert read(ffi, lib, 10) == b"abc"                 # short: the read arms it
    assert lib.events[RX_IRQ] == 0
    assert read(ffi, lib, 10) == b""
    feed(ffi, lib, b"d")
    nvic(lib, 10)
    assert lib.events[RX_IRQ] == 1
    feed(ffi, lib, b"e")
    nvic(lib, 10)
    assert lib.events[RX_IRQ] == 1                      # one event per wait
    assert read(ffi, lib, 2) == b"de"


def test_a_reader_waiting_for_more_is_told_at_that_many_or_when_the_line_goes_quiet(uart):
    ffi, lib = uart
    buf = ffi.new("uint8_t[]", 16)
    assert lib.qx_tuart_read(1, buf, 0, 100) == 0       # arm only: it wants 100 bytes
    feed(ffi, lib, b"x" * 60)
    nvic(lib, 100)
    assert lib.events[RX_IRQ] == 0                      # 60 < 100: not yet
    lib.qx_tuart_tick()
    assert lib.events[RX_IRQ] == 0                      # bytes came since the last tick
    lib.qx_tuart_tick()
    assert lib.events[RX_IRQ] == 1                      # a quiet tick with bytes waiting: told
    assert lib.qx_tuart_read(1, buf, 0, 100) == 60      # the count waiting
    feed(ffi, lib, b"y" * 40)
    nvic(lib, 100)
    assert lib.events[RX_IRQ] == 2                      # 100 now
    assert lib.qx_tuart_read(1, buf, 0, 50) == 100      # enough waits: not armed
    lib.qx_tuart_tick()
    lib.qx_tuart_tick()
    assert lib.events[RX_IRQ] == 2


def test_the_transmit_ring_fills_drains_and_tells_the_writer_once(uart):
    ffi, lib = uart
    lib.line_room = 0                                    # the line takes nothing: the transmitter stays full
    out = bytes(range(256)) * 40
    src = ffi.new("uint8_t[]", out)
    n = 0
    while True:
        k = lib.qx_tuart_write(1, ffi.addressof(src, n), len(out) - n)
        if not k:
            break
        n += k
    assert n == RING + 1                                # the ring, and the transmitter's one byte
    assert lib.events[TX_IRQ] == 0
    lib.line_room = 1 << 30
    nvic(lib, 100000)
    assert lib.events[TX_IRQ] == 1
    sent = n
    while sent < len(out):
        k = lib.qx_tuart_write(1, ffi.addressof(src, sent), len(out) - sent)
        sent += k
        nvic(lib, 100000)
    nvic(lib, 100000)
    assert bytes(ffi.buffer(lib.wire_out, lib.wire_out_len)) == out


def test_closed_the_uart_is_silent_and_forgets_the_rings(uart):
    ffi, lib = uart
    feed(ffi, lib, b"secret")
    nvic(lib, 10)
    lib.qx_tuart_close(1)
    assert read(ffi, lib, 10) == b""
    u = lib.qx_tuarts[0]
    assert u.rx_head == u.rx_tail == 0 and not u.open
    lib.qx_tuart_open(1, 217)
    feed(ffi, lib, b"x")
    nvic(lib, 10)
    assert read(ffi, lib, 10) == b"x"                   # the next owner sees only what came after
