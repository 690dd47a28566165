/* `_trap`: the kernel's handle on the trap layer (hal/arch/armv7m/trap.c).
 * create() prepares a task's MicroPython VM on memory the kernel hands it,
 * resume() runs it until the next event and returns that event as a tuple,
 * read()/write() copy bytes across the boundary after checking the range.
 * The live VM globals block (.vmstate) is swapped around every resume: the
 * kernel's own VM state is saved, the task's loaded, and back. */
#include <stddef.h>
#include <string.h>
#include "py/runtime.h"
#include "py/smallint.h"
#include "py/gc.h"
#include "py/objarray.h"
#include "py/mphal.h"
#include "cm3.h"
#include "mpu.h"
#include "trap.h"
#include "abi.h"
#include "ipcfast.h"
#include "layout.h"
#include "../../drivers/uart/cmsdk_uart.h"
#include "../../drivers/uart/task_uart.h"
#include "../../drivers/timer/cmsdk_timer.h"

#define STACK_PAINT 0xdeadbeefu
#include "qx_task.h"
#define ENTRY_MAX QX_ENTRY_MAX

/* The VM-state block (hal/board/<board>/kernel.ld): _svmstate.._evmstate
 * holds the gathered globals, padded to _gvmstate, a whole number of MPU
 * subregions. [_svmstate, _gvmstate) is exactly what is swapped on every
 * switch and exactly what the MPU grants a task (the linker computes the
 * region's size and subregion-disable fields, _qx_vmstate_rasr_*): no byte a
 * task may touch there outlives its turn on the CPU. */
extern uint8_t _sivmstate[], _svmstate[], _evmstate[], _gvmstate[];
extern uint8_t _qx_vmstate_rasr_size[], _qx_vmstate_rasr_srd[];
#define VMSTATE_LEN ((size_t)(_gvmstate - _svmstate))
#define VMSTATE_MAX 1024

typedef struct {
    qx_ctx_t ctx;
    uint32_t stack_size;
    uint32_t dev[2 * QX_MPU_DEVICES]; /* (base, size) of the devices it is granted (grant()), size 0: none */
    uint32_t mpu[QX_MPU_TASK_WORDS];  /* its block and devices as MPU register values (create(), grant()) */
    uint8_t live;
    uint8_t vm[VMSTATE_MAX] __attribute__((aligned(8)));
} task_t;

static task_t tasks[QX_MAX_TASKS] __attribute__((used));   /* used: qx_fast_switch names it */
static uint8_t kernel_vm[VMSTATE_MAX] __attribute__((aligned(8)));

extern void qx_task_start(uint32_t base, uint32_t stack_size, uint32_t size, const char *entry);
extern void qx_panic(const char *what, uint32_t pc, uint32_t cfsr, uint32_t addr) __attribute__((noreturn));

/* Copy a VM-state block: word aligned, a whole number of 128-byte MPU
 * subregions (kernel.ld pads it so), 44 + 44 + 40 bytes per ldm/stm triple:
 * 8 instructions a subregion, 32 for the 512-byte block (resume() copies
 * twice; a switch between tasks uses qx_fast_switch's swap). Neither memcpy nor a loop
 * of 32-byte steps (3.5 instructions each). */
static void __attribute__((naked, noinline)) vm_copy(void *dst, const void *src, size_t n) {
    (void)dst;
    (void)src;
    (void)n;
    __asm volatile (
        "push {r4-r11, lr}\n"
        "1:\n"
        "ldmia r1!, {r3-r12, lr}\n"
        "stmia r0!, {r3-r12, lr}\n"
        "ldmia r1!, {r3-r12, lr}\n"
        "stmia r0!, {r3-r12, lr}\n"
        "ldmia r1!, {r3-r12}\n"
        "stmia r0!, {r3-r12}\n"
        "subs r2, r2, #128\n"
        "bhi 1b\n"
        "pop {r4-r11, pc}\n");
}

/* Zero [p, p + n): p word aligned, n a multiple of 32 (a task block, or the
 * pool), eight words per stm, three instructions a loop: a 128 KiB block is
 * about 12,000 instructions, the 1 MiB pool about 100,000. */
static void scrub(void *p, size_t n) {
    if (n < 32) {
        return;
    }
    qx_zero32(p, n & ~31u);
}

/* A task's context is gone: its whole block (stack, heap, arena, code) and
 * its saved VM state are zeroed before the block goes back to the pool, so
 * nothing of it reaches the block's next owner, or lingers while the block
 * is free. Every way a task ends goes through here (the kernel's _end and
 * its failed-start path call kill()); a context that holds no block is left
 * alone, so a second kill costs nothing. */
static void end_task(task_t *t) {
    int tid = t - tasks;
    if (t->ctx.size) {
        scrub((void *)t->ctx.base, t->ctx.size);
    }
    /* The net task's lwIP state (device net_ram) is its memory as much as
     * its block is: nothing of it outlives the task. */
    for (int i = 0; i < QX_MPU_DEVICES; i++) {
        if (t->dev[2 * i + 1] && t->dev[2 * i] == QX_NET_RAM_BASE) {
            scrub((void *)QX_NET_RAM_BASE, QX_NET_RAM_SIZE);
        }
    }
    memset(t->vm, 0, sizeof t->vm);
    memset(t->dev, 0, sizeof t->dev);
    memset(t->mpu, 0, sizeof t->mpu);
    t->ctx.psp = t->ctx.base = t->ctx.size = 0;
    t->stack_size = 0;
    t->live = 0;
    qx_fast_syscalls[tid] = 0;
}

/* For the IPC fast path (ipcfast.c), which runs in the SVC handler. */
int qx_task_live(int tid) {
    return tid > 0 && tid < QX_MAX_TASKS && tasks[tid].live;
}

