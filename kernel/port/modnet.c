/* `_net`: lwIP's raw API for the net task's Python (drivers/net/STACK.md
 * is the interface, kept to exactly). Holds the tables that turn lwIP's
 * callbacks into events (a ring the task drains with events()) and its pcbs
 * into small ids with a generation; the receive queue of each connection
 * (pbufs lwIP handed over, freed as the task reads). It holds no policy
 * (which task may listen where, sockets of other tasks: the net task's
 * Python decides). Everything here lives in the net task's region (the
 * .net section, device net_ram): every function reads that state first, so
 * from any task the region is not granted to, a call faults (MemManage).
 * Nothing here points into a MicroPython heap: the GC never scans the
 * region. */
#include <string.h>
#include "py/runtime.h"
#include "py/mperrno.h"
#include "py/objstr.h"
#include "abi.h"
#include "qx_task.h"
#include "layout.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"
#include "lwip/dhcp.h"
#include "lwip/stats.h"
#include "lwip/priv/tcp_priv.h"
#include "../../drivers/net/netif.h"
#include "../../drivers/net/lan9118.h"

#define NCONN   MEMP_NUM_TCP_PCB
#define NLISTEN MEMP_NUM_TCP_PCB_LISTEN
#define NUDP    MEMP_NUM_UDP_PCB
#define NEV     128
#define SLOT(id) ((id) & 0xff)
#define GEN(id)  ((uint32_t)(id) >> 8)
#define GEN_MASK 0x3fffffu

enum { EV_ACCEPT = 1, EV_CONNECTED, EV_RECV, EV_SENT, EV_EOF, EV_ERROR, EV_UDP, EV_LINK, EV_ADDRESS };

typedef struct {
    uint8_t type;
    int32_t a, b, c, d;
    struct pbuf *p;             /* EV_UDP: the datagram, freed by events() */
} event_t;

typedef struct {
    struct tcp_pcb *pcb;        /* NULL: slot free */
    struct pbuf *rxq;           /* received, not yet read */
    uint32_t gen;
    int16_t ev_recv, ev_sent;   /* ring index of its pending recv/sent event, -1: none */
    uint8_t connected, eof;
} conn_t;

typedef struct {
    void *pcb;
    uint32_t gen;
} slot_t;

static struct {
    uint32_t up, dhcp;
    conn_t conn[NCONN];
    slot_t lis[NLISTEN];
    slot_t udp[NUDP];
    event_t ev[NEV];
    uint32_t nev, ev_lost;
} net;

/* lwIP's random numbers (cc.h): the LAN9118's free-running 25 MHz counter
 * (its FREE_RUN register, in the granted device) is no secret, so it is
 * mixed into a state that every call stirs. */
static uint32_t rnd_state = 0x9e3779b9u;
uint32_t qx_net_rand(void) {
    rnd_state ^= *(volatile uint32_t *)(QX_ETH_BASE + 0x9cu) + qx_net_now;
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 17;
    rnd_state ^= rnd_state << 5;
    return rnd_state;
}

void qx_net_assert(const char *msg, const char *file, int line) {
    (void)file;
    (void)line;
    qx_task_exit(QX_EXIT_FAULT, msg);     /* the kernel restarts the net task, its region scrubbed */
}

static NORETURN void raise_errno(int err, const char *msg) {
    mp_obj_t args[2] = {MP_OBJ_NEW_SMALL_INT(err), mp_obj_new_str(msg, strlen(msg))};
    nlr_raise(mp_obj_new_exception_args(&mp_type_OSError, 2, args));
}

/* Every entry point starts here: the first read of the net task's region. */
static void need_up(void) {
    if (!net.up) {
        raise_errno(MP_EINVAL, "_net.init() first");
    }
}

static int push(int type, int32_t a, int32_t b, int32_t c, int32_t d, struct pbuf *p) {
    if (net.nev == NEV) {
        net.ev_lost++;
        return -1;
    }
    event_t *e = &net.ev[net.nev];
    e->type = type;
    e->a = a;
    e->b = b;
    e->c = c;
    e->d = d;
    e->p = p;
    return net.nev++;
}

