/* The task side of the trap layer: how a task's VM starts (qx_task_start, run
 * unprivileged on the task's own stack) and `_qx`, the one primitive tasks use
 * to reach the kernel (SVC with a syscall number and five argument words). The
 * friendly API is userland/lib/qenex.py. */
#include <string.h>
#include "py/runtime.h"
#include "py/gc.h"
#include "py/stackctrl.h"
#include "py/objstr.h"
#include "py/objint.h"
#include "py/persistentcode.h"
#include "py/emitglue.h"
#include "py/bc.h"
#include "abi.h"
#include "qx_task.h"

/* Issue a syscall: r0 = number, r1 = pointer to the argument words. */
void qx_syscall(uint32_t no, uint32_t *args, uint32_t *r0, uint32_t *r1) {
    register uint32_t x0 __asm__ ("r0") = no;
    register uint32_t x1 __asm__ ("r1") = (uint32_t)args;
    __asm volatile ("svc 1" : "+r" (x0), "+r" (x1) :: "r2", "r3", "r12", "memory");
    *r0 = x0;
    *r1 = x1;
}

int qx_unprivileged(void) {
    uint32_t control, ipsr;
    __asm volatile ("mrs %0, control" : "=r" (control));
    __asm volatile ("mrs %0, ipsr" : "=r" (ipsr));
    return (control & 1) && ipsr == 0;
}

void __attribute__((noreturn)) qx_task_exit(uint32_t code, const char *reason) {
    uint32_t args[QX_SYS_NARGS] = {code, (uint32_t)reason, reason ? strlen(reason) : 0, 0, 0};
    uint32_t r0, r1;
    for (;;) {
        qx_syscall(QX_SYS_EXIT, args, &r0, &r1);
    }
}

/* Why a VM ended on an exception, in a few words, built in buf. */
static const char *fault_reason(mp_obj_t exc, char *buf, size_t cap) {
    const mp_obj_type_t *type = mp_obj_get_type(exc);
    if (mp_obj_is_subclass_fast(MP_OBJ_FROM_PTR(type), MP_OBJ_FROM_PTR(&mp_type_MemoryError))) {
        return "MemoryError";
    }
    mp_obj_t arg = mp_obj_exception_get_value(exc);
    const char *msg = "";
    size_t len = 0;
    if (arg != mp_const_none && mp_obj_is_str(arg)) {
        msg = mp_obj_str_get_data(arg, &len);
    }
    if (type == &mp_type_RuntimeError && len >= 9 && strncmp(msg, "maximum r", 9) == 0) {
        return "stack overflow";
    }
    const char *name = qstr_str(type->name);
    size_t n = 0;
    const char *parts[4] = {"exception: ", name, len ? ": " : "", msg};
    size_t lens[4] = {11, strlen(name), len ? 2 : 0, len};
    for (int i = 0; i < 4; i++) {
        size_t k = lens[i] < cap - 1 - n ? lens[i] : cap - 1 - n;
        memcpy(buf + n, parts[i], k);
        n += k;
    }
    buf[n] = 0;
    return buf;
}

/* Run the .mpy bytes at [code, code + len) as the module __main__ (an
 * installed bundle's code, which trap_create put at the top of the block);
 * returns the module. As MicroPython's import does for a .mpy file. */
static mp_obj_t run_code(const uint8_t *code, size_t len) {
    mp_obj_t mod = mp_obj_new_module(MP_QSTR___main__);
    mp_module_context_t *ctx = MP_OBJ_TO_PTR(mod);
    mp_compiled_module_t cm;
    cm.context = ctx;
    mp_raw_code_load_mem(code, len, &cm);
    mp_globals_set(ctx->module.globals);
    mp_locals_set(ctx->module.globals);
    mp_call_function_0(mp_make_function_from_proto_fun(cm.rc, ctx, NULL));
    return mod;
}

/* First code a task runs: bring up its VM on its own block, import its entry
 * module (or run its installed code) and call main(). Never returns: ends in
 * SYS_EXIT. `size` is where the heap ends: an installed task's code lies
 * from there to the end of its block. */
