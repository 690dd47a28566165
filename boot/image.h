/* Kernel image checker: parses an MCUboot-format image in a slot and says
 * whether the bootloader may jump into it. It only reads the slot; it does not
 * choose between slots, print, or boot (that is boot/'s main loop).
 *
 * The format is defined once in tools/imgformat.py (construct); this is the
 * device-side reader of the same definition and tests/host/test_image_format.py
 * holds the two against each other. Builds for the target (freestanding; the
 * crypto, mbedtls, works in a static arena) and for the host (cffi).
 */
#ifndef QX_BOOT_IMAGE_H
#define QX_BOOT_IMAGE_H

#include <stdint.h>

#define QX_IMAGE_MAGIC         0x96f3b83du
#define QX_TLV_INFO_MAGIC      0x6907u
#define QX_TLV_PROT_INFO_MAGIC 0x6908u
#define QX_TLV_SHA256          0x10u
#define QX_TLV_KEYHASH         0x01u   /* SHA-256 of the signing key (DER SubjectPublicKeyInfo) */
#define QX_TLV_ECDSA_SIG       0x22u   /* ECDSA P-256 signature of the SHA-256 (DER) */
#define QX_TLV_SEC_CNT         0x50u   /* security counter, u32; counts only when protected */
#define QX_P256_SPKI_LEN       91u
#define QX_HEADER_STRUCT_SIZE  32u
#define QX_IMAGE_F_NON_BOOTABLE 0x10u  /* a task bundle, not a kernel: no vector table */
#define QX_VECTOR_ALIGN        128u    /* Cortex-M3 VTOR alignment */

/* The initial SP in the image must lie in [QX_RAM_BASE, QX_RAM_END]. */
#ifndef QX_RAM_BASE
#define QX_RAM_BASE 0x20000000u
#endif
#ifndef QX_RAM_END
#define QX_RAM_END  0x20400000u
#endif

/* Result codes in precedence order: the checks run in this order and the
 * first that fails is returned. Names match RESULTS in tools/imgformat.py. */
typedef enum {
    QX_IMG_OK = 0,
    QX_IMG_BAD_MAGIC,    /* ih_magic is not QX_IMAGE_MAGIC */
    QX_IMG_BAD_HEADER,   /* hdr_size < 32 or not 4-aligned, vectors not 128-aligned */
    QX_IMG_TOO_LARGE,    /* header + payload + TLV info do not fit in the slot */
    QX_IMG_BAD_TLV,      /* TLV area: bad magic or size, a TLV runs past it,
                            a SHA-256 TLV not 32 or a counter TLV not 4 bytes */
    QX_IMG_NO_HASH,      /* no SHA-256 TLV */
    QX_IMG_BAD_HASH,     /* SHA-256 does not match header + payload + protected TLVs */
    QX_IMG_WRONG_KEY,    /* no key-hash TLV, or it names another key than the bootloader's */
    QX_IMG_BAD_SIGNATURE, /* no ECDSA signature TLV, or it does not verify with the key */
    QX_IMG_BAD_VECTORS,  /* initial SP or reset vector implausible (not checked
                            for a NON_BOOTABLE image, a task bundle) */
    QX_IMG__COUNT
} qx_img_result_t;

typedef struct {
    uint8_t major, minor;
    uint16_t revision;
    uint32_t build;
    uint32_t hdr_size, img_size, flags;
    uint32_t vector_offset;   /* offset of the vector table in the slot */
    uint32_t total;           /* bytes from the header to the end of the TLVs (0 unless ok) */
    uint32_t security_counter; /* from the protected TLV area; 0 without one */
    uint8_t hash[32];         /* the image's SHA-256 (valid once the hash checked) */
} qx_img_info_t;

/* The key images must be signed with: an ECDSA P-256 public key as DER
 * SubjectPublicKeyInfo (91 bytes), as imgtool embeds it. */
typedef struct {
    const uint8_t *spki;
    uint32_t spki_len;
} qx_img_key_t;

/* Check the image at the start of `slot` (slot_size readable bytes; nothing
 * outside them is read). slot_addr is the slot's address on the device: the
 * payload is linked to run at slot_addr + hdr_size. key: the signing key the
 * image must carry and verify with (NULL: the structure and hash only, for
 * tools). `info` is filled as far as the header could be read (all zero
 * before that). */
qx_img_result_t qx_image_check(const uint8_t *slot, uint32_t slot_size,
                               uint32_t slot_addr, const qx_img_key_t *key, qx_img_info_t *info);

/* The checks up to the first that reads the whole image: the header,
 * sizes and TLV areas (qx_image_check goes on with SHA-256, key, signature
 * and vector table, so a slot's verdict keeps the order of
 * qx_img_result_t), in a few hundred instructions. QX_IMG_OK here means "well formed", never
 * "authentic"; info->hash is the SHA-256 the image claims. The bootloader
 * parses every slot, chooses by what they claim, and runs qx_image_check
 * on the chosen one only (boot/bootstate.h, qx_boot_select). */
qx_img_result_t qx_image_parse(const uint8_t *slot, uint32_t slot_size, uint32_t slot_addr, qx_img_info_t *info);

/* The steps of qx_image_check, for a checker that spreads the whole-image
 * work over several calls (the kernel's install, kernel/port/imgcheck.c),
 * in qx_image_check's order so its verdict is the same:
 *   qx_image_locate         header, sizes, TLV areas; fills `where`
 *   SHA-256 of the first where->hashed bytes (the caller's, in pieces)
 *   qx_image_digest_check   that digest against the SHA-256 TLV
 *   qx_image_key_check      the key-hash TLV names `key`
 *   ECDSA P-256 of the digest with the signature at where->sig (the caller's)
 *   qx_image_vectors_check  the vector table (not for a task bundle); sets info->total
 * Each returns QX_IMG_OK or the check that failed. */
typedef struct {
    uint32_t hashed;            /* bytes the SHA-256 covers: header, payload, protected TLVs */
    uint32_t hash;              /* offset of the SHA-256 TLV's value */
    uint32_t keyhash;           /* offset of the key-hash TLV's value, 0: none */
    uint32_t sig, sig_len;      /* offset and length of the signature TLV's value, 0: none */
    uint32_t total;             /* bytes from the header to the end of the TLVs */
} qx_img_where_t;

#define QX_P256_SPKI_POINT 26u  /* the uncompressed point's offset in the SubjectPublicKeyInfo */

qx_img_result_t qx_image_locate(const uint8_t *slot, uint32_t slot_size, uint32_t slot_addr,
                                qx_img_info_t *info, qx_img_where_t *where);
qx_img_result_t qx_image_digest_check(const uint8_t *slot, const qx_img_where_t *where, const uint8_t *digest,
                                      qx_img_info_t *info);
qx_img_result_t qx_image_key_check(const uint8_t *slot, const qx_img_where_t *where, const qx_img_key_t *key);
qx_img_result_t qx_image_vectors_check(const uint8_t *slot, uint32_t slot_addr, const qx_img_where_t *where,
                                       qx_img_info_t *info);
/* 1 when key is an ECDSA P-256 SubjectPublicKeyInfo (the only kind checked). */
int qx_image_key_is_p256(const qx_img_key_t *key);

/* "ok", "bad magic", ...; "unknown" for a value outside the enum. */
const char *qx_image_result_str(qx_img_result_t r);

#endif
