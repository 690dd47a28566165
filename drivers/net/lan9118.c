/* SMSC LAN9118 driver: registers and FIFO loops (lan9118.h). The register
 * map and the FIFO formats are the datasheet's, as QEMU's hw/net/lan9118.c
 * implements them: a TX frame is a command word A (segment size, first/last,
 * data start offset) and B (frame length) per segment, then the segment's
 * words; a received frame is one RX status word (length with CRC, error
 * summary) and its data words, CRC included. */
#include "lan9118.h"

#define REG(b, off) (*(volatile uint32_t *)((b) + (off)))
#define RX_DATA      0x00
#define TX_DATA      0x20
#define RX_STATUS    0x40
#define ID_REV       0x50
#define IRQ_CFG      0x54
#define INT_STS      0x58
#define INT_EN       0x5c
#define BYTE_TEST    0x64
#define FIFO_INT     0x68
#define RX_CFG       0x6c
#define TX_CFG       0x70
#define HW_CFG       0x74
#define RX_FIFO_INF  0x7c
#define TX_FIFO_INF  0x80
#define RX_DROP      0xa0
#define MAC_CSR_CMD  0xa4
#define MAC_CSR_DATA 0xa8
#define AFC_CFG      0xac

#define CSR_BUSY     0x80000000u
#define CSR_READ     0x40000000u
#define MAC_CR       1
#define MAC_ADDRH    2
#define MAC_ADDRL    3
#define MAC_MII_ACC  6
#define MAC_MII_DATA 7
#define MAC_CR_TXEN  0x00000008u
#define MAC_CR_RXEN  0x00000004u
#define MAC_CR_FDPX  0x00100000u
#define TX_CFG_ON    0x00000002u
#define TX_CFG_SAO   0x00000004u    /* TX status may overrun: nobody reads it */
#define RX_CFG_OFF2  (2u << 8)
#define HW_CFG_SRST  0x00000001u
#define IRQ_EN       0x00000100u
#define IRQ_PUSHPULL_HIGH 0x00000011u
#define BYTE_TEST_OK 0x87654321u
#define RXS_ES       0x00008000u    /* error summary */

static uint32_t mac_read(uint32_t b, uint32_t reg) {
    REG(b, MAC_CSR_CMD) = CSR_BUSY | CSR_READ | reg;
    for (int i = 0; i < 1000 && (REG(b, MAC_CSR_CMD) & CSR_BUSY); i++) {
    }
    return REG(b, MAC_CSR_DATA);
}

static void mac_write(uint32_t b, uint32_t reg, uint32_t v) {
    REG(b, MAC_CSR_DATA) = v;
    REG(b, MAC_CSR_CMD) = CSR_BUSY | reg;
    for (int i = 0; i < 1000 && (REG(b, MAC_CSR_CMD) & CSR_BUSY); i++) {
    }
}

static uint32_t phy_read(uint32_t b, uint32_t reg) {
    mac_write(b, MAC_MII_ACC, (1u << 11) | (reg << 6) | 1u);   /* PHY 1, read, busy */
    for (int i = 0; i < 1000 && (mac_read(b, MAC_MII_ACC) & 1u); i++) {
    }
    return mac_read(b, MAC_MII_DATA);
}

int qx_lan9118_init(uint32_t b, const uint8_t mac[6]) {
    if (REG(b, BYTE_TEST) != BYTE_TEST_OK) {
        return -1;
    }
    REG(b, HW_CFG) = HW_CFG_SRST;
    for (int i = 0; i < 100000 && (REG(b, HW_CFG) & HW_CFG_SRST); i++) {
    }
    REG(b, INT_EN) = 0;
    REG(b, INT_STS) = 0xffffffffu;
    REG(b, IRQ_CFG) = IRQ_PUSHPULL_HIGH;
    REG(b, FIFO_INT) = 0x48000000u;     /* RX status level 0: every frame raises RSFL */
    mac_write(b, MAC_ADDRL, mac[0] | (mac[1] << 8) | (mac[2] << 16) | ((uint32_t)mac[3] << 24));
    mac_write(b, MAC_ADDRH, mac[4] | (mac[5] << 8));
    REG(b, RX_CFG) = RX_CFG_OFF2;
    REG(b, TX_CFG) = TX_CFG_ON | TX_CFG_SAO;
    mac_write(b, MAC_CR, MAC_CR_TXEN | MAC_CR_RXEN | MAC_CR_FDPX);
    return 0;
}