/* The switch between tasks, for the fast path, in one pass (naked: it is
 * the hot path of every switch; about 68 instructions):
 *   to = &tasks[tid]; qx_next_ctx = &to->ctx (the SVC handler loads its
 *   registers on the way out); qx_mpu_load(to->mpu); then the VM-state
 *   swap: the live block (_svmstate) saved to the running task's vm, to's
 *   vm copied into it, 11 words per ldm/stm (eleven registers: three hold
 *   the pointers), each 128-byte subregion one unrolled step of 12
 *   instructions (11 + 11 + 10 words, both copies). The block's size is
 *   the linker's (kernel.ld): the steps of subregions it does not have
 *   are skipped (_qx_vmstate_swap_skip bytes of code), so the 512-byte
 *   block costs 4 steps, 48 instructions (a C function calling a loop of
 *   32-byte steps took 28 + 75). The offsets below are task_t's. */
#define TASK_SIZE 1088
#define TASK_MPU 36
#define TASK_VM 64
#define STR_(x) #x
#define STR(x) STR_(x)
_Static_assert(offsetof(task_t, ctx) == 0 && offsetof(task_t, mpu) == TASK_MPU && offsetof(task_t, vm) == TASK_VM
    && sizeof(task_t) == TASK_SIZE, "task_t: qx_fast_switch's offsets");
_Static_assert(TASK_SIZE == 17 * 64, "qx_fast_switch: tid * TASK_SIZE as (tid + 16 tid) << 6");
#define SWAP_REGS "{r2, r4, r5, r6, r7, r8, r9, r10, r11, r12, lr}"
#define SWAP_REGS10 "{r2, r4, r5, r6, r7, r8, r9, r10, r11, r12}"
#define SWAP_STEP \
    "ldmia r3, " SWAP_REGS "\n" \
    "stmia r0!, " SWAP_REGS "\n" \
    "ldmia r1!, " SWAP_REGS "\n" \
    "stmia r3!, " SWAP_REGS "\n" \
    "ldmia r3, " SWAP_REGS "\n" \
    "stmia r0!, " SWAP_REGS "\n" \
    "ldmia r1!, " SWAP_REGS "\n" \
    "stmia r3!, " SWAP_REGS "\n" \
    "ldmia r3, " SWAP_REGS10 "\n" \
    "stmia r0!, " SWAP_REGS10 "\n" \
    "ldmia r1!, " SWAP_REGS10 "\n" \
    "stmia r3!, " SWAP_REGS10 "\n"
void __attribute__((naked, noinline)) qx_fast_switch(int tid) {
    (void)tid;
    __asm volatile (
        "push {r4-r11, lr}\n"
        "ldr r1, =tasks\n"
        "add r0, r0, r0, lsl #4\n"
        "add r1, r1, r0, lsl #6\n"        /* to = &tasks[tid] */
        "ldr r3, =qx_next_ctx\n"
        "str r1, [r3]\n"                  /* &to->ctx (offset 0) runs next */
        "add r0, r1, #" STR(TASK_MPU) "\n"
        "ldmia r0, {r2, r3, r4, r5, r6, r12}\n"   /* qx_mpu_load(to->mpu) */
        "ldr r0, =0xE000ED9C\n"
        "stmia r0, {r2, r3, r4, r5, r6, r12}\n"
        "dsb 0xf\n"
        "isb 0xf\n"
        "ldr r0, =qx_cur_ctx\n"
        "ldr r0, [r0]\n"
        "adds r0, #" STR(TASK_VM) "\n"    /* save: the running task's vm */
        "adds r1, #" STR(TASK_VM) "\n"    /* load: to's */
        "ldr r3, =_svmstate\n"
        "ldr r2, =_qx_vmstate_swap_skip\n"
        "add pc, r2\n"                 /* pc reads as this instruction + 4: the first step */
        "nop.n\n"
        "qx_vm_swap_step0:\n"
        SWAP_STEP
        "qx_vm_swap_step1:\n"
        SWAP_STEP SWAP_STEP SWAP_STEP SWAP_STEP SWAP_STEP SWAP_STEP SWAP_STEP
        ".if (qx_vm_swap_step1 - qx_vm_swap_step0) - 48\n"
        ".error \"qx_fast_switch: a step is not 48 bytes (kernel.ld _qx_vmstate_swap_skip)\"\n"
        ".endif\n"
        "pop {r4-r11, pc}\n"
        ".ltorg\n");
}
extern void qx_trap_init(void);

void qx_trap_setup(void) {
    if (VMSTATE_LEN > VMSTATE_MAX || VMSTATE_LEN == 0 || VMSTATE_LEN % 128) {
        qx_panic("VM-state block does not fit its buffers", VMSTATE_LEN, 0, 0);
    }
    qx_trap_init();
    qx_tuart_setup(1, QX_UART1_BASE, QX_UART1_RX_IRQ, QX_UART1_TX_IRQ);
    qx_tuart_setup(2, QX_UART2_BASE, QX_UART2_RX_IRQ, QX_UART2_TX_IRQ);
    qx_tuart_setup(3, QX_UART3_BASE, QX_UART3_RX_IRQ, QX_UART3_TX_IRQ);
    qx_mpu_init(QX_FLASH_BASE, QX_FLASH_SIZE, (uint32_t)_svmstate,
        (uint32_t)_qx_vmstate_rasr_size, (uint32_t)_qx_vmstate_rasr_srd);
}

/* Before each start of the Python kernel: no task context, and the whole
 * task pool zeroed -- a reset does not clear RAM, so a block could otherwise
 * still hold what its owner left before a reboot. About 100,000 instructions
 * for 1 MiB. */
void qx_trap_reset(void) {
    for (int i = 0; i < QX_MAX_TASKS; i++) {
        tasks[i].ctx.size = 0;
        end_task(&tasks[i]);
    }
    scrub((void *)QX_TASK_POOL_BASE, QX_TASK_POOL_SIZE);
}

