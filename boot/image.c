/* Kernel image checker (see image.h): header, sizes, TLV areas, SHA-256 and
 * vector table of an MCUboot-format image, in the order of qx_img_result_t.
 * Every read goes through rd16/rd32 after a bounds check against slot_size;
 * sizes are added in 64 bits so no header value can wrap an offset.
 * Holds no signature check yet (that is the secure-boot issue).
 *
 * SHA-256 is mbedtls's (the Debian source package pinned in
 * tools/deps/mbedtls.lock, configured by boot/qx_mbedtls_config.h).
 */
#include <stdint.h>
#include <string.h>
#include "image.h"
#include "mbedtls/sha256.h"

static uint32_t rd16(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t rd32(const uint8_t *p) {
    return rd16(p) | rd16(p + 2) << 16;
}

/* Walk the TLVs of the area whose info header is at `off` and which ends at
 * `end` (already checked to be inside the slot). Records the offset of the
 * first SHA-256 value in *hash_off when hash_off is given. */
static qx_img_result_t walk_tlvs(const uint8_t *s, uint32_t off, uint32_t end,
                                 uint32_t *hash_off) {
    for (off += 4; off < end;) {
        if (end - off < 4) {
            return QX_IMG_BAD_TLV;
        }
        uint32_t type = rd16(s + off), len = rd16(s + off + 2);
        if (end - off - 4 < len) {
            return QX_IMG_BAD_TLV;
        }
        if (type == QX_TLV_SHA256) {
            if (len != 32) {              /* SHA-256 digest */
                return QX_IMG_BAD_TLV;
            }
            if (hash_off && !*hash_off) {
                *hash_off = off + 4;
            }
        }
        off += 4 + len;
    }
    return QX_IMG_OK;
}

qx_img_result_t qx_image_check(const uint8_t *s, uint32_t slot_size,
                               uint32_t slot_addr, qx_img_info_t *info) {
    info->major = info->minor = 0;
    info->revision = 0;
    info->build = info->hdr_size = info->img_size = info->flags = 0;
    info->vector_offset = 0;
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
    if (prot) {
        if (prot < 4 || rd16(s + off) != QX_TLV_PROT_INFO_MAGIC
            || rd16(s + off + 2) != prot
            || walk_tlvs(s, off, off + prot, 0) != QX_IMG_OK) {
            return QX_IMG_BAD_TLV;
        }
        off += prot;
    }
    uint32_t tot = rd16(s + off + 2), hash_off = 0;
    if (rd16(s + off) != QX_TLV_INFO_MAGIC || tot < 4 || tot > slot_size - off) {
        return QX_IMG_BAD_TLV;
    }
    qx_img_result_t r = walk_tlvs(s, off, off + tot, &hash_off);
    if (r != QX_IMG_OK) {
        return r;
    }
    if (!hash_off) {
        return QX_IMG_NO_HASH;
    }

    uint8_t digest[32], diff = 0;
    if (mbedtls_sha256(s, hdr + img + prot, digest, 0) != 0) {
        return QX_IMG_BAD_HASH;
    }
    for (unsigned i = 0; i < sizeof digest; i++) {
        diff |= digest[i] ^ s[hash_off + i];
    }
    if (diff) {
        return QX_IMG_BAD_HASH;
    }

    /* The payload starts with the vector table: initial SP, reset handler. */
    if (img < 8) {
        return QX_IMG_BAD_VECTORS;
    }
    uint32_t sp = rd32(s + hdr), reset = rd32(s + hdr + 4);
    uint64_t base = (uint64_t)slot_addr + hdr, entry = reset & ~1u;
    if (sp == 0 || sp % 8 != 0 || sp - QX_RAM_BASE > QX_RAM_END - QX_RAM_BASE
        || !(reset & 1) || entry < base || entry >= base + img) {
        return QX_IMG_BAD_VECTORS;
    }
    return QX_IMG_OK;
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
        [QX_IMG_BAD_VECTORS] = "bad vectors",
    };
    return (unsigned)r < QX_IMG__COUNT ? names[r] : "unknown";
}
