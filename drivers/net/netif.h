/* The lwIP network interface of the LAN9118 (netif.c): one netif, its
 * frames to and from the chip, lwIP's clock and counters. Used by `_net`
 * (kernel/port/modnet.c); all of its state is in the net task's region. */
#ifndef QX_NET_NETIF_H
#define QX_NET_NETIF_H

#include <stdint.h>
#include "lwip/netif.h"

extern struct netif qx_netif;
extern uint32_t qx_net_now, qx_net_rx_frames, qx_net_tx_frames, qx_net_rx_dropped;

/* Chip and lwIP up, address static (ip != 0) or from DHCP (ip == 0); the
 * addresses in network byte order as lwIP keeps them. 0, or -1 if the chip
 * does not answer. */
int qx_netif_start(const uint8_t mac[6], uint32_t ip, uint32_t mask, uint32_t gw);
/* Frames from the chip into lwIP, the link state, lwIP's timers. */
void qx_netif_poll(uint32_t now_ms);
/* ms until lwIP's next timer. */
uint32_t qx_netif_next_ms(void);

#endif
