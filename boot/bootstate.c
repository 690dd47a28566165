/* Boot state record and slot choice (see bootstate.h).
 *
 * Record (QX_BOOT_RECORD_SIZE bytes, little-endian):
 *    0  magic "QXBS"     4  seq     8  min_counter    12  reserved (0)
 *   16  confirmed[32]   48  trial[32]
 *   80  check: the first 16 bytes of SHA-256 over bytes 0..79
 * A sector holds SECTOR / 96 record places, filled in order; a place that
 * is not all 0xff and does not check (a write cut short) is skipped.
 */
#include <string.h>
#include "bootstate.h"
#include "../drivers/flash/mapped_flash.h"
#include "mbedtls/sha256.h"

#define R QX_BOOT_RECORD_SIZE
#define CHECK_AT 80u

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int checks(const uint8_t *rec) {
    uint8_t digest[32];
    if (get32(rec) != QX_BOOT_STATE_MAGIC || mbedtls_sha256(rec, CHECK_AT, digest, 0) != 0) {
        return 0;
    }
    return memcmp(digest, rec + CHECK_AT, R - CHECK_AT) == 0;
}

static int erased(const uint8_t *p, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        if (p[i] != 0xff) {
            return 0;
        }
    }
    return 1;
}

static uint32_t places(void) {
    return qx_flash_sector() / R;
}

/* The newest valid record: its sector (0/1) and place, or -1. */
static int newest(uint32_t off, uint32_t *sector, uint32_t *place, uint32_t *seq) {
    int found = 0;
    for (uint32_t s = 0; s < 2; s++) {
        for (uint32_t i = 0; i < places(); i++) {
            const uint8_t *rec = qx_flash_map(off + s * qx_flash_sector() + i * R, R);
            if (rec && checks(rec) && (!found || get32(rec + 4) > *seq)) {
                found = 1;
                *sector = s;
                *place = i;
                *seq = get32(rec + 4);
            }
        }
    }
    return found;
}

int qx_bootstate_load(uint32_t off, qx_boot_state_t *st) {
    uint32_t s, i, seq;
    memset(st, 0, sizeof *st);
    if (!newest(off, &s, &i, &seq)) {
        return 0;
    }
    const uint8_t *rec = qx_flash_map(off + s * qx_flash_sector() + i * R, R);
    st->seq = seq;
    st->min_counter = get32(rec + 8);
    memcpy(st->confirmed, rec + 16, 32);
    memcpy(st->trial, rec + 48, 32);
    return 1;
}

int qx_bootstate_save(uint32_t off, qx_boot_state_t *st) {
    uint32_t s = 0, i = 0, seq = 0, at;
    int r;
    if (newest(off, &s, &i, &seq)) {
        st->seq = seq + 1;
        i++;                                  /* the next erased place after it */
        while (i < places() && !erased(qx_flash_map(off + s * qx_flash_sector() + i * R, R), R)) {
            i++;
        }
        if (i == places()) {                  /* full: start the other sector */
            s ^= 1;
            i = 0;
            if ((r = qx_flash_erase(off + s * qx_flash_sector())) != QX_FLASH_OK) {
                return r;
            }
        }
    } else {                                  /* nothing valid: start afresh */
        st->seq = 1;
        s = i = 0;
        for (uint32_t k = 0; k < 2; k++) {
            if ((r = qx_flash_erase(off + k * qx_flash_sector())) != QX_FLASH_OK) {
                return r;
            }
        }
    }
    uint8_t rec[R];
    memset(rec, 0, sizeof rec);
    put32(rec, QX_BOOT_STATE_MAGIC);
    put32(rec + 4, st->seq);
    put32(rec + 8, st->min_counter);
    memcpy(rec + 16, st->confirmed, 32);
    memcpy(rec + 48, st->trial, 32);
    uint8_t digest[32];
    mbedtls_sha256(rec, CHECK_AT, digest, 0);
    memcpy(rec + CHECK_AT, digest, R - CHECK_AT);
    at = off + s * qx_flash_sector() + i * R;
    if ((r = qx_flash_program(at, rec, R)) != QX_FLASH_OK) {
        return r;
    }
    return memcmp(qx_flash_map(at, R), rec, R) == 0 ? QX_FLASH_OK : QX_FLASH_NOT_ERASED;
}

