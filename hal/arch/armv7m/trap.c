/* Task entry and exit on ARMv7-M.
 *
 * The kernel thread calls qx_enter(ctx), which executes SVC. The SVC handler,
 * seeing it came from MSP, pushes the kernel's r4-r11 on MSP, remembers MSP,
 * loads the task's r4-r11 from its PSP and returns to thread mode on PSP with
 * CONTROL.nPRIV set. The task then runs until one of:
 *   SVC from the task            -> EV_SYSCALL (number and five argument words)
 *   PendSV pended by the tick    -> EV_TICK (slice spent or deadline passed)
 *   PendSV pended by a device    -> EV_IRQ (a watched interrupt)
 *   MemManage/BusFault/UsageFault/HardFault from the task -> EV_FAULT
 * Each saves the task's r4-r11 below its hardware frame on PSP (not after a
 * fault: that task is finished), restores the kernel's MSP and r4-r11 and
 * returns to the kernel thread, which continues after its SVC. PendSV has the
 * lowest priority, so a switch never returns to thread mode from a nested
 * handler. Nothing a task leaves in its registers or stack is trusted: its
 * stack pointer is checked against its block before the kernel writes there. */
#include <stddef.h>
#include "trap.h"
#include "cm3.h"
#include "abi.h"
#include "layout.h"
#include "../../../drivers/timer/cmsdk_timer.h"
#include "../../../drivers/uart/task_uart.h"

#define ICSR_PENDSVSET (1u << 28)
#define ICSR_PENDSVCLR (1u << 27)
#define SCB_SHPR2 QX_REG(0xE000ED1Cu)   /* SVC priority in bits 31:24 */
#define SCB_SHPR3 QX_REG(0xE000ED20u)   /* PendSV 23:16, SysTick 31:24 */

volatile int32_t qx_current = -1;
qx_event_t qx_event;
volatile uint32_t qx_slice = 10, qx_slice_left, qx_deadline_ms, qx_irq_watch;
uint32_t qx_fast_syscalls[QX_MAX_TASKS];      /* syscalls answered here, per task */
qx_ctx_t *qx_cur_ctx;
qx_ctx_t *qx_next_ctx;
uint32_t qx_kernel_msp;
static volatile uint32_t pend_kind, pend_bits;

void qx_trap_init(void) {
    SCB_SHPR2 = 0x80u << 24;                  /* SVC below the device interrupts */
    SCB_SHPR3 = (0xffu << 16) | (0xffu << 24); /* PendSV lowest: switches nest nowhere */
}

void qx_enter(qx_ctx_t *ctx) {
    qx_next_ctx = ctx;
    SCB_ICSR = ICSR_PENDSVCLR;
    pend_kind = pend_bits = 0;              /* (no task runs: no handler writes them now) */
    __asm volatile ("svc 0" ::: "r0", "r1", "r2", "r3", "r12", "lr", "memory");
}

void qx_trap_tick(uint32_t now_ms) {
    if (qx_current < 0) {
        return;
    }
    if (qx_slice_left) {
        qx_slice_left--;
    }
    if (qx_slice_left == 0 || (qx_deadline_ms && now_ms >= qx_deadline_ms)) {
        pend_kind = QX_EV_TICK;
        SCB_ICSR = ICSR_PENDSVSET;
    }
}

void qx_trap_irq(uint32_t bits) {
    if (qx_current >= 0 && ((qx_irq_watch | QX_IRQ_TASK) & bits)) {    /* IRQ_TASK: always watched */
        if (pend_kind != QX_EV_TICK) {      /* a tick due first stays the event (the IRQ waits in qx_irq_pending) */
            pend_kind = QX_EV_IRQ;
        }
        pend_bits |= bits;
        SCB_ICSR = ICSR_PENDSVSET;
    }
}

/* Task-owned interrupts. The kernel writes qx_irq_owner (NVIC number ->
 * owner tid, 0: nobody; kernel/kernel.py _own_irqs through _trap.irq_own);
 * what fired for an owner is recorded in qx_irq_pending (bit n: NVIC number
 * n) until the kernel takes it (_trap.irq_take) and raises the owner's
 * notification bit. A raw IRQ (the LAN9118's) is masked in the NVIC by the
 * generic handler below and stays masked until the owner acknowledges it
 * (SYS_IRQ: _trap.irq_ack); a task UART's (drivers/uart/task_uart.c) is
 * served by its driver and reports ring events here. */
volatile uint32_t qx_irq_pending;
uint8_t qx_irq_owner[32];

static void irq_pend(uint32_t n) {
    qx_irq_pending |= 1u << n;
    qx_trap_irq(QX_IRQ_TASK);
}

