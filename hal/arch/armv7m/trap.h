/* The trap layer's switch mechanism on ARMv7-M: enter a task unprivileged on its
 * own stack, and come back to the kernel thread on the next syscall, tick,
 * watched interrupt or fault, with the event recorded. It decides nothing: the
 * slice length, the deadline and the watched interrupts are set by the kernel. */
#pragma once
#include <stdint.h>

typedef struct {
    uint32_t psp;           /* saved task stack pointer (r4-r11 pushed below the hardware frame) */
    uint32_t base, size;    /* the task's MPU block */
    int32_t tid;
} qx_ctx_t;

typedef struct {
    uint32_t kind;          /* QX_EV_* */
    uint32_t no;            /* syscall number / IRQ bits / fault kind */
    uint32_t args[5];       /* syscall argument words */
    uint32_t pc, addr, cfsr;
    const char *reason;     /* fault reason (static text) */
} qx_event_t;

/* Does [addr, addr + len) lie inside the task's block? (No sum can wrap.) */
static inline int qx_ctx_owns(const qx_ctx_t *c, uint32_t addr, uint32_t len) {
    return addr >= c->base && len <= c->size && addr - c->base <= c->size - len;
}

extern volatile int32_t qx_current;         /* running task id, -1: the kernel */
extern qx_event_t qx_event;
extern volatile uint32_t qx_slice, qx_slice_left, qx_deadline_ms, qx_irq_watch;
extern uint32_t qx_fast_syscalls[];
extern qx_ctx_t *qx_cur_ctx, *qx_next_ctx;   /* the running task; the one an SVC enters next */

/* Run ctx until the next event; called from the kernel thread (privileged, MSP). */
void qx_enter(qx_ctx_t *ctx);
/* Hooks the drivers call from their interrupt handlers. */
void qx_trap_tick(uint32_t now_ms);
void qx_trap_irq(uint32_t bits);