static int32_t cid_of(conn_t *c) {
    return (int32_t)((c->gen << 8) | (uint32_t)(c - net.conn));
}

static conn_t *conn_get(mp_obj_t id_in) {
    need_up();
    mp_int_t id = mp_obj_get_int(id_in);
    if (id < 0 || SLOT(id) >= NCONN || net.conn[SLOT(id)].pcb == NULL || net.conn[SLOT(id)].gen != GEN(id)) {
        raise_errno(MP_EBADF, "no such connection");
    }
    return &net.conn[SLOT(id)];
}

static slot_t *slot_get(slot_t *tab, int n, mp_obj_t id_in, const char *what) {
    need_up();
    mp_int_t id = mp_obj_get_int(id_in);
    if (id < 0 || SLOT(id) >= n || tab[SLOT(id)].pcb == NULL || tab[SLOT(id)].gen != GEN(id)) {
        raise_errno(MP_EBADF, what);
    }
    return &tab[SLOT(id)];
}

static int slot_new(slot_t *tab, int n) {
    for (int i = 0; i < n; i++) {
        if (tab[i].pcb == NULL) {
            return i;
        }
    }
    return -1;
}

static void conn_free(conn_t *c) {
    if (c->rxq) {
        pbuf_free(c->rxq);
    }
    c->rxq = NULL;
    c->pcb = NULL;
    c->connected = c->eof = 0;
    c->gen = (c->gen + 1) & GEN_MASK;
}

/* lwIP's callbacks: arg is the conn_t. */

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err) {
    conn_t *c = arg;
    (void)pcb;
    if (c == NULL) {
        return ERR_ARG;
    }
    if (p == NULL) {
        if (!c->eof && push(EV_EOF, cid_of(c), 0, 0, 0, NULL) < 0) {
            return ERR_MEM;         /* lwIP tells us again */
        }
        c->eof = 1;
        return ERR_OK;
    }
    (void)err;
    if (c->ev_recv >= 0) {
        net.ev[c->ev_recv].b += p->tot_len;
    } else {
        int i = push(EV_RECV, cid_of(c), p->tot_len, 0, 0, NULL);
        if (i < 0) {
            return ERR_MEM;         /* lwIP keeps the data (refused_data) and offers it again */
        }
        c->ev_recv = i;
    }
    if (c->rxq) {
        pbuf_cat(c->rxq, p);
    } else {
        c->rxq = p;
    }
    return ERR_OK;
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len) {
    conn_t *c = arg;
    (void)len;
    if (c == NULL) {
        return ERR_OK;
    }
    if (c->ev_sent >= 0) {
        net.ev[c->ev_sent].b = tcp_sndbuf(pcb);
    } else {
        c->ev_sent = push(EV_SENT, cid_of(c), tcp_sndbuf(pcb), 0, 0, NULL);
    }
    return ERR_OK;
}

static int err_errno(err_t err, int connected) {
    switch (err) {
        case ERR_RST:
            return connected ? MP_ECONNRESET : MP_ECONNREFUSED;
        case ERR_TIMEOUT:
            return MP_ETIMEDOUT;
        case ERR_MEM:
            return MP_ENOMEM;
        default:
            return MP_ECONNRESET;
    }
}

static void on_err(void *arg, err_t err) {
    conn_t *c = arg;                /* the pcb is already freed by lwIP */
    if (c == NULL) {
        return;
    }
    push(EV_ERROR, cid_of(c), err_errno(err, c->connected), 0, 0, NULL);
    c->pcb = NULL;                  /* conn_free must not touch it */
    conn_free(c);
}

static void conn_attach(conn_t *c, struct tcp_pcb *pcb) {
    c->pcb = pcb;
    c->rxq = NULL;
    c->ev_recv = c->ev_sent = -1;
    c->eof = 0;
    tcp_arg(pcb, c);
    tcp_recv(pcb, on_recv);
    tcp_sent(pcb, on_sent);
    tcp_err(pcb, on_err);
}

