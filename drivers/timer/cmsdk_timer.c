/* Kernel tick from a CMSDK APB timer: it reloads every sysclk/tick_hz counts and
 * its interrupt only counts, so a tick costs a handful of instructions. Anything
 * that should happen on a tick is decided by the kernel reading the count. */
#include "cmsdk_timer.h"
#include "cm3.h"

typedef struct {
    volatile uint32_t CTRL;      /* bit0 enable, bit3 interrupt enable */
    volatile uint32_t VALUE;
    volatile uint32_t RELOAD;
    volatile uint32_t INTSTATUS; /* write 1 to clear */
} cmsdk_timer_t;

static cmsdk_timer_t *timer;
static volatile uint64_t ticks;
static uint32_t hz;

void qx_tick_init(uint32_t base, uint32_t irq, uint32_t sysclk_hz, uint32_t tick_hz) {
    timer = (cmsdk_timer_t *)base;
    hz = tick_hz;
    timer->CTRL = 0;
    timer->RELOAD = sysclk_hz / tick_hz - 1;
    timer->VALUE = sysclk_hz / tick_hz - 1;
    timer->INTSTATUS = 1;
    timer->CTRL = (1u << 0) | (1u << 3);
    qx_irq_enable(irq);
}

/* What the kernel does on a tick; by default nothing (the bootloader). */
void __attribute__((weak)) qx_on_tick(uint64_t now) {
    (void)now;
}

void TIMER0_Handler(void) {
    timer->INTSTATUS = 1;
    ticks++;
    qx_on_tick(ticks);
}

uint64_t qx_ticks(void) {
    uint32_t s = qx_irq_save();
    uint64_t t = ticks;
    qx_irq_restore(s);
    return t;
}

uint32_t qx_tick_hz(void) {
    return hz;
}

/* At the usual 1 kHz a tick is a millisecond: no 64-bit division (the
 * trap layer's fast paths read the clock). */
uint64_t qx_ticks_to_ms(uint64_t t) {
    return hz == 1000 ? t : t * 1000u / hz;
}

uint64_t qx_ticks_ms(void) {
    if (hz == 1000) {                /* the trap layer's fast paths read it: one call, no division */
        uint32_t s = qx_irq_save();
        uint64_t t = ticks;
        qx_irq_restore(s);
        return t;
    }
    return qx_ticks_to_ms(qx_ticks());
}

uint32_t qx_ticks_ms32(void) {
    /* the low word of `ticks` is read in one access: no torn value to mask interrupts for */
    return hz == 1000 ? (uint32_t)ticks : (uint32_t)qx_ticks_ms();
}
