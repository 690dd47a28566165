// The firmware's static qstrs by hash (issue 14; kernel/port/patches/
// qstr-port-find.patch asks here first).
//
// py/qstr.c's qstr_find_strn binary-searches each sorted ROM pool with
// strncmp: about 25 compares, 950 instructions, for every lookup of a
// string (every import statement asks for each component of its name
// twice; 230 lookups in the kernel's start, 40 in a task's). The index
// (qstr_index.h, tools/qstrindex.py at build time: the main pool's and the
// frozen code's qstrs, by the hash qstr_find_strn has already computed) is
// const data in flash, so every task reads it. A candidate is confirmed
// with MicroPython's own qstr_len/qstr_str; a string not in the index (one
// made at run time) is searched by the original loop.
#include <string.h>

#include "py/qstr.h"

_Static_assert(MICROPY_QSTR_BYTES_IN_HASH == 2, "qx_qstr_slot_t holds a 16-bit hash");

typedef struct {
    uint16_t hash;      // the qstr's hash (MICROPY_QSTR_BYTES_IN_HASH = 2)
    uint16_t id;        // QX_QSTR_EMPTY: a free slot
} qx_qstr_slot_t;

#include "qstr_index.h"

qstr qx_qstr_find(const char *str, size_t len, size_t hash) {
    for (size_t i = hash & (QX_QSTR_SLOTS - 1);; i = (i + 1) & (QX_QSTR_SLOTS - 1)) {
        const qx_qstr_slot_t *s = &qx_qstr_index[i];
        if (s->id == QX_QSTR_EMPTY) {
            return MP_QSTRnull;
        }
        if (s->hash == hash && qstr_len(s->id) == len && memcmp(qstr_str(s->id), str, len) == 0) {
            return s->id;
        }
    }
}
