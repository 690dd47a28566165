/* CMSDK APB timer as the kernel's periodic tick, and the board's free-running counter. */
#pragma once
#include <stdint.h>

void qx_tick_init(uint32_t base, uint32_t irq, uint32_t sysclk_hz, uint32_t tick_hz);
uint64_t qx_ticks(void);        /* ticks since qx_tick_init */
uint32_t qx_tick_hz(void);
uint64_t qx_ticks_to_ms(uint64_t ticks);
uint64_t qx_ticks_ms(void);     /* milliseconds since qx_tick_init */
uint32_t qx_ticks_ms32(void);   /* its low 32 bits, cheaply (a 1 kHz tick: one load, no masking) */
void qx_on_tick(uint64_t ticks);  /* called from the tick interrupt; weak, empty by default */