static int is_zero(const uint8_t *h) {
    uint8_t acc = 0;
    for (int i = 0; i < 32; i++) {
        acc |= h[i];
    }
    return acc == 0;
}

static int newer(const qx_boot_cand_t *a, const qx_boot_cand_t *b) {
    if (a->major != b->major) {
        return a->major > b->major;
    }
    if (a->minor != b->minor) {
        return a->minor > b->minor;
    }
    if (a->revision != b->revision) {
        return a->revision > b->revision;
    }
    return a->build > b->build;
}

int qx_boot_choose(const qx_boot_cand_t *c, int n, int have_state, qx_boot_state_t *st,
                   uint8_t *verdict, int *kind, int *save) {
    int best = -1;
    *save = 0;
    *kind = QX_BOOT_CONFIRMED;
    for (int i = 0; i < n; i++) {
        if (!c[i].valid) {
            verdict[i] = QX_SLOT_INVALID;
        } else if (c[i].counter < st->min_counter) {
            verdict[i] = QX_SLOT_ROLLED_BACK;
        } else if (have_state && !is_zero(st->trial) && memcmp(c[i].hash, st->trial, 32) == 0
                   && memcmp(c[i].hash, st->confirmed, 32) != 0) {
            verdict[i] = QX_SLOT_REVERTED;
        } else {
            verdict[i] = QX_SLOT_CANDIDATE;
            if (best < 0 || newer(&c[i], &c[best])) {
                best = i;
            }
        }
    }
    if (best < 0) {                       /* only reverted trials left? */
        for (int i = 0; i < n; i++) {
            if (verdict[i] == QX_SLOT_REVERTED && (best < 0 || newer(&c[i], &c[best]))) {
                best = i;
            }
        }
        if (best < 0) {
            return -1;
        }
        verdict[best] = QX_SLOT_RETRIED;
        *kind = QX_BOOT_TEST;
        return best;                      /* it is the trial image already */
    }
    if (!have_state) {
        *kind = QX_BOOT_FIRST;
    } else if (memcmp(c[best].hash, st->confirmed, 32) != 0) {
        *kind = QX_BOOT_TEST;
    }
    if (*kind == QX_BOOT_FIRST) {
        memcpy(st->confirmed, c[best].hash, 32);
        memset(st->trial, 0, 32);
        if (c[best].counter > st->min_counter) {
            st->min_counter = c[best].counter;
        }
        *save = 1;
    } else if (*kind == QX_BOOT_TEST) {
        memcpy(st->trial, c[best].hash, 32);
        *save = 1;
    }
    return best;
}

int qx_boot_select(qx_boot_cand_t *c, int n, int have_state, qx_boot_state_t *st,
                   uint8_t *verdict, int *kind, int *save, signed char *checked,
                   int (*verify)(int slot, void *ctx), void *ctx) {
    for (int i = 0; i < n; i++) {
        checked[i] = 0;
    }
    /* Each round either returns or makes one more slot invalid: at most n + 1. */
    for (;;) {
        qx_boot_state_t next = *st;
        int pick = qx_boot_choose(c, n, have_state, &next, verdict, kind, save);
        if (pick < 0) {
            *save = 0;
            return -1;
        }
        if (checked[pick] == 0) {
            checked[pick] = verify(pick, ctx) == 0 ? 1 : -1;
        }
        if (checked[pick] > 0) {
            *st = next;
            return pick;
        }
        c[pick].valid = 0;
    }
}

int qx_boot_confirm(uint32_t off, qx_boot_info_t *bi) {
    qx_boot_state_t st;
    int have = qx_bootstate_load(off, &st);
    if (have && memcmp(st.confirmed, bi->hash, 32) == 0 && is_zero(st.trial)
        && st.min_counter >= bi->counter) {
        bi->kind = QX_BOOT_CONFIRMED;
        bi->min_counter = st.min_counter;
        return 1;
    }
    memcpy(st.confirmed, bi->hash, 32);
    memset(st.trial, 0, 32);
    if (bi->counter > st.min_counter) {
        st.min_counter = bi->counter;
    }
    int r = qx_bootstate_save(off, &st);
    if (r == QX_FLASH_OK) {
        bi->kind = QX_BOOT_CONFIRMED;
        bi->min_counter = st.min_counter;
    }
    return r;
}
