// A frozen module's globals dict, sized once before its body runs (issue 14;
// kernel/port/patches/builtinimport-presize.patch calls this).
//
// py/map.c rehashes a map only when it is completely full, growing it by 2
// or about 1.3 entries, so a module's dict was rebuilt a dozen times while
// its body bound its names: a module of 80 names 14 times, a third of a
// task's start (308,000 instructions from qx_task_start to heartbeat's first
// syscall, 188,000 with this). tools/frozenindex.py counts each module's
// names from its source; the dict (holding __name__ so far) moves once into
// a table a quarter larger than that, so that linear probing stays short.
// A module without a count is left to grow as before.
#include "py/obj.h"
#include "py/misc.h"
#include "frozenidx.h"

void qx_frozen_presize(mp_obj_dict_t *globals, const char *name) {
    size_t want = qx_frozen_globals_of(name);
    if (want == 0) {
        return;
    }
    want += 1;                          // and __name__
    want += want / 4 + 1;
    mp_map_t *map = &globals->map;
    if (map->is_fixed || want <= map->alloc) {
        return;
    }
    mp_map_t grown;
    mp_map_init(&grown, want);
    for (size_t i = 0; i < map->alloc; i++) {
        mp_obj_t key = map->table[i].key;
        if (key != MP_OBJ_NULL && key != MP_OBJ_SENTINEL) {
            mp_map_lookup(&grown, key, MP_MAP_LOOKUP_ADD_IF_NOT_FOUND)->value = map->table[i].value;
        }
    }
    m_del(mp_map_elem_t, map->table, map->alloc);
    *map = grown;
}
