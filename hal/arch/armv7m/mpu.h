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

/* A task's regions as the register values that program them: RBAR (with
 * VALID and the region number) and RASR for its block and for each of its
 * QX_MPU_DEVICES device slots, in the order of the MPU's RBAR/RASR alias
 * pairs. Encoded once when the kernel grants the regions, not per switch. */
#define QX_MPU_TASK_WORDS (2 * (1 + QX_MPU_DEVICES))
/* regs: QX_MPU_TASK_WORDS words; base aligned to size, size a power of two
 * >= 32; dev: QX_MPU_DEVICES
 * (base, size) pairs, size 0 for none. */
void qx_mpu_task_regions(uint32_t *regs, uint32_t base, uint32_t size, const uint32_t *dev);

/* Program a task's regions: one ldm, one stm over RBAR, RASR and the
 * RBAR_A1/RASR_A1, RBAR_A2/RASR_A2 aliases (0xE000ED9C..0xE000EDB0), then
 * dsb/isb. About 5 instructions, where encoding them each switch cost 81. */
#if QX_MPU_DEVICES != 2
#error "qx_mpu_load writes three regions: the task's block and two devices"
#endif
static inline void qx_mpu_load(const uint32_t *regs) {
    __asm volatile (
        "ldmia %0, {r2, r3, r4, r5, r6, r12}\n"
        "stmia %1, {r2, r3, r4, r5, r6, r12}\n"
        "dsb 0xf\n"
        "isb 0xf\n"
        :: "r" (regs), "r" (0xE000ED9Cu) : "r2", "r3", "r4", "r5", "r6", "r12", "memory");
}
