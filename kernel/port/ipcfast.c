/* The IPC fast path: the rendezvous and yield steps whose outcome the
 * scheduler's and ipc's rules fix without a clock or a timer, done in the
 * trap layer with a direct switch between tasks. It keeps no state of its
 * own: it follows the tables the Python kernel writes (fasttab.h,
 * kernel/fasttab.py) -- the run queue, the permission bitmaps, who waits in
 * recv or in a served call -- and applies to them the same transitions the
 * kernel would (kernel/sched.py pick(), kernel/ipc.py), logging each, so the
 * kernel's replay of the log (kernel.Kernel._replay) makes its own state
 * agree with the tables again. Taken only when the kernel would do exactly
 * this (tests/host/test_fastpath.py runs random worlds both ways):
 *   call   to the current incarnation of a task waiting in recv, which the
 *          caller may call, and which then runs next (its priority beats
 *          every ready task; woken, it would queue behind any of its own):
 *          copy the message, the caller waits, switch to it;
 *   reply  to a caller waiting for this task that does not outrank it, when
 *          the replier keeps the CPU (no ready task outranks it, and its
 *          slice has time left): copy, the caller is ready (back of its
 *          queue, a fresh slice);
 *   recv   with no caller queued and a task ready: wait, switch to the head
 *          of the best ready queue;
 *   yield  back of its queue with a fresh slice, switch to the head of the
 *          best ready queue (itself, when alone);
 *   irq    task-owned interrupts that fired (qx_irq_fast, from the trap
 *          layer's PendSV, resume and idle): each raises its owner's
 *          notification bit as the kernel's notify from nobody would; an
 *          owner blocked in wait or in a recv whose mask has the bit is
 *          woken (back of its queue, a fresh slice) and runs at once when
 *          it outranks the running task (preempted mid-slice: the front of
 *          its queue) or the kernel idles.
 * Anything else (and any doubt) goes to the Python kernel, which decides. */
#include <string.h>
#include "ipcfast.h"

#define FT qx_fasttab
#define NO_PRIO QX_FT_PRIOS
#define ID_MASK 0xFFu                    /* kernel/abi.py HANDLE_ID_MASK */

qx_fasttab_t qx_fasttab;
qx_fastlog_t qx_fastlog[QX_FASTLOG_MAX];
volatile uint32_t qx_fastlog_len;
volatile uint32_t qx_fast_enabled;

