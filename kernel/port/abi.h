/* The task <-> kernel boundary, as C sees it: syscall numbers, event kinds and
 * IRQ bits. kernel/abi.py is the definition the Python kernel uses; the host
 * test tests/host/test_abi.py holds this file to it. */
#pragma once

#define QX_SYS_EXIT     0
#define QX_SYS_YIELD    1
#define QX_SYS_SLEEP    2
#define QX_SYS_TICKS    3
#define QX_SYS_WRITE    4
#define QX_SYS_READ     5
#define QX_SYS_CALL     6
#define QX_SYS_RECV     7
#define QX_SYS_REPLY    8
#define QX_SYS_NOTIFY   9
#define QX_SYS_WAIT     10
#define QX_SYS_LOOKUP   11
#define QX_SYS_KCTL     12
#define QX_SYS_IRQ      13
#define QX_SYS_UART     14
#define QX_SYS_CALL_LEASE 15
#define QX_SYS_BORROW   16

#define QX_EV_SYSCALL   0
#define QX_EV_TICK      1
#define QX_EV_IRQ       2
#define QX_EV_FAULT     3
#define QX_EV_EXIT      4

#define QX_IRQ_CONSOLE  1
#define QX_IRQ_TASK     2

#define QX_IRQ_ACK      0
#define QX_IRQ_OWNED    1
#define QX_UART_READ    0
#define QX_UART_WRITE   1
#define QX_UART_RING    4096

#define QX_FAST_CALL    1
#define QX_FAST_REPLY   2
#define QX_FAST_RECV    3
#define QX_FAST_ROUNDS  4
#define QX_FAST_YIELDS  5
#define QX_FAST_IRQ     6
#define QX_FAST_RUN     7

#define QX_NARGS        5
#define QX_SYS_NARGS    QX_NARGS
#define QX_MSG_MAX      256

/* SYS_EXIT's code when the task's VM ended on an uncaught exception: the
 * second argument word points at a short reason text in the task's memory. */
#define QX_EXIT_FAULT   0x7fa17
