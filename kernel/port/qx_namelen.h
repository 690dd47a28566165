/* qx_name_len(s): strlen a word at a time, for MicroPython's walk over the
 * frozen modules' names (mpconfigport.h, MICROPY_FROZEN_NAME_LEN). It reads
 * whole aligned words, so up to 3 bytes past the terminating NUL, within
 * the same word: never past a page or a region's end (the names are in
 * flash). Tested on the host against strlen at every alignment
 * (tests/host/test_kernel_namelen.py). */
#ifndef QX_NAMELEN_H
#define QX_NAMELEN_H
#include <stddef.h>
#include <stdint.h>

static inline size_t qx_name_len(const char *s) {
    const char *p = s;
    while ((uintptr_t)p & 3) {
        if (!*p) {
            return p - s;
        }
        p++;
    }
    const uint32_t *w = (const uint32_t *)p;
    while (!((*w - 0x01010101u) & ~*w & 0x80808080u)) {   /* no zero byte in *w */
        w++;
    }
    p = (const char *)w;
    while (*p) {
        p++;
    }
    return p - s;
}
#endif
