/* Kernel start on the device: brings up the console UART and the tick, starts
 * the MicroPython VM on the kernel's heap and runs the frozen Python kernel
 * (`kernel.main.main()`). If that ever returns or raises, the VM is torn down
 * and started again: the C side decides nothing else. Also the panic path. */
#include <stdio.h>
#include "py/builtin.h"
#include "py/compile.h"
#include "py/gc.h"
#include "py/lexer.h"
#include "py/mperrno.h"
#include "py/runtime.h"
#include "py/stackctrl.h"
#include "shared/runtime/gchelper.h"
#include "cm3.h"
#include "layout.h"
#include "../../drivers/uart/cmsdk_uart.h"
#include "../../drivers/timer/cmsdk_timer.h"
#include "../../drivers/flash/mapped_flash.h"
#include "abi.h"
#include "qx_task.h"

#define CONSOLE_BAUD 115200

extern uint32_t _estack, _sstack;
static uint32_t gc_heap[QX_KERNEL_HEAP_SIZE / sizeof(uint32_t)];

void __attribute__((noreturn)) qx_panic(const char *what, uint32_t pc, uint32_t cfsr, uint32_t addr) {
    qx_irq_save();
    qx_uart_puts("\nkernel panic: ");
    qx_uart_puts(what);
    qx_uart_puts(" pc=");
    qx_uart_put_hex(pc);
    qx_uart_puts(" cfsr=");
    qx_uart_put_hex(cfsr);
    qx_uart_puts(" addr=");
    qx_uart_put_hex(addr);
    qx_uart_puts("\nkernel panic: halted (reset the board)\n");
    for (;;) {
        qx_wfi();
    }
}

static void run_python_kernel(void) {
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_obj_t pkg = mp_import_name(qstr_from_str("kernel.main"), mp_const_none, MP_OBJ_NEW_SMALL_INT(0));
        mp_obj_t mod = mp_load_attr(pkg, qstr_from_str("main"));
        mp_call_function_0(mp_load_attr(mod, qstr_from_str("main")));
        nlr_pop();
    } else {
        qx_uart_puts("kernel: python kernel raised:\n");
        mp_obj_print_exception(&mp_plat_print, MP_OBJ_FROM_PTR(nlr.ret_val));
    }
}

uint32_t qx_entry_counter;

/* `_hal`, `_trap` and `_imgcheck` call privileged C (the console UART, reset, storage
 * writes, task creation and memory copies) and hand out kernel addresses:
 * they are the kernel VM's alone. They are not registered as built-in
 * modules (MP_REGISTER_MODULE would give them to every VM): they go into
 * this VM's sys.modules, which is part of its VM state, so a task's VM,
 * started with mp_init() of its own, cannot import them. */
static void kernel_modules(void) {
    extern const mp_obj_module_t qx_hal_module, qx_trap_module, qx_imgcheck_module;
    mp_obj_t mods = MP_OBJ_FROM_PTR(&MP_STATE_VM(mp_loaded_modules_dict));
    mp_obj_dict_store(mods, MP_OBJ_NEW_QSTR(MP_QSTR__hal), MP_OBJ_FROM_PTR(&qx_hal_module));
    mp_obj_dict_store(mods, MP_OBJ_NEW_QSTR(MP_QSTR__trap), MP_OBJ_FROM_PTR(&qx_trap_module));
    mp_obj_dict_store(mods, MP_OBJ_NEW_QSTR(MP_QSTR__imgcheck), MP_OBJ_FROM_PTR(&qx_imgcheck_module));
}

void __attribute__((noreturn)) qx_main(void) {
    qx_entry_counter = QX_REG(QX_FPGAIO_BASE + 0x18u);
    qx_uart_init(QX_UART0_BASE, QX_UART0_RX_IRQ, QX_SYSCLK_HZ, CONSOLE_BAUD);
    qx_tick_init(QX_TIMER0_BASE, QX_TIMER0_IRQ, QX_SYSCLK_HZ, QX_TICK_HZ);
    qx_flash_init((uint8_t *)QX_STORAGE_BASE, QX_STORAGE_SIZE, QX_SECTOR_SIZE);
    extern void qx_trap_setup(void), qx_trap_reset(void), qx_imgcheck_init(void);
    qx_trap_setup();
    qx_imgcheck_init();                /* mbedtls's ECC step budget, once (imgcheck.c) */
    for (;;) {
        qx_trap_reset();               /* no task, and the task pool zeroed */
        mp_stack_set_top(&_estack);
        mp_stack_set_limit((char *)&_estack - (char *)&_sstack - 1024);
        gc_init(gc_heap, (char *)gc_heap + sizeof(gc_heap));
        mp_init();
        kernel_modules();
        run_python_kernel();
        qx_uart_puts("kernel: restarting the python kernel\n");
        gc_sweep_all();
        mp_deinit();
    }
}

void gc_collect(void) {
    gc_collect_start();
    gc_helper_collect_regs_and_stack();
    gc_collect_end();
}

/* The hooks below serve the kernel's VM and the tasks' VMs alike: a task
 * (unprivileged) reaches the device through a syscall instead. */

void nlr_jump_fail(void *val) {
    if (qx_unprivileged()) {
        qx_task_exit(QX_EXIT_FAULT, "uncaught NLR");
    }
    qx_panic("uncaught NLR", (uint32_t)val, 0, 0);
}

mp_uint_t mp_hal_ticks_ms(void) {
    if (qx_unprivileged()) {
        uint32_t args[QX_SYS_NARGS] = {0}, r0, r1;
        qx_syscall(QX_SYS_TICKS, args, &r0, &r1);
        return r0;
    }
    return (mp_uint_t)qx_ticks_ms();
}

mp_uint_t mp_hal_stdout_tx_strn(const char *str, size_t len) {
    if (qx_unprivileged()) {
        uint32_t args[QX_SYS_NARGS] = {(uint32_t)str, len, 0, 0, 0}, r0, r1;
        qx_syscall(QX_SYS_WRITE, args, &r0, &r1);
        return len;
    }
    qx_uart_write(str, len);
    return len;
}

int mp_hal_stdin_rx_chr(void) {
    for (;;) {
        int c = qx_uart_getc();
        if (c >= 0) {
            return c;
        }
        qx_wfi();
    }
}

/* No filesystem: imports find only frozen modules. */
mp_import_stat_t mp_import_stat(const char *path) {
    (void)path;
    return MP_IMPORT_STAT_NO_EXIST;
}

mp_lexer_t *mp_lexer_new_from_file(qstr filename) {
    mp_raise_OSError(MP_ENOENT);
}

static mp_obj_t no_open(size_t n_args, const mp_obj_t *args, mp_map_t *kwargs) {
    mp_raise_OSError(MP_ENOENT);
}
MP_DEFINE_CONST_FUN_OBJ_KW(mp_builtin_open_obj, 1, no_open);

#ifndef NDEBUG
void __assert_func(const char *file, int line, const char *func, const char *expr) {
    (void)func;
    (void)line;
    qx_uart_puts("assertion failed: ");
    qx_uart_puts(expr);
    qx_uart_puts(" at ");
    qx_uart_puts(file);
    qx_panic("assert", 0, 0, 0);
}
#endif