static void log_entry(uint32_t kind, uint32_t a, uint32_t b, uint32_t c, uint32_t d, uint32_t e, uint32_t ms) {
    /* A whole round trip -- CALL(c, d), REPLY(d, c), RECV(d, next = c) --
     * leaves the kernel's state as it was but for counters, d's buffer and
     * c's fresh slice: it is folded into one ROUNDS(c, d, n, buf, cap)
     * entry, and yields back and forth between two tasks (or of one alone)
     * into one YIELDS(first, other, n), so a client and server talking costs
     * the kernel nothing until it next runs. */
    uint32_t n = qx_fastlog_len;
    if (kind == QX_FAST_YIELDS && n >= 1) {
        qx_fastlog_t *y = &qx_fastlog[n - 1];
        if (y->kind == QX_FAST_YIELDS && ((y->a == a && y->b == b) || (y->a == b && y->b == a))) {
            y->c++;
            y->ms = ms;
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
            r->ms = ms;
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
    l->ms = ms;
}

/* The best priority with a ready task, NO_PRIO when none (sched._best_ready). */
static uint32_t best_prio(void) {
    uint32_t r = FT.ready & ((1u << QX_FT_PRIOS) - 1);
    return r ? (uint32_t)__builtin_ctz(r) : NO_PRIO;
}

/* The head of runq[p], if the table holds a task there that can run; -1 else. */
static int head(uint32_t p) {
    uint32_t n = FT.runq_len[p], t = FT.runq[p][0];
    if (n == 0 || n > QX_FT_TASKS || t == 0 || t >= QX_FT_TASKS || !qx_task_live((int)t)) {
        return -1;
    }
    return (int)t;
}

/* Take the head off runq[p] (head() said it is there). */
static void pop(uint32_t p) {
    uint32_t n = FT.runq_len[p] - 1;
    for (uint32_t i = 0; i < n; i++) {
        FT.runq[p][i] = FT.runq[p][i + 1];
    }
    FT.runq_len[p] = n;
    if (n == 0) {
        FT.ready &= ~(1u << p);
    }
}

/* tid becomes ready: back of its queue, a fresh slice (sched.wake, yield_).
 * 0 when its queue is full (a table the kernel did not write). */
static int push(int tid) {
    uint32_t p = FT.prio[tid], n = p < QX_FT_PRIOS ? FT.runq_len[p] : QX_FT_TASKS;
    if (n >= QX_FT_TASKS) {
        return 0;
    }
    FT.runq[p][n] = (uint32_t)tid;
    FT.runq_len[p] = n + 1;
    FT.ready |= 1u << p;
    FT.slice[tid] = (int32_t)FT.slice_ticks;
    return 1;
}

/* tid runs from now on, with the slice it has in the table. */
static void run(int tid, uint32_t now) {
    int32_t s = FT.slice[tid];
    FT.start_ms = now;
    qx_slice_left = s > 0 ? (uint32_t)s : FT.slice_ticks;
    qx_fast_switch(tid);
}

static int is_task(uint32_t tid) {
    return tid > 0 && tid < QX_FT_TASKS;
}

/* yield() when its queue would need a push and a pop: another priority
 * is best, or more than one other task shares its priority. */
static uint32_t yield_general(uint32_t *frame, int me, uint32_t p, uint32_t b, uint32_t now) {
    int next = b < p ? head(b) : b == p ? head(p) : me;   /* after me goes to the back */
    if (next < 0) {
        return 0;
    }
    push(me);
    frame[0] = frame[1] = 0;
    log_entry(QX_FAST_YIELDS, (uint32_t)me, (uint32_t)next, 1, 0, 0, now);
    pop(b < p ? b : p);
    if (next == me) {                    /* alone at the best priority: it goes on, a fresh slice */
        FT.start_ms = now;
        qx_slice_left = FT.slice_ticks;
        return 2;
    }
    run(next, now);
    return 3;
}

/* yield() with no task ready: it goes on with a fresh slice. */
static inline uint32_t yield_alone(uint32_t *frame, uint32_t me, uint32_t n) {
    qx_fastlog_t *y = &qx_fastlog[n ? n - 1 : 0];
    uint32_t now = qx_fast_ms();
    if (n && y->kind == QX_FAST_YIELDS && y->a == me && y->b == me) {
        y->c++;
        y->ms = now;
    } else if (n < QX_FASTLOG_MAX) {
        log_entry(QX_FAST_YIELDS, me, me, 1, 0, 0, now);
    } else {
        return 0;
    }
    FT.start_ms = now;
    FT.slice[me] = (int32_t)FT.slice_ticks;
    qx_slice_left = FT.slice_ticks;
    frame[0] = frame[1] = 0;
    return 2;
}

/* yield() with a task ready, but not the traded form. */
static uint32_t __attribute__((noinline)) yield_ready(uint32_t *frame, uint32_t me, uint32_t n, uint32_t ready) {
    uint32_t p = FT.prio[me];
    if (n >= QX_FASTLOG_MAX || p >= QX_FT_PRIOS || FT.runq_len[p] >= QX_FT_TASKS) {
        return 0;
    }
    return yield_general(frame, (int)me, p, (uint32_t)__builtin_ctz(ready), qx_fast_ms());
}

/* SYS_YIELD, which the trap layer hands here first (before it reads the
 * argument words: a yield has none): 0 not taken, 2 it goes on, 3 switch.
 * Back of its queue with a fresh slice; the head of the best ready queue
 * runs (itself, when alone). Its common forms each in few steps, the log
 * entry folded into the last one when that is the same run of yields:
 *   alone    no task ready: it goes on with a fresh slice (yield_alone);
 *   traded   one other task at its priority, none better: they trade
 *            places (that one runs, this one is the queue), here;
 * anything else goes through push and pop (yield_general). */
uint32_t qx_yield_fast(uint32_t *frame) {
    uint32_t me = (uint32_t)qx_current, n = qx_fastlog_len, ready = FT.ready & ((1u << QX_FT_PRIOS) - 1);
    if (!qx_fast_enabled || !is_task(me)) {
        return 0;
    }
    if (!ready) {
        return yield_alone(frame, me, n);
    }
    uint32_t p = FT.prio[me];
    if (n - 1 >= QX_FASTLOG_MAX - 1 || p >= QX_FT_PRIOS || (ready & -ready) != 1u << p || FT.runq_len[p] != 1) {
        return yield_ready(frame, me, n, ready);   /* (and an empty log: the entry is not folded) */
    }
    uint32_t other = FT.runq[p][0];      /* head(p), written out */
    if (!is_task(other) || !qx_task_live((int)other)) {
        return 0;
    }
    uint32_t now = qx_fast_ms();
    FT.runq[p][0] = me;
    FT.slice[me] = (int32_t)FT.slice_ticks;
    frame[0] = frame[1] = 0;
    qx_fastlog_t *y = &qx_fastlog[n - 1];
    if (y->kind == QX_FAST_YIELDS && ((y->a == me && y->b == other) || (y->a == other && y->b == me))) {
        y->c++;
        y->ms = now;
    } else {
        y++;
        y->kind = QX_FAST_YIELDS;
        y->a = me;
        y->b = other;
        y->c = 1;
        y->d = y->e = 0;
        y->ms = now;
        qx_fastlog_len = n + 1;
    }
    int32_t s = FT.slice[other];         /* run(other) */
    FT.start_ms = now;
    qx_slice_left = s > 0 ? (uint32_t)s : FT.slice_ticks;
    qx_fast_switch((int)other);
    return 3;
}

uint32_t qx_ipc_fast(uint32_t *frame, const uint32_t *a) {
    uint32_t no = frame[0];
    int me = qx_current;
    if (!qx_fast_enabled || qx_fastlog_len >= QX_FASTLOG_MAX || !is_task((uint32_t)me)) {
        return 0;
    }
    if (no == QX_SYS_CALL) {
        uint32_t h = a[0], dest = h & ID_MASK, mptr = a[1], mlen = a[2], rptr = a[3], rcap = a[4];
        /* a handle of another incarnation, a task it may not call, one not in recv: the kernel's */
        if (!is_task(dest) || (int)dest == me || h != FT.handle[dest] || !(FT.callmask[me] >> dest & 1)
            || FT.state[dest] != QX_FT_RECV || mlen > QX_MSG_MAX || mlen > FT.cap[dest]) {
            return 0;
        }
        uint32_t p = FT.prio[dest];
        if (p >= best_prio() || !qx_task_live((int)dest) || !qx_task_may_copy(me, mptr, mlen, 0)
            || !qx_task_may_copy(me, rptr, rcap, 1) || !qx_task_may_copy((int)dest, FT.buf[dest], mlen, 1)) {
            return 0;                    /* it would not run next; or a range the kernel refuses */
        }
        uint32_t now = qx_fast_ms();
        qx_task_copy((int)dest, FT.buf[dest], me, mptr, mlen);
        qx_task_set_result((int)dest, mlen, FT.handle[me]);   /* the receiver gets the caller's handle */
        FT.state[dest] = QX_FT_NONE;
        FT.buf[dest] = FT.cap[dest] = FT.nmask[dest] = 0;
        FT.state[me] = QX_FT_CALL;
        FT.peer[me] = dest;
        FT.buf[me] = rptr;
        FT.cap[me] = rcap;
        FT.slice[dest] = (int32_t)FT.slice_ticks;            /* woken: a fresh slice */
        log_entry(QX_FAST_CALL, (uint32_t)me, dest, mlen, rptr, rcap, now);
        run((int)dest, now);
        return 3;
    }
    if (no == QX_SYS_REPLY) {
        uint32_t h = a[0], caller = h & ID_MASK, ptr = a[1], len = a[2];
        if (!is_task(caller) || h != FT.handle[caller] || FT.state[caller] != QX_FT_CALL
            || FT.peer[caller] != (uint32_t)me || len > QX_MSG_MAX || len > FT.cap[caller]) {
            return 0;
        }
        uint32_t p = FT.prio[caller], mp = FT.prio[me], now = qx_fast_ms();
        int32_t left = FT.slice[me] - (int32_t)(now - FT.start_ms);
        /* The replier keeps the CPU: nobody outranks it, before or after
         * the caller is ready, and its slice is not over (how the kernel
         * would count an ended slice depends on what is ready when). */
        if (p < mp || p >= QX_FT_PRIOS || best_prio() < mp || left <= 0 || FT.runq_len[p] >= QX_FT_TASKS
            || !qx_task_live((int)caller) || !qx_task_may_copy(me, ptr, len, 0)
            || !qx_task_may_copy((int)caller, FT.buf[caller], len, 1)) {
            return 0;
        }
        qx_task_copy((int)caller, FT.buf[caller], me, ptr, len);
        qx_task_set_result((int)caller, len, 0);
        FT.state[caller] = QX_FT_NONE;
        FT.peer[caller] = FT.buf[caller] = FT.cap[caller] = 0;
        push((int)caller);
        frame[0] = frame[1] = 0;
        qx_slice_left = (uint32_t)left;
        log_entry(QX_FAST_REPLY, (uint32_t)me, caller, len, 0, 0, now);
        return 2;
    }
    if (no == QX_SYS_RECV) {
        uint32_t buf = a[0], cap = a[1], b = best_prio();
        int next = b < NO_PRIO ? head(b) : -1;
        if (a[2] || a[3] || a[4] || next < 0 || FT.queued[me] || FT.state[me] != QX_FT_NONE || !qx_task_may_copy(me, buf, cap, 1)) {
            return 0;                    /* polling, notifications or a timeout, nobody ready (the kernel idles), or a caller queued */
        }
        uint32_t now = qx_fast_ms();
        FT.state[me] = QX_FT_RECV;
        FT.buf[me] = buf;
        FT.cap[me] = cap;
        pop(b);
        log_entry(QX_FAST_RECV, (uint32_t)me, buf, cap, (uint32_t)next, 0, now);
        run(next, now);
        return 3;
    }
    if (no == QX_SYS_YIELD) {
        return qx_yield_fast(frame);
    }
    return 0;
}

/* Task-owned interrupts: `pending` (bit n: NVIC number n fired) to their
 * owners' notification bits by the kernel's routes (irq_owner, irq_bits),
 * in the order of the kernel's _task_irqs (lowest number first). me: the
 * task running, or about to be resumed, by the tables (0: the kernel
 * idles). Taken only when every one of them has a live owner in the
 * tables, me has slice left, and the log and the queues have room;
 * otherwise 0 and nothing changed (the kernel takes them, irq_take).
 * Taken: 2, and *run is the task to run from now on -- me (it goes on,
 * qx_slice_left what it has left), a woken owner that outranks it (me
 * preempted: the front of its queue, slice kept; or the head of the best
 * queue when idle: qx_slice_left its slice), or 0 (idle, nobody ready).
 * The caller switches (qx_fast_switch) or enters *run itself. */
uint32_t qx_irq_fast(uint32_t pending, int32_t me, int32_t *run) {
    uint32_t n = qx_fastlog_len, count = __builtin_popcount(pending), b = best_prio();
    *run = me;
    if (!qx_fast_enabled || !pending || n + count + 1 > QX_FASTLOG_MAX || (b < NO_PRIO && head(b) < 0)) {
        return 0;
    }
    uint32_t now = qx_fast_ms();
    int32_t left = 0;
    if (me) {
        if (!is_task((uint32_t)me) || FT.prio[me] >= QX_FT_PRIOS || FT.runq_len[FT.prio[me]] >= QX_FT_TASKS) {
            return 0;
        }
        left = FT.slice[me] - (int32_t)(now - FT.start_ms);
        if (left <= 0) {
            return 0;                    /* its slice is spent: who runs next is the kernel's */
        }
    }
    for (uint32_t p = pending; p; p &= p - 1) {
        uint32_t irq = (uint32_t)__builtin_ctz(p), tid = irq < QX_FT_IRQS ? FT.irq_owner[irq] : 0;
        if (!is_task(tid) || !FT.irq_bits[irq] || FT.prio[tid] >= QX_FT_PRIOS
            || FT.runq_len[FT.prio[tid]] + count >= QX_FT_TASKS || !qx_task_live((int)tid)) {
            return 0;
        }
    }
    for (uint32_t p = pending; p; p &= p - 1) {
        uint32_t irq = (uint32_t)__builtin_ctz(p), tid = FT.irq_owner[irq], bit = FT.irq_bits[irq];
        uint32_t st = FT.state[tid], got = bit & FT.nmask[tid];
        if ((st == QX_FT_WAIT || st == QX_FT_RECV) && got) {
            qx_task_set_result((int)tid, got, 0);
            FT.state[tid] = QX_FT_NONE;
            FT.nmask[tid] = FT.buf[tid] = FT.cap[tid] = 0;
            push((int)tid);
        } else {
            got = 0;                     /* pending: it is not waiting for it */
        }
        log_entry(QX_FAST_IRQ, tid, bit, got, irq, 0, now);
    }
    b = best_prio();
    if (me ? b < FT.prio[me] : b < NO_PRIO) {
        int next = head(b);              /* b's head was checked, or is an owner just woken */
        if (me) {
            uint32_t p = FT.prio[me], k = FT.runq_len[p];
            for (; k > 0; k--) {
                FT.runq[p][k] = FT.runq[p][k - 1];
            }
            FT.runq[p][0] = (uint32_t)me;
            FT.runq_len[p]++;
            FT.ready |= 1u << p;
            FT.slice[me] = left;
        }
        pop(b);
        log_entry(QX_FAST_RUN, (uint32_t)next, (uint32_t)me, 0, 0, 0, now);
        int32_t s = FT.slice[next];
        FT.start_ms = now;
        qx_slice_left = s > 0 ? (uint32_t)s : FT.slice_ticks;
        *run = next;
    } else if (me) {
        qx_slice_left = (uint32_t)left;
    }
    return 2;
}