void qx_task_irq(void) {
    uint32_t n = (SCB_ICSR & 0x1ffu) - 16u;
    if (n < 32) {
        qx_irq_disable(n);
        if (qx_irq_owner[n]) {
            irq_pend(n);
        }
    }
}

void qx_tuart_event(uint32_t irq) {
    if (irq < 32 && qx_irq_owner[irq]) {
        irq_pend(irq);
    }
}

uint32_t qx_tuart_lock(void) {
    return qx_irq_save();
}

void qx_tuart_unlock(uint32_t s) {
    qx_irq_restore(s);
}

void UART1_RX_Handler(void) { qx_tuart_rx_isr(1); }
void UART1_TX_Handler(void) { qx_tuart_tx_isr(1); }
void UART2_RX_Handler(void) { qx_tuart_rx_isr(2); }
void UART2_TX_Handler(void) { qx_tuart_tx_isr(2); }
void UART3_RX_Handler(void) { qx_tuart_rx_isr(3); }
void UART3_TX_Handler(void) { qx_tuart_tx_isr(3); }

/* SYS_UART for the owner of the device, with a range inside its block,
 * answered here (the kernel answers the rest: refusals, and sources in
 * flash): the bulk copy of task_uart.c, about a word's move a byte. 0: to
 * the kernel, 2: answered. */
static uint32_t uart_fast(uint32_t *frame, const uint32_t *a) {
    uint32_t op = a[0], dev = a[1], ptr = a[2], len = a[3];
    if (op > QX_UART_WRITE || dev < 1 || dev > QX_TUARTS) {
        return 0;
    }
    const qx_tuart_t *u = &qx_tuarts[dev - 1];
    int32_t tid = qx_cur_ctx->tid;
    if (!u->regs || u->rx_irq >= 32 || qx_irq_owner[u->rx_irq] != (uint32_t)tid
        || !qx_ctx_owns(qx_cur_ctx, ptr, len)) {
        return 0;
    }
    if (len > QX_UART_RING) {
        len = QX_UART_RING;
    }
    frame[0] = op == QX_UART_READ ? qx_tuart_read((int)dev, (uint8_t *)ptr, len, a[4])
                                  : qx_tuart_write((int)dev, (const uint8_t *)ptr, len);
    frame[1] = 0;
    qx_fast_syscalls[tid]++;
    return 2;
}

/* Is psp a stack pointer of the running task under which the kernel may save
 * r4-r11 and from which it may read the hardware frame? */
static int psp_ok(uint32_t psp) {
    const qx_ctx_t *c = qx_cur_ctx;
    return (psp & 3) == 0 && psp >= c->base + 32 && psp + 32 <= c->base + c->size;
}

static uint32_t task_fault(const char *reason, uint32_t pc, uint32_t addr) {
    qx_event.kind = QX_EV_FAULT;
    qx_event.reason = reason;
    qx_event.pc = pc;
    qx_event.addr = addr;
    qx_event.cfsr = 0;
    return 1;
}

/* The port's yield (kernel/port/ipcfast.c, from the kernel's run queue):
 * 0 not taken, 2 answered (back to the task), 3 switch; none by default. */
uint32_t __attribute__((weak)) qx_yield_fast(uint32_t *frame) {
    (void)frame;
    return 0;
}

/* The port's IPC fast path (kernel/port/ipcfast.c); none by default. */
uint32_t __attribute__((weak)) qx_ipc_fast(uint32_t *frame, const uint32_t *args) {
    (void)frame;
    (void)args;
    return 0;
}

/* Called by the SVC handler for a syscall: 0 = save the context and go to
 * the kernel, 1 = the task is finished, 2 = answered here: back to the task,
 * 3 = answered here: switch to qx_next_ctx. */
uint32_t __attribute__((used)) qx_record_syscall(uint32_t psp) {
    if (!psp_ok(psp)) {
        return task_fault("bad stack pointer", 0, psp);
    }
    uint32_t *frame = (uint32_t *)psp, no = frame[0];
    /* Fast paths first: syscalls answered here, with no argument words.
     * SYS_TICKS reads the clock; SYS_YIELD follows the kernel's run queue
     * (2: it goes on, counted here; 3: another task runs). */
    if (no == QX_SYS_YIELD) {
        uint32_t r = qx_yield_fast(frame);
        if (r == 2) {
            qx_fast_syscalls[qx_cur_ctx->tid]++;
        }
        if (r) {
            return r;
        }
    } else if (no == QX_SYS_TICKS) {
        uint64_t ms = qx_ticks_ms();
        frame[0] = (uint32_t)ms & 0x7fffffffu;
        frame[1] = (uint32_t)(ms >> 31);
        qx_fast_syscalls[qx_cur_ctx->tid]++;
        return 2;
    }
    uint32_t argp = frame[1];
    if (!qx_ctx_owns(qx_cur_ctx, argp, 4 * QX_SYS_NARGS) || (argp & 3)) {
        return task_fault("bad syscall arguments", frame[6], argp);
    }
    /* The fast path reads the argument words where they are (the task is
     * stopped, and what it copies goes to other blocks); only a syscall
     * left to the kernel has them copied into the event. */
    if (no == QX_SYS_UART) {
        uint32_t r = uart_fast(frame, (const uint32_t *)argp);
        if (r) {
            return r;
        }
    }
    uint32_t fast = qx_ipc_fast(frame, (const uint32_t *)argp);
    if (fast) {
        return fast;
    }
    for (int i = 0; i < QX_SYS_NARGS; i++) {
        qx_event.args[i] = ((const uint32_t *)argp)[i];
    }
    qx_event.kind = QX_EV_SYSCALL;
    qx_event.no = no;
    return 0;
}

