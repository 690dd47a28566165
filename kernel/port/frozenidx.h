// Frozen-module lookup by hash (frozenidx.c).
#ifndef QX_FROZENIDX_H
#define QX_FROZENIDX_H

#include <stddef.h>

// The entry of mp_frozen_names at which py/frozenmod.c's loop would stop for
// the query str[0..len) (the first, in list order, that is str or starts with
// str "/"), and its position in *pos; or the list's final empty name.
const char *qx_frozen_find(const char *str, size_t len, size_t *pos);

// The number of module-level names of the frozen file `name` (counted from
// its source at build time, tools/frozenindex.py), or 0: not a frozen file,
// or not counted.
unsigned qx_frozen_globals_of(const char *name);

#endif
