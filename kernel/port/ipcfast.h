/* The IPC fast path (ipcfast.c): the tables it follows (fasttab.h, written
 * by the Python kernel), its log (read back by it), and the few hooks it
 * needs from the port that owns the task contexts -- modtrap.c on the
 * device, the simulator (kernel/sim.py through cffi) on the host. */
#pragma once
#include <stdint.h>
#include "fasttab.h"

#define QX_FASTLOG_MAX 64
#include "abi.h"                /* QX_SYS_*, QX_FAST_*, QX_MSG_MAX */

typedef struct {
    uint32_t kind, a, b, c, d, e, ms;
} qx_fastlog_t;

extern qx_fasttab_t qx_fasttab;
extern qx_fastlog_t qx_fastlog[];
extern volatile uint32_t qx_fastlog_len, qx_fast_enabled;

/* 0: not taken; 2: answered, back to the same task; 3: switch (qx_fast_switch
 * was called). frame[0] is the syscall number, frame[0..1] the task's results. */
uint32_t qx_ipc_fast(uint32_t *frame, const uint32_t *args);
/* SYS_YIELD, before the arguments are read (it has none): as qx_ipc_fast. */
uint32_t qx_yield_fast(uint32_t *frame);
/* Task-owned interrupts that fired (bit n: NVIC number n) to their owners
 * (ipcfast.c): 0 not taken (nothing changed), 2 taken, *run the task to
 * run now (me, another, or 0: nobody, idle). */
uint32_t qx_irq_fast(uint32_t pending, int32_t me, int32_t *run);

/* From the trap layer (hal/arch/armv7m/trap.c; the simulator's own on the host). */
extern volatile int32_t qx_current;             /* the running task */
extern volatile uint32_t qx_slice_left;         /* ticks left of its slice */

/* Provided by the port that owns the task contexts. */
int qx_task_live(int tid);
int qx_task_may_copy(int tid, uint32_t addr, uint32_t len, int writing);  /* its block, or flash to read */
void qx_task_copy(int to, uint32_t dst, int from, uint32_t src, uint32_t len);  /* both checked */
void qx_task_set_result(int tid, uint32_t r0, uint32_t r1);   /* a task stopped in a syscall */
void qx_fast_switch(int tid);   /* save the running VM, load tid's, set qx_next_ctx and the MPU */
uint32_t qx_fast_ms(void);      /* the kernel's clock, ms */
