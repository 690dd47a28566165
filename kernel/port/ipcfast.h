/* The IPC fast path's tables (written by the Python kernel through _trap) and
 * its log (read back by it). See ipcfast.c. */
#pragma once
#include <stdint.h>
#include "trap.h"

#define QX_PRIO_NONE 8          /* no ready task */
#define QX_FASTLOG_MAX 64
#include "abi.h"                /* QX_FAST_CALL, QX_FAST_REPLY, QX_FAST_RECV */

typedef struct {
    uint8_t prio;
    uint8_t receiving;          /* blocked in recv, nobody queued */
    uint8_t queued;             /* callers queued on it (the kernel's count, capped) */
    int8_t calling;             /* the task serving its call, -1: none */
    uint32_t callmask;          /* tasks it may call */
    uint32_t recv_buf, recv_cap;
    uint32_t reply_buf, reply_cap;
    uint32_t handle;            /* its IPC handle: id | incarnation << 8 (kernel/abi.py HANDLE_*) */
} qx_ipc_t;

typedef struct {
    uint32_t kind, a, b, c, d, e, ms;
} qx_fastlog_t;

extern qx_ipc_t qx_ipc[];
extern volatile uint32_t qx_other_best, qx_fastlog_len, qx_fast_enabled;
extern volatile int32_t qx_peer;
extern qx_fastlog_t qx_fastlog[];

/* 0: not taken; 2: answered, back to the same task; 3: switch to qx_next_ctx. */
uint32_t qx_ipc_fast(uint32_t *frame, const uint32_t *args);
void qx_ipc_reset_run(void);

/* Provided by modtrap.c (it owns the task table). */
const qx_ctx_t *qx_task_ctx(int tid);
int qx_task_live(int tid);
int qx_task_may_copy(int tid, uint32_t addr, uint32_t len, int writing);  /* block, or flash to read */
void qx_fast_switch(int tid);   /* save the running VM, load tid's, set qx_next_ctx and the MPU */
