"""The kernel's binary interface with tasks and with the trap layer: syscall
numbers, event kinds, IRQ bits, KCTL operations and the limits they imply.

Holds numbers only, no behaviour. The C trap layer (kernel/port/, hal/arch/)
copies these by hand; a host test compares the two, so change a number here
and there together, never one alone. table() lists them all for that test.
It does not say what a syscall does in detail (kernel/syscalls.py does, next to
each handler) nor hold the error codes (kernel/errors.py).

Syscall convention. A task passes a number `no` and five argument words
(unused words are ignored); it gets back two words, r0 and r1. r0 >= 0 is
success, r0 < 0 is -code with code from kernel/errors.py. Argument words are
unsigned 32-bit values: the kernel rejects anything that is not an int in
0..WORD_MAX with BAD_ARGUMENT (SYS_EXIT's code may also be negative). A
(pointer, length) pair must lie inside the task's own memory block, or have
length 0 (then the pointer is not looked at).

  no  name        arguments                                   result
  0   SYS_EXIT    (code)                                      never returns
  1   SYS_YIELD   ()                                          r0 = 0
  2   SYS_SLEEP   (ms)                                        r0 = 0 after >= ms (0: at once)
  3   SYS_TICKS   ()                                          r0 = ms since boot mod 2**31,
                                                              r1 = ms since boot >> 31
  4   SYS_WRITE   (ptr, len)                                  r0 = len; capability console
  5   SYS_READ    (mode)                                      r0 = one console byte, r1 = 1;
                                                              blocks unless mode = 1, which
                                                              gives r1 = 0 when none waits;
                                                              mode = 2: wait until the caller
                                                              owns the console, r0 = r1 = 0;
                                                              console = read, and only the
                                                              console's owner ever gets a byte
  6   SYS_CALL    (dest, msg_ptr, msg_len, reply_ptr, reply_cap)
                                                              r0 = reply length (blocks)
  7   SYS_RECV    (buf_ptr, buf_cap, poll, notify_mask, timeout_ms)
                                                              a call: r0 = length, r1 = sender
                                                              (blocks, unless poll = 1: then
                                                              r0 = r1 = 0 at once when nothing
                                                              waits); a notification of
                                                              notify_mask pending: r1 = 0, r0 =
                                                              the bits taken (they come first);
                                                              timeout_ms passed (0: none): r0 =
                                                              r1 = 0
  8   SYS_REPLY   (sender, ptr, len)                          r0 = 0
  9   SYS_NOTIFY  (dest, bits)                                r0 = 0
  10  SYS_WAIT    (mask, timeout_ms, poll_ms)                 r0 = pending bits & mask (blocks;
                                                              timeout_ms = 0: no timeout; r0 = 0
                                                              when the timeout passed); poll_ms
                                                              (0..POLL_MAX_MS): the board polls
                                                              rather than sleeps that long while
                                                              idle (a device that answers soon)
  11  SYS_LOOKUP  (name_ptr, name_len)                        r0 = tid of the named task
  12  SYS_KCTL    (op, arg, buf_ptr, buf_cap)                 r0 = reply length (JSON in buf);
                                                              capability kernel
  13  SYS_IRQ     (op, bits)                                  IRQ_ACK: unmask the caller's IRQs
                                                              behind notification `bits` (r0 = 0);
                                                              IRQ_OWNED: r0 = the bits of the
                                                              caller's IRQ grants; NOT_PERMITTED
                                                              when a bit is no IRQ of the caller's
  14  SYS_UART    (op, dev, ptr, len, wake_at)                bulk I/O on a task-owned UART (dev =
                                                              1..3: uart1..uart3; the caller's
                                                              manifest grants its irqs): UART_READ
                                                              moves up to len received bytes to
                                                              ptr, UART_WRITE up to len bytes from
                                                              ptr into the transmit ring; r0 = the
                                                              count; never blocks. A read leaving
                                                              fewer than wake_at (0: 1) bytes, or
                                                              a write finding the ring full, arms
                                                              the grant's notification bit: raised
                                                              at wake_at bytes (or bytes and a
                                                              quiet line for a tick) / at space;
                                                              len = 0: arm only, r0 = the bytes
                                                              waiting. Answered in the trap layer
                                                              for the owner
  15  SYS_CALL_LEASE (dest, buf_ptr, msg_len | reply_cap << 16, lease_ptr,
                  lease_len << 2 | rights)                    r0 = reply length (blocks); the
                                                              reply lands in buf (at most
                                                              reply_cap bytes)
  16  SYS_BORROW  (op, sender, offset, ptr, len)              r0 = bytes copied (READ, WRITE),
                                                              or lease length, r1 = rights (INFO)

Leases (SYS_CALL_LEASE, SYS_BORROW), as Hubris's: a call that also lends the
callee one range of the caller's own memory, lease_ptr + lease_len, for the
duration of that one call. rights (LEASE_READ, LEASE_WRITE, or both) say what
the callee may do with it. The message itself is an ordinary call's (at most
MSG_MAX, copied at the call); the lease moves bulk data without that limit and
without a round trip per MSG_MAX bytes. While the callee holds the call
(received it, not replied yet) it copies with SYS_BORROW:
  op BORROW_READ   len bytes of the lease at offset -> the callee's (ptr, len)
  op BORROW_WRITE  the callee's (ptr, len) -> the lease at offset
  op BORROW_INFO   r0 = the lease's length, r1 = its rights (ptr, len unused)
`sender` is the handle recv gave. The kernel copies between the two tasks'
blocks itself (trap.copy: one memmove, no buffer in the kernel heap), every
range checked by kernel/taskmem.py: the lease when the call is made (a
read-only lease may lie in flash, as a message may; a writable one must be
the caller's RAM), the callee's range at each borrow. Refusals, in this order:
  BAD_ARGUMENT   a word out of range, op unknown, rights 0 or > 3, a range not
                 the task's own (caller's lease and message at the call,
                 callee's buffer at the borrow)
  NO_SUCH_TASK   sender names no task
  PEER_DIED      sender is an earlier incarnation, or the caller is no longer
                 running (its lease died with it)
  BAD_STATE      the callee holds no call from sender (never received, or
                 replied already: a lease ends with the reply), or that call
                 carries no lease
  NOT_PERMITTED  the lease does not grant the op (BORROW_WRITE to a read lease)
  BAD_ARGUMENT   offset + len past the lease's end (nothing copied)
A lease is only ever looked at through the call that carries it, so it ends
exactly when the call does: reply, the caller's death (the server's reply is
dropped as for any call), or the callee's death (the caller gets PEER_DIED).
Leased calls never take the trap layer's fast path (the C handles SYS_CALL
only); their replies may, which ends the lease as any reply does.

Events, as trap.resume() returns them (tuples):
  (EV_SYSCALL, no, args)        args: tuple of NARGS ints
  (EV_TICK,)                    the slice set by set_slice ran out, or the
                                deadline set by set_deadline passed
  (EV_IRQ, bits)                a device event the kernel watch()es
  (EV_FAULT, reason, pc, addr)  reason: one of FAULT_REASONS, or
                                "exception: <Type>: <message>"; pc, addr
                                ints, 0 when unknown
  (EV_EXIT, code)               main() returned (code 0) or SYS_EXIT(code)

A tick is one millisecond (board TICK_HZ = 1000).
"""

