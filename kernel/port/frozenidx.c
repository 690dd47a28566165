// Frozen-module lookup by hash (issue 14).
//
// py/frozenmod.c's mp_find_frozen_module walks every name of mp_frozen_names
// (strlen and memcmp on each) on every stat an import makes: 45,000-70,000
// instructions a module.  With kernel/port/patches/frozenmod-port-find.patch
// it asks qx_frozen_find first where its loop would stop, and starts the loop
// there; the loop's one step then gives the same answer as before.
//
// The index (frozen_index.h) is made at build time by tools/frozenindex.py
// from the build's frozen_content.c: a hash table of every name and every
// directory ("a/b" of "a/b/c.py"), each with the first entry in list order
// that is it or starts with it "/" -- where the loop stops -- as const data
// in flash.  Nothing here writes memory.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "frozenidx.h"

typedef struct {
    uint16_t off;       // the stop entry, in mp_frozen_names; the key is its first len bytes
    uint16_t len;       // the key's length; QX_FROZEN_EMPTY: a free slot
    uint16_t pos;       // the stop entry's position in the list (frozenmod's i)
} qx_frozen_slot_t;

#include "frozen_index.h"

extern const char mp_frozen_names[];

const char *qx_frozen_find(const char *str, size_t len, size_t *pos) {
    uint32_t h = 2166136261u;           // FNV-1a, as tools/frozenindex.py
    for (size_t k = 0; k < len; k++) {
        h = (h ^ (unsigned char)str[k]) * 16777619u;
    }
    for (size_t i = h & (QX_FROZEN_SLOTS - 1);; i = (i + 1) & (QX_FROZEN_SLOTS - 1)) {
        const qx_frozen_slot_t *s = &qx_frozen_index[i];
        if (s->len == QX_FROZEN_EMPTY) {
            break;
        }
        if (s->len == len) {
            const char *a = mp_frozen_names + s->off;
            size_t k = 0;
            while (k < len && a[k] == str[k]) {
                k++;
            }
            if (k == len) {
                *pos = s->pos;
                return a;
            }
        }
    }
    *pos = 0;
    return mp_frozen_names + QX_FROZEN_END;     // the list's end: no entry
}

// How many names the frozen module `name` binds at module level, as
// tools/frozenindex.py counted them from its source; 0 for a name that is
// not a frozen file, or has no count (kernel/port/presize.c uses it).
unsigned qx_frozen_globals_of(const char *name) {
    size_t len = strlen(name), pos;
    const char *e = qx_frozen_find(name, len, &pos);
    if (e[0] == 0 || e[len] != 0) {
        return 0;                       // the list's end, or a directory
    }
    return qx_frozen_globals[pos];
}
