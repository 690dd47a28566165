/* Task-owned CMSDK UARTs (uart1, uart2): receive and transmit rings in kernel
 * memory, filled and drained by the interrupt path, and the bulk copies the
 * trap layer answers SYS_UART with. Mechanism only: who owns a UART is the
 * kernel's table (trap.c qx_irq_owner), written when the owner starts and ends. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define QX_TUARTS 3             /* SYS_UART devices 1..3: uart1, uart2, uart3 */
#define QX_TUART_RING 4096      /* bytes each way (kernel/abi.py UART_RING); a power of two */

typedef struct {
    volatile uint32_t DATA;
    volatile uint32_t STATE;     /* bit0 TX full, bit1 RX full, bit2 TX overrun, bit3 RX overrun */
    volatile uint32_t CTRL;      /* bit0 TX en, bit1 RX en, bit2 TX irq, bit3 RX irq */
    volatile uint32_t INTSTATUS; /* write 1 to clear: bit0 TX, bit1 RX */
    volatile uint32_t BAUDDIV;
} qx_tuart_regs_t;

typedef struct {
    qx_tuart_regs_t *regs;
    uint32_t rx_irq, tx_irq;        /* the NVIC numbers its events are reported as */
    uint32_t rx_head, rx_tail;      /* head: the RX interrupt; tail: the owner's reads */
    uint32_t tx_head, tx_tail;      /* head: the owner's writes; tail: the TX interrupt */
    uint8_t rx_want, tx_want;       /* the owner found the ring empty / full: tell it when that changes */
    uint8_t rx_paused;              /* the receive ring is full: the RX interrupt is off, the sender held */
    uint8_t open;
    uint32_t rx_min;                /* the owner waits for this many bytes (or a quiet line) */
    uint32_t rx_quiet;              /* rx_head at the last tick: unchanged means the line is quiet */
    uint32_t received, sent, overruns, events;
    uint8_t rx[QX_TUART_RING];
    uint8_t tx[QX_TUART_RING];
} qx_tuart_t;

extern qx_tuart_t qx_tuarts[QX_TUARTS];

/* Where device dev (1..QX_TUARTS) is and which IRQs report it. */
void qx_tuart_setup(int dev, uint32_t base, uint32_t rx_irq, uint32_t tx_irq);
/* Its owner starts (open: empty rings, interrupts on) or ends (close:
 * interrupts off; what the UART holds stays there, the sender held). */
void qx_tuart_open(int dev, uint32_t bauddiv);
void qx_tuart_close(int dev);
/* The interrupt path. */
void qx_tuart_rx_isr(int dev);
void qx_tuart_tx_isr(int dev);
/* Every tick (the timer interrupt): the event of an owner waiting for more
 * than a line that went quiet delivered. */
void qx_tuart_tick(void);
/* Bulk copies for the owner (interrupts masked around the ring update): the
 * count moved. A read that leaves fewer than `min` bytes (0 counts as 1) in
 * the ring arms the owner's event: raised when the ring holds min bytes, or
 * holds some and the line was quiet for a tick. n = 0: only that arming;
 * the count the ring holds is returned. */
uint32_t qx_tuart_read(int dev, uint8_t *dst, uint32_t n, uint32_t min);
uint32_t qx_tuart_write(int dev, const uint8_t *src, uint32_t n);
/* Reported to the trap layer: event on NVIC number irq (defined there). */
void qx_tuart_event(uint32_t irq);
/* Interrupt masking: the board's (cm3.h), or the host test's. */
uint32_t qx_tuart_lock(void);
void qx_tuart_unlock(uint32_t s);
