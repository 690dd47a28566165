/* The IPC fast path: the three rendezvous steps that need no decision, done
 * in the trap layer with a direct switch between tasks, from tables the
 * Python kernel keeps (kernel/kernel.py `_sync_ipc`):
 *   call   to a task waiting in recv, that the caller may call, which would
 *          run next anyway (its priority beats every other ready task):
 *          copy the message, switch to it;
 *   reply  to a caller waiting for this task, when the caller does not
 *          outrank the replier (no preemption due): copy, caller ready;
 *   recv   with no caller queued, when a task this path made ready would run
 *          next anyway: wait, switch to it;
 *   yield  when exactly one other task is ready, at the same priority (the
 *          kernel names it: qx_peer): switch to it, which becomes the peer.
 * Anything else (and any doubt) goes to the Python kernel, which decides.
 * Every step is logged; the kernel replays the log into its own state
 * (kernel.Kernel._replay) as soon as it runs, so its view stays whole. */
#include <string.h>
#include "py/runtime.h"
#include "abi.h"
#include "layout.h"
#include "mpu.h"
#include "trap.h"
#include "ipcfast.h"
#include "../../drivers/timer/cmsdk_timer.h"

qx_ipc_t qx_ipc[QX_MAX_TASKS];
volatile uint32_t qx_other_best = QX_PRIO_NONE;   /* best ready priority besides the running task */
volatile int32_t qx_peer = -1;                     /* the only other ready task, same priority; -1: none */
qx_fastlog_t qx_fastlog[QX_FASTLOG_MAX];
volatile uint32_t qx_fastlog_len;
static int8_t made_ready[QX_MAX_TASKS];            /* FIFO of tasks this path made ready */
static uint32_t n_ready;

void qx_ipc_reset_run(void) {
    n_ready = 0;
}

static int log_room(void) {
    return qx_fastlog_len < QX_FASTLOG_MAX;
}

static void log_entry(uint32_t kind, uint32_t a, uint32_t b, uint32_t c, uint32_t d, uint32_t e) {
    /* A whole round trip -- CALL(c, d), REPLY(d, c), RECV(d, next = c) --
     * leaves the kernel's state as it was but for counters and d's buffer:
     * it is folded into one ROUNDS(c, d, n, buf, cap) entry, so a client
     * and server talking costs the kernel nothing until it next runs. */
    uint32_t n = qx_fastlog_len;
    if (kind == QX_FAST_YIELDS && n >= 1) {
        qx_fastlog_t *y = &qx_fastlog[n - 1];
        if (y->kind == QX_FAST_YIELDS && ((y->a == a && y->b == b) || (y->a == b && y->b == a))) {
            y->c++;                      /* (first yielder, the other, n) */
            y->ms = (uint32_t)qx_ticks_ms();
            return;
        }
    }
    if (kind == QX_FAST_RECV && n >= 2) {
        qx_fastlog_t *call = &qx_fastlog[n - 2], *rep = &qx_fastlog[n - 1];
        if (call->kind == QX_FAST_CALL && rep->kind == QX_FAST_REPLY && call->b == a && rep->a == a
            && rep->b == call->a && d == call->a) {
            qx_fastlog_t *r = n >= 3 ? &qx_fastlog[n - 3] : NULL;
            if (r && r->kind == QX_FAST_ROUNDS && r->a == call->a && r->b == a) {
                qx_fastlog_len = n - 2;
            } else {
                r = call;
                r->kind = QX_FAST_ROUNDS;
                r->c = 0;
                qx_fastlog_len = n - 1;
            }
            r->c++;
            r->d = b;
            r->e = c;
            r->ms = (uint32_t)qx_ticks_ms();
            return;
        }
    }
    qx_fastlog_t *l = &qx_fastlog[qx_fastlog_len++];
    l->kind = kind;
    l->a = a;
    l->b = b;
    l->c = c;
    l->d = d;
    l->e = e;
    l->ms = (uint32_t)qx_ticks_ms();
}

static uint32_t *frame_of(int tid) {
    return (uint32_t *)(qx_task_ctx(tid)->psp + 32);
}

/* Best task in made_ready (FIFO order among equal priority), or -1. */
static int best_made_ready(uint32_t *index) {
    int best = -1;
    for (uint32_t i = 0; i < n_ready; i++) {
        int t = made_ready[i];
        if (best < 0 || qx_ipc[t].prio < qx_ipc[best].prio) {
            best = t;
            *index = i;
        }
    }
    return best;
}

