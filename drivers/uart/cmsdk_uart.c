/* CMSDK APB UART driver: the receive interrupt moves each byte into a ring
 * buffer that the kernel drains (a full ring holds the sender back); transmit is polled (the TX holding register is
 * one byte deep and, at the console's rates, waiting on it is cheaper than an
 * interrupt per byte). One instance: the console, UART0. */
#include "cmsdk_uart.h"
#include "cm3.h"

typedef struct {
    volatile uint32_t DATA;
    volatile uint32_t STATE;     /* bit0 TX full, bit1 RX full, bit2 TX overrun, bit3 RX overrun */
    volatile uint32_t CTRL;      /* bit0 TX en, bit1 RX en, bit2 TX irq, bit3 RX irq, bit5 RX overrun irq */
    volatile uint32_t INTSTATUS; /* write 1 to clear: bit0 TX, bit1 RX, bit2 TX ovr, bit3 RX ovr */
    volatile uint32_t BAUDDIV;
} cmsdk_uart_t;

#define STATE_TXFULL (1u << 0)
#define STATE_RXFULL (1u << 1)
#define STATE_RXOVR (1u << 3)
#define CTRL_TXEN (1u << 0)
#define CTRL_RXEN (1u << 1)
#define CTRL_RXIRQ (1u << 3)
#define INT_RX (1u << 1)

static cmsdk_uart_t *uart;
static uint8_t ring[QX_UART_RX_RING];
static volatile uint32_t head, tail;  /* head: written by the IRQ; tail: by the kernel */
static volatile uint32_t received, dropped;
static volatile uint8_t rx_paused;  /* ring full: receive interrupt off */

void qx_uart_init(uint32_t base, int rx_irq, uint32_t sysclk_hz, uint32_t baud) {
    uart = (cmsdk_uart_t *)base;
    uart->BAUDDIV = sysclk_hz / baud;
    if (rx_irq < 0) {
        uart->CTRL = CTRL_TXEN;  /* transmit only */
        return;
    }
    uart->CTRL = CTRL_TXEN | CTRL_RXEN | CTRL_RXIRQ;
    qx_irq_enable((unsigned)rx_irq);
}

/* Move waiting bytes into the ring. When the ring is full the byte stays in the
 * UART and the receive interrupt is switched off, so the sender is held back
 * (QEMU delivers no more; on a board, hardware flow control or an overrun,
 * which is counted) rather than bytes being lost in software. */
static void rx_drain(void) {
    while (uart->STATE & STATE_RXFULL) {
        if (head - tail >= QX_UART_RX_RING) {
            uart->CTRL &= ~CTRL_RXIRQ;
            rx_paused = 1;
            break;
        }
        ring[head % QX_UART_RX_RING] = (uint8_t)uart->DATA;
        head++;
        received++;
    }
    if (uart->STATE & STATE_RXOVR) {
        uart->STATE = STATE_RXOVR;
        dropped++;
    }
}

void __attribute__((weak)) qx_on_uart_rx(void) {
}

void UART0_RX_Handler(void) {
    uart->INTSTATUS = INT_RX;
    rx_drain();
    qx_on_uart_rx();
}

int qx_uart_rx_waiting(void) {
    return head != tail;
}

int qx_uart_getc(void) {
    if (tail == head) {
        return -1;
    }
    int c = ring[tail % QX_UART_RX_RING];
    tail++;
    if (rx_paused) {
        /* Room again: take the byte the UART held and let it interrupt again. */
        uint32_t s = qx_irq_save();
        rx_paused = 0;
        rx_drain();
        if (!rx_paused) {
            uart->CTRL |= CTRL_RXIRQ;
            /* A byte that arrived while the interrupt was off raised none:
             * look once more, or it would sit in the UART for good. */
            rx_drain();
        }
        qx_irq_restore(s);
    }
    return c;
}

static void putc_raw(char c) {
    while (uart->STATE & STATE_TXFULL) {
    }
    uart->DATA = (uint8_t)c;
}

void qx_uart_write(const char *buf, size_t len) {
    for (size_t i = 0; i < len; i++) {
        putc_raw(buf[i]);
    }
}

/* "\n" goes out as "\r\n"; a "\n" already preceded by "\r" (text that
 * MicroPython cooked before it reached us) is left alone. */
static char tx_prev;  /* last byte written by qx_uart_write_cooked */

void qx_uart_write_cooked(const char *buf, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n' && tx_prev != '\r') {
            putc_raw('\r');
        }
        putc_raw(buf[i]);
        tx_prev = buf[i];
    }
}

void qx_uart_puts(const char *s) {
    while (*s) {
        if (*s == '\n') {
            putc_raw('\r');
        }
        putc_raw(*s++);
    }
}

void qx_uart_put_hex(uint32_t v) {
    static const char digits[] = "0123456789abcdef";
    char buf[10] = {'0', 'x'};
    for (int i = 0; i < 8; i++) {
        buf[2 + i] = digits[(v >> (28 - 4 * i)) & 0xf];
    }
    qx_uart_write(buf, sizeof buf);
}

void qx_uart_put_dec(uint32_t v) {
    char buf[11];
    int i = sizeof buf;
    buf[--i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    qx_uart_puts(&buf[i]);
}

uint32_t qx_uart_rx_count(void) {
    return received;
}

uint32_t qx_uart_rx_dropped(void) {
    return dropped;
}
