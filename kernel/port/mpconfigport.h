/* QENEX OS port of MicroPython: which interpreter features the kernel VM has.
 * Every switch is a MicroPython config macro; the defaults come from the
 * "extra features" ROM level and the lines below say what differs and why. */
#include <stddef.h>
#include <stdint.h>
#include "layout.h"

#define MICROPY_CONFIG_ROM_LEVEL            (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)

/* Money is never a float: the VM has no float type at all, so a float cannot
 * appear by accident (1/2 raises TypeError, use // and exact integers). */
#define MICROPY_FLOAT_IMPL                  (MICROPY_FLOAT_IMPL_NONE)
#define MICROPY_LONGINT_IMPL                (MICROPY_LONGINT_IMPL_MPZ)

/* Speed over size for the interpreter loop: flash is plentiful (1.5 MiB slot). */
#define MICROPY_OPT_COMPUTED_GOTO           (1)

/* No native code emitters: task heaps will be execute-never under the MPU. */
#define MICROPY_EMIT_THUMB                  (0)
#define MICROPY_EMIT_INLINE_THUMB           (0)

#define MICROPY_ENABLE_GC                   (1)
/* A Python call's frame (locals, value stack, exception stack) on the C
 * stack, not the heap, up to this many bytes (MicroPython's default: 11
 * words; kernel/port/patches/objfun-state-on-stack.patch lets the port set
 * it). Above it every call allocated its frame with gc_alloc and freed it
 * on return, and in a heap of live objects with small holes between them
 * gc_alloc's first-fit search passed every hole too small for the frame on
 * every call, how far depending on the heap's layout: in one layout the
 * kernel's Kernel._expire cost 51,000 instructions a call, 2,800 with its
 * frame on the stack. Every stack keeps 1 KiB below its limit
 * (mp_stack_set_limit, main.c and modqx.c), checked at each call before
 * its frame is taken, so a frame this size cannot pass the stack's end. */
/* For the kernel's VM only (privileged thread mode; a task runs with
 * CONTROL.nPRIV set and keeps MicroPython's default): the GC scans a stack
 * conservatively, and with frames on a task's 8 KiB stack the stale
 * pointers left in dead frames kept a task's garbage alive (bench's heap
 * full of garbage ran out of memory); the kernel's heap has room to spare. */
static inline int qx_privileged(void) {
    uint32_t c;
    __asm volatile ("mrs %0, control" : "=r" (c));
    return !(c & 1);
}
#define MICROPY_VM_MAX_STATE_ON_STACK       (qx_privileged() ? sizeof(mp_uint_t) * 64 : sizeof(mp_uint_t) * 11)

/* Every import stats its module's names in the frozen list (125 in the test
 * image); py/frozenmod.c walks the whole list each time, a strlen and memcmp
 * per name.  frozenmod-port-find.patch lets frozenidx.c find the entry in a
 * const hash table made at build time (tools/frozenindex.py); the walk then
 * takes one step.  strlen.c's strlen goes a word at a time (linked with
 * -Wl,--wrap=strlen) for that step and the rest of MicroPython. */
#define MICROPY_MODULE_FROZEN_FIND          qx_frozen_find
/* A module's globals dict grew a step at a time while its body ran (py/map.c
 * rehashes only a full map, by 2 or ~1.3 entries): builtinimport-presize.patch
 * lets presize.c make it the size the module's names need (counted from its
 * source at build time) once, before the body runs. No __file__: nothing reads
 * it, and each import interned its path as a new qstr in the task's heap. */
struct _mp_obj_dict_t;
void qx_frozen_presize(struct _mp_obj_dict_t *globals, const char *name);
#define MICROPY_MODULE_FROZEN_PRESIZE       qx_frozen_presize
#define MICROPY_PY___FILE__                 (0)
/* A string's qstr: py/qstr.c binary-searches the ROM pools with strncmp (950
 * instructions a lookup); qstr-port-find.patch lets qstridx.c find the ROM
 * ones by hash in a const table made at build time (tools/qstrindex.py). */
#include <stddef.h>
size_t qx_qstr_find(const char *str, size_t len, size_t hash);
#define MICROPY_QSTR_PORT_FIND              qx_qstr_find
/* The VM state (mp_state_ctx and the few globals beside it, kernel.ld) is
 * copied twice on every switch in whole 128-byte MPU subregions, so its
 * size is paid per switch: 656 bytes were 6 subregions, these bring it to
 * 496, 4 (36 instructions a switch; 500 with `_expat`'s root pointer). The GC's mark stack: 32 entries, not
 * 64 (a deeper object graph makes the GC rescan for what it missed, gc.c);
 * the scheduler queue: 1 (no task schedules callbacks; Ctrl-C does not use
 * it); no allocation statistics (micropython.mem_total/current/peak). */
#define MICROPY_ALLOC_GC_STACK_SIZE         (32)
#define MICROPY_SCHEDULER_DEPTH             (1)
#define MICROPY_ENABLE_EMERGENCY_EXCEPTION_BUF (1)
#define MICROPY_MALLOC_USES_ALLOCATED_SIZE  (1)
#define MICROPY_MEM_STATS                   (0)
#define MICROPY_STACK_CHECK                 (1)
#define MICROPY_WARNINGS                    (1)
#define MICROPY_HELPER_REPL                 (0)
#define MICROPY_KBD_EXCEPTION               (1)

/* Code comes frozen into the firmware; there is no filesystem yet. */
#define MICROPY_PERSISTENT_CODE_LOAD        (1)
#define MICROPY_VFS                         (0)
#define MICROPY_READER_VFS                  (0)
#define MICROPY_PY_IO_FILEIO                (0)
#define MICROPY_PY_OS                       (0)
#define MICROPY_PY_TIME                     (0)
#define MICROPY_PY_SELECT                   (0)
#define MICROPY_PY_ASYNCIO                  (0)
#define MICROPY_PY_MACHINE                  (0)
#define MICROPY_PY_SYS_STDFILES             (0)
#define MICROPY_PY_BUILTINS_INPUT           (0)
#define MICROPY_PY_SYS_STDIO_BUFFER         (0)
#define MICROPY_PY_SYS_PLATFORM             "qenex"
#define MICROPY_HW_BOARD_NAME               QX_BOARD_NAME
#define MICROPY_HW_MCU_NAME                 "Cortex-M3"

#define MICROPY_MAKE_POINTER_CALLABLE(p)    ((void *)((mp_uint_t)(p) | 1))
#define MP_SSIZE_MAX                        (0x7fffffff)
#define UINT_FMT                            "%lu"
#define INT_FMT                             "%ld"
typedef int32_t mp_int_t;     /* must be pointer size */
typedef uint32_t mp_uint_t;   /* must be pointer size */
typedef long mp_off_t;

#include <alloca.h>
#define MP_STATE_PORT MP_STATE_VM
#define MP_NEED_LOG2 (1)
