/* ARMv7-M system registers (SCB, NVIC) and the few primitives the kernel and
 * bootloader need on them. Register addresses only; no policy. */
#pragma once
#include <stdint.h>

#define QX_REG(addr) (*(volatile uint32_t *)(addr))

#define SCB_ICSR   QX_REG(0xE000ED04u)
#define SCB_VTOR   QX_REG(0xE000ED08u)
#define SCB_AIRCR  QX_REG(0xE000ED0Cu)
#define SCB_SHCSR  QX_REG(0xE000ED24u)
#define SCB_CFSR   QX_REG(0xE000ED28u)
#define SCB_HFSR   QX_REG(0xE000ED2Cu)
#define SCB_MMFAR  QX_REG(0xE000ED34u)
#define SCB_BFAR   QX_REG(0xE000ED38u)
#define NVIC_ISER0 QX_REG(0xE000E100u)
#define NVIC_ICER0 QX_REG(0xE000E180u)
#define NVIC_ICPR0 QX_REG(0xE000E280u)

#define SHCSR_MEMFAULTENA (1u << 16)
#define SHCSR_BUSFAULTENA (1u << 17)
#define SHCSR_USGFAULTENA (1u << 18)

static inline void qx_irq_enable(unsigned irq) { NVIC_ISER0 = 1u << irq; }
static inline void qx_irq_disable(unsigned irq) { NVIC_ICER0 = 1u << irq; }
static inline void qx_wfi(void) { __asm volatile ("wfi"); }
static inline void qx_dsb(void) { __asm volatile ("dsb 0xf" ::: "memory"); }
static inline void qx_isb(void) { __asm volatile ("isb 0xf" ::: "memory"); }

/* Zero [p, p + n): p word aligned, n a non-zero multiple of 32; eight words
 * a store, three instructions a loop (the kernel's .bss at reset, a task's
 * block before reuse). */
static inline void qx_zero32(void *p, uint32_t n) {
    __asm volatile (
        "movs r2, #0\n"
        "movs r3, #0\n"
        "movs r4, #0\n"
        "movs r5, #0\n"
        "movs r6, #0\n"
        "movs r7, #0\n"
        "movs r8, #0\n"
        "movs r9, #0\n"
        "1:\n"
        "stmia %0!, {r2-r9}\n"
        "subs %1, %1, #32\n"
        "bne 1b\n"
        : "+r" (p), "+r" (n) :: "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "cc", "memory");
}

static inline uint32_t qx_irq_save(void) {
    uint32_t primask;
    __asm volatile ("mrs %0, primask\n cpsid i" : "=r" (primask) :: "memory");
    return primask;
}
static inline void qx_irq_restore(uint32_t primask) {
    __asm volatile ("msr primask, %0" :: "r" (primask) : "memory");
}

/* Request a system reset through AIRCR.SYSRESETREQ; never returns. */
static inline void __attribute__((noreturn)) qx_system_reset(void) {
    qx_dsb();
    SCB_AIRCR = (0x05FAu << 16) | (1u << 2);
    qx_dsb();
    for (;;) {
        qx_wfi();
    }
}
