/* QENEX bootloader: the code at the reset vector. It reads the kernel images'
 * headers in slots A and B (boot/image.c), applies the boot-state policy
 * (boot/bootstate.c: highest valid version, rollback protection, trial boots
 * that revert unless confirmed) to what they claim, verifies the chosen image
 * whole (SHA-256, key, ECDSA signature; the other slot only if that fails,
 * boot/bootstate.c qx_boot_select), records its decision in storage, hands the
 * kernel what it booted (QX_BOOT_INFO_ADDR) and jumps to that slot's vector
 * table with VTOR and MSP set from it. Each slot's image is linked to run
 * where it lies: nothing is copied. An invalid image is never entered; with
 * none left the reason is printed and the bootloader stays in recovery. */
#include <stdint.h>
#include <string.h>
#include "cm3.h"
#include "layout.h"
#define QX_RAM_END (QX_RAM_BASE + QX_RAM_SIZE)
#include "image.h"
#include "bootstate.h"
#include "boot_key.h"
#include "../drivers/uart/cmsdk_uart.h"
#include "../drivers/flash/mapped_flash.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;

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

static void put_char(char c) {
    qx_uart_write(&c, 1);
}

static const qx_img_key_t key = {qx_boot_key_spki, sizeof qx_boot_key_spki};

static void put_version(const qx_img_info_t *info) {
    qx_uart_puts("v");
    qx_uart_put_dec(info->major);
    qx_uart_puts(".");
    qx_uart_put_dec(info->minor);
    qx_uart_puts(".");
    qx_uart_put_dec(info->revision);
    qx_uart_puts("+");
    qx_uart_put_dec(info->build);
}

/* What the bootloader learnt of each slot. */
typedef struct {
    uint32_t base;
    int empty;
    qx_img_result_t parsed;     /* qx_image_parse: well formed? */
    qx_img_result_t verified;   /* qx_image_check, when it ran */
    qx_img_info_t info;
} slot_t;

/* Read a slot's header and TLVs (no hash, no signature: the image is read
 * whole only if it is chosen to boot, by verify_slot). */
static void parse_slot(slot_t *sl, qx_boot_cand_t *cand) {
    const uint32_t first = *(const uint32_t *)sl->base;
    memset(cand, 0, sizeof *cand);
    sl->empty = first == 0xffffffffu || first == 0;
    if (sl->empty) {
        return;
    }
    sl->parsed = qx_image_parse((const uint8_t *)sl->base, QX_SLOT_SIZE, sl->base, &sl->info);
    if (sl->parsed != QX_IMG_OK || (sl->info.flags & QX_IMAGE_F_NON_BOOTABLE)) {
        return;
    }
    cand->valid = 1;
    cand->major = sl->info.major;
    cand->minor = sl->info.minor;
    cand->revision = sl->info.revision;
    cand->build = sl->info.build;
    cand->counter = sl->info.security_counter;
    memcpy(cand->hash, sl->info.hash, sizeof cand->hash);
}

/* The full check (SHA-256, key, signature) of the slot about to boot. */
static int verify_slot(int i, void *ctx) {
    slot_t *sl = &((slot_t *)ctx)[i];
    sl->verified = qx_image_check((const uint8_t *)sl->base, QX_SLOT_SIZE, sl->base, &key, &sl->info);
    return sl->verified != QX_IMG_OK;
}

/* One line per slot: what was found, and for the slots verified the verdict. */
static void print_slot(char name, const slot_t *sl, signed char checked) {
    qx_uart_puts("boot: slot ");
    put_char(name);
    qx_uart_puts(" ");
    if (sl->empty) {
        qx_uart_puts("empty\n");
    } else if (sl->parsed != QX_IMG_OK) {
        qx_uart_puts(qx_image_result_str(sl->parsed));
        qx_uart_puts("\n");
    } else if (sl->info.flags & QX_IMAGE_F_NON_BOOTABLE) {
        qx_uart_puts("not a kernel (a task bundle)\n");
    } else if (checked < 0) {
        qx_uart_puts(qx_image_result_str(sl->verified));
        qx_uart_puts("\n");
    } else {
        put_version(&sl->info);
        qx_uart_puts(checked > 0 ? " ok (ecdsa-p256, key " QX_BOOT_KEY_ID "...)\n"
                     : " not verified (not booting it)\n");
    }
}

