/* lwIP's netif for the LAN9118 (netif.h): linkoutput sends a pbuf chain as
 * one frame of segments straight from the pbufs (no copy); the poll drains
 * the chip's RX FIFO into pool pbufs, one frame each, and hands them to
 * ethernet_input. lwIP's sys_now() is the time the net task passed to its
 * last poll. Holds no policy: `_net` (modnet.c) decides what runs when. */
#include <string.h>
#include "netif.h"
#include "lan9118.h"
#include "layout.h"
#include "lwip/init.h"
#include "lwip/etharp.h"
#include "lwip/dhcp.h"
#include "lwip/timeouts.h"
#include "lwip/pbuf.h"
#include "netif/ethernet.h"

#define ETH QX_ETH_BASE
#define RX_BUDGET 32        /* frames a poll moves, so one poll's time stays bounded */

struct netif qx_netif;
uint32_t qx_net_now, qx_net_rx_frames, qx_net_tx_frames, qx_net_rx_dropped;
static uint8_t link;

uint32_t sys_now(void) {
    return qx_net_now;
}

static err_t linkoutput(struct netif *n, struct pbuf *p) {
    (void)n;
    uint32_t frame = p->tot_len - ETH_PAD_SIZE;
    if (frame > 1514 || qx_lan9118_tx_space(ETH) < frame + 64) {
        return ERR_IF;
    }
    struct pbuf *last = NULL;
    for (struct pbuf *q = p; q; q = q->next) {
        if (q->len > (q == p ? ETH_PAD_SIZE : 0)) {
            last = q;
        }
    }
    int first = 1;
    for (struct pbuf *q = p; q; q = q->next) {
        const uint8_t *d = q->payload;
        uint32_t len = q->len;
        if (q == p) {
            d += ETH_PAD_SIZE;
            len -= ETH_PAD_SIZE;
        }
        if (!len) {
            continue;
        }
        qx_lan9118_tx_segment(ETH, d, len, first, q == last, frame);
        first = 0;
    }
    qx_net_tx_frames++;
    return ERR_OK;
}

static err_t if_init(struct netif *n) {
    n->name[0] = 'e';
    n->name[1] = 'n';
    n->output = etharp_output;
    n->linkoutput = linkoutput;
    n->mtu = 1500;
    n->hwaddr_len = 6;
    n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
    return ERR_OK;
}

int qx_netif_start(const uint8_t mac[6], uint32_t ip, uint32_t mask, uint32_t gw) {
    if (qx_lan9118_init(ETH, mac) != 0) {
        return -1;
    }
    lwip_init();
    ip4_addr_t a, m, g;
    a.addr = ip;
    m.addr = mask;
    g.addr = gw;
    memcpy(qx_netif.hwaddr, mac, 6);
    netif_add(&qx_netif, &a, &m, &g, NULL, if_init, ethernet_input);
    memcpy(qx_netif.hwaddr, mac, 6);
    netif_set_default(&qx_netif);
    netif_set_up(&qx_netif);
    link = qx_lan9118_link_up(ETH);
    if (link) {
        netif_set_link_up(&qx_netif);
    }
    if (ip == 0) {
        dhcp_start(&qx_netif);
    }
    /* The line rises when a frame waits or the link changes: what the
     * kernel routes to the net task once it routes IRQs to tasks. */
    qx_lan9118_irq_enable(ETH, QX_LAN9118_INT_RSFL | QX_LAN9118_INT_PHY);
    return 0;
}

void qx_netif_poll(uint32_t now_ms) {
    qx_net_now = now_ms;
    uint32_t st = qx_lan9118_irq_status(ETH);
    qx_lan9118_irq_ack(ETH, st);
    if (st & QX_LAN9118_INT_PHY) {
        uint8_t up = qx_lan9118_link_up(ETH);
        if (up != link) {
            link = up;
            if (up) {
                netif_set_link_up(&qx_netif);
            } else {
                netif_set_link_down(&qx_netif);
            }
        }
    }
    for (int i = 0; i < RX_BUDGET; i++) {
        int bad = 0;
        uint32_t len = qx_lan9118_rx_peek(ETH, &bad);
        if (!len) {
            break;
        }
        struct pbuf *p = NULL;
        if (!bad && len >= 14 && len <= 1514) {
            p = pbuf_alloc(PBUF_RAW, len + ETH_PAD_SIZE, PBUF_POOL);
        }
        if (p == NULL || p->next != NULL) {
            if (p) {
                pbuf_free(p);
            }
            qx_lan9118_rx_drop(ETH, len);
            qx_net_rx_dropped++;
            continue;
        }
        qx_lan9118_rx_read(ETH, p->payload, len);
        qx_net_rx_frames++;
        if (qx_netif.input(p, &qx_netif) != ERR_OK) {
            pbuf_free(p);
        }
    }
    sys_check_timeouts();
}

uint32_t qx_netif_next_ms(void) {
    uint32_t t = sys_timeouts_sleeptime();
    return t > 250 ? 250 : t;
}