void __attribute__((noreturn)) qx_task_start(uint32_t base, uint32_t stack_size, uint32_t size, const char *entry) {
    uint32_t stack_top = base + stack_size - QX_ENTRY_MAX;
    mp_stack_set_top((void *)stack_top);
    mp_stack_set_limit(stack_size - QX_ENTRY_MAX - 1024);
    gc_init((void *)(base + stack_size), (void *)(base + size));
    mp_init();
    uint32_t threshold = ((const uint32_t *)entry)[18];   /* manifest gc_threshold (trap_create) */
    if (threshold) {
        MP_STATE_MEM(gc_alloc_threshold) = threshold / MICROPY_BYTES_PER_GC_BLOCK;
    }
    char reason[80];
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_obj_t mod;
        if (entry[0]) {
            mod = mp_import_name(qstr_from_str(entry), mp_const_true, MP_OBJ_NEW_SMALL_INT(0));
        } else {                                      /* trap_create put the length after "" */
            uint32_t arena = ((const uint32_t *)entry)[17];
            mod = run_code((const uint8_t *)(base + size + arena), ((const uint32_t *)entry)[1]);
        }
        mp_call_function_0(mp_load_attr(mod, MP_QSTR_main));
        nlr_pop();
        qx_task_exit(0, NULL);
    }
    mp_obj_t exc = MP_OBJ_FROM_PTR(nlr.ret_val);
    const char *why = fault_reason(exc, reason, sizeof reason);
    if (strcmp(why, "stack overflow") != 0 && strcmp(why, "MemoryError") != 0) {
        mp_obj_print_exception(&mp_plat_print, exc);   /* needs the console capability */
    }
    qx_task_exit(QX_EXIT_FAULT, why);
}

/* An argument word: an int in -2**31 .. 2**32-1 (negative ones as two's
 * complement), else OverflowError: never silently cut to 32 bits. */
static uint32_t word(mp_obj_t x) {
    if (mp_obj_is_small_int(x) || !mp_obj_is_int(x)) {
        return (uint32_t)mp_obj_get_int(x);              /* bool, or TypeError */
    }
    if (mp_obj_int_sign(x) < 0) {
        return (uint32_t)mp_obj_get_int(x);              /* raises below -2**31 */
    }
    return (uint32_t)mp_obj_int_get_uint_checked(x);     /* raises above 2**32-1 */
}

/* The second result word of this VM's last _qx syscall, for _qx.r1(). It
 * sits in the VM-state block (kernel.ld gathers .bss.qx_vm_*), so every VM
 * has its own and it is swapped with the rest. */
uint32_t qx_vm_r1;

/* _qx.syscall(no, a0=0, a1=0, a2=0, a3=0, a4=0) -> r0, signed; _qx.r1()
 * then gives the second word. Nothing is allocated on this path (r0 and r1
 * come back as small ints unless they exceed 30 bits): a syscall in a hot
 * loop leaves no garbage for the task's GC. */
