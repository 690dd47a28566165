/* `_hal`: the Python kernel's view of the board mechanisms written in C — the
 * console UART, the tick, the free-running counter, reset and power-off, and
 * the firmware's footprint from the linker. Policy stays in Python. */
#include <string.h>
#include "py/runtime.h"
#include "py/smallint.h"
#include "py/mphal.h"
#include "py/objarray.h"
#include "shared/runtime/semihosting_arm.h"
#include "cm3.h"
#include "layout.h"
#include "../../drivers/uart/cmsdk_uart.h"
#include "../../drivers/timer/cmsdk_timer.h"
#include "../../drivers/flash/mapped_flash.h"
#include "bootstate.h"
#include "image.h"
#include "boot_key.h"

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

/* ticks_ms(): ms since boot. A small int while it fits (2^30 ms, 12 days):
 * mp_obj_new_int_from_ull always makes a long int, two heap blocks per call,
 * and the kernel's loop reads the clock twice a step (kernel/kernel.py). */
static mp_obj_t hal_ticks_ms(void) {
    uint64_t ms = qx_ticks_ms();
    if (ms <= (mp_uint_t)MP_SMALL_INT_POSITIVE_MASK) {
        return MP_OBJ_NEW_SMALL_INT(ms);
    }
    return mp_obj_new_int_from_ull(ms);
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

/* boot_info(): what the bootloader booted, or None if it left nothing:
 * (slot "A"/"B", kind 0 confirmed / 1 first boot / 2 on trial,
 *  (major, minor, revision, build), security counter, stored counter,
 *  image SHA-256 bytes). */
static mp_obj_t hal_boot_info(void) {
    const qx_boot_info_t *bi = (const qx_boot_info_t *)QX_BOOT_INFO_ADDR;
    if (bi->magic != QX_BOOT_INFO_MAGIC) {
        return mp_const_none;
    }
    mp_obj_t v[4] = {MP_OBJ_NEW_SMALL_INT(bi->major), MP_OBJ_NEW_SMALL_INT(bi->minor),
                     MP_OBJ_NEW_SMALL_INT(bi->revision), mp_obj_new_int_from_uint(bi->build)};
    mp_obj_t t[6] = {
        MP_OBJ_NEW_QSTR(bi->slot ? MP_QSTR_B : MP_QSTR_A),
        MP_OBJ_NEW_SMALL_INT(bi->kind),
        mp_obj_new_tuple(4, v),
        mp_obj_new_int_from_uint(bi->counter),
        mp_obj_new_int_from_uint(bi->min_counter),
        mp_obj_new_bytes(bi->hash, sizeof bi->hash),
    };
    return mp_obj_new_tuple(6, t);
}
static MP_DEFINE_CONST_FUN_OBJ_0(hal_boot_info_obj, hal_boot_info);

/* boot_confirm(): confirm the running image in the boot state (see
 * boot/bootstate.h). True: written now; False: it was confirmed already.
 * OSError with the storage driver's code if the write failed. */
static mp_obj_t hal_boot_confirm(void) {
    qx_boot_info_t *bi = (qx_boot_info_t *)QX_BOOT_INFO_ADDR;
    if (bi->magic != QX_BOOT_INFO_MAGIC) {
        mp_raise_ValueError(MP_ERROR_TEXT("no boot information from the bootloader"));
    }
    int r = qx_boot_confirm(QX_BOOT_STATE_OFFSET, bi);
    if (r < 0) {
        mp_raise_OSError(-r);
    }
    return mp_obj_new_bool(r == 0);
}
static MP_DEFINE_CONST_FUN_OBJ_0(hal_boot_confirm_obj, hal_boot_confirm);

/* The storage driver (drivers/flash): flash_read(off, n) -> bytes,
 * flash_erase(off), flash_program(off, data). Errors raise OSError with the
 * driver's code (1 range, 2 alignment, 3 not erased). */
static void flash_check(int r) {
    if (r != QX_FLASH_OK) {
        mp_raise_OSError(-r);
    }
}

static mp_obj_t hal_flash_read(mp_obj_t off, mp_obj_t n) {
    const uint8_t *p = qx_flash_map(mp_obj_get_int_truncated(off), mp_obj_get_int_truncated(n));
    if (!p) {
        flash_check(QX_FLASH_RANGE);
    }
    return mp_obj_new_bytes(p, mp_obj_get_int_truncated(n));
}
static MP_DEFINE_CONST_FUN_OBJ_2(hal_flash_read_obj, hal_flash_read);

/* flash_view(off, n) -> a read-only memoryview of storage as mapped (no
 * copy): the kernel checks and runs an installed bundle from its slot. */
static mp_obj_t hal_flash_view(mp_obj_t off, mp_obj_t n) {
    const uint8_t *p = qx_flash_map(mp_obj_get_int_truncated(off), mp_obj_get_int_truncated(n));
    if (!p) {
        flash_check(QX_FLASH_RANGE);
    }
    return mp_obj_new_memoryview('B', mp_obj_get_int_truncated(n), (void *)p);
}
static MP_DEFINE_CONST_FUN_OBJ_2(hal_flash_view_obj, hal_flash_view);

static mp_obj_t hal_flash_erase(mp_obj_t off) {
    flash_check(qx_flash_erase(mp_obj_get_int_truncated(off)));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(hal_flash_erase_obj, hal_flash_erase);

static mp_obj_t hal_flash_program(mp_obj_t off, mp_obj_t data) {
    mp_buffer_info_t buf;
    mp_get_buffer_raise(data, &buf, MP_BUFFER_READ);
    flash_check(qx_flash_program(mp_obj_get_int_truncated(off), buf.buf, buf.len));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(hal_flash_program_obj, hal_flash_program);

/* verify_image(data) -> (result, flags, (major, minor, revision, build),
 * security counter, hdr_size, img_size, sha256): boot/image.c's check of an
 * image (a task bundle) against the key built into this firmware, the one
 * the bootloader trusts. result is "ok" or the failed check ("bad hash",
 * "wrong key", ...). All at once: at boot (kernel/bundles.py load_all); an
 * install checks in bounded steps instead (kernel/port/imgcheck.c, which
 * answers with the same tuple, qx_image_verdict). */
mp_obj_t qx_image_verdict(qx_img_result_t r, const qx_img_info_t *info) {
    mp_obj_t v[4] = {MP_OBJ_NEW_SMALL_INT(info->major), MP_OBJ_NEW_SMALL_INT(info->minor),
                     MP_OBJ_NEW_SMALL_INT(info->revision), mp_obj_new_int_from_uint(info->build)};
    const char *text = qx_image_result_str(r);
    mp_obj_t t[7] = {
        mp_obj_new_str(text, strlen(text)),
        mp_obj_new_int_from_uint(info->flags),
        mp_obj_new_tuple(4, v),
        mp_obj_new_int_from_uint(info->security_counter),
        mp_obj_new_int_from_uint(info->hdr_size),
        mp_obj_new_int_from_uint(info->img_size),
        mp_obj_new_bytes(info->hash, sizeof info->hash),
    };
    return mp_obj_new_tuple(7, t);
}

static mp_obj_t hal_verify_image(mp_obj_t data) {
    static const qx_img_key_t key = {qx_boot_key_spki, sizeof qx_boot_key_spki};
    mp_buffer_info_t buf;
    mp_get_buffer_raise(data, &buf, MP_BUFFER_READ);
    qx_img_info_t info;
    qx_img_result_t r = qx_image_check(buf.buf, buf.len, 0, &key, &info);
    return qx_image_verdict(r, &info);
}
static MP_DEFINE_CONST_FUN_OBJ_1(hal_verify_image_obj, hal_verify_image);

static const mp_rom_map_elem_t hal_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_verify_image), MP_ROM_PTR(&hal_verify_image_obj) },
    { MP_ROM_QSTR(MP_QSTR_boot_info), MP_ROM_PTR(&hal_boot_info_obj) },
    { MP_ROM_QSTR(MP_QSTR_boot_confirm), MP_ROM_PTR(&hal_boot_confirm_obj) },
    { MP_ROM_QSTR(MP_QSTR_flash_read), MP_ROM_PTR(&hal_flash_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_flash_view), MP_ROM_PTR(&hal_flash_view_obj) },
    { MP_ROM_QSTR(MP_QSTR_flash_erase), MP_ROM_PTR(&hal_flash_erase_obj) },
    { MP_ROM_QSTR(MP_QSTR_flash_program), MP_ROM_PTR(&hal_flash_program_obj) },
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
/* Not a built-in module: kernel/port/main.c puts it in the kernel VM's
 * sys.modules, so a task's VM has no such module (ImportError). */