static conn_t *conn_new(void) {
    for (int i = 0; i < NCONN; i++) {
        if (net.conn[i].pcb == NULL) {
            return &net.conn[i];
        }
    }
    return NULL;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err) {
    slot_t *l = arg;
    if (err != ERR_OK || pcb == NULL || l == NULL) {
        return ERR_VAL;
    }
    conn_t *c = conn_new();
    if (c == NULL || net.nev == NEV) {
        tcp_abort(pcb);
        return ERR_ABRT;
    }
    conn_attach(c, pcb);
    c->connected = 1;
    push(EV_ACCEPT, (int32_t)((l->gen << 8) | (uint32_t)(l - net.lis)), cid_of(c),
         (int32_t)lwip_ntohl(pcb->remote_ip.addr), pcb->remote_port, NULL);
    return ERR_OK;
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err) {
    conn_t *c = arg;
    (void)pcb;
    (void)err;
    if (c != NULL) {
        c->connected = 1;
        push(EV_CONNECTED, cid_of(c), 0, 0, 0, NULL);
    }
    return ERR_OK;
}

static void on_udp(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr, u16_t port) {
    slot_t *u = arg;
    (void)pcb;
    if (u == NULL || push(EV_UDP, (int32_t)((u->gen << 8) | (uint32_t)(u - net.udp)),
                          (int32_t)lwip_ntohl(ip_2_ip4(addr)->addr), port, 0, p) < 0) {
        qx_net_rx_dropped++;
        pbuf_free(p);
    }
}

static void on_status(struct netif *n) {
    if (!ip4_addr_isany_val(*netif_ip4_addr(n))) {
        push(EV_ADDRESS, (int32_t)lwip_ntohl(netif_ip4_addr(n)->addr), (int32_t)lwip_ntohl(netif_ip4_netmask(n)->addr),
             (int32_t)lwip_ntohl(netif_ip4_gw(n)->addr), 0, NULL);
    }
}

static void on_link(struct netif *n) {
    push(EV_LINK, netif_is_link_up(n) ? 1 : 0, 0, 0, 0, NULL);
}

static void detach(conn_t *c) {
    tcp_arg(c->pcb, NULL);
    tcp_recv(c->pcb, NULL);         /* lwIP's default: what still arrives is acknowledged and freed */
    tcp_sent(c->pcb, NULL);
    tcp_err(c->pcb, NULL);
}

