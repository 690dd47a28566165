/* strlen a word at a time, for the kernel and the tasks' VMs (linked with
 * -Wl,--wrap=strlen, so every call outside MicroPython's shared/libc/
 * string0.c, whose strlen reads a byte a loop, comes here). Boot spends most
 * of its strlen in MicroPython's frozen-module lookup (py/frozenmod.c
 * measures every frozen name on each import's stat): 656,000 instructions
 * of the production image's kernel start at 4 a byte. Reads only whole
 * aligned words holding at least one byte of the string, so never a byte in
 * another MPU region or page than the string's own. */
#include <stddef.h>
#include <stdint.h>

size_t __wrap_strlen(const char *s) {
    const char *p = s;
    while ((uintptr_t)p & 3) {
        if (!*p) {
            return (size_t)(p - s);
        }
        p++;
    }
    const uint32_t *w = (const uint32_t *)p;
    for (;;) {
        uint32_t v = *w;
        if ((v - 0x01010101u) & ~v & 0x80808080u) {
            break;              /* a zero byte in this word */
        }
        w++;
    }
    p = (const char *)w;
    while (*p) {
        p++;
    }
    return (size_t)(p - s);
}
