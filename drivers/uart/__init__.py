"""The CMSDK UART: the interrupt-driven console driver (C, cmsdk_uart.c) and a
polled port for task-owned UARTs (polled.py)."""
