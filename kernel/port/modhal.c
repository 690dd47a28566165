/* `_hal`: the Python kernel's view of the board mechanisms written in C — the
 * console UART, the tick, the free-running counter, reset and power-off, and
 * the firmware's footprint from the linker. Policy stays in Python. */
#include "py/runtime.h"
#include "py/mphal.h"
#include "shared/runtime/semihosting_arm.h"
#include "cm3.h"
#include "layout.h"
#include "../../drivers/uart/cmsdk_uart.h"
#include "../../drivers/timer/cmsdk_timer.h"

#define FPGAIO_COUNTER QX_REG(QX_FPGAIO_BASE + 0x18u)

/* read_byte(): the next console byte, sleeping (WFI) until one arrives. */
static mp_obj_t hal_read_byte(void) {
    return MP_OBJ_NEW_SMALL_INT(mp_hal_stdin_rx_chr());
}
static MP_DEFINE_CONST_FUN_OBJ_0(hal_read_byte_obj, hal_read_byte);

/* poll_byte(): the next console byte, or None when none is waiting. */
static mp_obj_t hal_poll_byte(void) {
    int c = qx_uart_getc();
    return c < 0 ? mp_const_none : MP_OBJ_NEW_SMALL_INT(c);
}
static MP_DEFINE_CONST_FUN_OBJ_0(hal_poll_byte_obj, hal_poll_byte);

/* write(str_or_bytes): console output, "\n" sent as "\r\n". */
static mp_obj_t hal_write(mp_obj_t data) {
    mp_buffer_info_t buf;
    mp_get_buffer_raise(data, &buf, MP_BUFFER_READ);
    qx_uart_write_cooked(buf.buf, buf.len);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(hal_write_obj, hal_write);

static mp_obj_t hal_ticks_ms(void) {
    return mp_obj_new_int_from_ull(qx_ticks_ms());
}
static MP_DEFINE_CONST_FUN_OBJ_0(hal_ticks_ms_obj, hal_ticks_ms);

/* counter(): the FPGA's free-running 25 MHz counter (counts since reset). */
static mp_obj_t hal_counter(void) {
    return mp_obj_new_int_from_uint(FPGAIO_COUNTER);
}
static MP_DEFINE_CONST_FUN_OBJ_0(hal_counter_obj, hal_counter);

/* entry_counter(): the counter when the kernel was entered (end of the bootloader). */
extern uint32_t qx_entry_counter;
static mp_obj_t hal_entry_counter(void) {
    return mp_obj_new_int_from_uint(qx_entry_counter);
}
static MP_DEFINE_CONST_FUN_OBJ_0(hal_entry_counter_obj, hal_entry_counter);

/* bench_flag(): the word `make bench` has QEMU place at BENCH_FLAG_ADDR. */
static mp_obj_t hal_bench_flag(void) {
    return mp_obj_new_int_from_uint(QX_REG(QX_BENCH_FLAG_ADDR));
}
static MP_DEFINE_CONST_FUN_OBJ_0(hal_bench_flag_obj, hal_bench_flag);

static mp_obj_t hal_reset(void) {
    qx_system_reset();
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(hal_reset_obj, hal_reset);

/* poweroff(): ends the QEMU process with status 0 (semihosting SYS_EXIT); on a
 * board without a debugger attached it stops the CPU instead. */
static mp_obj_t hal_poweroff(void) {
    qx_irq_save();
    mp_semihosting_exit(0);
    for (;;) {
        qx_wfi();
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(hal_poweroff_obj, hal_poweroff);

static mp_obj_t hal_uart_stats(void) {
    mp_obj_t t[2] = {mp_obj_new_int_from_uint(qx_uart_rx_count()), mp_obj_new_int_from_uint(qx_uart_rx_dropped())};
    return mp_obj_new_tuple(2, t);
}
static MP_DEFINE_CONST_FUN_OBJ_0(hal_uart_stats_obj, hal_uart_stats);

/* footprint(): (text, data, bss, heap, stack) byte counts of the running kernel. */
extern uint32_t _stext, _etext, _sdata, _edata, _sbss, _ebss, _sstack, _estack;
static mp_obj_t hal_footprint(void) {
    mp_obj_t t[5] = {
        mp_obj_new_int_from_uint((uint32_t)&_etext - (uint32_t)&_stext),
        mp_obj_new_int_from_uint((uint32_t)&_edata - (uint32_t)&_sdata),
        mp_obj_new_int_from_uint((uint32_t)&_ebss - (uint32_t)&_sbss),
        mp_obj_new_int_from_uint(QX_KERNEL_HEAP_SIZE),
        mp_obj_new_int_from_uint((uint32_t)&_estack - (uint32_t)&_sstack),
    };
    return mp_obj_new_tuple(5, t);
}
static MP_DEFINE_CONST_FUN_OBJ_0(hal_footprint_obj, hal_footprint);

static const mp_rom_map_elem_t hal_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__hal) },
    { MP_ROM_QSTR(MP_QSTR_read_byte), MP_ROM_PTR(&hal_read_byte_obj) },
    { MP_ROM_QSTR(MP_QSTR_poll_byte), MP_ROM_PTR(&hal_poll_byte_obj) },
    { MP_ROM_QSTR(MP_QSTR_write), MP_ROM_PTR(&hal_write_obj) },
    { MP_ROM_QSTR(MP_QSTR_ticks_ms), MP_ROM_PTR(&hal_ticks_ms_obj) },
    { MP_ROM_QSTR(MP_QSTR_counter), MP_ROM_PTR(&hal_counter_obj) },
    { MP_ROM_QSTR(MP_QSTR_entry_counter), MP_ROM_PTR(&hal_entry_counter_obj) },
    { MP_ROM_QSTR(MP_QSTR_bench_flag), MP_ROM_PTR(&hal_bench_flag_obj) },
    { MP_ROM_QSTR(MP_QSTR_reset), MP_ROM_PTR(&hal_reset_obj) },
    { MP_ROM_QSTR(MP_QSTR_poweroff), MP_ROM_PTR(&hal_poweroff_obj) },
    { MP_ROM_QSTR(MP_QSTR_uart_stats), MP_ROM_PTR(&hal_uart_stats_obj) },
    { MP_ROM_QSTR(MP_QSTR_footprint), MP_ROM_PTR(&hal_footprint_obj) },
};
static MP_DEFINE_CONST_DICT(hal_module_globals, hal_module_globals_table);

const mp_obj_module_t qx_hal_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&hal_module_globals,
};
MP_REGISTER_MODULE(MP_QSTR__hal, qx_hal_module);
