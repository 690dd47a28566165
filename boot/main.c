/* QENEX bootloader: the code at the reset vector. It checks the kernel image in
 * slot A (boot/image.c) and, when it is valid, jumps to the kernel's vector
 * table with VTOR and MSP set from it. An invalid image is never entered: the
 * reason is printed and the bootloader stays in a recovery loop. */
#include <stdint.h>
#include "cm3.h"
#include "layout.h"
#define QX_RAM_END (QX_RAM_BASE + QX_RAM_SIZE)
#include "image.h"
#include "boot_key.h"
#include "../drivers/uart/cmsdk_uart.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;

static void put_dec(uint32_t v) {
    char buf[11];
    int i = sizeof buf;
    buf[--i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    qx_uart_puts(&buf[i]);
}

static void __attribute__((noreturn)) recovery(void) {
    qx_uart_puts("boot: no bootable image; staying in recovery\n");
    for (;;) {
        qx_wfi();
    }
}

static void __attribute__((noreturn)) jump(uint32_t vectors) {
    uint32_t sp = ((const uint32_t *)vectors)[0];
    uint32_t pc = ((const uint32_t *)vectors)[1];
    qx_irq_save();
    NVIC_ICER0 = 0xffffffffu;
    NVIC_ICPR0 = 0xffffffffu;
    SCB_VTOR = vectors;
    qx_dsb();
    qx_isb();
    __asm volatile (
        "msr msp, %0\n"
        "cpsie i\n"
        "bx %1\n" :: "r" (sp), "r" (pc));
    __builtin_unreachable();
}

static const qx_img_key_t key = {qx_boot_key_spki, sizeof qx_boot_key_spki};

/* Check the image in a slot; both slots hold images linked to run from slot
 * A (an image in B is copied to A before it runs). Prints the verdict. */
static qx_img_result_t check_slot(char name, uint32_t base, qx_img_info_t *info) {
    const uint32_t first = *(const uint32_t *)base;
    char who[] = "boot: slot ? ";
    who[11] = name;
    qx_uart_puts(who);
    if (first == 0xffffffffu || first == 0) {
        qx_uart_puts("empty\n");
        return QX_IMG_BAD_MAGIC;
    }
    qx_img_result_t r = qx_image_check((const uint8_t *)base, QX_SLOT_SIZE, QX_SLOT_A_BASE, &key, info);
    if (r != QX_IMG_OK) {
        qx_uart_puts(qx_image_result_str(r));
        qx_uart_puts("\n");
        return r;
    }
    qx_uart_puts("v");
    put_dec(info->major);
    qx_uart_puts(".");
    put_dec(info->minor);
    qx_uart_puts(".");
    put_dec(info->revision);
    qx_uart_puts("+");
    put_dec(info->build);
    qx_uart_puts(" ok (ecdsa-p256, key " QX_BOOT_KEY_ID "...)\n");
    return r;
}

static int newer(const qx_img_info_t *a, const qx_img_info_t *b) {
    if (a->major != b->major) {
        return a->major > b->major;
    }
    if (a->minor != b->minor) {
        return a->minor > b->minor;
    }
    if (a->revision != b->revision) {
        return a->revision > b->revision;
    }
    return a->build > b->build;
}

/* Boot the best verified image: slot A's, unless slot B holds a verified
 * newer one or A is unusable; then B is copied over A (an overwrite upgrade,
 * as MCUboot's overwrite-only mode), A is checked again and booted. */
void __attribute__((noreturn)) boot_main(void) {
    qx_uart_init(QX_UART0_BASE, -1, QX_SYSCLK_HZ, 115200);  /* write only */
    qx_uart_puts("\nboot: QENEX boot on " QX_BOARD_NAME "\n");

    qx_img_info_t a, b;
    qx_img_result_t ra = check_slot('A', QX_SLOT_A_BASE, &a);
    qx_img_result_t rb = check_slot('B', QX_SLOT_B_BASE, &b);
    if (rb == QX_IMG_OK && (ra != QX_IMG_OK || newer(&b, &a))) {
        qx_uart_puts(ra == QX_IMG_OK ? "boot: slot B is newer: copying it to slot A\n"
                                     : "boot: copying slot B to slot A\n");
        const uint32_t *src = (const uint32_t *)QX_SLOT_B_BASE;
        uint32_t *dst = (uint32_t *)QX_SLOT_A_BASE;
        for (uint32_t i = 0; i < (b.total + 3) / 4; i++) {
            dst[i] = src[i];
        }
        ra = check_slot('A', QX_SLOT_A_BASE, &a);
    }
    if (ra != QX_IMG_OK) {
        recovery();
    }
    jump(QX_SLOT_A_BASE + a.hdr_size);
}

void __attribute__((noreturn)) boot_reset(void) {
    for (uint32_t *s = &_sidata, *d = &_sdata; d < &_edata;) {
        *d++ = *s++;
    }
    for (uint32_t *d = &_sbss; d < &_ebss;) {
        *d++ = 0;
    }
    boot_main();
}

/* Any fault in the bootloader: say so and stay put. */
void boot_fault(void) {
    qx_uart_puts("boot: fault; staying in recovery\n");
    for (;;) {
        qx_wfi();
    }
}

__attribute__((section(".isr_vector"), used))
const uint32_t boot_vectors[16] = {
    [0] = (uint32_t)&_estack,
    [1] = (uint32_t)boot_reset,
    [2 ... 15] = (uint32_t)boot_fault,
};
