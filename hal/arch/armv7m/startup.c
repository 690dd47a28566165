/* Kernel entry on ARMv7-M: the vector table, the reset handler (copies .data,
 * zeroes .bss, enables the configurable faults, calls qx_main) and the report
 * of a fault in the kernel itself (faults in tasks are trap.c's). Interrupt handlers of the drivers are named here and defined by
 * the drivers; any other interrupt lands in qx_unexpected_irq. */
#include <stdint.h>
#include "cm3.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack, _sivmstate, _svmstate, _gvmstate;
extern void qx_main(void) __attribute__((noreturn));
extern void qx_panic(const char *what, uint32_t pc, uint32_t cfsr, uint32_t addr) __attribute__((noreturn));

void __attribute__((noreturn)) Reset_Handler(void) {
    /* The bootloader set MSP and VTOR; set them again so that a debugger or
     * QEMU `-kernel firmware.elf` can start the kernel directly. */
    extern const uint32_t qx_vectors[];
    SCB_VTOR = (uint32_t)qx_vectors;
    for (uint32_t *s = &_sidata, *d = &_sdata; d < &_edata;) {
        *d++ = *s++;
    }
    for (uint32_t *s = &_sivmstate, *d = &_svmstate; d < &_gvmstate;) {
        *d++ = *s++;
    }
    /* .bss (about 300 KB, the kernel VM's heap in it): eight words a store,
     * three instructions a loop, then the last few words one at a time
     * (about 28,000 instructions instead of 227,000 for a word a loop). */
    uint32_t *d = &_sbss;
    uint32_t n = ((uint32_t)&_ebss - (uint32_t)d) & ~31u;
    if (n) {
        qx_zero32(d, n);
        d += n / 4;
    }
    while (d < &_ebss) {
        *d++ = 0;
    }
    SCB_SHCSR |= SHCSR_MEMFAULTENA | SHCSR_BUSFAULTENA | SHCSR_USGFAULTENA;
    qx_main();
}

/* A fault the kernel cannot blame on a task (trap.c decides): report and stop. */
void __attribute__((noreturn, used)) qx_fault_report(uint32_t *frame, const char *what) {
    uint32_t cfsr = SCB_CFSR;
    uint32_t addr = (cfsr & 0x80u) ? SCB_MMFAR : (cfsr & 0x8000u) ? SCB_BFAR : 0;
    qx_panic(what, frame[6], cfsr, addr);
}

void qx_unexpected_irq(void) {
    uint32_t active = SCB_ICSR & 0x1ffu;
    qx_panic("unexpected interrupt", active, 0, 0);
}

#define WEAK_IRQ __attribute__((weak, alias("qx_unexpected_irq")))
void NMI_Handler(void) WEAK_IRQ;
void SVC_Handler(void);
void PendSV_Handler(void);
void HardFault_Handler(void);
void MemManage_Handler(void);
void BusFault_Handler(void);
void UsageFault_Handler(void);
void SysTick_Handler(void) WEAK_IRQ;
void UART0_RX_Handler(void) WEAK_IRQ;
void UART0_TX_Handler(void) WEAK_IRQ;
void TIMER0_Handler(void) WEAK_IRQ;
void UART_OVF_Handler(void) WEAK_IRQ;
void UART1_RX_Handler(void) WEAK_IRQ;
void UART1_TX_Handler(void) WEAK_IRQ;
void UART2_RX_Handler(void) WEAK_IRQ;
void UART2_TX_Handler(void) WEAK_IRQ;
void UART3_RX_Handler(void) WEAK_IRQ;
void UART3_TX_Handler(void) WEAK_IRQ;
void qx_task_irq(void) WEAK_IRQ;      /* trap.c: the generic handler of a task-owned IRQ */

/* 16 system exceptions + 32 external interrupts of the AN385. */
__attribute__((section(".isr_vector"), used, aligned(256)))
const uint32_t qx_vectors[48] = {
    [2 ... 47] = (uint32_t)qx_unexpected_irq,  /* overridden below */
    [0] = (uint32_t)&_estack,
    [1] = (uint32_t)Reset_Handler,
    [2] = (uint32_t)NMI_Handler,
    [3] = (uint32_t)HardFault_Handler,
    [4] = (uint32_t)MemManage_Handler,
    [5] = (uint32_t)BusFault_Handler,
    [6] = (uint32_t)UsageFault_Handler,
    [11] = (uint32_t)SVC_Handler,
    [14] = (uint32_t)PendSV_Handler,
    [15] = (uint32_t)SysTick_Handler,
    [16 + 0] = (uint32_t)UART0_RX_Handler,
    [16 + 1] = (uint32_t)UART0_TX_Handler,
    [16 + 2] = (uint32_t)UART1_RX_Handler,
    [16 + 3] = (uint32_t)UART1_TX_Handler,
    [16 + 4] = (uint32_t)UART2_RX_Handler,
    [16 + 5] = (uint32_t)UART2_TX_Handler,
    [16 + 9] = (uint32_t)qx_task_irq,         /* TIMER1 (board.py IRQS: timer1) */
    [16 + 13] = (uint32_t)qx_task_irq,        /* LAN9118 (board.py IRQS: eth) */
    [16 + 18] = (uint32_t)UART3_RX_Handler,
    [16 + 19] = (uint32_t)UART3_TX_Handler,
    [16 + 8] = (uint32_t)TIMER0_Handler,
    [16 + 12] = (uint32_t)UART_OVF_Handler,
};
