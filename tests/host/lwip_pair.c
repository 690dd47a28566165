/* Two lwIP netifs joined back to back, for the host tests of the board's
 * lwIP configuration (drivers/net/lwipopts.h): netif A (10.0.0.1) and B
 * (10.0.0.2) of one lwIP instance on one Ethernet (each pcb bound to its
 * side's netif, so every packet crosses the wire), each frame queued by one side's linkoutput
 * and handed to the other side's input by pair_poll(); every Nth frame can
 * be dropped. A bulk TCP transfer from A to B (a byte pattern B checks,
 * then B's answer back) and UDP datagrams run on lwIP's raw API, on a
 * clock the test advances (sys_now). Test code only: the board's glue is
 * the net task's. */
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/etharp.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"
#include "lwip/timeouts.h"
#include "lwip/stats.h"
#include "netif/ethernet.h"

uint32_t pair_now_ms;
uint32_t sys_now(void) { return pair_now_ms; }

static uint32_t rnd = 12345;
uint32_t qx_net_rand(void) { rnd = rnd * 1103515245u + 12345u; return rnd >> 8; }

int pair_asserts;
void qx_net_assert(const char *msg, const char *file, int line) {
    fprintf(stderr, "lwIP assertion: %s at %s:%d\n", msg, file, line);
    pair_asserts++;
    abort();
}

#define QMAX 128
static struct { struct netif *to; uint16_t len; uint8_t data[1600]; } q[QMAX];
static int qhead, qlen;
static struct netif na, nb;
uint32_t pair_frames, pair_dropped, pair_drop_every, pair_queue_full;

static err_t linkoutput(struct netif *n, struct pbuf *p) {
    pair_frames++;
    if (pair_drop_every && pair_frames % pair_drop_every == 0) {
        pair_dropped++;
        return ERR_OK;                      /* lost on the wire */
    }
    if (qlen == QMAX || p->tot_len > sizeof q[0].data) {
        pair_queue_full++;
        return ERR_OK;
    }
    int i = (qhead + qlen++) % QMAX;
    q[i].to = n == &na ? &nb : &na;
    q[i].len = pbuf_copy_partial(p, q[i].data, p->tot_len, 0);
    return ERR_OK;
}

static err_t if_init(struct netif *n) {
    n->name[0] = 'q'; n->name[1] = n == &na ? 'a' : 'b';
    n->output = etharp_output;
    n->linkoutput = linkoutput;
    n->mtu = 1500;
    n->hwaddr_len = 6;
    static const uint8_t mac[6] = {0x02, 0x51, 0x58, 0, 0, 0};
    memcpy(n->hwaddr, mac, 6);
    n->hwaddr[5] = n == &na ? 1 : 2;
    n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
    return ERR_OK;
}

/* Deliver the frames queued so far (not those they cause) and run lwIP's timers. */
int pair_poll(void) {
    int n = qlen, done = 0;
    while (n-- > 0) {
        int i = qhead;
        qhead = (qhead + 1) % QMAX;
        qlen--;
        struct pbuf *p = pbuf_alloc(PBUF_RAW, q[i].len, PBUF_POOL);
        if (p == NULL)
            continue;
        pbuf_take(p, q[i].data, q[i].len);
        if (q[i].to->input(p, q[i].to) != ERR_OK)
            pbuf_free(p);
        done++;
    }
    sys_check_timeouts();
    return done;
}

/* --- TCP: A sends `total` pattern bytes, B checks them and answers "done N" */
static uint8_t pat(uint32_t i) { return (uint8_t)(i * 7u % 251u); }
uint32_t xtcp_total, xtcp_sent, xtcp_got, xtcp_bad, xtcp_answer_len, xtcp_connected, xtcp_errors;
char xtcp_answer[64];
static struct tcp_pcb *client, *server_conn;

static err_t srv_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err) {
    (void)arg; (void)err;
    if (p == NULL) { tcp_close(pcb); return ERR_OK; }
    for (struct pbuf *b = p; b; b = b->next)
        for (uint16_t j = 0; j < b->len; j++)
            if (((uint8_t *)b->payload)[j] != pat(xtcp_got++))
                xtcp_bad++;
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    if (xtcp_got == xtcp_total) {
        char msg[32];
        int n = snprintf(msg, sizeof msg, "done %lu", (unsigned long)xtcp_got);
        tcp_write(pcb, msg, n, TCP_WRITE_FLAG_COPY);
        tcp_output(pcb);
    }
    return ERR_OK;
}

static err_t srv_accept(void *arg, struct tcp_pcb *pcb, err_t err) {
    (void)arg; (void)err;
    server_conn = pcb;
    tcp_recv(pcb, srv_recv);
    return ERR_OK;
}

