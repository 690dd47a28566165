/* The IPC fast path's tables: the part of the Python kernel's state the trap
 * layer's fast path (ipcfast.c) follows. kernel/fasttab.py is the definition
 * (word offsets) and the writer; tests/host/test_fastpath.py holds this
 * struct to it. It holds no decision of its own: the run queue is the
 * scheduler's (kernel/sched.py), the IPC states are ipc's (kernel/ipc.py),
 * the permission bitmaps are the manifests' `calls`, the interrupt routes
 * the manifests' `irqs` of the live tasks.
 *
 * Every field is a 32-bit word, so the kernel writes it as one array of
 * words (a memoryview of typecode 'I': _trap.fasttab() on the device, a cffi
 * buffer in the simulator). The kernel writes what changed before every
 * resume; the fast path changes it only by the transitions it logs
 * (ipcfast.c), so after the kernel's replay of that log its own state and
 * this table agree again (kernel/fasttab.py check()). */
#pragma once
#include <stdint.h>

#define QX_FT_TASKS     32      /* task slots (the board's MAX_TASKS) */
#define QX_FT_PRIOS     8       /* priorities 0 (highest) .. 7 */
#define QX_FT_IRQS      32      /* NVIC numbers a task may own (0..31) */

/* state[]: what ipc says of a task (none: running, ready, blocked in
 * something else, or not live) */
#define QX_FT_NONE      0
#define QX_FT_RECV      1       /* blocked in recv, nobody queued: buf/cap is its buffer */
#define QX_FT_CALL      2       /* blocked in a call that peer has received: buf/cap is its reply buffer */
#define QX_FT_WAIT      3       /* blocked in wait: nmask is its mask */

typedef struct {
    uint32_t slice_ticks;               /* a fresh time slice, ms (sched.slice_ticks) */
    uint32_t start_ms;                  /* the running task's time is counted from here */
    uint32_t ready;                     /* bit p: runq[p] is not empty */
    uint32_t runq_len[QX_FT_PRIOS];
    uint32_t runq[QX_FT_PRIOS][QX_FT_TASKS];   /* the ready tasks of each priority, head first */
    int32_t slice[QX_FT_TASKS];         /* slice left, ms: of a ready task, and of the running one at start_ms */
    uint32_t prio[QX_FT_TASKS];
    uint32_t handle[QX_FT_TASKS];       /* its current IPC handle (kernel/abi.py HANDLE_*) */
    uint32_t callmask[QX_FT_TASKS];     /* bit d: it may call task d */
    uint32_t queued[QX_FT_TASKS];       /* callers queued on it */
    uint32_t state[QX_FT_TASKS];        /* QX_FT_* */
    uint32_t peer[QX_FT_TASKS];         /* QX_FT_CALL: the task serving its call */
    uint32_t buf[QX_FT_TASKS], cap[QX_FT_TASKS];
    uint32_t nmask[QX_FT_TASKS];        /* the notification bits it waits for: QX_FT_WAIT its mask,
                                           QX_FT_RECV its recv's mask (0: none); 0 otherwise */
    uint32_t irq_owner[QX_FT_IRQS];     /* NVIC number -> its live owner's tid (0: nobody; kernel _own_irqs) */
    uint32_t irq_bits[QX_FT_IRQS];      /* ... and the notification bit it raises there, as a mask */
} qx_fasttab_t;

#define QX_FT_WORDS (sizeof(qx_fasttab_t) / 4)