# --- syscall numbers ------------------------------------------------------

SYS_EXIT = 0
SYS_YIELD = 1
SYS_SLEEP = 2
SYS_TICKS = 3
SYS_WRITE = 4
SYS_READ = 5
SYS_CALL = 6
SYS_RECV = 7
SYS_REPLY = 8
SYS_NOTIFY = 9
SYS_WAIT = 10
SYS_LOOKUP = 11
SYS_KCTL = 12
SYS_IRQ = 13
SYS_UART = 14
SYS_CALL_LEASE = 15
SYS_BORROW = 16
NSYSCALLS = 17

SYSCALL_NAMES = ("exit", "yield", "sleep", "ticks", "write", "read", "call",
                 "recv", "reply", "notify", "wait", "lookup", "kctl", "irq", "uart",
                 "call_lease", "borrow")

NARGS = 5                   # argument words per syscall

# --- limits ---------------------------------------------------------------

MSG_MAX = 256               # bytes of an IPC message or reply
WORD_MAX = 0xFFFFFFFF       # an argument word is unsigned 32-bit
R0_MAX = 0x7FFFFFFF         # a result r0 >= 0 must stay positive as int32
NOTIFY_MASK = 0x7FFFFFFF    # notification bits 0..30 (bit 31 would make
                            # SYS_WAIT's r0 negative, i.e. an error)
