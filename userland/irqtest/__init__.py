"""Tasks of the dev image's tests of task interrupts and UARTs
(tests/qemu/test_task_irq.py): an echo on UART3's rings, a driver of
timer 1's interrupt, and a task granted neither that tries both."""
