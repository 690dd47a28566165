/* PMSAv7 MPU programming: fixed regions at init; a task's regions (its block
 * and its devices) encoded once, when the kernel grants them
 * (qx_mpu_task_regions), and written on every switch by qx_mpu_load (mpu.h). */
#include "mpu.h"
#include "cm3.h"

#define MPU_CTRL QX_REG(0xE000ED94u)
#define MPU_RNR  QX_REG(0xE000ED98u)
#define MPU_RBAR QX_REG(0xE000ED9Cu)
#define MPU_RASR QX_REG(0xE000EDA0u)

#define CTRL_ENABLE     (1u << 0)
#define CTRL_PRIVDEFENA (1u << 2)
#define RBAR_VALID      (1u << 4)   /* the write selects the region in RBAR[3:0] */
#define RASR_ENABLE     (1u << 0)
#define RASR_XN         (1u << 28)
#define AP_PRIV_RW_USER_RO (2u << 24)
#define AP_FULL            (3u << 24)
#define MEM_NORMAL_WBWA    ((1u << 19) | (1u << 17) | (1u << 16))  /* TEX=001 C=1 B=1 */
#define MEM_DEVICE         ((1u << 18) | (1u << 16))               /* TEX=000 C=0 B=1 S=1 */

static uint32_t size_field(uint32_t size) {
    uint32_t n = 0;
    while ((2u << n) < size) {
        n++;
    }
    return n << 1;  /* region size = 2^(SIZE+1) */
}

static void set_region(uint32_t n, uint32_t base, uint32_t size, uint32_t attrs) {
    MPU_RNR = n;
    MPU_RBAR = base;
    MPU_RASR = attrs | size_field(size) | RASR_ENABLE;
}

void qx_mpu_init(uint32_t flash_base, uint32_t flash_size, uint32_t vm_base, uint32_t vm_size_field,
                 uint32_t vm_srd) {
    MPU_CTRL = 0;
    set_region(QX_MPU_REGION_FLASH, flash_base, flash_size, AP_PRIV_RW_USER_RO | MEM_NORMAL_WBWA);
    /* The VM-state block: its SIZE and SRD fields come from the linker, so
     * the region ends where the swapped bytes end (disabled subregions fall
     * back to the privileged-only default map). */
    MPU_RNR = QX_MPU_REGION_VMSTATE;
    MPU_RBAR = vm_base;
    MPU_RASR = AP_FULL | RASR_XN | MEM_NORMAL_WBWA | ((vm_srd & 0xffu) << 8) | ((vm_size_field & 0x1fu) << 1)
        | RASR_ENABLE;
    MPU_RNR = QX_MPU_REGION_TASK;
    MPU_RASR = 0;
    for (uint32_t i = 0; i < QX_MPU_DEVICES; i++) {
        MPU_RNR = QX_MPU_REGION_DEVICE + i;
        MPU_RASR = 0;
    }
    MPU_CTRL = CTRL_ENABLE | CTRL_PRIVDEFENA;
    qx_dsb();
    qx_isb();
}

void qx_mpu_task_regions(uint32_t *regs, uint32_t base, uint32_t size, const uint32_t *dev) {
    regs[0] = base | RBAR_VALID | QX_MPU_REGION_TASK;
    regs[1] = AP_FULL | RASR_XN | MEM_NORMAL_WBWA | size_field(size) | RASR_ENABLE;
    for (uint32_t i = 0; i < QX_MPU_DEVICES; i++) {
        uint32_t *r = regs + 2 + 2 * i;
        r[0] = RBAR_VALID | (QX_MPU_REGION_DEVICE + i);
        r[1] = 0;                                   /* disabled: no device */
        if (dev[2 * i + 1]) {
            r[0] |= dev[2 * i];
            /* Memory granted as a device (storage, the net task's RAM) is
             * normal memory: lwIP's packed headers are read unaligned,
             * which Device memory does not allow. */
            uint32_t type = dev[2 * i] < 0x40000000u ? MEM_NORMAL_WBWA : MEM_DEVICE;
            r[1] = AP_FULL | RASR_XN | type | size_field(dev[2 * i + 1]) | RASR_ENABLE;
        }
    }
}
