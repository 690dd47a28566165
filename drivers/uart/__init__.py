"""The CMSDK UART: the interrupt-driven console driver (C, cmsdk_uart.c), the
task-owned UARTs' rings and interrupt path (C, task_uart.c) and their
owners' port (ring.py)."""