/* _net.init(mac, ip, mask, gw) */
static mp_obj_t net_init(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    if (net.up) {
        raise_errno(MP_EINVAL, "_net.init() runs once per task life");
    }
    mp_buffer_info_t mac;
    mp_get_buffer_raise(args[0], &mac, MP_BUFFER_READ);
    if (mac.len != 6) {
        raise_errno(MP_EINVAL, "mac is 6 bytes");
    }
    uint8_t m[6];
    memcpy(m, mac.buf, 6);
    uint32_t ip = mp_obj_get_int_truncated(args[1]), mask = mp_obj_get_int_truncated(args[2]);
    uint32_t gw = mp_obj_get_int_truncated(args[3]);
    /* A fresh region: its load image, the rest zeroed, whatever the last
     * incarnation (or anything else) left in it. */
    extern uint32_t _sinet, _snet, _enet_data;
    const uint32_t *s = &_sinet;
    uint32_t *d = &_snet;
    while (d < &_enet_data) {
        *d++ = *s++;
    }
    memset(d, 0, QX_NET_RAM_BASE + QX_NET_RAM_SIZE - (uint32_t)d);
    for (int i = 0; i < NCONN; i++) {
        net.conn[i].ev_recv = net.conn[i].ev_sent = -1;
    }
    if (qx_netif_start(m, lwip_htonl(ip), lwip_htonl(mask), lwip_htonl(gw)) != 0) {
        raise_errno(MP_EINVAL, "no LAN9118 answers");
    }
    net.up = 1;
    net.dhcp = ip == 0;
    netif_set_status_callback(&qx_netif, on_status);
    netif_set_link_callback(&qx_netif, on_link);
    if (ip != 0) {
        on_status(&qx_netif);
    }
    push(EV_LINK, netif_is_link_up(&qx_netif) ? 1 : 0, 0, 0, 0, NULL);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(net_init_obj, 4, 4, net_init);

static mp_obj_t net_poll(mp_obj_t now) {
    need_up();
    qx_netif_poll(mp_obj_get_int_truncated(now));
    return MP_OBJ_NEW_SMALL_INT(net.nev);
}
static MP_DEFINE_CONST_FUN_OBJ_1(net_poll_obj, net_poll);

static mp_obj_t net_next_ms(void) {
    need_up();
    return MP_OBJ_NEW_SMALL_INT(qx_netif_next_ms());
}
static MP_DEFINE_CONST_FUN_OBJ_0(net_next_ms_obj, net_next_ms);

static mp_obj_t tup(size_t n, const mp_obj_t *items) {
    return mp_obj_new_tuple(n, items);
}

static mp_obj_t net_events(void) {
    need_up();
    /* The list is built before anything is taken off the ring: a
     * MemoryError on the way leaves every event in place. */
    mp_obj_t list = mp_obj_new_list(0, NULL);
    mp_obj_t item;
    static const qstr names[] = {0, MP_QSTR_accept, MP_QSTR_connected, MP_QSTR_recv, MP_QSTR_sent, MP_QSTR_eof,
                                 MP_QSTR_error, MP_QSTR_udp, MP_QSTR_link, MP_QSTR_address};
    for (uint32_t i = 0; i < net.nev; i++) {
        event_t *e = &net.ev[i];
        mp_obj_t t[5] = {MP_OBJ_NEW_QSTR(names[e->type]), mp_obj_new_int(e->a), mp_obj_new_int(e->b),
                         mp_obj_new_int(e->c), mp_obj_new_int(e->d)};
        switch (e->type) {
            case EV_ACCEPT:
                t[3] = mp_obj_new_int_from_uint((uint32_t)e->c);
                item = tup(5, t);
                break;
            case EV_RECV:
            case EV_SENT:
            case EV_ERROR:
                item = tup(3, t);
                break;
            case EV_UDP: {
                t[2] = mp_obj_new_int_from_uint((uint32_t)e->b);
                vstr_t v;
                vstr_init_len(&v, e->p->tot_len);
                pbuf_copy_partial(e->p, v.buf, e->p->tot_len, 0);
                t[4] = mp_obj_new_bytes_from_vstr(&v);
                item = tup(5, t);
                break;
            }
            case EV_ADDRESS:
                t[1] = mp_obj_new_int_from_uint((uint32_t)e->a);
                t[2] = mp_obj_new_int_from_uint((uint32_t)e->b);
                t[3] = mp_obj_new_int_from_uint((uint32_t)e->c);
                item = tup(4, t);
                break;
            default:                /* connected, eof, link */
                item = tup(2, t);
                break;
        }
        mp_obj_list_append(list, item);
    }
    for (uint32_t i = 0; i < net.nev; i++) {
        if (net.ev[i].p) {
            pbuf_free(net.ev[i].p);
            net.ev[i].p = NULL;
        }
    }
    net.nev = 0;
    for (int i = 0; i < NCONN; i++) {
        net.conn[i].ev_recv = net.conn[i].ev_sent = -1;
    }
    return list;
}
static MP_DEFINE_CONST_FUN_OBJ_0(net_events_obj, net_events);

static uint16_t port_arg(mp_obj_t o, int zero_ok) {
    mp_int_t p = mp_obj_get_int(o);
    if (p < (zero_ok ? 0 : 1) || p > 65535) {
        raise_errno(MP_EINVAL, "bad port");
    }
    return p;
}

static mp_obj_t net_tcp_listen(mp_obj_t port_in) {
    need_up();
    uint16_t port = port_arg(port_in, 0);
    int i = slot_new(net.lis, NLISTEN);
    if (i < 0) {
        raise_errno(MP_ENOMEM, "no listener free");
    }
    struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
    if (pcb == NULL) {
        raise_errno(MP_ENOMEM, "no pcb free");
    }
    if (tcp_bind(pcb, IP4_ADDR_ANY, port) != ERR_OK) {
        tcp_abort(pcb);
        raise_errno(MP_EADDRINUSE, "port in use");
    }
    struct tcp_pcb *l = tcp_listen_with_backlog(pcb, TCP_DEFAULT_LISTEN_BACKLOG);
    if (l == NULL) {
        tcp_abort(pcb);
        raise_errno(MP_ENOMEM, "no listen pcb free");
    }
    slot_t *s = &net.lis[i];
    s->pcb = l;
    tcp_arg(l, s);
    tcp_accept(l, on_accept);
    return MP_OBJ_NEW_SMALL_INT((s->gen << 8) | i);
}
static MP_DEFINE_CONST_FUN_OBJ_1(net_tcp_listen_obj, net_tcp_listen);

static mp_obj_t net_listen_close(mp_obj_t lid) {
    slot_t *s = slot_get(net.lis, NLISTEN, lid, "no such listener");
    tcp_arg(s->pcb, NULL);
    tcp_accept(s->pcb, NULL);
    tcp_close(s->pcb);              /* a listening pcb closes at once */
    s->pcb = NULL;
    s->gen = (s->gen + 1) & GEN_MASK;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(net_listen_close_obj, net_listen_close);

static mp_obj_t net_tcp_connect(mp_obj_t ip_in, mp_obj_t port_in) {
    need_up();
    ip_addr_t ip;
    ip_addr_set_ip4_u32_val(ip, lwip_htonl(mp_obj_get_int_truncated(ip_in)));
    uint16_t port = port_arg(port_in, 0);
    conn_t *c = conn_new();
    struct tcp_pcb *pcb = c ? tcp_new_ip_type(IPADDR_TYPE_V4) : NULL;
    if (pcb == NULL) {
        raise_errno(MP_ENOMEM, "no connection free");
    }
    conn_attach(c, pcb);
    c->connected = 0;
    err_t err = tcp_connect(pcb, &ip, port, on_connected);
    if (err != ERR_OK) {
        detach(c);
        tcp_abort(pcb);
        conn_free(c);
        raise_errno(err == ERR_MEM ? MP_ENOMEM : MP_EINVAL, "connect failed");
    }
    return MP_OBJ_NEW_SMALL_INT(cid_of(c));
}
static MP_DEFINE_CONST_FUN_OBJ_2(net_tcp_connect_obj, net_tcp_connect);

static mp_obj_t net_tcp_send(mp_obj_t cid, mp_obj_t data) {
    conn_t *c = conn_get(cid);
    mp_buffer_info_t b;
    mp_get_buffer_raise(data, &b, MP_BUFFER_READ);
    if (!c->connected) {
        raise_errno(MP_ENOTCONN, "not connected");
    }
    uint32_t n = b.len, room = tcp_sndbuf(c->pcb);
    if (n > room) {
        n = room;
    }
    while (n > 0 && tcp_write(c->pcb, b.buf, n, TCP_WRITE_FLAG_COPY) != ERR_OK) {
        n /= 2;                     /* out of segments or heap: take less now, the rest on "sent" */
    }
    tcp_output(c->pcb);
    return MP_OBJ_NEW_SMALL_INT(n);
}
static MP_DEFINE_CONST_FUN_OBJ_2(net_tcp_send_obj, net_tcp_send);

static size_t take(conn_t *c, void *buf, size_t max) {
    if (c->rxq == NULL || max == 0) {
        return 0;
    }
    size_t n = pbuf_copy_partial(c->rxq, buf, max, 0);
    c->rxq = pbuf_free_header(c->rxq, n);
    if (c->pcb) {
        tcp_recved(c->pcb, n);      /* the window reopens as the task reads */
    }
    return n;
}

static mp_obj_t net_tcp_recv(mp_obj_t cid, mp_obj_t max_in) {
    conn_t *c = conn_get(cid);
    mp_int_t max = mp_obj_get_int(max_in);
    if (max < 0) {
        raise_errno(MP_EINVAL, "maxlen < 0");
    }
    size_t have = c->rxq ? c->rxq->tot_len : 0;
    if ((size_t)max > have) {
        max = have;
    }
    vstr_t v;
    vstr_init_len(&v, max);
    v.len = take(c, v.buf, max);
    return mp_obj_new_bytes_from_vstr(&v);
}
static MP_DEFINE_CONST_FUN_OBJ_2(net_tcp_recv_obj, net_tcp_recv);

static mp_obj_t net_tcp_recv_into(mp_obj_t cid, mp_obj_t buf) {
    conn_t *c = conn_get(cid);
    mp_buffer_info_t b;
    mp_get_buffer_raise(buf, &b, MP_BUFFER_WRITE);
    return MP_OBJ_NEW_SMALL_INT(take(c, b.buf, b.len));
}
static MP_DEFINE_CONST_FUN_OBJ_2(net_tcp_recv_into_obj, net_tcp_recv_into);

static mp_obj_t net_tcp_close(mp_obj_t cid) {
    conn_t *c = conn_get(cid);
    detach(c);
    if (tcp_close(c->pcb) != ERR_OK) {
        tcp_abort(c->pcb);          /* no memory for the FIN: reset instead */
    }
    conn_free(c);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(net_tcp_close_obj, net_tcp_close);

static mp_obj_t net_tcp_abort(mp_obj_t cid) {
    conn_t *c = conn_get(cid);
    detach(c);
    tcp_abort(c->pcb);
    conn_free(c);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(net_tcp_abort_obj, net_tcp_abort);

static mp_obj_t net_udp_open(mp_obj_t port_in) {
    need_up();
    uint16_t port = port_arg(port_in, 1);      /* 0: lwIP picks a free local port */
    int i = slot_new(net.udp, NUDP);
    struct udp_pcb *pcb = i >= 0 ? udp_new_ip_type(IPADDR_TYPE_V4) : NULL;
    if (pcb == NULL) {
        raise_errno(MP_ENOMEM, "no udp pcb free");
    }
    if (udp_bind(pcb, IP4_ADDR_ANY, port) != ERR_OK) {
        udp_remove(pcb);
        raise_errno(MP_EADDRINUSE, "port in use");
    }
    slot_t *s = &net.udp[i];
    s->pcb = pcb;
    udp_recv(pcb, on_udp, s);
    return MP_OBJ_NEW_SMALL_INT((s->gen << 8) | i);
}
static MP_DEFINE_CONST_FUN_OBJ_1(net_udp_open_obj, net_udp_open);

static mp_obj_t net_udp_sendto(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    slot_t *s = slot_get(net.udp, NUDP, args[0], "no such udp socket");
    ip_addr_t ip;
    ip_addr_set_ip4_u32_val(ip, lwip_htonl(mp_obj_get_int_truncated(args[1])));
    uint16_t port = port_arg(args[2], 0);
    mp_buffer_info_t b;
    mp_get_buffer_raise(args[3], &b, MP_BUFFER_READ);
    if (b.len > 1472) {
        raise_errno(MP_EINVAL, "datagram larger than the MTU");
    }
    struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, b.len, PBUF_RAM);
    if (p == NULL) {
        raise_errno(MP_ENOMEM, "no buffer");
    }
    pbuf_take(p, b.buf, b.len);
    err_t err = udp_sendto(s->pcb, p, &ip, port);
    pbuf_free(p);
    if (err != ERR_OK) {
        raise_errno(err == ERR_MEM ? MP_ENOMEM : MP_EAGAIN, "udp send failed");
    }
    return MP_OBJ_NEW_SMALL_INT(b.len);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(net_udp_sendto_obj, 4, 4, net_udp_sendto);

static mp_obj_t net_udp_close(mp_obj_t uid) {
    slot_t *s = slot_get(net.udp, NUDP, uid, "no such udp socket");
    udp_remove(s->pcb);
    s->pcb = NULL;
    s->gen = (s->gen + 1) & GEN_MASK;
    /* its datagrams still in the ring keep their (now stale) uid */
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(net_udp_close_obj, net_udp_close);

static mp_obj_t net_info(void) {
    need_up();
    mp_obj_t d = mp_obj_new_dict(12);
    uint32_t active = 0, listen = 0;
    for (struct tcp_pcb *p = tcp_active_pcbs; p; p = p->next) {
        active++;
    }
    for (int i = 0; i < NLISTEN; i++) {
        listen += net.lis[i].pcb != NULL;
    }
#define PUT(k, v) mp_obj_dict_store(d, MP_OBJ_NEW_QSTR(MP_QSTR_##k), (v))
    PUT(mac, mp_obj_new_bytes(qx_netif.hwaddr, 6));
    PUT(ip, mp_obj_new_int_from_uint(lwip_ntohl(netif_ip4_addr(&qx_netif)->addr)));
    PUT(mask, mp_obj_new_int_from_uint(lwip_ntohl(netif_ip4_netmask(&qx_netif)->addr)));
    PUT(gw, mp_obj_new_int_from_uint(lwip_ntohl(netif_ip4_gw(&qx_netif)->addr)));
    PUT(dhcp, mp_obj_new_bool(net.dhcp));
    PUT(link, mp_obj_new_bool(netif_is_link_up(&qx_netif)));
    PUT(rx_frames, mp_obj_new_int_from_uint(qx_net_rx_frames));
    PUT(tx_frames, mp_obj_new_int_from_uint(qx_net_tx_frames));
    PUT(rx_dropped, mp_obj_new_int_from_uint(qx_net_rx_dropped));
    PUT(tcp_active, MP_OBJ_NEW_SMALL_INT(active));
    PUT(tcp_listen, MP_OBJ_NEW_SMALL_INT(listen));
    PUT(mem_free, MP_OBJ_NEW_SMALL_INT(lwip_stats.mem.avail - lwip_stats.mem.used));
#undef PUT
    return d;
}
static MP_DEFINE_CONST_FUN_OBJ_0(net_info_obj, net_info);

static const mp_rom_map_elem_t net_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__net) },
    { MP_ROM_QSTR(MP_QSTR_init), MP_ROM_PTR(&net_init_obj) },
    { MP_ROM_QSTR(MP_QSTR_poll), MP_ROM_PTR(&net_poll_obj) },
    { MP_ROM_QSTR(MP_QSTR_next_ms), MP_ROM_PTR(&net_next_ms_obj) },
    { MP_ROM_QSTR(MP_QSTR_events), MP_ROM_PTR(&net_events_obj) },
    { MP_ROM_QSTR(MP_QSTR_tcp_listen), MP_ROM_PTR(&net_tcp_listen_obj) },
    { MP_ROM_QSTR(MP_QSTR_listen_close), MP_ROM_PTR(&net_listen_close_obj) },
    { MP_ROM_QSTR(MP_QSTR_tcp_connect), MP_ROM_PTR(&net_tcp_connect_obj) },
    { MP_ROM_QSTR(MP_QSTR_tcp_send), MP_ROM_PTR(&net_tcp_send_obj) },
    { MP_ROM_QSTR(MP_QSTR_tcp_recv), MP_ROM_PTR(&net_tcp_recv_obj) },
    { MP_ROM_QSTR(MP_QSTR_tcp_recv_into), MP_ROM_PTR(&net_tcp_recv_into_obj) },
    { MP_ROM_QSTR(MP_QSTR_tcp_close), MP_ROM_PTR(&net_tcp_close_obj) },
    { MP_ROM_QSTR(MP_QSTR_tcp_abort), MP_ROM_PTR(&net_tcp_abort_obj) },
    { MP_ROM_QSTR(MP_QSTR_udp_open), MP_ROM_PTR(&net_udp_open_obj) },
    { MP_ROM_QSTR(MP_QSTR_udp_sendto), MP_ROM_PTR(&net_udp_sendto_obj) },
    { MP_ROM_QSTR(MP_QSTR_udp_close), MP_ROM_PTR(&net_udp_close_obj) },
    { MP_ROM_QSTR(MP_QSTR_info), MP_ROM_PTR(&net_info_obj) },
};
static MP_DEFINE_CONST_DICT(net_globals, net_globals_table);

const mp_obj_module_t qx_net_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&net_globals,
};
MP_REGISTER_MODULE(MP_QSTR__net, qx_net_module);
