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
    if (key->spki_len != QX_P256_SPKI_LEN || memcmp(key->spki, p256_spki_prefix, sizeof p256_spki_prefix) != 0) {
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

/* The checks of qx_image_check in their order; with verify 0 it stops
 * before the first that reads the whole image (hash, then key, signature,
 * vectors) and info->hash is the SHA-256 the image claims (qx_image_parse). */
static qx_img_result_t check(const uint8_t *s, uint32_t slot_size, uint32_t slot_addr,
                             const qx_img_key_t *key, qx_img_info_t *info, int verify) {
    info->major = info->minor = 0;
    info->revision = 0;
    info->build = info->hdr_size = info->img_size = info->flags = 0;
    info->vector_offset = info->total = info->security_counter = 0;
    memset(info->hash, 0, sizeof info->hash);
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
    uint32_t hash_off = found.hash;
    if (!hash_off) {
        return QX_IMG_NO_HASH;
    }

    if (protected.counter) {
        info->security_counter = rd32(s + protected.counter);
    }
    uint8_t digest[32], diff = 0;
    if (!verify) {
        memcpy(info->hash, s + hash_off, sizeof info->hash);
        info->total = off + tot;
        return QX_IMG_OK;
    }
    if (mbedtls_sha256(s, hdr + img + prot, digest, 0) != 0) {
        return QX_IMG_BAD_HASH;
    }
    for (unsigned i = 0; i < sizeof digest; i++) {
        diff |= digest[i] ^ s[hash_off + i];
    }
    if (diff) {
        return QX_IMG_BAD_HASH;
    }
    memcpy(info->hash, digest, sizeof digest);

    if (key) {
        uint8_t keyhash[32];
        diff = 0;
        if (!found.keyhash || mbedtls_sha256(key->spki, key->spki_len, keyhash, 0) != 0) {
            return QX_IMG_WRONG_KEY;
        }
        for (unsigned i = 0; i < sizeof keyhash; i++) {
            diff |= keyhash[i] ^ s[found.keyhash + i];
        }
        if (diff) {
            return QX_IMG_WRONG_KEY;
        }
        if (!found.sig || ecdsa_p256_verify(key, digest, s + found.sig, found.sig_len) != 0) {
            return QX_IMG_BAD_SIGNATURE;
        }
    }

    /* The payload starts with the vector table: initial SP, reset handler
     * (except in a task bundle, which the bootloader never boots). */
    if (info->flags & QX_IMAGE_F_NON_BOOTABLE) {
        info->total = off + tot;
        return QX_IMG_OK;
    }
    if (img < 8) {
        return QX_IMG_BAD_VECTORS;
    }
    uint32_t sp = rd32(s + hdr), reset = rd32(s + hdr + 4);
    uint64_t base = (uint64_t)slot_addr + hdr, entry = reset & ~1u;
    if (sp == 0 || sp % 8 != 0 || sp - QX_RAM_BASE > QX_RAM_END - QX_RAM_BASE
        || !(reset & 1) || entry < base || entry >= base + img) {
        return QX_IMG_BAD_VECTORS;
    }
    info->total = off + tot;
    return QX_IMG_OK;
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