static void cli_fill(struct tcp_pcb *pcb) {
    uint8_t buf[512];
    while (xtcp_sent < xtcp_total) {
        uint32_t n = xtcp_total - xtcp_sent;
        if (n > sizeof buf) n = sizeof buf;
        if (n > tcp_sndbuf(pcb)) n = tcp_sndbuf(pcb);
        if (n == 0 || tcp_sndqueuelen(pcb) >= TCP_SND_QUEUELEN - 1) break;
        for (uint32_t j = 0; j < n; j++) buf[j] = pat(xtcp_sent + j);
        if (tcp_write(pcb, buf, n, TCP_WRITE_FLAG_COPY) != ERR_OK) break;
        xtcp_sent += n;
    }
    tcp_output(pcb);
}

static err_t cli_sent(void *arg, struct tcp_pcb *pcb, u16_t len) { (void)arg; (void)len; cli_fill(pcb); return ERR_OK; }

static err_t cli_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err) {
    (void)arg; (void)err;
    if (p == NULL) return ERR_OK;
    xtcp_answer_len += pbuf_copy_partial(p, xtcp_answer + xtcp_answer_len,
                                        (u16_t)LWIP_MIN(p->tot_len, sizeof xtcp_answer - 1 - xtcp_answer_len), 0);
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    return ERR_OK;
}

static err_t cli_connected(void *arg, struct tcp_pcb *pcb, err_t err) {
    (void)arg; (void)err;
    xtcp_connected = 1;
    cli_fill(pcb);
    return ERR_OK;
}

static void cli_err(void *arg, err_t err) { (void)arg; (void)err; xtcp_errors++; client = NULL; }

/* --- UDP: datagrams from A to B:9, counted by size */
uint32_t udp_got, udp_bytes;
static void udp_in(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr, u16_t port) {
    (void)arg; (void)pcb; (void)addr; (void)port;
    udp_got++;
    udp_bytes += p->tot_len;
    pbuf_free(p);
}

static struct udp_pcb *usend;

int pair_init(void) {
    ip4_addr_t a, b, mask, gw;
    lwip_init();
    IP4_ADDR(&a, 10, 0, 0, 1); IP4_ADDR(&b, 10, 0, 0, 2); IP4_ADDR(&mask, 255, 255, 255, 0); IP4_ADDR(&gw, 0, 0, 0, 0);
    netif_add(&na, &a, &mask, &gw, NULL, if_init, ethernet_input);
    netif_add(&nb, &b, &mask, &gw, NULL, if_init, ethernet_input);
    netif_set_up(&na); netif_set_up(&nb);
    struct tcp_pcb *l = tcp_new();
    if (l == NULL || tcp_bind(l, IP_ADDR_ANY, 7) != ERR_OK) return -1;
    tcp_bind_netif(l, &nb);
    l = tcp_listen(l);
    tcp_accept(l, srv_accept);
    struct udp_pcb *u = udp_new();
    udp_bind(u, &nb.ip_addr, 9);
    udp_recv(u, udp_in, NULL);
    usend = udp_new();
    udp_bind_netif(usend, &na);         /* one stack holds both netifs: say which one sends */
    return 0;
}

int pair_tcp_start(uint32_t total) {
    ip_addr_t b;
    IP_ADDR4(&b, 10, 0, 0, 2);
    xtcp_total = total;
    client = tcp_new();
    tcp_bind_netif(client, &na);
    tcp_recv(client, cli_recv);
    tcp_sent(client, cli_sent);
    tcp_err(client, cli_err);
    return tcp_connect(client, &b, 7, cli_connected);
}

int pair_udp_send(uint16_t len) {
    ip_addr_t b;
    IP_ADDR4(&b, 10, 0, 0, 2);
    struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, len, PBUF_RAM);
    if (p == NULL) return -1;
    memset(p->payload, 0x5a, len);
    int r = udp_sendto(usend, p, &b, 9);
    pbuf_free(p);
    return r;
}

uint32_t pair_stat_mem_err(void) { return lwip_stats.mem.err + lwip_stats.tcp.memerr; }
uint32_t pair_stat(int which) {
    switch (which) {
    case 0: return lwip_stats.link.recv;
    case 1: return lwip_stats.link.drop;
    case 2: return lwip_stats.etharp.recv;
    case 3: return lwip_stats.etharp.drop;
    case 4: return lwip_stats.etharp.xmit;
    case 5: return lwip_stats.ip.recv;
    case 6: return lwip_stats.link.lenerr + lwip_stats.link.proterr;
    default: return 0;
    }
}
