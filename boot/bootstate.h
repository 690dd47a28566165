/* Boot state: what the bootloader remembers between boots, and how it picks
 * the slot to boot (A/B, execute in place, test-then-confirm upgrades).
 *
 * The state is a record in two storage sectors (drivers/flash), written
 * alternately so that a power cut at any point leaves the last complete
 * record readable:
 *   min_counter  the stored security counter: an image whose counter is
 *                below it never boots again (rollback protection)
 *   confirmed    SHA-256 of the image confirmed to work
 *   trial        SHA-256 of the image last booted on trial (unconfirmed)
 * An image that is neither confirmed nor the trial image is new: it boots
 * once on trial; the kernel confirms it (`boot confirm`, or automatically
 * after a healthy start), which raises min_counter to its counter. If it
 * is still on trial at the next reset it is skipped: the upgrade reverts
 * (unless no other image can boot: then it is tried again).
 * With no state at all (factory-fresh storage) the best image is confirmed
 * as it boots.
 *
 * Shared by the bootloader, the kernel (which confirms) and the host tests
 * (cffi), so the format and the policy are written once.
 */
#ifndef QX_BOOT_BOOTSTATE_H
#define QX_BOOT_BOOTSTATE_H

#include <stdint.h>

#define QX_BOOT_STATE_MAGIC 0x53425851u   /* "QXBS" */
#define QX_BOOT_INFO_MAGIC  0x49425851u   /* "QXBI" */
#define QX_BOOT_RECORD_SIZE 96u

typedef struct {
    uint32_t seq;           /* records are numbered; the highest valid one counts */
    uint32_t min_counter;
    uint8_t confirmed[32];  /* all zero: none */
    uint8_t trial[32];      /* all zero: none */
} qx_boot_state_t;

/* Reads the newest valid record of the two sectors at storage offset `off`.
 * Returns 1 when there is one, 0 when there is none (*st zeroed). */
int qx_bootstate_load(uint32_t off, qx_boot_state_t *st);

/* Appends *st as the next record (st->seq is set to the next number);
 * erases the other sector first when the current one is full. Returns a
 * QX_FLASH_* code (0: written and read back). */
int qx_bootstate_save(uint32_t off, qx_boot_state_t *st);

/* A slot as the bootloader saw it. */
typedef struct {
    int valid;              /* hash, key and signature checked */
    uint8_t major, minor;
    uint16_t revision;
    uint32_t build;
    uint32_t counter;       /* security counter (0 without the TLV) */
    uint8_t hash[32];       /* the image's SHA-256 */
} qx_boot_cand_t;

typedef enum {
    QX_BOOT_CONFIRMED = 0,  /* the confirmed image */
    QX_BOOT_FIRST,          /* no state yet: confirmed as it boots */
    QX_BOOT_TEST,           /* a new image on trial */
} qx_boot_kind_t;

typedef enum {
    QX_SLOT_CANDIDATE = 0,  /* valid; booted if chosen */
    QX_SLOT_INVALID,        /* failed the image check */
    QX_SLOT_ROLLED_BACK,    /* security counter below the stored one */
    QX_SLOT_REVERTED,       /* was on trial and never confirmed */
    QX_SLOT_RETRIED,        /* the same, but nothing else can boot: on trial again */
} qx_slot_verdict_t;

/* The policy: among valid slots whose counter is not below st->min_counter,
 * the highest version (then the lower slot) that is not a reverted trial;
 * if only reverted trials are left, the best of them goes on trial again
 * (reverting to nothing would leave the board unbootable).
 * Fills verdict[i] for every slot, *kind for the chosen one, and updates
 * *st as it must be saved before the jump (*save = 1). Returns the chosen
 * slot's index, or -1: nothing may boot. have_state: st was loaded. */
int qx_boot_choose(const qx_boot_cand_t *c, int n, int have_state, qx_boot_state_t *st,
                   uint8_t *verdict, int *kind, int *save);

/* The choice with only the chosen slot verified. c[i].valid on entry: the
 * slot is well formed (qx_image_parse), its hash and version as it claims
 * them. The slot qx_boot_choose picks is verified with verify(i, ctx)
 * (0: hash, key and signature good); one that fails becomes invalid
 * (c[i].valid = 0) and the choice is made again, so a slot is verified
 * only when it would boot: the other slot costs nothing unless the chosen
 * one fails (the fallback). checked[i] out: 1 verified, -1 failed, 0 never
 * verified. *st is updated only for a verified choice. Returns the slot
 * to boot (verified) or -1. */
int qx_boot_select(qx_boot_cand_t *c, int n, int have_state, qx_boot_state_t *st,
                   uint8_t *verdict, int *kind, int *save, signed char *checked,
                   int (*verify)(int slot, void *ctx), void *ctx);

/* What the bootloader hands the kernel, at QX_BOOT_INFO_ADDR in RAM. */
typedef struct {
    uint32_t magic;
    uint32_t slot;          /* 0: A, 1: B */
    uint32_t kind;          /* qx_boot_kind_t */
    uint8_t major, minor;
    uint16_t revision;
    uint32_t build;
    uint32_t counter;       /* the running image's security counter */
    uint32_t min_counter;   /* the stored one */
    uint8_t hash[32];
} qx_boot_info_t;

/* The kernel confirms the running image: state.confirmed = its hash, no
 * trial, min_counter raised to its counter; *bi updated. Returns 1 when it
 * was already confirmed (nothing written), 0 when confirmed now, or a
 * negative QX_FLASH_* code. */
int qx_boot_confirm(uint32_t off, qx_boot_info_t *bi);

#endif
