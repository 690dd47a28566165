/* Task-side helpers shared by the port: syscalls and the privilege test. */
#pragma once
#include <stdint.h>

#define QX_ENTRY_MAX 80   /* at the top of the task's stack: entry module name (to 63 bytes), the arena
                            (2 words, [16] and [17]), the GC threshold ([18]), a pad word */

void qx_syscall(uint32_t no, uint32_t *args, uint32_t *r0, uint32_t *r1);
int qx_unprivileged(void);   /* running as a task (thread mode, nPRIV)? */
void qx_task_exit(uint32_t code, const char *reason) __attribute__((noreturn));
