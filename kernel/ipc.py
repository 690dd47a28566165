"""Rendezvous IPC state: who calls whom, who receives, who waits for which
notification bits, and the per-task message counters.

Holds the bookkeeping and its transitions only. It does not touch task
memory, the scheduler or the trap layer: every transition returns the
wake-ups it causes as Wake tuples, and the kernel applies them (copies the
bytes into the woken task with trap.write, sets its result, makes it ready).
Message bytes are copied in by the kernel (trap.read of the caller's buffer
when it calls) and out by the kernel (trap.write into the receiver's
buffer); no object is shared between tasks.

A call goes through two states:
  queued   the caller is blocked; its message waits in the callee's FIFO
           queue until the callee receives
  served   the callee has received the message; the caller is blocked
           until the callee replies (a callee may serve several at once)
and then it is answered and forgotten. Exactly one of these holds for every
blocked caller, so a message is never both delivered and pending.
A call may carry a lease (SYS_CALL_LEASE: the caller's (ptr, len, rights)
the callee may borrow, kernel/abi.py): it is a field of the Call and nothing
else, so it is borrowable exactly while the call is served (lease()) and ends
with it -- reply, either side's death -- with no state of its own to clean up.

Errors the transitions decide (the kernel checks arguments, permissions
and liveness before calling them):
  call   MSG_TOO_LARGE  the callee waits in recv with a buffer shorter than
                        the message: the call fails at once
  recv   -              a queued message longer than the receiver's buffer
                        is answered MSG_TOO_LARGE (to its caller) and the
                        receiver goes on with the next one
  reply  BAD_STATE      the sender has no call served by this task (never
                        called, or still queued)
         -              a reply to a served caller that died meanwhile is
                        accepted and dropped: the server did nothing wrong
                        (its caller's death must not hurt it)
         MSG_TOO_LARGE  to the CALLER, with r1 = the reply's length, when the
                        reply is longer than the caller's reply buffer; the
                        replier gets 0 (the call is answered either way)
Peer death (task_died): every caller queued on or served by the dead task
is woken with PEER_DIED; a dead caller leaves its callee's queue; if its
call was being served, the server's one later reply to it is dropped
(`orphans`); a dead task's recv, wait, pending bits and orphans are dropped.
ipc keeps task ids; the kernel turns them into handles (id and incarnation,
abi.HANDLE_*): handle_of(tid) gives the sender a receiver gets, and the
kernel refuses a reply to an earlier incarnation before it reaches ipc
(drop_orphan), and sends a reply to the current one past any orphan of an
earlier one (current=True).

Counters per task (kept across restarts, for the `ipc` shell command):
  sent       calls it made that were accepted (queued or delivered)
  received   messages delivered to it
  replied    replies it sent
  notified   notifications it sent
  peer_died  times it was told PEER_DIED

check() asserts the internal invariants; the kernel's check() adds the ones
that need the task table (every caller is blocked on a live callee).
Pure Python, runs under MicroPython and CPython.
"""

from kernel.errors import KernelError, BAD_STATE, MSG_TOO_LARGE, PEER_DIED

QUEUED = "queued"
SERVED = "served"

COUNTERS = ("sent", "received", "replied", "notified", "peer_died")
_SENT, _RECEIVED, _REPLIED, _NOTIFIED, _PEER_DIED = 0, 1, 2, 3, 4


def wake(tid, r0, r1=0, ptr=None, data=None):
    """A wake-up for the kernel to apply: copy data to ptr in tid's memory
    (when data is not None), then set tid's result to (r0, r1) and make it
    ready. A tuple: (tid, r0, r1, ptr, data)."""
    return (tid, r0, r1, ptr, data)


