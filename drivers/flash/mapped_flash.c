/* Storage driver over a memory-mapped region (see mapped_flash.h). */
#include <string.h>
#include "mapped_flash.h"

static uint8_t *region;
static uint32_t region_size, sector_size;

void qx_flash_init(uint8_t *base, uint32_t size, uint32_t sector) {
    region = base;
    region_size = size;
    sector_size = sector;
}

uint32_t qx_flash_size(void) {
    return region_size;
}

uint32_t qx_flash_sector(void) {
    return sector_size;
}

static int in_range(uint32_t off, uint32_t n) {
    return region && off <= region_size && n <= region_size - off;
}

const uint8_t *qx_flash_map(uint32_t off, uint32_t n) {
    return in_range(off, n) ? region + off : 0;
}

int qx_flash_read(uint32_t off, void *buf, uint32_t n) {
    if (!in_range(off, n)) {
        return QX_FLASH_RANGE;
    }
    memcpy(buf, region + off, n);
    return QX_FLASH_OK;
}

int qx_flash_erase(uint32_t off) {
    if (!in_range(off, sector_size)) {
        return QX_FLASH_RANGE;
    }
    if (off & (sector_size - 1)) {
        return QX_FLASH_ALIGN;
    }
    memset(region + off, 0xff, sector_size);
    return QX_FLASH_OK;
}

int qx_flash_program(uint32_t off, const void *buf, uint32_t n) {
    const uint8_t *src = buf;
    if (!in_range(off, n)) {
        return QX_FLASH_RANGE;
    }
    for (uint32_t i = 0; i < n; i++) {
        if ((region[off + i] & src[i]) != src[i]) {
            return QX_FLASH_NOT_ERASED;
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        region[off + i] &= src[i];    /* in order, byte by byte, as a power cut would leave it */
    }
    return QX_FLASH_OK;
}
