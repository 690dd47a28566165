/* MicroPython HAL hooks of the QENEX port (console and time come from drivers/). */
#include <stddef.h>
#include "shared/runtime/interrupt_char.h"
#include "layout.h"

mp_uint_t mp_hal_ticks_ms(void);