/* The port's interrupt fast path (kernel/port/ipcfast.c); none by default. */
uint32_t __attribute__((weak)) qx_irq_fast(uint32_t pending, int32_t me, int32_t *run) {
    (void)pending;
    (void)me;
    (void)run;
    return 0;
}
void __attribute__((weak)) qx_fast_switch(int tid) {
    (void)tid;
}

/* Called by PendSV: 0 = save the context and go to the kernel with
 * qx_event, 1 = the task is finished, 2 = back to the task, 3 = switch to
 * qx_next_ctx. An event of task-owned interrupts alone goes to the fast
 * path first (qx_irq_fast: the owners' bits raised, a woken owner that
 * outranks the task runs at once); a tick, console input or anything it
 * does not take goes to the kernel. */
uint32_t __attribute__((used)) qx_record_pendsv(uint32_t psp) {
    if (!psp_ok(psp)) {
        return task_fault("bad stack pointer", 0, psp);
    }
    uint32_t s = qx_irq_save();
    uint32_t kind = pend_kind, bits = pend_bits;
    pend_kind = pend_bits = 0;
    if (kind == QX_EV_IRQ && bits == QX_IRQ_TASK) {
        uint32_t p = qx_irq_pending;
        int32_t me = qx_cur_ctx->tid, run = me;
        if (qx_irq_fast(p, me, &run)) {
            qx_irq_pending &= ~p;
            qx_irq_restore(s);
            if (run == me) {
                return 2;
            }
            qx_fast_switch(run);
            return 3;
        }
    }
    qx_irq_restore(s);
    if (kind == 0) {
        return 2;                       /* taken by an earlier pass: nothing to do */
    }
    qx_event.kind = kind;
    qx_event.no = bits;
    return 0;
}

void __attribute__((used)) qx_record_fault(uint32_t psp, const char *what) {
    uint32_t cfsr = SCB_CFSR;
    uint32_t addr = (cfsr & 0x80u) ? SCB_MMFAR : (cfsr & 0x8000u) ? SCB_BFAR : 0;
    uint32_t pc = psp_ok(psp) ? ((const uint32_t *)psp)[6] : 0;
    SCB_CFSR = cfsr;                 /* write-one-to-clear */
    SCB_HFSR = SCB_HFSR;
    task_fault(what, pc, addr);
    qx_event.cfsr = cfsr;
}

/* Back to the kernel thread: restore its MSP and r4-r11, privileged, thread mode. */
#define RETURN_TO_KERNEL \
    "ldr r0, =qx_kernel_msp\n" \
    "ldr r0, [r0]\n" \
    "mov sp, r0\n" \
    "pop {r4-r11}\n" \
    "movs r0, #0\n" \
    "msr control, r0\n" \
    "isb\n" \
    "ldr r0, =qx_current\n" \
    "mvn r1, #0\n" \
    "str r1, [r0]\n" \
    "ldr lr, =0xFFFFFFF9\n" \
    "bx lr\n"

/* Save the task's r4-r11 below its frame, then back to the kernel. */
void __attribute__((naked, used)) qx_switch_to_kernel(void) {
    __asm volatile (
        "mrs r0, psp\n"
        "stmdb r0!, {r4-r11}\n"
        "ldr r1, =qx_cur_ctx\n"
        "ldr r1, [r1]\n"
        "str r0, [r1]\n"
        RETURN_TO_KERNEL);
}

void __attribute__((naked, used)) qx_abandon_task(void) {
    __asm volatile (RETURN_TO_KERNEL);
}

