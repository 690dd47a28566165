/* Kernel image checker (see image.h): header, sizes, TLV areas, SHA-256 and
 * vector table of an MCUboot-format image, in the order of qx_img_result_t.
 * Every read goes through rd16/rd32 after a bounds check against slot_size;
 * sizes are added in 64 bits so no header value can wrap an offset.
 * With a key, the unprotected TLV area must also carry that key's hash and
 * an ECDSA P-256 signature of the image's SHA-256 that verifies with it.
 *
 * SHA-256 is mbedtls's (the Debian source package pinned in
 * tools/deps/mbedtls.lock, configured by boot/qx_mbedtls_config.h).
 */
#include <stdint.h>
#include <string.h>
#include "image.h"
#include "mbedtls/ecdsa.h"
#if defined(MBEDTLS_MEMORY_BUFFER_ALLOC_C)
#include "mbedtls/memory_buffer_alloc.h"
#endif
#include "mbedtls/sha256.h"

#define CRYPTO_HEAP_SIZE 10240     /* enough for one P-256 verification */

/* mbedtls has no allocator but the arena below, and only during a check. */
void *qx_no_calloc(size_t n, size_t size) {
    (void)n;
    (void)size;
    return NULL;
}
void qx_no_free(void *p) {
    (void)p;
}

/* mbedtls's allocator found its arena corrupt: never go on (the bootloader
 * then sits in a loop; the host test build aborts). */
void qx_crypto_abort(int status) {
    (void)status;
    #if defined(__arm__)
    for (;;) {
    }
    #else
    __builtin_trap();
    #endif
}

/* The DER prefix of an ECDSA P-256 SubjectPublicKeyInfo; the point follows. */
static const uint8_t p256_spki_prefix[26] = {
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
};

/* 0 when sig (DER) is key's ECDSA P-256 signature of the 32-byte digest. */
static int ecdsa_p256_verify(const qx_img_key_t *key, const uint8_t *digest, const uint8_t *sig, uint32_t len) {
    #if defined(MBEDTLS_MEMORY_BUFFER_ALLOC_C)
    static unsigned char heap[CRYPTO_HEAP_SIZE];
    #endif
    if (!qx_image_key_is_p256(key)) {
        return -1;
    }
    #if defined(MBEDTLS_MEMORY_BUFFER_ALLOC_C)    /* the bootloader; the kernel allocates on its VM's heap */
    mbedtls_memory_buffer_alloc_init(heap, sizeof heap);
    #endif
    mbedtls_ecp_group grp;
    mbedtls_ecp_point q;
    mbedtls_ecdsa_context ctx;
    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&q);
    mbedtls_ecdsa_init(&ctx);
    int r = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1);
    if (r == 0) {
        r = mbedtls_ecp_point_read_binary(&grp, &q, key->spki + sizeof p256_spki_prefix,
                                          QX_P256_SPKI_LEN - sizeof p256_spki_prefix);
    }
    if (r == 0) {
        r = mbedtls_ecp_set_public_key(MBEDTLS_ECP_DP_SECP256R1, &ctx, &q);
    }
    if (r == 0) {
        r = mbedtls_ecdsa_read_signature(&ctx, digest, 32, sig, len);
    }
    mbedtls_ecdsa_free(&ctx);
    mbedtls_ecp_point_free(&q);
    mbedtls_ecp_group_free(&grp);
    #if defined(MBEDTLS_MEMORY_BUFFER_ALLOC_C)
    mbedtls_memory_buffer_alloc_free();
    #endif
    return r;
}

