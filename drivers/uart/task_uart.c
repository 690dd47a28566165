/* Task-owned CMSDK UARTs: the rings and their interrupt path (task_uart.h).
 * Receive: the RX interrupt moves every waiting byte into the ring; with the
 * ring full it leaves the byte in the UART and switches its interrupt off, so
 * the sender is held back (QEMU delivers no more; on a board, flow control)
 * and nothing is lost; the owner's next read makes room and takes it.
 * Transmit: a write puts bytes in the ring and starts the UART; each TX
 * interrupt (the holding register emptied) feeds it the next. The owner's
 * event (its notification bit, through the kernel) is raised only when a
 * read found the ring empty and bytes came, or a write found it full and
 * space freed: one notification per wait, none while data streams.
 * Plain C over a register block: tests/host/test_task_uart.py runs it on
 * the host with a simulated UART. */
#include <string.h>
#include "task_uart.h"

#define STATE_TXFULL (1u << 0)
#define STATE_RXFULL (1u << 1)
#define STATE_RXOVR (1u << 3)
#define CTRL_TXEN (1u << 0)
#define CTRL_RXEN (1u << 1)
#define CTRL_TXIRQ (1u << 2)
#define CTRL_RXIRQ (1u << 3)
#define INT_TX (1u << 0)
#define INT_RX (1u << 1)
#define MASK (QX_TUART_RING - 1u)

/* Register access: the UART's own, or (QX_TUART_HOST) the host test's
 * model of it, whose reads and writes have the UART's side effects. */
#ifdef QX_TUART_HOST
uint32_t qx_tuart_host_rd(qx_tuart_regs_t *r, uint32_t off);
void qx_tuart_host_wr(qx_tuart_regs_t *r, uint32_t off, uint32_t v);
#define RD(r, f) qx_tuart_host_rd((r), offsetof(qx_tuart_regs_t, f))
#define WR(r, f, v) qx_tuart_host_wr((r), offsetof(qx_tuart_regs_t, f), (v))
#else
#define RD(r, f) ((r)->f)
#define WR(r, f, v) ((r)->f = (v))
#endif

qx_tuart_t qx_tuarts[QX_TUARTS];

static qx_tuart_t *get(int dev) {
    return dev >= 1 && dev <= QX_TUARTS && qx_tuarts[dev - 1].regs ? &qx_tuarts[dev - 1] : 0;
}

void qx_tuart_setup(int dev, uint32_t base, uint32_t rx_irq, uint32_t tx_irq) {
    if (dev < 1 || dev > QX_TUARTS) {
        return;
    }
    qx_tuart_t *u = &qx_tuarts[dev - 1];
    u->regs = (qx_tuart_regs_t *)(uintptr_t)base;
    u->rx_irq = rx_irq;
    u->tx_irq = tx_irq;
}

void qx_tuart_open(int dev, uint32_t bauddiv) {
    qx_tuart_t *u = get(dev);
    if (!u) {
        return;
    }
    uint32_t s = qx_tuart_lock();
    u->rx_head = u->rx_tail = u->tx_head = u->tx_tail = 0;
    u->rx_want = u->tx_want = u->rx_paused = 0;
    u->rx_min = 1;
    u->open = 1;
    WR(u->regs, BAUDDIV, bauddiv);
    WR(u->regs, INTSTATUS, INT_TX | INT_RX);
    WR(u->regs, CTRL, CTRL_TXEN | CTRL_RXEN | CTRL_RXIRQ | CTRL_TXIRQ);
    qx_tuart_unlock(s);
    qx_tuart_rx_isr(dev);            /* a byte held while nobody owned it */
}

void qx_tuart_close(int dev) {
    qx_tuart_t *u = get(dev);
    if (!u) {
        return;
    }
    uint32_t s = qx_tuart_lock();
    WR(u->regs, CTRL, CTRL_TXEN | CTRL_RXEN);
    WR(u->regs, INTSTATUS, INT_TX | INT_RX);
    u->open = 0;
    u->rx_head = u->rx_tail = u->tx_head = u->tx_tail = 0;
    u->rx_want = u->tx_want = u->rx_paused = 0;
    memset(u->rx, 0, sizeof u->rx);  /* nothing of one owner's traffic reaches the next */
    memset(u->tx, 0, sizeof u->tx);
    qx_tuart_unlock(s);
}

static void event(qx_tuart_t *u, uint32_t irq) {
    u->events++;
    qx_tuart_event(irq);
}

