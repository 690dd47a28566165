/* CMSDK APB UART: interrupt-driven receive into a ring buffer, polled transmit. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define QX_UART_RX_RING 256   /* bytes; a power of two */

/* rx_irq < 0: transmit only (the bootloader). */
void qx_uart_init(uint32_t base, int rx_irq, uint32_t sysclk_hz, uint32_t baud);
int qx_uart_getc(void);                      /* next received byte, or -1 */
void qx_uart_write(const char *buf, size_t len);
void qx_uart_write_cooked(const char *buf, size_t len);  /* lone "\n" -> "\r\n" */
void qx_uart_puts(const char *s);
void qx_uart_put_hex(uint32_t v);
void qx_uart_put_dec(uint32_t v);                /* decimal, no padding */
uint32_t qx_uart_rx_count(void);             /* bytes received since boot */
uint32_t qx_uart_rx_dropped(void);           /* bytes lost to UART overruns */
int qx_uart_rx_waiting(void);                /* bytes in the ring? */
void qx_on_uart_rx(void);                    /* called from the RX interrupt; weak, empty by default */