/* Interrupt hooks of the drivers. */
void qx_on_tick(uint64_t ticks) {
    qx_tuart_tick();
    qx_trap_tick((uint32_t)qx_ticks_to_ms(ticks));
}
void qx_on_uart_rx(void) {
    qx_trap_irq(QX_IRQ_CONSOLE);
}

extern volatile uint32_t qx_irq_pending;
extern uint8_t qx_irq_owner[32];

/* What the kernel is told of: console input while watched, and always what
 * fired for a task-owned interrupt (QX_IRQ_TASK). */
static uint32_t pending_irqs(void) {
    return ((qx_uart_rx_waiting() ? QX_IRQ_CONSOLE : 0) & qx_irq_watch) | (qx_irq_pending ? QX_IRQ_TASK : 0);
}

/* The task UART behind NVIC number n, as (device, is its RX irq), or 0. */
static int tuart_of(uint32_t n, int *rx) {
    for (int d = 1; d <= QX_TUARTS; d++) {
        const qx_tuart_t *u = &qx_tuarts[d - 1];
        if (u->regs && (u->rx_irq == n || u->tx_irq == n)) {
            *rx = u->rx_irq == n;
            return d;
        }
    }
    return 0;
}

static uint32_t irq_number(mp_obj_t n_in) {
    mp_int_t n = mp_obj_get_int(n_in);
    /* the timer's and the console's are the kernel's own */
    if (n < 0 || n >= 32 || n == QX_TIMER0_IRQ || n == QX_UART0_RX_IRQ || n == QX_UART0_TX_IRQ
        || n == QX_UART_OVERFLOW_IRQ) {
        mp_raise_ValueError(MP_ERROR_TEXT("not an interrupt a task may own"));
    }
    return (uint32_t)n;
}

/* irq_own(n, tid): NVIC number n is tid's from now on (enabled, a task
 * UART opened), or nobody's (tid 0: masked, its pending state and a task
 * UART's rings forgotten). The kernel's table, kernel/kernel.py _own_irqs. */
