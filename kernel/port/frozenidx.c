// Frozen-module lookup by binary search (issue 14).
//
// py/frozenmod.c's mp_find_frozen_module walks every name of mp_frozen_names
// (strlen and memcmp on each) on every stat an import makes: 45,000-70,000
// instructions a module.  With kernel/port/patches/frozenmod-port-find.patch
// it asks qx_frozen_find first where its loop would stop, and starts the loop
// there; the loop's one step then gives the same answer as before.
//
// The index (frozen_index.h) is made at build time by tools/frozenindex.py
// from the build's frozen_content.c: the entries sorted by name, as const
// data in flash.  Nothing here writes memory.
#include <stddef.h>
#include <stdint.h>

#include "frozenidx.h"

typedef struct {
    uint16_t off;       // in mp_frozen_names
    uint16_t len;
    uint16_t pos;       // the entry's position in the list (frozenmod's i)
} qx_frozen_entry_t;

#include "frozen_index.h"

extern const char mp_frozen_names[];

// Is entry e before the key str[0..len) (followed by sep, when sep is not 0)?
static int before(const qx_frozen_entry_t *e, const char *str, size_t len, unsigned sep) {
    const unsigned char *a = (const unsigned char *)mp_frozen_names + e->off;
    size_t klen = len + (sep != 0);
    size_t n = e->len < klen ? e->len : klen;
    for (size_t k = 0; k < n; k++) {
        unsigned c = k < len ? (unsigned char)str[k] : sep;
        if (a[k] != c) {
            return a[k] < c;
        }
    }
    return e->len < klen;
}

// The first entry not before the key.
static size_t lower_bound(const char *str, size_t len, unsigned sep) {
    size_t lo = 0, hi = QX_FROZEN_COUNT;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (before(&qx_frozen_index[mid], str, len, sep)) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

// Does entry e start with str[0..len) (then sep, when sep is not 0)?
static int starts_with(const qx_frozen_entry_t *e, const char *str, size_t len, unsigned sep) {
    const char *a = mp_frozen_names + e->off;
    if (e->len < len + (sep != 0)) {
        return 0;
    }
    for (size_t k = 0; k < len; k++) {
        if (a[k] != str[k]) {
            return 0;
        }
    }
    return sep == 0 || (unsigned char)a[len] == sep;
}

const char *qx_frozen_find(const char *str, size_t len, size_t *pos) {
    // frozenmod's loop stops at the first entry (in list order) that is str
    // itself (a file) or starts with str "/" (a directory).
    const qx_frozen_entry_t *best = NULL;
    size_t i = lower_bound(str, len, 0);
    if (i < QX_FROZEN_COUNT && qx_frozen_index[i].len == len && starts_with(&qx_frozen_index[i], str, len, 0)) {
        best = &qx_frozen_index[i];     // ties sort by position: the first
    }
    size_t d = lower_bound(str, len, '/');
    for (; d < QX_FROZEN_COUNT && starts_with(&qx_frozen_index[d], str, len, '/'); d++) {
        if (best == NULL || qx_frozen_index[d].pos < best->pos) {
            best = &qx_frozen_index[d];
        }
        if (best->len != len) {
            break;                      // a directory: which one does not matter
        }
    }
    if (best == NULL) {
        *pos = QX_FROZEN_COUNT;
        return mp_frozen_names + QX_FROZEN_END;     // the list's end: no entry
    }
    *pos = best->pos;
    return mp_frozen_names + best->off;
}