SLEEP_MAX = 0x7FFFFFFF      # ms
POLL_MAX_MS = 10            # SYS_WAIT's poll_ms at most: idle time polled instead of slept
NAME_MAX = 15               # bytes of a task name (SYS_LOOKUP), as manifest

# --- leases (SYS_CALL_LEASE, SYS_BORROW) -------------------------------------
LEASE_READ = 1              # rights: the callee may read the lease
LEASE_WRITE = 2             # rights: the callee may write it
LEASE_RIGHTS_BITS = 2       # lease word: length << 2 | rights
LEASE_REPLY_SHIFT = 16      # call word: msg_len | reply_cap << 16
BORROW_READ = 0             # SYS_BORROW ops
BORROW_WRITE = 1
BORROW_INFO = 2

# --- IPC handles ------------------------------------------------------------
# An IPC handle (the sender recv returns, the dest of call/notify/reply, what
# SYS_LOOKUP returns) is a task id and its incarnation: id in bits 0..7, the
# incarnation (0 at the first start, +1 at every restart, modulo 2**23) in
# bits 8..30. A task never restarted has handle == id. The kernel refuses a
# handle of an earlier incarnation with PEER_DIED and never delivers it to
# the current one. kctl operations take the plain id (they act on the task).
HANDLE_ID_BITS = 8
HANDLE_ID_MASK = 0xFF
HANDLE_GEN_MASK = 0x7FFFFF

# --- trap events ----------------------------------------------------------

EV_SYSCALL = 0
EV_TICK = 1
EV_IRQ = 2
EV_FAULT = 3
EV_EXIT = 4

EVENT_NAMES = ("syscall", "tick", "irq", "fault", "exit")

# --- device events (bits of EV_IRQ, trap.watch, trap.idle) ----------------

IRQ_CONSOLE = 1 << 0        # console input is waiting (trap.console_read)
IRQ_TASK = 1 << 1           # a task-owned interrupt fired, or a task UART's ring
                            # changed for a waiting owner (trap.irq_take() says which);
                            # always watched

# --- SYS_IRQ and SYS_UART operations ------------------------------------

IRQ_ACK = 0         # bits: unmask the IRQs behind these notification bits
IRQ_OWNED = 1       # r0 = the notification bits of the caller's IRQ grants
UART_READ = 0       # received bytes out of the ring into (ptr, len)
UART_WRITE = 1      # (ptr, len) into the transmit ring
UART_RING = 4096    # bytes of each task UART's receive ring, and of its transmit ring

# --- fault reasons the trap layer reports (besides "exception: ...") -------

FAULT_MEMMANAGE = "MemManage"
FAULT_BUSFAULT = "BusFault"
FAULT_USAGEFAULT = "UsageFault"
FAULT_HARDFAULT = "HardFault"
FAULT_STACK = "stack overflow"
FAULT_MEMORY = "MemoryError"
FAULT_EXCEPTION = "exception: "     # prefix: "exception: ValueError: bad"
FAULT_REASONS = (FAULT_MEMMANAGE, FAULT_BUSFAULT, FAULT_USAGEFAULT,
                 FAULT_HARDFAULT, FAULT_STACK, FAULT_MEMORY)

# --- SYS_KCTL operations (capability kernel) ------------------------------
# Queries write a JSON text into (buf_ptr, buf_cap) and return its length;
# a reply longer than buf_cap fails with MSG_TOO_LARGE and r1 = the length
# needed. Controls take a tid in `arg` and return 0. Every refusal is r0 =
# -code (kernel/errors.py), never a reply; the operations, their checks and
# the reply shapes are documented in kernel/kctl.py.

KCTL_PS = 0         # tasks: state, priority, memory, restarts, CPU
KCTL_MEM = 1        # the task RAM pool: blocks, owners, free, largest free
KCTL_FAULTS = 2     # the fault log (last FAULT_LOG entries)
KCTL_IPC = 3        # per-task IPC counters and who waits on whom
KCTL_KILL = 4       # arg = tid: stop a task (no restart)
KCTL_START = 5      # arg = tid: start a stopped task (SYS_LOOKUP finds the
                    # tid of a stopped task by name too)