/* The best priority among ready tasks other than the one about to stop. */
static uint32_t best_ready_prio(void) {
    uint32_t i, best = qx_other_best;
    int t = best_made_ready(&i);
    if (t >= 0 && qx_ipc[t].prio < best) {
        best = qx_ipc[t].prio;
    }
    return best;
}

uint32_t qx_ipc_fast(uint32_t *frame, const uint32_t *a) {
    uint32_t no = frame[0];
    int me = qx_current;
    qx_ipc_t *m = &qx_ipc[me];
    if (!log_room() || !qx_fast_enabled) {
        return 0;
    }
    if (no == QX_SYS_CALL) {
        uint32_t h = a[0], dest = h & 0xFF, mptr = a[1], mlen = a[2], rptr = a[3], rcap = a[4];
        /* a handle of another incarnation (or none): the kernel refuses it */
        if (dest >= QX_MAX_TASKS || h != qx_ipc[dest].handle || (int)dest == me || !(m->callmask >> dest & 1) || m->calling >= 0
            || !qx_task_live(dest)) {
            return 0;
        }
        qx_ipc_t *d = &qx_ipc[dest];
        if (!d->receiving || mlen > QX_MSG_MAX || mlen > d->recv_cap || d->prio >= best_ready_prio()
            || !qx_task_may_copy(me, mptr, mlen, 0) || !qx_task_may_copy(me, rptr, rcap, 1)) {
            return 0;
        }
        memcpy((void *)d->recv_buf, (const void *)mptr, mlen);
        uint32_t *df = frame_of(dest);
        df[0] = mlen;
        df[1] = m->handle;                            /* the receiver gets the caller's handle */
        d->receiving = 0;
        m->calling = dest;
        m->reply_buf = rptr;
        m->reply_cap = rcap;
        log_entry(QX_FAST_CALL, me, dest, mlen, rptr, rcap);
        qx_alone = qx_other_best == QX_PRIO_NONE && n_ready == 0;
        qx_peer = -1;
        qx_fast_switch(dest);
        return 3;
    }
    if (no == QX_SYS_REPLY) {
        uint32_t h = a[0], caller = h & 0xFF, ptr = a[1], len = a[2];
        if (caller >= QX_MAX_TASKS || h != qx_ipc[caller].handle || qx_ipc[caller].calling != me || !qx_task_live(caller)) {
            return 0;
        }
        qx_ipc_t *c = &qx_ipc[caller];
        if (len > QX_MSG_MAX || len > c->reply_cap || c->prio < m->prio || n_ready >= QX_MAX_TASKS
            || !qx_task_may_copy(me, ptr, len, 0)) {
            return 0;
        }
        memcpy((void *)c->reply_buf, (const void *)ptr, len);
        uint32_t *cf = frame_of(caller);
        cf[0] = len;
        cf[1] = 0;
        c->calling = -1;
        made_ready[n_ready++] = caller;
        qx_alone = 0;                                 /* a yield must now switch, */
        qx_peer = -1;                                 /* and the kernel choose to whom */
        log_entry(QX_FAST_REPLY, me, caller, len, 0, 0);
        frame[0] = frame[1] = 0;
        return 2;
    }
    if (no == QX_SYS_RECV) {
        uint32_t buf = a[0], cap = a[1], i = 0;
        int next = best_made_ready(&i);
        if (a[2] || next < 0 || m->queued || m->receiving || m->calling >= 0 || !qx_task_live(next)
            || qx_ipc[next].prio >= qx_other_best || !qx_task_may_copy(me, buf, cap, 1)) {
            return 0;
        }
        m->receiving = 1;
        m->recv_buf = buf;
        m->recv_cap = cap;
        for (n_ready--; i < n_ready; i++) {           /* keep the others in wake order */
            made_ready[i] = made_ready[i + 1];
        }
        log_entry(QX_FAST_RECV, me, buf, cap, next, 0);
        qx_alone = qx_other_best == QX_PRIO_NONE && n_ready == 0;
        qx_peer = -1;
        qx_fast_switch(next);
        return 3;
    }
    if (no == QX_SYS_YIELD) {
        int peer = qx_peer;
        if (peer < 0 || n_ready || !qx_task_live(peer) || qx_ipc[peer].prio != m->prio) {
            return 0;
        }
        frame[0] = frame[1] = 0;
        qx_peer = me;
        log_entry(QX_FAST_YIELDS, me, peer, 1, 0, 0);
        qx_fast_switch(peer);
        return 3;
    }
    return 0;
}