static uint32_t rd16(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t rd32(const uint8_t *p) {
    return rd16(p) | rd16(p + 2) << 16;
}

/* Walk the TLVs of the area whose info header is at `off` and which ends at
 * `end` (already checked to be inside the slot). Records the offset of the
 * first SHA-256 value in *hash_off when hash_off is given. */
typedef struct {
    uint32_t hash, keyhash, sig, sig_len, counter;   /* value offsets, 0: absent */
} found_t;

static qx_img_result_t walk_tlvs(const uint8_t *s, uint32_t off, uint32_t end, found_t *found) {
    for (off += 4; off < end;) {
        if (end - off < 4) {
            return QX_IMG_BAD_TLV;
        }
        uint32_t type = rd16(s + off), len = rd16(s + off + 2);
        if (end - off - 4 < len) {
            return QX_IMG_BAD_TLV;
        }
        if (type == QX_TLV_SHA256 || type == QX_TLV_KEYHASH) {
            if (len != 32) {              /* SHA-256 digests */
                return QX_IMG_BAD_TLV;
            }
        }
        if (type == QX_TLV_SEC_CNT && len != 4) {
            return QX_IMG_BAD_TLV;
        }
        if (found) {                      /* the first of each counts */
            if (type == QX_TLV_SHA256 && !found->hash) {
                found->hash = off + 4;
            } else if (type == QX_TLV_KEYHASH && !found->keyhash) {
                found->keyhash = off + 4;
            } else if (type == QX_TLV_ECDSA_SIG && !found->sig) {
                found->sig = off + 4;
                found->sig_len = len;
            } else if (type == QX_TLV_SEC_CNT && !found->counter) {
                found->counter = off + 4;
            }
        }
        off += 4 + len;
    }
    return QX_IMG_OK;
}

/* The checks up to the first that reads the whole image (header, sizes,
 * TLV areas): what the later checks read, found (qx_image_locate, image.h).
 * info->hash is left zero; info->total too (it is set once a check passes). */
qx_img_result_t qx_image_locate(const uint8_t *s, uint32_t slot_size, uint32_t slot_addr,
                                qx_img_info_t *info, qx_img_where_t *where) {
    info->major = info->minor = 0;
    info->revision = 0;
    info->build = info->hdr_size = info->img_size = info->flags = 0;
    info->vector_offset = info->total = info->security_counter = 0;
    memset(info->hash, 0, sizeof info->hash);
    memset(where, 0, sizeof *where);
    if (slot_size < QX_HEADER_STRUCT_SIZE) {
        return QX_IMG_TOO_LARGE;
    }
    if (rd32(s) != QX_IMAGE_MAGIC) {
        return QX_IMG_BAD_MAGIC;
    }
    uint32_t hdr = rd16(s + 8), prot = rd16(s + 10), img = rd32(s + 12);
    info->hdr_size = info->vector_offset = hdr;
    info->img_size = img;
    info->flags = rd32(s + 16);
    info->major = s[20];
    info->minor = s[21];
    info->revision = (uint16_t)rd16(s + 22);
    info->build = rd32(s + 24);

    if (hdr < QX_HEADER_STRUCT_SIZE || hdr % 4 != 0
        || ((uint64_t)slot_addr + hdr) % QX_VECTOR_ALIGN != 0) {
        return QX_IMG_BAD_HEADER;
    }
    if ((uint64_t)hdr + img + prot + 4 > slot_size) {
        return QX_IMG_TOO_LARGE;
    }
    /* From here hdr + img + prot + 4 <= slot_size, so none of these wrap. */
    uint32_t off = hdr + img;
    found_t found = {0, 0, 0, 0, 0}, protected = {0, 0, 0, 0, 0};
    if (prot) {
        if (prot < 4 || rd16(s + off) != QX_TLV_PROT_INFO_MAGIC
            || rd16(s + off + 2) != prot
            || walk_tlvs(s, off, off + prot, &protected) != QX_IMG_OK) {
            return QX_IMG_BAD_TLV;
        }
        off += prot;
    }
    uint32_t tot = rd16(s + off + 2);
    if (rd16(s + off) != QX_TLV_INFO_MAGIC || tot < 4 || tot > slot_size - off) {
        return QX_IMG_BAD_TLV;
    }
    qx_img_result_t r = walk_tlvs(s, off, off + tot, &found);
    if (r != QX_IMG_OK) {
        return r;
    }
    if (!found.hash) {
        return QX_IMG_NO_HASH;
    }
    if (protected.counter) {
        info->security_counter = rd32(s + protected.counter);
    }
    where->hashed = hdr + img + prot;
    where->hash = found.hash;
    where->keyhash = found.keyhash;
    where->sig = found.sig;
    where->sig_len = found.sig_len;
    where->total = off + tot;
    return QX_IMG_OK;
}

qx_img_result_t qx_image_digest_check(const uint8_t *s, const qx_img_where_t *where, const uint8_t *digest,
                                      qx_img_info_t *info) {
    uint8_t diff = 0;
    for (unsigned i = 0; i < 32; i++) {
        diff |= digest[i] ^ s[where->hash + i];
    }
    if (diff) {
        return QX_IMG_BAD_HASH;
    }
    memcpy(info->hash, digest, sizeof info->hash);
    return QX_IMG_OK;
}

qx_img_result_t qx_image_key_check(const uint8_t *s, const qx_img_where_t *where, const qx_img_key_t *key) {
    uint8_t keyhash[32], diff = 0;
    if (!where->keyhash || mbedtls_sha256(key->spki, key->spki_len, keyhash, 0) != 0) {
        return QX_IMG_WRONG_KEY;
    }
    for (unsigned i = 0; i < sizeof keyhash; i++) {
        diff |= keyhash[i] ^ s[where->keyhash + i];
    }
    return diff ? QX_IMG_WRONG_KEY : QX_IMG_OK;
}

int qx_image_key_is_p256(const qx_img_key_t *key) {
    return key->spki_len == QX_P256_SPKI_LEN && memcmp(key->spki, p256_spki_prefix, sizeof p256_spki_prefix) == 0;
}

qx_img_result_t qx_image_vectors_check(const uint8_t *s, uint32_t slot_addr, const qx_img_where_t *where,
                                       qx_img_info_t *info) {
    /* The payload starts with the vector table: initial SP, reset handler
     * (except in a task bundle, which the bootloader never boots). */
    if (!(info->flags & QX_IMAGE_F_NON_BOOTABLE)) {
        uint32_t hdr = info->hdr_size, img = info->img_size;
        if (img < 8) {
            return QX_IMG_BAD_VECTORS;
        }
        uint32_t sp = rd32(s + hdr), reset = rd32(s + hdr + 4);
        uint64_t base = (uint64_t)slot_addr + hdr, entry = reset & ~1u;
        if (sp == 0 || sp % 8 != 0 || sp - QX_RAM_BASE > QX_RAM_END - QX_RAM_BASE
            || !(reset & 1) || entry < base || entry >= base + img) {
            return QX_IMG_BAD_VECTORS;
        }
    }
    info->total = where->total;
    return QX_IMG_OK;
}

/* The checks of qx_image_check in their order; with verify 0 it stops
 * before the first that reads the whole image (hash, then key, signature,
 * vectors) and info->hash is the SHA-256 the image claims (qx_image_parse). */
static qx_img_result_t check(const uint8_t *s, uint32_t slot_size, uint32_t slot_addr,
                             const qx_img_key_t *key, qx_img_info_t *info, int verify) {
    qx_img_where_t where;
    qx_img_result_t r = qx_image_locate(s, slot_size, slot_addr, info, &where);
    if (r != QX_IMG_OK) {
        return r;
    }
    if (!verify) {
        memcpy(info->hash, s + where.hash, sizeof info->hash);
        info->total = where.total;
        return QX_IMG_OK;
    }
    uint8_t digest[32];
    if (mbedtls_sha256(s, where.hashed, digest, 0) != 0) {
        return QX_IMG_BAD_HASH;
    }
    if ((r = qx_image_digest_check(s, &where, digest, info)) != QX_IMG_OK) {
        return r;
    }
    if (key) {
        if ((r = qx_image_key_check(s, &where, key)) != QX_IMG_OK) {
            return r;
        }
        if (!where.sig || ecdsa_p256_verify(key, digest, s + where.sig, where.sig_len) != 0) {
            return QX_IMG_BAD_SIGNATURE;
        }
    }
    return qx_image_vectors_check(s, slot_addr, &where, info);
}

qx_img_result_t qx_image_check(const uint8_t *s, uint32_t slot_size,
                               uint32_t slot_addr, const qx_img_key_t *key, qx_img_info_t *info) {
    return check(s, slot_size, slot_addr, key, info, 1);
}

qx_img_result_t qx_image_parse(const uint8_t *s, uint32_t slot_size, uint32_t slot_addr, qx_img_info_t *info) {
    return check(s, slot_size, slot_addr, NULL, info, 0);
}

const char *qx_image_result_str(qx_img_result_t r) {
    static const char *const names[QX_IMG__COUNT] = {
        [QX_IMG_OK] = "ok",
        [QX_IMG_BAD_MAGIC] = "bad magic",
        [QX_IMG_BAD_HEADER] = "bad header",
        [QX_IMG_TOO_LARGE] = "too large",
        [QX_IMG_BAD_TLV] = "bad TLV",
        [QX_IMG_NO_HASH] = "no hash",
        [QX_IMG_BAD_HASH] = "bad hash",
        [QX_IMG_WRONG_KEY] = "wrong key",
        [QX_IMG_BAD_SIGNATURE] = "bad signature",
        [QX_IMG_BAD_VECTORS] = "bad vectors",
    };
    return (unsigned)r < QX_IMG__COUNT ? names[r] : "unknown";
}