void qx_lan9118_get_mac(uint32_t b, uint8_t mac[6]) {
    uint32_t lo = mac_read(b, MAC_ADDRL), hi = mac_read(b, MAC_ADDRH);
    mac[0] = lo;
    mac[1] = lo >> 8;
    mac[2] = lo >> 16;
    mac[3] = lo >> 24;
    mac[4] = hi;
    mac[5] = hi >> 8;
}

int qx_lan9118_link_up(uint32_t b) {
    return (phy_read(b, 1) & 0x0004u) != 0;      /* basic status: link */
}

uint32_t qx_lan9118_tx_space(uint32_t b) {
    return REG(b, TX_FIFO_INF) & 0xffffu;
}

void qx_lan9118_tx_segment(uint32_t b, const uint8_t *data, uint32_t len, int first, int last,
                           uint32_t frame_len) {
    uint32_t off = (uint32_t)data & 3u;
    const uint32_t *w = (const uint32_t *)((uint32_t)data - off);
    REG(b, TX_DATA) = (off << 16) | (first ? 1u << 13 : 0) | (last ? 1u << 12 : 0) | len;
    REG(b, TX_DATA) = (frame_len << 16) | frame_len;     /* tag: the length, for a reader of TX status */
    uint32_t n = (len + off + 3) >> 2;
    volatile uint32_t *fifo = &REG(b, TX_DATA);
    while (n >= 4) {
        *fifo = w[0];
        *fifo = w[1];
        *fifo = w[2];
        *fifo = w[3];
        w += 4;
        n -= 4;
    }
    while (n--) {
        *fifo = *w++;
    }
}

uint32_t qx_lan9118_rx_peek(uint32_t b, int *bad) {
    if (!(REG(b, RX_FIFO_INF) & 0x00ff0000u)) {
        return 0;
    }
    uint32_t st = REG(b, RX_STATUS);
    uint32_t len = (st >> 16) & 0x3fffu;
    *bad = (st & RXS_ES) != 0 || len < 4;
    return len < 4 ? 1 : len - 4;      /* 1: a runt, drop its word(s) */
}

static inline uint32_t rx_words(uint32_t len) {
    return (len + 4 + 2 + 3) >> 2;          /* offset 2, frame, CRC */
}

void qx_lan9118_rx_read(uint32_t b, uint8_t *buf, uint32_t len) {
    uint32_t total = rx_words(len), full = (len + 2) >> 2;
    uint32_t *w = (uint32_t *)buf;
    volatile uint32_t *fifo = &REG(b, RX_DATA);
    uint32_t n = full;
    while (n >= 4) {
        w[0] = *fifo;
        w[1] = *fifo;
        w[2] = *fifo;
        w[3] = *fifo;
        w += 4;
        n -= 4;
    }
    while (n--) {
        *w++ = *fifo;
    }
    /* The frame's last bytes share their word with the CRC: that word (and
     * the CRC's rest) is read whole, and only the frame's bytes kept, so the
     * buffer needs no room for the CRC. */
    uint32_t tail = (len + 2) & 3u;
    for (uint32_t i = full; i < total; i++) {
        uint32_t v = *fifo;
        if (i == full && tail) {
            uint8_t *p = (uint8_t *)w;
            for (uint32_t k = 0; k < tail; k++) {
                p[k] = v >> (8 * k);
            }
        }
    }
}

void qx_lan9118_rx_drop(uint32_t b, uint32_t len) {
    volatile uint32_t *fifo = &REG(b, RX_DATA);
    for (uint32_t n = rx_words(len); n; n--) {
        (void)*fifo;
    }
}

uint32_t qx_lan9118_rx_dropped(uint32_t b) {
    return REG(b, RX_DROP);
}

uint32_t qx_lan9118_irq_status(uint32_t b) {
    return REG(b, INT_STS);
}

void qx_lan9118_irq_ack(uint32_t b, uint32_t bits) {
    REG(b, INT_STS) = bits;
}

void qx_lan9118_irq_enable(uint32_t b, uint32_t bits) {
    REG(b, INT_EN) = bits;
    REG(b, IRQ_CFG) = IRQ_PUSHPULL_HIGH | (bits ? IRQ_EN : 0);
}
