/* lwIP's configuration for QENEX OS (lwIP 2.2.1 from Debian's source
 * package, tools/deps/lwip.lock): what the net task's stack carries and how
 * much memory it may hold. lwIP runs with NO_SYS = 1 (its raw, callback
 * API; no threads, no sockets layer): the net task calls it from its one
 * loop and is the only caller, so no locking is needed. Everything lwIP
 * keeps (protocol control blocks, the pbuf pool, its heap, ARP and DHCP
 * state) is static and lives in the net task's own memory: the firmware
 * link puts lwIP's .data and .bss in the section the MPU grants that task
 * alone (never kernel memory, never .vmstate).
 *
 * The same file builds the stack for the host tests (tools/lwip_host.py),
 * so the configuration the board runs is the one they exercise. */
#ifndef QX_LWIPOPTS_H
#define QX_LWIPOPTS_H

#define NO_SYS                      1
#define SYS_LIGHTWEIGHT_PROT        0   /* one caller, from one task: nothing to protect against */
#define LWIP_NETCONN                0
#define LWIP_SOCKET                 0
#define LWIP_IPV4                   1
#define LWIP_IPV6                   0
#define LWIP_ARP                    1
#define LWIP_ETHERNET               1
#define LWIP_ICMP                   1
#define LWIP_UDP                    1
#define LWIP_TCP                    1
#define LWIP_DHCP                   1   /* where the network offers it (QEMU's slirp does) */
#define LWIP_DHCP_DOES_ACD_CHECK    0
#define LWIP_ACD                    0
#define LWIP_AUTOIP                 0
#define LWIP_IGMP                   0
#define LWIP_DNS                    0
#define LWIP_RAW                    0
#define IP_REASSEMBLY               0   /* no fragments: the MTU is Ethernet's, TCP's MSS fits it */
#define IP_FRAG                     0
#define LWIP_NETIF_STATUS_CALLBACK  1
#define LWIP_NETIF_LINK_CALLBACK    1
#define LWIP_SINGLE_NETIF           0   /* the host tests join two stacks' netifs back to back */
#define LWIP_STATS                  1   /* the shell's `net` shows the counters */
#define LWIP_STATS_DISPLAY          0
#define ETH_PAD_SIZE                2   /* the IP header word-aligned in each pbuf */

/* Memory: all of it static, sized for a payment terminal's handful of
 * connections (the host link, a FIX session, an HTTP client or two, the
 * monitoring scrape) with a full TCP window each. */
#define MEM_ALIGNMENT               4
#define MEM_SIZE                    (24 * 1024)     /* lwIP's heap: outgoing TCP data */
#define MEMP_NUM_PBUF               16
#define MEMP_NUM_UDP_PCB            4
#define MEMP_NUM_TCP_PCB            16
#define MEMP_NUM_TCP_PCB_LISTEN     8
#define MEMP_NUM_TCP_SEG            32
#define MEMP_NUM_SYS_TIMEOUT        (LWIP_NUM_SYS_TIMEOUT_INTERNAL + 2)
#define PBUF_POOL_SIZE              24
#define PBUF_POOL_BUFSIZE           LWIP_MEM_ALIGN_SIZE(TCP_MSS + 40 + PBUF_LINK_ENCAPSULATION_HLEN + PBUF_LINK_HLEN)

/* TCP */
#define TCP_MSS                     1460
#define TCP_WND                     (4 * TCP_MSS)
#define TCP_SND_BUF                 (4 * TCP_MSS)
#define TCP_SND_QUEUELEN            ((4 * TCP_SND_BUF) / TCP_MSS)
#define TCP_QUEUE_OOSEQ             1
#define LWIP_TCP_KEEPALIVE          1
#define LWIP_CALLBACK_API           1
#define TCP_LISTEN_BACKLOG          1

/* Checksums in software (the LAN9118 can, QEMU's model does not). */
#define CHECKSUM_GEN_IP             1
#define CHECKSUM_GEN_UDP            1
#define CHECKSUM_GEN_TCP            1
#define CHECKSUM_CHECK_IP           1
#define CHECKSUM_CHECK_UDP          1
#define CHECKSUM_CHECK_TCP          1

#define LWIP_NOASSERT_ON_ERROR      0
#define LWIP_DEBUG                  0

#endif