void __attribute__((naked)) SVC_Handler(void) {
    __asm volatile (
        "tst lr, #4\n"
        "bne 1f\n"
        /* From the kernel: enter qx_next_ctx. */
        "push {r4-r11}\n"
        "ldr r1, =qx_kernel_msp\n"
        "str sp, [r1]\n"
        "ldr r0, =qx_next_ctx\n"
        "ldr r0, [r0]\n"
        "ldr r1, =qx_cur_ctx\n"
        "str r0, [r1]\n"
        "ldr r1, [r0, #12]\n"          /* ctx->tid */
        "ldr r2, =qx_current\n"
        "str r1, [r2]\n"
        "ldr r0, [r0]\n"               /* ctx->psp */
        "ldmia r0!, {r4-r11}\n"
        "msr psp, r0\n"
        "movs r0, #1\n"
        "msr control, r0\n"            /* unprivileged thread mode */
        "isb\n"
        "ldr lr, =0xFFFFFFFD\n"        /* thread mode, PSP */
        "bx lr\n"
        /* From a task: a syscall. */
        "1:\n"
        "mrs r0, psp\n"
        "push {r1, lr}\n"              /* keep EXC_RETURN for the fast path */
        "bl qx_record_syscall\n"
        "pop {r1, lr}\n"
        "cmp r0, #2\n"
        "it eq\n"
        "bxeq lr\n"                    /* answered here: back to the task */
        "cmp r0, #3\n"
        "beq 3f\n"
        "cbnz r0, 2f\n"
        "b qx_switch_to_kernel\n"
        "2:\n"
        "b qx_abandon_task\n"
        "3:\n"
        "b qx_switch_tasks\n");
}

/* Answered here (a syscall, or interrupts for their owners), and another
 * task runs next: save this one's r4-r11 below its frame, load the
 * other's (its VM state and MPU region are already in place:
 * qx_fast_switch), back to thread mode on PSP (lr: EXC_RETURN). */
void __attribute__((naked, used)) qx_switch_tasks(void) {
    __asm volatile (
        "mrs r0, psp\n"
        "stmdb r0!, {r4-r11}\n"
        "ldr r1, =qx_cur_ctx\n"
        "ldr r2, [r1]\n"
        "str r0, [r2]\n"
        "ldr r0, =qx_next_ctx\n"
        "ldr r0, [r0]\n"
        "str r0, [r1]\n"
        "ldr r2, [r0, #12]\n"
        "ldr r3, =qx_current\n"
        "str r2, [r3]\n"
        "ldr r0, [r0]\n"
        "ldmia r0!, {r4-r11}\n"
        "msr psp, r0\n"
        "bx lr\n");
}

void __attribute__((naked)) PendSV_Handler(void) {
    __asm volatile (
        "ldr r0, =qx_current\n"
        "ldr r0, [r0]\n"
        "cmp r0, #0\n"
        "it lt\n"
        "bxlt lr\n"                    /* the kernel runs: nothing to switch */
        "mrs r0, psp\n"
        "push {r1, lr}\n"              /* keep EXC_RETURN for the fast path */
        "bl qx_record_pendsv\n"
        "pop {r1, lr}\n"
        "cmp r0, #2\n"
        "it eq\n"
        "bxeq lr\n"                    /* the interrupts' owners took them: back to the task */
        "cmp r0, #3\n"
        "bne 2f\n"
        "b qx_switch_tasks\n"          /* an owner that outranks it runs */
        "2:\n"
        "cbnz r0, 1f\n"
        "b qx_switch_to_kernel\n"
        "1:\n"
        "b qx_abandon_task\n");
}

/* A fault from a task ends the task and returns to the kernel; a fault in the
 * kernel or in a handler is a kernel panic (qx_fault_report). */
#define FAULT_HANDLER(name, label) \
    void __attribute__((naked)) name(void) { \
        __asm volatile ( \
            "ldr r1, =" label "\n" \
            "tst lr, #4\n" \
            "beq 1f\n" \
            "ldr r0, =qx_current\n" \
            "ldr r0, [r0]\n" \
            "cmp r0, #0\n" \
            "blt 2f\n" \
            "mrs r0, psp\n" \
            "bl qx_record_fault\n" \
            "b qx_abandon_task\n" \
            "1:\n" \
            "mrs r0, msp\n" \
            "b qx_fault_report\n" \
            "2:\n" \
            "mrs r0, psp\n" \
            "b qx_fault_report\n"); \
    }

static const char hardfault_str[] __attribute__((used)) = "HardFault";
static const char memmanage_str[] __attribute__((used)) = "MemManage";
static const char busfault_str[] __attribute__((used)) = "BusFault";
static const char usagefault_str[] __attribute__((used)) = "UsageFault";
FAULT_HANDLER(HardFault_Handler, "hardfault_str")
FAULT_HANDLER(MemManage_Handler, "memmanage_str")
FAULT_HANDLER(BusFault_Handler, "busfault_str")
FAULT_HANDLER(UsageFault_Handler, "usagefault_str")