class Call:
    """One blocked caller's call. msg is None once delivered. lease is
    None or (ptr, len, rights): the caller's memory the callee may borrow
    while it serves this call (abi.py, Leases); it ends with the call."""

    def __init__(self, seq, caller, dest, msg, reply_ptr, reply_cap, lease=None):
        self.seq = seq
        self.caller = caller
        self.dest = dest
        self.msg = msg
        self.reply_ptr = reply_ptr
        self.reply_cap = reply_cap
        self.lease = lease
        self.state = QUEUED

    def __repr__(self):
        return "<Call #%d %d->%d %s>" % (self.seq, self.caller, self.dest, self.state)


class Ipc:
    def __init__(self):
        self.calls = {}         # caller tid -> Call (queued or served)
        self.queues = {}        # callee tid -> [caller tid, ...] FIFO (queued calls only)
        self.receivers = {}     # tid -> (buf_ptr, buf_cap): blocked in recv
        self.waiters = {}       # tid -> mask: blocked in wait
        self.recv_masks = {}    # tid -> mask: a receiver that also takes these notification bits
        self.bits = {}          # tid -> pending notification bits (absent when 0)
        self.counts = {}        # tid -> [sent, received, replied, notified, peer_died]
        self.seq = 0            # calls accepted so far (the last Call.seq)
        self.orphans = set()    # (server, caller): served caller died; drop the reply
        self.dirty = set()      # tids whose IPC state changed since the fast path's table was written
        self.handle_of = lambda tid: tid    # tid -> the handle a receiver is given (the kernel's)

    def _count(self, tid, which, n=1):
        c = self.counts.get(tid)
        if c is None:
            c = [0, 0, 0, 0, 0]
            self.counts[tid] = c
        c[which] += n

    # --- queries --------------------------------------------------------

    def calling(self, tid):
        """The tid that tid is blocked calling, or None."""
        c = self.calls.get(tid)
        return c.dest if c is not None else None

    def served_by(self, tid):
        """Sorted callers whose messages tid has received but not answered."""
        out = [c.caller for c in self.calls.values() if c.dest == tid and c.state == SERVED]
        out.sort()
        return out

    def queued_on(self, tid):
        """Callers queued on tid, in delivery order."""
        return list(self.queues.get(tid, ()))

    def info(self, tid):
        """dict of tid's counters (COUNTERS) plus calling (tid or None),
        queued (callers waiting for it to receive) and serving (callers it
        received from and has not answered)."""
        c = self.counts.get(tid, (0, 0, 0, 0, 0))
        out = {}
        for i in range(len(COUNTERS)):
            out[COUNTERS[i]] = c[i]
        out["calling"] = self.calling(tid)
        out["queued"] = len(self.queues.get(tid, ()))
        out["serving"] = len(self.served_by(tid))
        return out

    # --- calls ----------------------------------------------------------

    def call(self, caller, dest, msg, reply_ptr, reply_cap, lease=None):
        """caller sends msg (bytes) to dest and blocks for the reply, lending
        it `lease` ((ptr, len, rights) or None). Returns the wakes (dest's
        delivery when it waits in recv)."""
        if caller in self.calls:
            raise KernelError(BAD_STATE, "task %d is already calling" % caller)
        got = self.receivers.get(dest)
        if got is not None and len(msg) > got[1]:
            raise KernelError(MSG_TOO_LARGE, "message of %d bytes, task %d receives at most %d"
                              % (len(msg), dest, got[1]))
        self.seq += 1
        c = Call(self.seq, caller, dest, msg, reply_ptr, reply_cap, lease)
        self.calls[caller] = c
        self.dirty.add(caller)
        self.dirty.add(dest)
        self._count(caller, _SENT)
        if got is None:
            q = self.queues.get(dest)
            if q is None:
                self.queues[dest] = [caller]
            else:
                q.append(caller)
            return []
        del self.receivers[dest]
        self.recv_masks.pop(dest, None)
        return [self._deliver(c, got[0])]

    def _deliver(self, c, buf_ptr):
        """Mark c served and return the receiver's wake."""
        data = c.msg
        c.msg = None
        c.state = SERVED
        self.dirty.add(c.caller)
        self.dirty.add(c.dest)
        self._count(c.dest, _RECEIVED)
        return wake(c.dest, len(data), self.handle_of(c.caller), buf_ptr, data)

    def recv(self, tid, buf_ptr, buf_cap, mask=0):
        """tid receives into (buf_ptr, buf_cap), and takes the notification
        bits of mask too. Returns (delivery, wakes): delivery is tid's own
        wake -- (bits taken, 0) when bits of mask are pending (they come
        first: a stream of calls never holds an interrupt back), else
        (length, sender, the copy) when a message was queued -- or None
        and tid is now a receiver (the kernel blocks it); wakes answer
        queued callers whose messages did not fit."""
        if tid in self.receivers or tid in self.waiters or tid in self.calls:
            raise KernelError(BAD_STATE, "task %d is already blocked" % tid)
        wakes = []
        if mask:
            pending = self.bits.get(tid, 0)
            if pending & mask:
                self._set_bits(tid, pending & ~mask)
                return wake(tid, pending & mask, 0), wakes
        self.dirty.add(tid)
        q = self.queues.get(tid)
        while q:
            caller = q.pop(0)
            c = self.calls[caller]
            if len(c.msg) > buf_cap:
                del self.calls[caller]
                wakes.append(wake(caller, -MSG_TOO_LARGE, len(c.msg)))
                continue
            if not q:
                del self.queues[tid]
            return self._deliver(c, buf_ptr), wakes
        if q is not None:
            del self.queues[tid]
        self.receivers[tid] = (buf_ptr, buf_cap)
        if mask:
            self.recv_masks[tid] = mask
        return None, wakes

    def cancel_recv(self, tid):
        """tid polled (recv with poll = 1) and nobody called: it is no
        receiver after all."""
        del self.receivers[tid]
        self.recv_masks.pop(tid, None)

    def cancel(self, tid):
        """tid's recv or wait timed out: it waits no more (nothing was
        delivered). True if it was waiting."""
        was = self.receivers.pop(tid, None) is not None
        self.recv_masks.pop(tid, None)
        if self.waiters.pop(tid, None) is not None:
            was = True
        self.dirty.add(tid)
        return was

    def check_reply(self, tid, sender, current=False):
        """Raise BAD_STATE unless sender has a call served by tid, or died
        while served (so the kernel can rank BAD_STATE before the reply's
        length). current: the reply names sender's running incarnation, so
        an orphan (of an earlier one) is not it."""
        if not current and (tid, sender) in self.orphans:
            return None
        c = self.calls.get(sender)
        if c is None or c.dest != tid or c.state != SERVED:
            if c is None:
                why = "is not calling"
            elif c.dest != tid:
                why = "is calling task %d" % c.dest
            else:
                why = "has not been received yet"
            raise KernelError(BAD_STATE, "task %d cannot reply to task %d: it %s" % (tid, sender, why))
        return c

    def reply(self, tid, sender, data, current=False):
        """tid answers sender's served call with data (bytes): the sender's
        wake, or None when the sender died while served (the reply is
        dropped). BAD_STATE when sender has no call served by tid.
        current: as check_reply."""
        if not current and (tid, sender) in self.orphans:
            self.orphans.discard((tid, sender))
            self._count(tid, _REPLIED)
            return None
        c = self.check_reply(tid, sender, current)
        del self.calls[sender]
        self.dirty.add(sender)
        self._count(tid, _REPLIED)
        if len(data) > c.reply_cap:
            return wake(sender, -MSG_TOO_LARGE, len(data))
        return wake(sender, len(data), 0, c.reply_ptr, data)

    def lease(self, tid, sender):
        """The lease of sender's call served by tid: (ptr, len, rights), or
        BAD_STATE when tid serves no call from sender (none, still queued,
        answered) or that call lends nothing."""
        c = self.calls.get(sender)
        if c is None or c.dest != tid or c.state != SERVED:
            raise KernelError(BAD_STATE, "task %d holds no call from task %d" % (tid, sender))
        if c.lease is None:
            raise KernelError(BAD_STATE, "task %d's call to task %d lends nothing" % (sender, tid))
        return c.lease

    def drop_orphan(self, tid, sender):
        """tid replied to an earlier incarnation of sender (the kernel refuses
        it): forget the call that incarnation left, if tid still held it
        (counted as replied: tid did answer every call it received)."""
        if (tid, sender) in self.orphans:
            self.orphans.discard((tid, sender))
            self._count(tid, _REPLIED)

    # --- notifications --------------------------------------------------

    def notify(self, src, dest, bits):
        """Set bits on dest; returns its wake when it waits for one of them
        (in wait, or in a recv whose mask has them). src None: the kernel
        (an interrupt), counted for nobody."""
        if src is not None:
            self._count(src, _NOTIFIED)
        pending = self.bits.get(dest, 0) | bits
        mask = self.waiters.get(dest)
        if mask is not None and pending & mask:
            del self.waiters[dest]
            self.dirty.add(dest)
            got = pending & mask
            pending &= ~mask
            self._set_bits(dest, pending)
            return [wake(dest, got)]
        mask = self.recv_masks.get(dest)
        if mask is not None and pending & mask:
            del self.recv_masks[dest]
            del self.receivers[dest]
            self.dirty.add(dest)
            got = pending & mask
            self._set_bits(dest, pending & ~mask)
            return [wake(dest, got, 0)]
        self._set_bits(dest, pending)
        return []

    def wait(self, tid, mask):
        """The pending bits of mask (now cleared), or None: tid waits."""
        if tid in self.receivers or tid in self.waiters or tid in self.calls:
            raise KernelError(BAD_STATE, "task %d is already blocked" % tid)
        pending = self.bits.get(tid, 0)
        got = pending & mask
        if got:
            self._set_bits(tid, pending & ~mask)
            return got
        self.waiters[tid] = mask
        self.dirty.add(tid)
        return None

    def _set_bits(self, tid, bits):
        if bits:
            self.bits[tid] = bits
        else:
            self.bits.pop(tid, None)

    # --- task life ------------------------------------------------------

    def task_died(self, tid):
        """tid ended: forget its recv, wait and bits; take its own call out
        of its callee's queue; wake every caller of tid with PEER_DIED (queue
        order first, then served callers by tid). Returns the wakes."""
        self.receivers.pop(tid, None)
        self.recv_masks.pop(tid, None)
        self.waiters.pop(tid, None)
        self.bits.pop(tid, None)
        self.dirty.add(tid)
        for pair in [p for p in self.orphans if tid in p]:
            self.orphans.discard(pair)
        mine = self.calls.pop(tid, None)
        if mine is not None:
            self.dirty.add(mine.dest)
        if mine is not None and mine.state == QUEUED:
            q = self.queues[mine.dest]
            q.remove(tid)
            if not q:
                del self.queues[mine.dest]
        elif mine is not None:
            self.orphans.add((mine.dest, tid))
        wakes = []
        for caller in self.queues.pop(tid, ()):
            self.dirty.add(caller)
            del self.calls[caller]
            self._count(caller, _PEER_DIED)
            wakes.append(wake(caller, -PEER_DIED))
        for caller in self.served_by(tid):
            self.dirty.add(caller)
            del self.calls[caller]
            self._count(caller, _PEER_DIED)
            wakes.append(wake(caller, -PEER_DIED))
        return wakes

    # --- replays of the trap layer's fast path (kernel/fasttab.py) ----------

    def fast_call(self, caller, dest, reply_ptr, reply_cap):
        """Replay: the trap layer delivered caller's call to dest, which
        waited in recv (the message is already in dest's buffer)."""
        assert caller not in self.calls and dest in self.receivers, (caller, dest)
        del self.receivers[dest]
        self.recv_masks.pop(dest, None)
        self.seq += 1
        c = Call(self.seq, caller, dest, None, reply_ptr, reply_cap)
        c.state = SERVED
        self.calls[caller] = c
        self._count(caller, _SENT)
        self._count(dest, _RECEIVED)

    def fast_reply(self, tid, caller):
        """Replay: the trap layer answered caller's call, served by tid."""
        c = self.calls.get(caller)
        assert c is not None and c.dest == tid and c.state == SERVED, (tid, caller, c)
        del self.calls[caller]
        self._count(tid, _REPLIED)

    def fast_recv(self, tid, buf_ptr, buf_cap):
        """Replay: tid waits in recv (nobody was queued)."""
        assert tid not in self.receivers and tid not in self.calls and not self.queues.get(tid), tid
        self.receivers[tid] = (buf_ptr, buf_cap)

    def fast_rounds(self, client, server, n, buf_ptr, buf_cap):
        """Replay: n whole round trips from client to server (which waited
        in recv before and waits again now, in buf)."""
        assert client not in self.calls and server in self.receivers, (client, server)
        self.receivers[server] = (buf_ptr, buf_cap)
        self.recv_masks.pop(server, None)   # the first call ended a recv with a mask; the last recv has none
        self.seq += n
        self._count(client, _SENT, n)
        self._count(server, _RECEIVED, n)
        self._count(server, _REPLIED, n)

    def blocked_in(self, tid):
        """'call', 'recv', 'wait' or None: where tid is blocked in IPC."""
        if tid in self.calls:
            return "call"
        if tid in self.receivers:
            return "recv"
        if tid in self.waiters:
            return "wait"
        return None

    # --- invariants -----------------------------------------------------

    def check(self):
        """Assert the invariants; returns True."""
        seen = {}
        for callee in self.queues:
            q = self.queues[callee]
            assert q, "empty queue kept for task %r" % (callee,)
            assert callee not in self.receivers, \
                "task %r receives while %r are queued on it" % (callee, q)
            for caller in q:
                assert caller not in seen, "task %r queued twice" % (caller,)
                seen[caller] = callee
                c = self.calls.get(caller)
                assert c is not None, "queued task %r has no call" % (caller,)
                assert c.dest == callee and c.state == QUEUED, \
                    "queued %r on %r but call is %r" % (caller, callee, c)
        seqs = {}
        for caller in self.calls:
            c = self.calls[caller]
            assert c.caller == caller
            assert c.dest != caller, "task %r calls itself" % (caller,)
            assert 0 < c.seq <= self.seq
            assert c.seq not in seqs, "call #%d held twice" % c.seq
            seqs[c.seq] = caller
            if c.state == QUEUED:
                assert seen.get(caller) == c.dest, "call %r is not in its callee's queue" % (c,)
                assert c.msg is not None, "queued call %r lost its message" % (c,)
            else:
                assert c.state == SERVED, "call %r in unknown state" % (c,)
                assert caller not in seen, "served call %r still queued" % (c,)
                assert c.msg is None, "served call %r still holds its message" % (c,)
            assert caller not in self.receivers and caller not in self.waiters, \
                "caller %r also blocked elsewhere" % (caller,)
        for tid in self.waiters:
            assert tid not in self.receivers, "task %r both waits and receives" % (tid,)
            assert self.bits.get(tid, 0) & self.waiters[tid] == 0, \
                "task %r waits for bits that are pending" % (tid,)
        for tid in self.recv_masks:
            assert tid in self.receivers, "task %r has a recv mask but does not receive" % (tid,)
            assert self.recv_masks[tid] and self.bits.get(tid, 0) & self.recv_masks[tid] == 0, \
                "task %r receives for bits that are pending" % (tid,)
        for tid in self.bits:
            assert self.bits[tid], "zero bits kept for %r" % (tid,)
        return True