KCTL_RESTART = 6    # arg = tid: stop if running, then start
KCTL_REBOOT = 7     # the kernel halts for a board reset
KCTL_POWEROFF = 8   # the kernel halts for power off
KCTL_TASKS = 9      # the system table: every manifest as declared
KCTL_BOOT = 10      # what the bootloader booted: slot, version, trial or confirmed
KCTL_CONFIRM = 11   # confirm the running image; replies KCTL_BOOT's dict plus
                    # "written" (false: it was confirmed already)
KCTL_INSTALL = 12   # one step of the install stream (kernel/bundles.py Installer):
                    # arg = n << 3 | INSTALL_*, buf holds n bytes (BEGIN: "NAME [SIZE]",
                    # DATA: the next bytes of the bundle); the reply (JSON, in buf)
                    # says how far it got; a refusal is BAD_BUNDLE with the reason
                    # in buf (r1: its length), and the stream is over
KCTL_REMOVE = 13    # arg = tid of an installed task: stop it, drop it from storage
KCTL_FG = 14        # arg = tid: hand it the console (it must hold console = read);
                    # Ctrl-Z or its end gives the console back to the console task
KCTL_FAULT = 15     # arg = tid: the task faults now ("injected by the operator"), and
                    # the supervisor decides as for any fault (Tock's `fault`)
KCTL_TIME = 16      # the UTC clock (kernel/clock.py). arg = 0: read, any task: the reply
                    # is Clock.status(); arg = 1: set (capability clock): buf holds
                    # "UTC_MS SOURCE" (decimal ms since 1970; operator, host or sntp)
KCTL_PEER = 17      # arg = handle of a task that may call the caller (its manifest's
                    # `calls` names the caller): {"name", "ports"}; PEER_DIED when the
                    # handle is an earlier incarnation, NOT_RUNNING when it is not
                    # running. A server (the net task) learns what a caller was
                    # granted, and that an owner of its resources has ended.
NKCTL = 18

KCTL_NAMES = ("ps", "mem", "faults", "ipc", "kill", "start", "restart",
              "reboot", "poweroff", "tasks", "boot", "confirm", "install", "remove", "fg", "fault",
              "time", "peer")

FAULT_LOG = 16      # faults kept for KCTL_FAULTS

INSTALL_BEGIN = 0   # KCTL_INSTALL steps: start a stream into a free slot
INSTALL_DATA = 1    # the next bytes, written to the slot at once
INSTALL_END = 2     # all sent: check it, a bounded step a call ({"busy": steps}: call
                    # again); the final reply is what the operator confirms
INSTALL_COMMIT = 3  # confirmed: add (replace), start, mark the slot valid
INSTALL_ABORT = 4   # drop it: the slot is erased
INSTALL_DISCARD = 5 # drop console input up to an empty line (a refused paste), at
                    # most bundles.DISCARD_MAX bytes; buf: the last byte read ("13"),
                    # or nothing to go on; reply {"n": dropped, "end": empty line seen}

# --- the trap layer's IPC fast path log (trap.fastlog(), Kernel._replay) ----

FAST_CALL = 1       # (caller, dest, len, reply_ptr, reply_cap)
FAST_REPLY = 2      # (replier, caller, len)
FAST_RECV = 3       # (receiver, buf, cap, next task)
FAST_ROUNDS = 4     # (client, server, n, server's buf, cap): n whole round trips
                    # CALL, REPLY, RECV between the two, folded into one entry
FAST_YIELDS = 5     # (first yielder, the other, n): n yields passing the CPU
                    # back and forth between two ready tasks of one priority
FAST_IRQ = 6        # (owner, bit, r0 it was woken with or 0: only pending, NVIC number):
                    # a task-owned interrupt raised its owner's notification bit
FAST_RUN = 7        # (task, preempted task or 0: from idle): it runs from now on


def table():
    """Every number of this module: sorted list of (NAME, int). The C
    header must define the same names with the same values."""
    out = []
    g = globals()
    for name in g:
        v = g[name]
        if name[:1] != "_" and name.upper() == name and isinstance(v, int) \
                and not isinstance(v, bool):
            out.append((name, v))
    out.sort()
    return out


assert len(SYSCALL_NAMES) == NSYSCALLS
assert len(EVENT_NAMES) == EV_EXIT + 1
assert len(KCTL_NAMES) == NKCTL
