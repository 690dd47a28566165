/* Storage driver: a memory-mapped region with the behaviour of NOR flash.
 *
 * Three calls, as an on-chip flash controller driver offers them: read,
 * erase a sector (every byte becomes 0xff) and program (bits can only go
 * from 1 to 0; programming a 0 bit back to 1 fails without erasing). On
 * mps2-an385 under QEMU the region is the file-backed PSRAM (board.py);
 * a board with real flash implements the same calls on its controller.
 * Offsets are relative to the region; nothing outside it is touched.
 * The host tests build this file with cffi on a buffer.
 */
#ifndef QX_MAPPED_FLASH_H
#define QX_MAPPED_FLASH_H

#include <stdint.h>

#define QX_FLASH_OK          0
#define QX_FLASH_RANGE      -1   /* offset / length outside the region */
#define QX_FLASH_ALIGN      -2   /* erase offset not on a sector boundary */
#define QX_FLASH_NOT_ERASED -3   /* program would need a 0 bit to become 1 */

/* The region: base address, size and sector size (a power of two). */
void qx_flash_init(uint8_t *base, uint32_t size, uint32_t sector);
uint32_t qx_flash_size(void);
uint32_t qx_flash_sector(void);
/* Direct read access for memory-mapped flash (NULL if out of range). */
const uint8_t *qx_flash_map(uint32_t off, uint32_t n);
int qx_flash_read(uint32_t off, void *buf, uint32_t n);
int qx_flash_erase(uint32_t off);
/* Programs n bytes; on QX_FLASH_NOT_ERASED nothing has been written. */
int qx_flash_program(uint32_t off, const void *buf, uint32_t n);

#endif
