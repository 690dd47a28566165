"""The task UARTs' rings and interrupt path (drivers/uart/task_uart.c) built
for the host with cffi, over a model of the CMSDK UART whose register reads
and writes have the UART's side effects (reading DATA takes the held byte
and the next one arrives; writing it fills the one-byte transmitter until
the line takes it), for tests/host/test_task_uart.py.

Holds the build (cached under build/host/task_uart-<hash of the sources>)
and that model, in C next to the driver: the wire's bytes wait in `wire_in`
until the UART holds them, transmitted bytes go to `wire_out`, `line_room`
is how many more the line takes before the transmitter stays full. The
test plays the NVIC: it calls the ISRs while the model says the UART
interrupts (qx_model_rx_irq / qx_model_tx_irq). Events the driver reports
(qx_tuart_event) are counted per NVIC number in `events`."""
import os

from tools import cffi_cache

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UART = os.path.join(ROOT, "drivers", "uart")
SOURCES = [os.path.join(UART, f) for f in ("task_uart.c", "task_uart.h")]
NAME = "_qx_task_uart"

CDEF = """
#define QX_TUARTS 3
#define QX_TUART_RING 4096
typedef struct { uint32_t DATA, STATE, CTRL, INTSTATUS, BAUDDIV; } qx_tuart_regs_t;
typedef struct {
    qx_tuart_regs_t *regs;
    uint32_t rx_irq, tx_irq;
    uint32_t rx_head, rx_tail, tx_head, tx_tail;
    uint8_t rx_want, tx_want, rx_paused, open;
    uint32_t rx_min, rx_quiet;
    uint32_t received, sent, overruns, events;
    ...;
} qx_tuart_t;
extern qx_tuart_t qx_tuarts[3];
void qx_tuart_setup(int dev, uint32_t base, uint32_t rx_irq, uint32_t tx_irq);
void qx_tuart_open(int dev, uint32_t bauddiv);
void qx_tuart_close(int dev);
void qx_tuart_rx_isr(int dev);
void qx_tuart_tx_isr(int dev);
uint32_t qx_tuart_read(int dev, uint8_t *dst, uint32_t n, uint32_t min);
void qx_tuart_tick(void);
uint32_t qx_tuart_write(int dev, const uint8_t *src, uint32_t n);
extern uint32_t events[32];
extern uint8_t wire_in[];
extern uint32_t wire_in_len, wire_in_pos, wire_out_len, line_room, rx_held, tx_full;
extern uint8_t wire_out[];
extern qx_tuart_regs_t model_regs;
int qx_model_rx_irq(void);
int qx_model_tx_irq(void);
"""

MODEL = r"""
#include "task_uart.h"
#define WIRE (1u << 21)
uint32_t events[32];
uint8_t wire_in[WIRE], wire_out[WIRE];
uint32_t wire_in_len, wire_in_pos, wire_out_len, line_room, rx_held, tx_full;
uint32_t rx_byte, int_status, ctrl;
qx_tuart_regs_t model_regs;
void qx_tuart_event(uint32_t irq) { events[irq]++; }
uint32_t qx_tuart_lock(void) { return 0; }
void qx_tuart_unlock(uint32_t s) { (void)s; }
static void arrive(void) {          /* the next wire byte into the holding register */
    if (!rx_held && wire_in_pos < wire_in_len) {
        rx_byte = wire_in[wire_in_pos++];
        rx_held = 1;
        int_status |= 2;
    }
}
static void line(void) {            /* the line takes the transmitter's byte, if it has room */
    if (tx_full && line_room) {
        line_room--;
        tx_full = 0;
        int_status |= 1;
    }
}
uint32_t qx_tuart_host_rd(qx_tuart_regs_t *r, uint32_t off) {
    (void)r;
    arrive();
    line();
    switch (off) {
    case 0: { uint32_t b = rx_byte; rx_held = 0; arrive(); return b; }
    case 4: return (tx_full ? 1u : 0) | (rx_held ? 2u : 0);
    case 8: return ctrl;
    case 12: return int_status;
    default: return 0;
    }
}
void qx_tuart_host_wr(qx_tuart_regs_t *r, uint32_t off, uint32_t v) {
    (void)r;
    switch (off) {
    case 0: if (!tx_full && wire_out_len < WIRE) { wire_out[wire_out_len++] = (uint8_t)v; tx_full = 1; line(); } break;
    case 8: ctrl = v; break;
    case 12: int_status &= ~v; break;
    default: break;
    }
}
int qx_model_rx_irq(void) { arrive(); return (ctrl & 8) && (int_status & 2); }
int qx_model_tx_irq(void) { line(); return (ctrl & 4) && (int_status & 1); }
"""

_mod = None


def build():
    """(ffi, lib), built once per source version."""
    global _mod
    if _mod is None:
        def configure(ffi):
            ffi.cdef(CDEF)
            ffi.set_source(NAME, MODEL, sources=[os.path.join(UART, "task_uart.c")], include_dirs=[UART],
                           define_macros=[("QX_TUART_HOST", "1")],
                           extra_compile_args=["-O1", "-Wall", "-Werror"])
        mod = cffi_cache.load(NAME, "task_uart", SOURCES + [os.path.abspath(__file__)], configure)
        _mod = (mod.ffi, mod.lib)
    return _mod
