/* Task-side helpers shared by the port: syscalls and the privilege test. */
#pragma once
#include <stdint.h>

#define QX_ENTRY_MAX 72   /* entry module name (to 63 bytes) and the arena (2 words), at the top of the task's stack */

void qx_syscall(uint32_t no, uint32_t *args, uint32_t *r0, uint32_t *r1);
int qx_unprivileged(void);   /* running as a task (thread mode, nPRIV)? */
void qx_task_exit(uint32_t code, const char *reason) __attribute__((noreturn));
