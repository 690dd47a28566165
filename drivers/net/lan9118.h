/* SMSC LAN9118 Ethernet controller (as QEMU's hw/net/lan9118.c models it on
 * mps2-an385): bring-up, MAC address, link state, transmit of one frame from
 * segments, drain of the receive FIFO, interrupt status. Register level only:
 * no lwIP here (drivers/net/netif.c joins the two). The FIFO loops are here,
 * in C, because they run for every byte that crosses the wire. Called from
 * the net task (unprivileged): the registers are an MPU region granted to it
 * alone (device `eth`). */
#ifndef QX_LAN9118_H
#define QX_LAN9118_H

#include <stdint.h>

/* INT_STS / INT_EN bits used. */
#define QX_LAN9118_INT_RSFL   0x00000008u   /* RX status FIFO above its level: a frame waits */
#define QX_LAN9118_INT_PHY    0x00040000u   /* PHY interrupt: link changed */
#define QX_LAN9118_INT_RXE    0x00004000u
#define QX_LAN9118_INT_TXE    0x00002000u

/* Reset the chip, set the MAC address, enable RX and TX (RX data offset 2:
 * each frame lands 2 bytes into a word, so the IP header behind the 14-byte
 * Ethernet header is word-aligned). 0, or -1 if the chip does not answer. */
int qx_lan9118_init(uint32_t base, const uint8_t mac[6]);
void qx_lan9118_get_mac(uint32_t base, uint8_t mac[6]);
int qx_lan9118_link_up(uint32_t base);

/* Free space of the TX data FIFO in bytes. */
uint32_t qx_lan9118_tx_space(uint32_t base);
/* One segment of a frame of frame_len bytes: first/last mark its ends. The
 * words are read from the word-aligned address at or below data, so the
 * bytes up to 3 before it and after its end must be readable. */
void qx_lan9118_tx_segment(uint32_t base, const uint8_t *data, uint32_t len, int first, int last,
                           uint32_t frame_len);

/* Length (without the CRC) of the frame at the head of the RX FIFO, 0 if
 * none waits; sets *bad when the chip flagged it (error summary). */
uint32_t qx_lan9118_rx_peek(uint32_t base, int *bad);
/* Read the frame rx_peek announced into buf (at least len + 2 bytes, word-
 * aligned): the frame starts at buf + 2. */
void qx_lan9118_rx_read(uint32_t base, uint8_t *buf, uint32_t len);
/* Drop the frame rx_peek announced. */
void qx_lan9118_rx_drop(uint32_t base, uint32_t len);
/* Frames the chip dropped since the last call (its RX_DROP counter). */
uint32_t qx_lan9118_rx_dropped(uint32_t base);

/* Pending interrupt sources (INT_STS), and acknowledge some of them. */
uint32_t qx_lan9118_irq_status(uint32_t base);
void qx_lan9118_irq_ack(uint32_t base, uint32_t bits);
/* Enable the chip's IRQ line for bits (0: none). */
void qx_lan9118_irq_enable(uint32_t base, uint32_t bits);

#endif
