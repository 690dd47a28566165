// Frozen-module lookup by hash (frozenidx.c).
#ifndef QX_FROZENIDX_H
#define QX_FROZENIDX_H

#include <stddef.h>

// The entry of mp_frozen_names at which py/frozenmod.c's loop would stop for
// the query str[0..len) (the first, in list order, that is str or starts with
// str "/"), and its position in *pos; or the list's final empty name.
const char *qx_frozen_find(const char *str, size_t len, size_t *pos);

#endif
