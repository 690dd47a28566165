/* ARMv7-M PMSAv7 MPU: the three regions a running task sees. Everything not
 * covered is privileged-only (PRIVDEFENA), so a task touching kernel memory,
 * another task or a device faults. */
#pragma once
#include <stdint.h>

#define QX_MPU_REGION_FLASH   0   /* firmware and storage: read/execute for tasks */
#define QX_MPU_REGION_VMSTATE 1   /* the live MicroPython globals block: RW, XN */
#define QX_MPU_REGION_TASK    2   /* the running task's stack + heap block: RW, XN */
#define QX_MPU_REGION_DEVICE  3   /* the running task's granted devices (MMIO or storage), */
#define QX_MPU_DEVICES        2   /* regions 3 and 4, if any: RW, XN */

/* vm_size_field, vm_srd: the VM-state region's RASR SIZE (2^(SIZE+1) bytes)
 * and subregion-disable bits, as the linker computes them (kernel.ld). */
void qx_mpu_init(uint32_t flash_base, uint32_t flash_size, uint32_t vm_base, uint32_t vm_size_field,
                 uint32_t vm_srd);
/* base aligned to size, size a power of two >= 32. */
/* The running task's block, and its granted devices: QX_MPU_DEVICES
 * (base, size) pairs in `dev`, size 0 for none. */
void qx_mpu_set_task(uint32_t base, uint32_t size, const uint32_t *dev);