/* Move waiting bytes into the ring (interrupts masked, or in the ISR). */
static void rx_drain(qx_tuart_t *u) {
    qx_tuart_regs_t *r = u->regs;
    uint32_t head = u->rx_head, moved = 0;
    while (RD(r, STATE) & STATE_RXFULL) {
        if (head - u->rx_tail >= QX_TUART_RING) {
            WR(r, CTRL, RD(r, CTRL) & ~CTRL_RXIRQ);
            u->rx_paused = 1;
            break;
        }
        u->rx[head & MASK] = (uint8_t)RD(r, DATA);
        head++;
        moved++;
    }
    if (RD(r, STATE) & STATE_RXOVR) {
        WR(r, STATE, STATE_RXOVR);
        u->overruns++;
    }
    u->rx_head = head;
    u->received += moved;
    if (moved && u->rx_want && head - u->rx_tail >= u->rx_min) {
        u->rx_want = 0;
        event(u, u->rx_irq);
    }
}

/* Feed the transmitter while it has room (interrupts masked, or in the ISR). */
static void tx_pump(qx_tuart_t *u) {
    qx_tuart_regs_t *r = u->regs;
    uint32_t tail = u->tx_tail, head = u->tx_head, moved = 0;
    while (tail != head && !(RD(r, STATE) & STATE_TXFULL)) {
        WR(r, DATA, u->tx[tail & MASK]);
        tail++;
        moved++;
    }
    u->tx_tail = tail;
    u->sent += moved;
    if (moved && u->tx_want) {
        u->tx_want = 0;
        event(u, u->tx_irq);
    }
}

void qx_tuart_rx_isr(int dev) {
    qx_tuart_t *u = get(dev);
    if (!u) {
        return;
    }
    WR(u->regs, INTSTATUS, INT_RX);
    if (u->open) {
        rx_drain(u);
    } else {
        WR(u->regs, CTRL, RD(u->regs, CTRL) & ~CTRL_RXIRQ);   /* nobody owns it: the byte stays */
    }
}

void qx_tuart_tx_isr(int dev) {
    qx_tuart_t *u = get(dev);
    if (!u) {
        return;
    }
    WR(u->regs, INTSTATUS, INT_TX);
    if (u->open) {
        tx_pump(u);
    }
}

void qx_tuart_tick(void) {
    for (int i = 0; i < QX_TUARTS; i++) {
        qx_tuart_t *u = &qx_tuarts[i];
        if (u->open && u->rx_want && u->rx_head != u->rx_tail && u->rx_head == u->rx_quiet) {
            u->rx_want = 0;
            event(u, u->rx_irq);
        }
        u->rx_quiet = u->rx_head;
    }
}

uint32_t qx_tuart_read(int dev, uint8_t *dst, uint32_t n, uint32_t min) {
    qx_tuart_t *u = get(dev);
    if (!u || !u->open) {
        return 0;
    }
    if (min == 0) {
        min = 1;
    }
    if (min > QX_TUART_RING) {
        min = QX_TUART_RING;            /* a full ring is as much as can wait */
    }
    uint32_t s = qx_tuart_lock();
    uint32_t tail = u->rx_tail, avail = u->rx_head - tail;
    uint32_t k = n < avail ? n : avail, off = tail & MASK, first = QX_TUART_RING - off;
    if (first > k) {
        first = k;
    }
    if (k) {
        memcpy(dst, u->rx + off, first);
        memcpy(dst + first, u->rx, k - first);
    }
    u->rx_tail = tail + k;
    if (avail - k < min) {
        u->rx_want = 1;
        u->rx_min = min;
    }
    if (u->rx_paused && k) {
        /* Room again: take what the UART held, and let it interrupt again
         * (a byte that came while it could not raised none: look again). */
        u->rx_paused = 0;
        rx_drain(u);
        if (!u->rx_paused) {
            WR(u->regs, CTRL, RD(u->regs, CTRL) | CTRL_RXIRQ);
            rx_drain(u);
        }
    }
    qx_tuart_unlock(s);
    return n ? k : avail;
}

uint32_t qx_tuart_write(int dev, const uint8_t *src, uint32_t n) {
    qx_tuart_t *u = get(dev);
    if (!u || !u->open) {
        return 0;
    }
    uint32_t s = qx_tuart_lock();
    uint32_t head = u->tx_head, space = QX_TUART_RING - (head - u->tx_tail);
    uint32_t k = n < space ? n : space, off = head & MASK, first = QX_TUART_RING - off;
    if (first > k) {
        first = k;
    }
    memcpy(u->tx + off, src, first);
    memcpy(u->tx, src + first, k - first);
    u->tx_head = head + k;
    tx_pump(u);
    if (k < n) {
        u->tx_want = 1;                 /* after its own pump: the next byte the line takes tells it */
    }
    qx_tuart_unlock(s);
    return k;
}