static mp_obj_t qx_py_syscall(size_t n_args, const mp_obj_t *args) {
    uint32_t a[QX_SYS_NARGS] = {0};
    for (size_t i = 1; i < n_args; i++) {
        a[i - 1] = word(args[i]);
    }
    uint32_t r0;
    qx_syscall((uint32_t)mp_obj_get_int(args[0]), a, &r0, &qx_vm_r1);
    return mp_obj_new_int((int32_t)r0);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(qx_py_syscall_obj, 1, 1 + QX_SYS_NARGS, qx_py_syscall);

static mp_obj_t qx_py_r1(void) {
    return mp_obj_new_int_from_uint(qx_vm_r1);
}
static MP_DEFINE_CONST_FUN_OBJ_0(qx_py_r1_obj, qx_py_r1);

/* _qx.yield_(): SYS_YIELD with no Python around it (qenex.yield_ is this
 * function): the CPU to the next ready task of the same priority, if any. */
static mp_obj_t qx_py_yield(void) {
    uint32_t a[QX_SYS_NARGS] = {0}, r0;
    qx_syscall(QX_SYS_YIELD, a, &r0, &qx_vm_r1);
    if ((int32_t)r0 < 0) {
        mp_raise_OSError(-(int32_t)r0);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(qx_py_yield_obj, qx_py_yield);

/* _qx.addr(buffer) -> address of its bytes, for passing to the kernel. */
static mp_obj_t qx_py_addr(mp_obj_t obj) {
    mp_buffer_info_t buf;
    mp_get_buffer_raise(obj, &buf, MP_BUFFER_READ);
    return mp_obj_new_int_from_uint((uint32_t)buf.buf);
}
static MP_DEFINE_CONST_FUN_OBJ_1(qx_py_addr_obj, qx_py_addr);

/* _qx.peek(addr) -> the 32-bit word at addr, read by the task itself (for
 * tests of isolation: it faults outside the task's own memory). */
static mp_obj_t qx_py_peek(mp_obj_t addr) {
    return mp_obj_new_int_from_uint(*(volatile uint32_t *)mp_obj_get_int_truncated(addr));
}
static MP_DEFINE_CONST_FUN_OBJ_1(qx_py_peek_obj, qx_py_peek);

/* _qx.arena() -> (address, size) of the task's arena (manifest `arena`):
 * raw RAM in its block that the GC never scans; uctypes.bytearray_at()
 * makes a bytearray of it. trap_create left it at the top of the stack area. */
static mp_obj_t qx_py_arena(void) {
    const uint32_t *info = (const uint32_t *)MP_STATE_THREAD(stack_top);
    mp_obj_t t[2] = {mp_obj_new_int_from_uint(info[16]), mp_obj_new_int_from_uint(info[17])};
    return mp_obj_new_tuple(2, t);
}
static MP_DEFINE_CONST_FUN_OBJ_0(qx_py_arena_obj, qx_py_arena);

/* _qx.vmstate() -> (address, globals, swapped): the VM-state block every
 * VM runs in, how many bytes of it are MicroPython's globals, and how many
 * are swapped on a switch (and granted by the MPU: past them a write
 * faults). For isolation tests. */
static mp_obj_t qx_py_vmstate(void) {
    extern uint8_t _svmstate[], _evmstate[], _gvmstate[];
    mp_obj_t t[3] = {mp_obj_new_int_from_uint((uint32_t)_svmstate),
                     MP_OBJ_NEW_SMALL_INT(_evmstate - _svmstate), MP_OBJ_NEW_SMALL_INT(_gvmstate - _svmstate)};
    return mp_obj_new_tuple(3, t);
}
static MP_DEFINE_CONST_FUN_OBJ_0(qx_py_vmstate_obj, qx_py_vmstate);

/* _qx.mem_read(addr, n) -> bytes and _qx.mem_write(addr, data): copies done
 * by the task itself, so the MPU checks every byte (a granted storage
 * partition, say); outside what the task may touch they fault. */
static mp_obj_t qx_py_mem_read(mp_obj_t addr, mp_obj_t n) {
    return mp_obj_new_bytes((const byte *)mp_obj_get_int_truncated(addr), mp_obj_get_int(n));
}
static MP_DEFINE_CONST_FUN_OBJ_2(qx_py_mem_read_obj, qx_py_mem_read);

static mp_obj_t qx_py_mem_write(mp_obj_t addr, mp_obj_t data) {
    mp_buffer_info_t buf;
    mp_get_buffer_raise(data, &buf, MP_BUFFER_READ);
    memcpy((void *)mp_obj_get_int_truncated(addr), buf.buf, buf.len);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(qx_py_mem_write_obj, qx_py_mem_write);

static mp_obj_t qx_py_poke(mp_obj_t addr, mp_obj_t val) {
    *(volatile uint32_t *)mp_obj_get_int_truncated(addr) = mp_obj_get_int_truncated(val);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(qx_py_poke_obj, qx_py_poke);

/* _qx.stack_probe(n): take n bytes of stack at once and write at their far
 * end, as a C function with a large frame would. For isolation tests: past
 * the bottom of the task's block the MPU stops the write. */
static mp_obj_t qx_py_stack_probe(mp_obj_t n_in) {
    mp_int_t n = mp_obj_get_int(n_in);
    if (n < 4 || n > 1024 * 1024) {
        mp_raise_ValueError(MP_ERROR_TEXT("probe size must be 4 bytes .. 1 MiB"));
    }
    volatile uint8_t *p = alloca(n);
    p[0] = 1;
    return MP_OBJ_NEW_SMALL_INT(p[0]);
}
static MP_DEFINE_CONST_FUN_OBJ_1(qx_py_stack_probe_obj, qx_py_stack_probe);

static const mp_rom_map_elem_t qx_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__qx) },
    { MP_ROM_QSTR(MP_QSTR_syscall), MP_ROM_PTR(&qx_py_syscall_obj) },
    { MP_ROM_QSTR(MP_QSTR_r1), MP_ROM_PTR(&qx_py_r1_obj) },
    { MP_ROM_QSTR(MP_QSTR_yield_), MP_ROM_PTR(&qx_py_yield_obj) },
    { MP_ROM_QSTR(MP_QSTR_addr), MP_ROM_PTR(&qx_py_addr_obj) },
    { MP_ROM_QSTR(MP_QSTR_peek), MP_ROM_PTR(&qx_py_peek_obj) },
    { MP_ROM_QSTR(MP_QSTR_poke), MP_ROM_PTR(&qx_py_poke_obj) },
    { MP_ROM_QSTR(MP_QSTR_mem_read), MP_ROM_PTR(&qx_py_mem_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_arena), MP_ROM_PTR(&qx_py_arena_obj) },
    { MP_ROM_QSTR(MP_QSTR_vmstate), MP_ROM_PTR(&qx_py_vmstate_obj) },
    { MP_ROM_QSTR(MP_QSTR_mem_write), MP_ROM_PTR(&qx_py_mem_write_obj) },
    { MP_ROM_QSTR(MP_QSTR_stack_probe), MP_ROM_PTR(&qx_py_stack_probe_obj) },
};
static MP_DEFINE_CONST_DICT(qx_globals, qx_globals_table);

const mp_obj_module_t qx_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&qx_globals,
};
MP_REGISTER_MODULE(MP_QSTR__qx, qx_module);