static mp_obj_t trap_irq_own(mp_obj_t n_in, mp_obj_t tid_in) {
    uint32_t n = irq_number(n_in);
    mp_int_t tid = mp_obj_get_int(tid_in);
    if (tid < 0 || tid >= QX_MAX_TASKS) {
        mp_raise_ValueError(MP_ERROR_TEXT("task id out of range"));
    }
    int rx = 0, dev = tuart_of(n, &rx);
    qx_irq_disable(n);
    uint32_t s = qx_irq_save();
    qx_irq_owner[n] = (uint8_t)tid;
    qx_irq_pending &= ~(1u << n);
    qx_irq_restore(s);
    NVIC_ICPR0 = 1u << n;
    if (dev && rx) {
        if (tid) {
            qx_tuart_open(dev, QX_SYSCLK_HZ / 115200);
        } else {
            qx_tuart_close(dev);
        }
    }
    if (tid) {
        qx_irq_enable(n);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(trap_irq_own_obj, trap_irq_own);

/* irq_take() -> the NVIC numbers that fired for their owners since the last
 * call (bit n: number n); the record is emptied. */
static mp_obj_t trap_irq_take(void) {
    uint32_t s = qx_irq_save();
    uint32_t p = qx_irq_pending;
    qx_irq_pending = 0;
    qx_irq_restore(s);
    return mp_obj_new_int_from_uint(p);
}
static MP_DEFINE_CONST_FUN_OBJ_0(trap_irq_take_obj, trap_irq_take);

/* irq_ack(n): the owner acknowledged n: unmasked (if the device still
 * asserts it, it fires again at once). */
static mp_obj_t trap_irq_ack(mp_obj_t n_in) {
    uint32_t n = irq_number(n_in);
    if (qx_irq_owner[n]) {
        qx_irq_enable(n);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(trap_irq_ack_obj, trap_irq_ack);

/* uart_read(dev, n, min) -> bytes (n = 0: the count waiting, an int),
 * uart_write(dev, data) -> count: SYS_UART's copies when the kernel makes
 * them (the trap layer answers the owner's own calls itself, trap.c
 * uart_fast). */
static mp_obj_t trap_uart_read(mp_obj_t dev_in, mp_obj_t n_in, mp_obj_t min_in) {
    mp_int_t dev = mp_obj_get_int(dev_in), n = mp_obj_get_int(n_in);
    uint32_t min = mp_obj_get_int_truncated(min_in);
    if (n < 0 || n > QX_TUART_RING) {
        mp_raise_ValueError(MP_ERROR_TEXT("bad length"));
    }
    if (n == 0) {
        return mp_obj_new_int_from_uint(qx_tuart_read(dev, NULL, 0, min));
    }
    vstr_t v;
    vstr_init_len(&v, n);
    v.len = qx_tuart_read(dev, (uint8_t *)v.buf, n, min);
    return mp_obj_new_bytes_from_vstr(&v);
}
static MP_DEFINE_CONST_FUN_OBJ_3(trap_uart_read_obj, trap_uart_read);

static mp_obj_t trap_uart_write(mp_obj_t dev_in, mp_obj_t data) {
    mp_buffer_info_t buf;
    mp_get_buffer_raise(data, &buf, MP_BUFFER_READ);
    return mp_obj_new_int_from_uint(qx_tuart_write(mp_obj_get_int(dev_in), buf.buf, buf.len));
}
static MP_DEFINE_CONST_FUN_OBJ_2(trap_uart_write_obj, trap_uart_write);

static task_t *get_task(mp_obj_t tid_in, int must_live) {
    mp_int_t tid = mp_obj_get_int(tid_in);
    if (tid < 0 || tid >= QX_MAX_TASKS) {
        mp_raise_ValueError(MP_ERROR_TEXT("task id out of range"));
    }
    task_t *t = &tasks[tid];
    if (must_live && !t->live) {
        mp_raise_ValueError(MP_ERROR_TEXT("no such task context"));
    }
    return t;
}

/* create(tid, base, size, stack_size, entry[, code[, arena[, gc_threshold]]]): entry is the
 * name of a frozen module; with code (the .mpy bytes of an installed bundle,
 * or None) those bytes are copied to the top of the block and the task runs
 * them instead. arena: bytes below them (and above the heap) that the GC
 * never sees, for the task's raw tables (_qx.arena()). gc_threshold: bytes
 * between the task VM's collections (gc.threshold, 0: only when full). Block layout:
 * stack | heap | arena | code. */
static mp_obj_t trap_create(size_t n_args, const mp_obj_t *args) {
    task_t *t = get_task(args[0], 0);
    uint32_t base = mp_obj_get_int_truncated(args[1]);
    uint32_t size = mp_obj_get_int_truncated(args[2]);
    uint32_t stack = mp_obj_get_int_truncated(args[3]);
    size_t entry_len;
    const char *entry = mp_obj_str_get_data(args[4], &entry_len);
    if (size < 1024 || (size & (size - 1)) || (base & (size - 1))
        || base < QX_TASK_POOL_BASE || base + size > QX_TASK_POOL_BASE + QX_TASK_POOL_SIZE) {
        mp_raise_ValueError(MP_ERROR_TEXT("task block must be a power-of-two aligned block of the pool"));
    }
    if (stack < 512 || stack % 8 || stack + 1024 > size || entry_len > 63) {
        mp_raise_ValueError(MP_ERROR_TEXT("bad stack size or entry name"));
    }
    if (t->ctx.size) {
        mp_raise_ValueError(MP_ERROR_TEXT("task context still holds a block (kill it first)"));
    }
    /* Every check comes before the first write into the block: a create that
     * fails leaves it as zeroed as it was. */
    uint32_t code_len = 0, arena = n_args > 6 ? mp_obj_get_int_truncated(args[6]) : 0;
    mp_buffer_info_t code = {0};
    if (n_args > 5 && args[5] != mp_const_none) {
        mp_get_buffer_raise(args[5], &code, MP_BUFFER_READ);
        code_len = (code.len + 7) & ~7u;
        if (code.len == 0 || code_len + stack + 1024 > size) {
            mp_raise_ValueError(MP_ERROR_TEXT("code does not fit the task's block"));
        }
        entry_len = 0;
    }
    if (arena % 8 || arena + stack + 1024 > size - code_len) {
        mp_raise_ValueError(MP_ERROR_TEXT("the arena does not fit the task's block"));
    }
    if (code_len) {
        memcpy((void *)(base + size - code_len), code.buf, code.len);
        size -= code_len;              /* the task's heap ends below its code */
    }
    for (uint32_t *p = (uint32_t *)base; p < (uint32_t *)(base + stack); p++) {
        *p = STACK_PAINT;
    }
    /* Entry name at the top of the stack area; the first frame below it. */
    char *name = (char *)(base + stack - ENTRY_MAX);
    memcpy(name, entry, entry_len);
    name[entry_len] = 0;
    if (code_len) {                                   /* "" then the code's length */
        ((uint32_t *)name)[1] = code_len;
    }
    ((uint32_t *)name)[16] = base + size - arena;     /* the arena, for _qx.arena() */
    ((uint32_t *)name)[17] = arena;
    ((uint32_t *)name)[18] = n_args > 7 ? mp_obj_get_int_truncated(args[7]) : 0;   /* gc threshold */
    uint32_t *sp = (uint32_t *)(base + stack - ENTRY_MAX - 32);   /* hardware frame */
    sp[0] = base;
    sp[1] = stack;
    sp[2] = size - arena;                             /* where the heap ends */
    sp[3] = (uint32_t)name;                           /* "": run the code above it */
    sp[4] = 0;
    sp[5] = 0xffffffffu;                              /* no return address */
    sp[6] = (uint32_t)qx_task_start & ~1u;
    sp[7] = 0x01000000u;                              /* xPSR: Thumb */
    sp -= 8;                                          /* r4-r11 */
    memset(sp, 0, 32);
    t->ctx.psp = (uint32_t)sp;
    t->ctx.base = base;
    t->ctx.size = size + code_len;
    t->ctx.tid = mp_obj_get_int(args[0]);
    t->stack_size = stack;
    memset(t->dev, 0, sizeof t->dev);
    qx_mpu_task_regions(t->mpu, base, t->ctx.size, t->dev);
    memcpy(t->vm, _sivmstate, VMSTATE_LEN);           /* a clean VM */
    t->live = 1;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(trap_create_obj, 5, 8, trap_create);

/* grant(tid, base, size): the created task may use [base, base + size): a
 * device's MMIO (a power-of-two aligned block of the APB, or the LAN9118's),
 * a partition of the storage region, or the net task's RAM region (whole). */
static mp_obj_t trap_grant(mp_obj_t tid, mp_obj_t base_in, mp_obj_t size_in) {
    task_t *t = get_task(tid, 1);
    uint32_t base = mp_obj_get_int_truncated(base_in), size = mp_obj_get_int_truncated(size_in);
    int apb = base >= 0x40000000u && base + size <= 0x40100000u;
    int storage = base >= QX_STORAGE_BASE && size <= QX_STORAGE_SIZE && base - QX_STORAGE_BASE <= QX_STORAGE_SIZE - size;
    int net = (base == QX_ETH_BASE && size == QX_ETH_SIZE) || (base == QX_NET_RAM_BASE && size == QX_NET_RAM_SIZE);
    if (size < 32 || (size & (size - 1)) || (base & (size - 1)) || !(apb || storage || net)) {
        mp_raise_ValueError(MP_ERROR_TEXT("a grant is an aligned power-of-two block of the APB or of storage"));
    }
    for (int i = 0; i < QX_MPU_DEVICES; i++) {
        if (!t->dev[2 * i + 1]) {
            t->dev[2 * i] = base;
            t->dev[2 * i + 1] = size;
            qx_mpu_task_regions(t->mpu, t->ctx.base, t->ctx.size, t->dev);
            return mp_const_none;
        }
    }
    mp_raise_ValueError(MP_ERROR_TEXT("a task may be granted two devices at most"));
}
static MP_DEFINE_CONST_FUN_OBJ_3(trap_grant_obj, trap_grant);

static mp_obj_t tuple(size_t n, mp_obj_t a, mp_obj_t b, mp_obj_t c, mp_obj_t d) {
    mp_obj_t items[4] = {a, b, c, d};
    return mp_obj_new_tuple(n, items);
}
#define INT(x) mp_obj_new_int_from_uint(x)

/* May the kernel copy [addr, addr+len) for task t? Its own block, or (reads
 * only) flash, where constants of its frozen code live. This is the C side of
 * the one rule for task memory, kernel/taskmem.py (the Python kernel checks
 * every syscall's ranges there first; this check is the trap layer's own, for
 * trap.read/write and the fast path): qx_ctx_owns() is the same arithmetic in
 * a form no uint32_t sum can wrap in (tests/host/test_kernel_taskmem.py). */
static int readable(const task_t *t, uint32_t addr, uint32_t len, int writing) {
    if (qx_ctx_owns(&t->ctx, addr, len)) {
        return 1;
    }
    return !writing && addr >= QX_FLASH_BASE && len <= QX_FLASH_SIZE && addr - QX_FLASH_BASE <= QX_FLASH_SIZE - len;
}

/* The same rule for the IPC fast path (ipcfast.c), and its other hooks. */
int qx_task_may_copy(int tid, uint32_t addr, uint32_t len, int writing) {
    return readable(&tasks[tid], addr, len, writing);
}

void qx_task_copy(int to, uint32_t dst, int from, uint32_t src, uint32_t len) {
    (void)to;
    (void)from;
    memcpy((void *)dst, (const void *)src, len);
}

void qx_task_set_result(int tid, uint32_t r0, uint32_t r1) {
    uint32_t *f = (uint32_t *)(tasks[tid].ctx.psp + 32);
    f[0] = r0;
    f[1] = r1;
}

uint32_t qx_fast_ms(void) {
    return qx_ticks_ms32();
}

/* The event of a syscall whose words are all small ints (nearly every one)
 * is one pair of tuples in kernel RAM outside the GC heap, rewritten by
 * each resume(), instead of two new ones: a multi-block allocation in
 * MicroPython's GC searches first-fit from the lowest free block, past
 * every hole left between the kernel's live objects, which cost the kernel's
 * trip thousands of instructions that moved with the heap's layout. The
 * kernel keeps no event past handling it (kernel/kernel.py _handle). Only
 * small ints go in: the GC does not look inside an object outside its
 * heap, so a word that needs a long int gets fresh tuples. */
static struct { mp_obj_base_t base; size_t len; mp_obj_t items[QX_SYS_NARGS]; } ev_args = {{&mp_type_tuple}, QX_SYS_NARGS, {0}};
static struct { mp_obj_base_t base; size_t len; mp_obj_t items[3]; } ev_syscall = {{&mp_type_tuple}, 3, {0}};

static mp_obj_t syscall_event(const qx_event_t *e) {
    int small = e->no <= MP_SMALL_INT_POSITIVE_MASK;
    for (int i = 0; i < QX_SYS_NARGS; i++) {
        small &= e->args[i] <= MP_SMALL_INT_POSITIVE_MASK;
    }
    if (small) {
        for (int i = 0; i < QX_SYS_NARGS; i++) {
            ev_args.items[i] = MP_OBJ_NEW_SMALL_INT(e->args[i]);
        }
        ev_syscall.items[0] = MP_OBJ_NEW_SMALL_INT(QX_EV_SYSCALL);
        ev_syscall.items[1] = MP_OBJ_NEW_SMALL_INT(e->no);
        ev_syscall.items[2] = MP_OBJ_FROM_PTR(&ev_args);
        return MP_OBJ_FROM_PTR(&ev_syscall);
    }
    mp_obj_t a[QX_SYS_NARGS];
    for (int i = 0; i < QX_SYS_NARGS; i++) {
        a[i] = INT(e->args[i]);
    }
    return tuple(3, MP_OBJ_NEW_SMALL_INT(QX_EV_SYSCALL), INT(e->no), mp_obj_new_tuple(QX_SYS_NARGS, a), 0);
}

/* The task-owned interrupts pending, to the fast path (ipcfast.c
 * qx_irq_fast) with interrupts masked: me the task about to run (0: the
 * kernel idles). 0: not taken (the kernel takes them, irq_take); else
 * *run is the task to enter now (0: nobody), qx_slice_left its slice. */
static uint32_t irq_fast(int32_t me, int32_t *run) {
    uint32_t s = qx_irq_save();
    uint32_t p = qx_irq_pending;
    uint32_t r = qx_irq_fast(p, me, run);
    if (r) {
        qx_irq_pending &= ~p;
    }
    qx_irq_restore(s);
    return r;
}

static mp_obj_t enter(task_t *t);

/* resume(tid) -> event tuple (see kernel/abi.py). Task-owned interrupts
 * pending go to the fast path first, which may wake an owner that
 * outranks tid and enter it instead (trap.last() says who ran). */
static mp_obj_t trap_resume(mp_obj_t tid_in) {
    task_t *t = get_task(tid_in, 1);
    uint32_t irqs = pending_irqs();
    if (irqs) {
        int32_t run = 0;
        if (irqs != QX_IRQ_TASK || !irq_fast(t->ctx.tid, &run) || run <= 0) {
            return tuple(2, MP_OBJ_NEW_SMALL_INT(QX_EV_IRQ), INT(irqs), 0, 0);
        }
        return enter(&tasks[run]);
    }
    qx_slice_left = qx_slice;
    return enter(t);
}

/* Run t (its slice in qx_slice_left) until its next event: the event tuple. */
static mp_obj_t enter(task_t *t) {
    size_t n = VMSTATE_LEN;
    vm_copy(kernel_vm, _svmstate, n);
    vm_copy(_svmstate, t->vm, n);
    qx_mpu_load(t->mpu);
    qx_enter(&t->ctx);
    t = &tasks[qx_cur_ctx->tid];          /* the IPC fast path may have switched */
    vm_copy(t->vm, _svmstate, n);
    vm_copy(_svmstate, kernel_vm, n);
    /* From here on the kernel's VM is live again and may allocate. */
    qx_event_t *e = &qx_event;
    switch (e->kind) {
        case QX_EV_SYSCALL: {
            if (e->no == QX_SYS_EXIT) {
                /* The task is done: main() returned, exit(code), or its VM
                 * ended on an exception (reason text in its memory). */
                t->live = 0;
                if (e->args[0] != QX_EXIT_FAULT) {
                    return tuple(2, MP_OBJ_NEW_SMALL_INT(QX_EV_EXIT), mp_obj_new_int((int32_t)e->args[0]), 0, 0);
                }
                uint32_t p = e->args[1], n = e->args[2] < 79 ? e->args[2] : 79;
                mp_obj_t why = MP_OBJ_NEW_QSTR(MP_QSTR_exception);
                if (readable(t, p, n, 0)) {
                    why = mp_obj_new_str((const char *)p, n);
                }
                return tuple(4, MP_OBJ_NEW_SMALL_INT(QX_EV_FAULT), why, INT(0), INT(0));
            }
            return syscall_event(e);
        }
        case QX_EV_TICK:
            return tuple(1, MP_OBJ_NEW_SMALL_INT(QX_EV_TICK), 0, 0, 0);
        case QX_EV_IRQ:
            return tuple(2, MP_OBJ_NEW_SMALL_INT(QX_EV_IRQ), INT(e->no), 0, 0);
        default: /* QX_EV_FAULT */
            t->live = 0;
            return tuple(4, MP_OBJ_NEW_SMALL_INT(QX_EV_FAULT), mp_obj_new_str(e->reason, strlen(e->reason)),
                INT(e->pc), INT(e->addr));
    }
}
static MP_DEFINE_CONST_FUN_OBJ_1(trap_resume_obj, trap_resume);

/* The saved hardware frame of a task stopped in a syscall. */
static uint32_t *saved_frame(task_t *t) {
    return (uint32_t *)(t->ctx.psp + 32);
}

static mp_obj_t trap_set_result(size_t n_args, const mp_obj_t *args) {
    task_t *t = get_task(args[0], 1);
    uint32_t *f = saved_frame(t);
    f[0] = (uint32_t)mp_obj_get_int_truncated(args[1]);
    f[1] = n_args > 2 ? (uint32_t)mp_obj_get_int_truncated(args[2]) : 0;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(trap_set_result_obj, 2, 3, trap_set_result);

static void check_range(task_t *t, uint32_t addr, uint32_t len, int writing) {
    if (!readable(t, addr, len, writing)) {
        mp_raise_ValueError(MP_ERROR_TEXT("address outside the task's memory"));
    }
}

static mp_obj_t trap_read(mp_obj_t tid_in, mp_obj_t addr_in, mp_obj_t len_in) {
    task_t *t = get_task(tid_in, 0);
    uint32_t addr = mp_obj_get_int_truncated(addr_in);
    mp_int_t len = mp_obj_get_int(len_in);
    if (len < 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("negative length"));
    }
    check_range(t, addr, len, 0);
    return mp_obj_new_bytes((const byte *)addr, len);
}
static MP_DEFINE_CONST_FUN_OBJ_3(trap_read_obj, trap_read);

static mp_obj_t trap_write(mp_obj_t tid_in, mp_obj_t addr_in, mp_obj_t data) {
    task_t *t = get_task(tid_in, 0);
    uint32_t addr = mp_obj_get_int_truncated(addr_in);
    mp_buffer_info_t buf;
    mp_get_buffer_raise(data, &buf, MP_BUFFER_READ);
    check_range(t, addr, buf.len, 1);
    memcpy((void *)addr, buf.buf, buf.len);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(trap_write_obj, trap_write);

/* copy(src_tid, src_addr, dst_tid, dst_addr, n): n bytes from one task's
 * memory (or flash, as read() allows) into another's, each range checked as
 * read() and write() check theirs: SYS_BORROW's lease copies, with no buffer
 * in the kernel heap (kernel/taskmem.py copy() checked both first). */
static mp_obj_t trap_copy(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    task_t *src = get_task(args[0], 0);
    uint32_t saddr = mp_obj_get_int_truncated(args[1]);
    task_t *dst = get_task(args[2], 0);
    uint32_t daddr = mp_obj_get_int_truncated(args[3]);
    mp_int_t len = mp_obj_get_int(args[4]);
    if (len < 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("negative length"));
    }
    check_range(src, saddr, len, 0);
    check_range(dst, daddr, len, 1);
    memmove((void *)daddr, (const void *)saddr, len);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(trap_copy_obj, 5, 5, trap_copy);

/* kill(tid): the task's context ends and its block and VM state are zeroed
 * (end_task). The kernel frees the block only after this. */
static mp_obj_t trap_kill(mp_obj_t tid_in) {
    end_task(get_task(tid_in, 0));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(trap_kill_obj, trap_kill);

/* idle(deadline_ms or None, poll_until_ms=None) -> pending watched IRQ
 * bits (0: deadline reached), or the event of a task: task-owned interrupts
 * alone (nothing else due) go to the fast path, which raises their owners'
 * bits and, when that woke one, names the task to run -- entered here, as
 * resume() would (trap.last() says which; its log, FAST_IRQ and FAST_RUN,
 * says why). Sleeps with WFI; interrupts are masked around the check so
 * none is missed. Until poll_until_ms it polls instead of sleeping (the
 * kernel's choice: a task waits for a device that answers soon,
 * kernel/kernel.py _poll_until): an interrupt is taken as soon as it comes.
 * Under -icount sleep=off an idle CPU's clock jumps to the next timer
 * deadline (a tick: up to 1 ms) whatever the host takes to answer, a
 * polling one's advances by the instructions it runs. The counts of the
 * 25 MHz counter spent here, polled or asleep, add up in idle_counts(). */
static uint32_t idle_counts;
#define IDLE_COUNTER QX_REG(QX_FPGAIO_BASE + 0x18u)
static mp_obj_t trap_idle(size_t n_args, const mp_obj_t *args) {
    int has_deadline = args[0] != mp_const_none;
    uint64_t deadline = has_deadline ? (uint64_t)mp_obj_get_int(args[0]) : 0;
    uint64_t poll_until = n_args > 1 && args[1] != mp_const_none ? (uint64_t)mp_obj_get_int(args[1]) : 0;
    uint32_t c0 = IDLE_COUNTER;
    for (;;) {
        uint32_t s = qx_irq_save();
        uint32_t irqs = pending_irqs();
        uint64_t now = qx_ticks_ms();
        int due = has_deadline && now >= deadline;
        if (irqs == QX_IRQ_TASK && !due) {
            int32_t run = 0;
            qx_irq_restore(s);
            if (irq_fast(0, &run)) {
                if (run > 0) {
                    idle_counts += IDLE_COUNTER - c0;
                    return enter(&tasks[run]);
                }
                continue;               /* bits raised, nobody woken: idle on */
            }
            s = qx_irq_save();
        }
        if (irqs || due) {
            qx_irq_restore(s);
            idle_counts += IDLE_COUNTER - c0;
            return INT(irqs);
        }
        if (now >= poll_until) {
            qx_wfi();            /* wakes on a pending interrupt even while masked */
        }
        qx_irq_restore(s);
    }
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(trap_idle_obj, 1, 2, trap_idle);

/* idle_counts() -> counts of the 25 MHz counter spent in idle() since
 * boot (mod 2**32): the board's idle time, exactly. */
static mp_obj_t trap_idle_counts(void) {
    return mp_obj_new_int_from_uint(idle_counts);
}
static MP_DEFINE_CONST_FUN_OBJ_0(trap_idle_counts_obj, trap_idle_counts);

/* last() -> the task the last event of resume() came from (the IPC fast
 * path may have switched from the resumed task to others). */
static mp_obj_t trap_last(void) {
    return MP_OBJ_NEW_SMALL_INT(qx_cur_ctx ? qx_cur_ctx->tid : 0);
}
static MP_DEFINE_CONST_FUN_OBJ_0(trap_last_obj, trap_last);

/* fastlog() -> [(kind, a, b, c, d, e, ms)...]: what the IPC fast path did
 * since the last call, in order (kernel.Kernel._replay); the log is emptied.
 * Nothing logged (most resumes): the empty tuple, so that no list is
 * allocated on every trip. */
static mp_obj_t trap_fastlog(void) {
    if (qx_fastlog_len == 0) {
        return mp_const_empty_tuple;
    }
    mp_obj_t list = mp_obj_new_list(0, NULL);
    for (uint32_t i = 0; i < qx_fastlog_len; i++) {
        qx_fastlog_t *l = &qx_fastlog[i];
        mp_obj_t t[7] = {INT(l->kind), INT(l->a), INT(l->b), INT(l->c), INT(l->d), INT(l->e), INT(l->ms)};
        mp_obj_list_append(list, mp_obj_new_tuple(7, t));
    }
    qx_fastlog_len = 0;
    return list;
}
static MP_DEFINE_CONST_FUN_OBJ_0(trap_fastlog_obj, trap_fastlog);

/* fasttab() -> the IPC fast path's tables (kernel/port/fasttab.h) as a
 * writable memoryview of 32-bit words, for the kernel to keep
 * (kernel/fasttab.py). Kernel memory: no task can reach it. */
static mp_obj_t trap_fasttab(void) {
    return mp_obj_new_memoryview('I' | MP_OBJ_ARRAY_TYPECODE_FLAG_RW, QX_FT_WORDS, &qx_fasttab);
}
static MP_DEFINE_CONST_FUN_OBJ_0(trap_fasttab_obj, trap_fasttab);

static mp_obj_t trap_set_fastpath(mp_obj_t flag) {
    qx_fast_enabled = mp_obj_is_true(flag);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(trap_set_fastpath_obj, trap_set_fastpath);

static mp_obj_t trap_set_slice(mp_obj_t ticks) {
    mp_int_t n = mp_obj_get_int(ticks);
    if (n < 1) {
        mp_raise_ValueError(MP_ERROR_TEXT("slice must be >= 1 tick"));
    }
    qx_slice = n;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(trap_set_slice_obj, trap_set_slice);

static mp_obj_t trap_set_deadline(mp_obj_t ms) {
    qx_deadline_ms = ms == mp_const_none ? 0 : (uint32_t)mp_obj_get_int_truncated(ms);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(trap_set_deadline_obj, trap_set_deadline);

static mp_obj_t trap_watch(mp_obj_t bits) {
    qx_irq_watch = mp_obj_get_int_truncated(bits);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(trap_watch_obj, trap_watch);

static mp_obj_t trap_ticks_ms(void) {
    return mp_obj_new_int_from_ull(qx_ticks_ms());
}
static MP_DEFINE_CONST_FUN_OBJ_0(trap_ticks_ms_obj, trap_ticks_ms);

static mp_obj_t trap_console_write(mp_obj_t data) {
    mp_buffer_info_t buf;
    mp_get_buffer_raise(data, &buf, MP_BUFFER_READ);
    qx_uart_write_cooked(buf.buf, buf.len);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(trap_console_write_obj, trap_console_write);

static mp_obj_t trap_console_read(void) {
    int c = qx_uart_getc();
    return c < 0 ? mp_const_none : MP_OBJ_NEW_SMALL_INT(c);
}
static MP_DEFINE_CONST_FUN_OBJ_0(trap_console_read_obj, trap_console_read);

/* task_stats(tid) -> (heap_used, heap_size, stack_high_water, stack_size,
 * syscalls answered by the trap layer's fast paths).
 * The heap figure comes from the task's own GC state, swapped in for the
 * count only after its pointers are checked to lie inside the task's block. */
static mp_obj_t trap_task_stats(mp_obj_t tid_in) {
    task_t *t = get_task(tid_in, 0);
    uint32_t base = t->ctx.base, top = base + t->stack_size;
    uint32_t *p = (uint32_t *)base;
    while ((uint32_t)p < top && *p == STACK_PAINT) {
        p++;
    }
    uint32_t high_water = top - (uint32_t)p;
    uint32_t heap_size = t->ctx.size - t->stack_size, heap_used = 0;
    if (t->live) {
        size_t n = VMSTATE_LEN;
        memcpy(kernel_vm, _svmstate, n);
        memcpy(_svmstate, t->vm, n);
        mp_state_mem_area_t *a = &MP_STATE_MEM(area);
        uint32_t lo = base + t->stack_size, hi = base + t->ctx.size;
        uint32_t atb = (uint32_t)a->gc_alloc_table_start, pool = (uint32_t)a->gc_pool_start;
        uint32_t end = (uint32_t)a->gc_pool_end;
        int sane = atb >= lo && atb < hi && pool >= atb && pool <= end && end <= hi
            && a->gc_alloc_table_byte_len <= pool - atb;
        gc_info_t info = {0};
        if (sane) {
            gc_info(&info);
        }
        memcpy(_svmstate, kernel_vm, n);
        heap_used = info.used;
    }
    mp_obj_t items[5] = {INT(heap_used), INT(heap_size), INT(high_water), INT(t->stack_size),
                         INT(qx_fast_syscalls[t->ctx.tid])};
    return mp_obj_new_tuple(5, items);
}
static MP_DEFINE_CONST_FUN_OBJ_1(trap_task_stats_obj, trap_task_stats);

static const mp_rom_map_elem_t trap_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__trap) },
    { MP_ROM_QSTR(MP_QSTR_create), MP_ROM_PTR(&trap_create_obj) },
    { MP_ROM_QSTR(MP_QSTR_grant), MP_ROM_PTR(&trap_grant_obj) },
    { MP_ROM_QSTR(MP_QSTR_resume), MP_ROM_PTR(&trap_resume_obj) },
    { MP_ROM_QSTR(MP_QSTR_set_result), MP_ROM_PTR(&trap_set_result_obj) },
    { MP_ROM_QSTR(MP_QSTR_read), MP_ROM_PTR(&trap_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_write), MP_ROM_PTR(&trap_write_obj) },
    { MP_ROM_QSTR(MP_QSTR_copy), MP_ROM_PTR(&trap_copy_obj) },
    { MP_ROM_QSTR(MP_QSTR_kill), MP_ROM_PTR(&trap_kill_obj) },
    { MP_ROM_QSTR(MP_QSTR_idle), MP_ROM_PTR(&trap_idle_obj) },
    { MP_ROM_QSTR(MP_QSTR_idle_counts), MP_ROM_PTR(&trap_idle_counts_obj) },
    { MP_ROM_QSTR(MP_QSTR_set_slice), MP_ROM_PTR(&trap_set_slice_obj) },
    { MP_ROM_QSTR(MP_QSTR_set_deadline), MP_ROM_PTR(&trap_set_deadline_obj) },
    { MP_ROM_QSTR(MP_QSTR_watch), MP_ROM_PTR(&trap_watch_obj) },
    { MP_ROM_QSTR(MP_QSTR_last), MP_ROM_PTR(&trap_last_obj) },
    { MP_ROM_QSTR(MP_QSTR_fastlog), MP_ROM_PTR(&trap_fastlog_obj) },
    { MP_ROM_QSTR(MP_QSTR_fasttab), MP_ROM_PTR(&trap_fasttab_obj) },
    { MP_ROM_QSTR(MP_QSTR_set_fastpath), MP_ROM_PTR(&trap_set_fastpath_obj) },
    { MP_ROM_QSTR(MP_QSTR_ticks_ms), MP_ROM_PTR(&trap_ticks_ms_obj) },
    { MP_ROM_QSTR(MP_QSTR_console_write), MP_ROM_PTR(&trap_console_write_obj) },
    { MP_ROM_QSTR(MP_QSTR_console_read), MP_ROM_PTR(&trap_console_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_task_stats), MP_ROM_PTR(&trap_task_stats_obj) },
    { MP_ROM_QSTR(MP_QSTR_irq_own), MP_ROM_PTR(&trap_irq_own_obj) },
    { MP_ROM_QSTR(MP_QSTR_irq_take), MP_ROM_PTR(&trap_irq_take_obj) },
    { MP_ROM_QSTR(MP_QSTR_irq_ack), MP_ROM_PTR(&trap_irq_ack_obj) },
    { MP_ROM_QSTR(MP_QSTR_uart_read), MP_ROM_PTR(&trap_uart_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_uart_write), MP_ROM_PTR(&trap_uart_write_obj) },
    { MP_ROM_QSTR(MP_QSTR_VMSTATE_SIZE), MP_ROM_INT(VMSTATE_MAX) },
};
static MP_DEFINE_CONST_DICT(trap_globals, trap_globals_table);

const mp_obj_module_t qx_trap_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&trap_globals,
};
/* Not a built-in module: kernel/port/main.c puts it in the kernel VM's
 * sys.modules, so a task's VM has no such module (ImportError). */