void __attribute__((noreturn)) boot_main(void) {
    static const char names[2] = {'A', 'B'};
    static const uint32_t bases[2] = {QX_SLOT_A_BASE, QX_SLOT_B_BASE};
    qx_uart_init(QX_UART0_BASE, -1, QX_SYSCLK_HZ, 115200);  /* write only */
    qx_uart_puts("\nboot: QENEX boot on " QX_BOARD_NAME "\n");
    qx_flash_init((uint8_t *)QX_STORAGE_BASE, QX_STORAGE_SIZE, QX_SECTOR_SIZE);

    static slot_t slots[2];
    qx_boot_cand_t cand[2];
    for (int i = 0; i < 2; i++) {
        slots[i].base = bases[i];
        parse_slot(&slots[i], &cand[i]);
    }
    qx_boot_state_t st;
    int have = qx_bootstate_load(QX_BOOT_STATE_OFFSET, &st);
    uint8_t verdict[2];
    signed char checked[2];
    int kind, save;
    int pick = qx_boot_select(cand, 2, have, &st, verdict, &kind, &save, checked, verify_slot, slots);
    for (int i = 0; i < 2; i++) {
        print_slot(names[i], &slots[i], checked[i]);
    }
    for (int i = 0; i < 2; i++) {
        if (verdict[i] == QX_SLOT_ROLLED_BACK || verdict[i] == QX_SLOT_REVERTED
            || verdict[i] == QX_SLOT_RETRIED) {
            qx_uart_puts("boot: slot ");
            put_char(names[i]);
            qx_uart_puts(" ");
            put_version(&slots[i].info);
            if (verdict[i] == QX_SLOT_ROLLED_BACK) {
                qx_uart_puts(" refused: rolled back (security counter ");
                qx_uart_put_dec(cand[i].counter);
                qx_uart_puts(" < ");
                qx_uart_put_dec(st.min_counter);
                qx_uart_puts(")\n");
            } else if (verdict[i] == QX_SLOT_REVERTED) {
                qx_uart_puts(" refused: its trial boot was never confirmed (reverted)\n");
            } else {
                qx_uart_puts(" was never confirmed, but no other image can boot: trying it again\n");
            }
        }
    }
    if (pick < 0) {
        recovery();
    }
    if (save && qx_bootstate_save(QX_BOOT_STATE_OFFSET, &st) != QX_FLASH_OK) {
        qx_uart_puts("boot: cannot write the boot state; staying in recovery\n");
        recovery();
    }
    qx_uart_puts("boot: booting slot ");
    put_char(names[pick]);
    qx_uart_puts(" ");
    put_version(&slots[pick].info);
    qx_uart_puts(kind == QX_BOOT_TEST ? " on trial (confirm with `boot confirm`)\n"
                 : kind == QX_BOOT_FIRST ? " (first boot: confirmed)\n" : " (confirmed)\n");

    qx_boot_info_t *bi = (qx_boot_info_t *)QX_BOOT_INFO_ADDR;
    memset(bi, 0, sizeof *bi);
    bi->magic = QX_BOOT_INFO_MAGIC;
    bi->slot = (uint32_t)pick;
    bi->kind = (uint32_t)kind;
    bi->major = cand[pick].major;
    bi->minor = cand[pick].minor;
    bi->revision = cand[pick].revision;
    bi->build = cand[pick].build;
    bi->counter = cand[pick].counter;
    bi->min_counter = st.min_counter;
    memcpy(bi->hash, cand[pick].hash, sizeof bi->hash);
    jump(bases[pick] + slots[pick].info.hdr_size);
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
