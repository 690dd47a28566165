"""What an installed task (a signed bundle, kernel/bundles.py) may ask for:
the one table the installer checks and the shell's `tasks` shows. A
built-in task's manifest is part of the signed kernel image and is not
limited here; an installed task's manifest is limited by RIGHTS.

    right     an installed task may have            refused
    priority  PRIORITY_FLOOR..7 (0 is the highest)  0..3: that is the shell's (0) and the services' (2, 3)
    memory    a block of at most BLOCK_MAX bytes    more (heap + stack + arena, rounded up to a power of two)
    calls     the tasks in CALLABLE                 the services (hsm, ledger, gateway, ...), kernel-capable
                                                    tasks (the shell), other installed tasks
    callers   the tasks in CALLERS call it          (no manifest field: the operator's shell calls every
                                                    installed task, nothing else does)
    console   write, or read                        (read: it gets keystrokes only while the operator
                                                    has handed it the console with `fg`; in the background
                                                    its reads wait and never take a byte)
    hsm_keys  none                                  any: an HSM key policy is granted to built-in tasks only
    devices   none                                  any
    irqs      none                                  any: interrupts reach built-in drivers only
    kernel    false                                 true
    clock     false                                 true (the board's UTC clock is the operator's and SNTP's)
    ports     PORT_FLOOR..65535                     1..1023: the built-in services' (and no port another
                                                    task holds: check_system, when it is added)

check(m) lists what a manifest asks for beyond this; requested(m) is what
the shell shows the operator before an install is confirmed.
Pure Python, runs under MicroPython and CPython."""

PRIORITY_FLOOR = 4              # numerically: 0 is the highest priority (kernel/sched.py)
BLOCK_MAX = 65536               # bytes of an installed task's memory block
CALLABLE = ("heartbeat", "ponger", "net")   # built-in tasks an installed task may call (net: sockets)
PORT_FLOOR = 1024               # ports below are the built-in services'
CALLERS = ("shell",)            # built-in tasks that may call every installed task

RIGHTS = (
    # (right, what an installed task may have, why not more)
    ("priority", "%d..7" % PRIORITY_FLOOR, "installed tasks run below the shell and the services"),
    ("memory", "a block of at most %d bytes" % BLOCK_MAX, "the task RAM pool is shared with the services"),
    ("calls", ", ".join(CALLABLE), "services and kernel-capable tasks take calls from built-in tasks only"),
    ("callers", ", ".join(CALLERS), "the operator's shell calls every installed task"),
    ("console", "write, or read while the operator hands it the console (fg)",
     "keystrokes go to the console's one owner, the shell unless the operator hands it over"),
    ("hsm_keys", "none", "HSM key policies are granted to built-in tasks only"),
    ("devices", "none", "device MMIO is granted to built-in drivers only"),
    ("irqs", "none", "interrupts are granted to built-in drivers only (an installed task holding one could "
     "keep it masked, or take another driver's data)"),
    ("kernel", "false", "only the shell controls the kernel"),
    ("clock", "false", "the board's UTC clock is set by the operator and SNTP only"),
    ("ports", "%d..65535" % PORT_FLOOR, "ports below %d are the built-in services'" % PORT_FLOOR),
)


def check(m):
    """Reasons ("RIGHT: ...") why an installed task may not have what
    manifest m asks for; empty when it may."""
    out = []
    if m.priority < PRIORITY_FLOOR:
        out.append("priority %d: an installed task runs at %d..7 (below the shell and the services)"
                   % (m.priority, PRIORITY_FLOOR))
    if m.region_size() > BLOCK_MAX:
        out.append("memory %d: an installed task's block (heap + stack + arena) is at most %d bytes"
                   % (m.region_size(), BLOCK_MAX))
    bad = [c for c in m.calls if c not in CALLABLE]
    if bad:
        out.append("calls %s: an installed task may call only %s" % (", ".join(bad), ", ".join(CALLABLE)))
    if m.hsm_keys:
        out.append("hsm_keys: HSM key policies are granted to built-in tasks only")
    if m.devices:
        out.append("devices %s: an installed task may not be granted devices" % ", ".join(m.devices))
    if m.irqs:
        out.append("irqs %s: an installed task may not be granted interrupts"
                   % ", ".join(n for n, _ in m.irqs))
    if m.kernel:
        out.append("kernel: an installed task may not hold the kernel capability")
    if m.clock:
        out.append("clock: an installed task may not set the board's clock")
    low = [p for p in m.ports if p < PORT_FLOOR]
    if low:
        out.append("ports %s: an installed task may listen only on %d..65535"
                   % (", ".join(["%d" % p for p in low]), PORT_FLOOR))
    return out


def requested(m):
    """What manifest m asks for, as the operator confirms it: {"calls",
    "priority", "memory" (block bytes), "console" ("write", "read" or "none"),
    "start", "restart"}, and "ports" when it asks for any."""
    restart = m.restart
    if restart == "limit":
        restart = "limit %d" % m.restart_limit
    out = {"calls": list(m.calls), "priority": m.priority, "memory": m.region_size(),
           "console": m.console or "none", "start": m.start, "restart": restart}
    if m.ports:
        out["ports"] = list(m.ports)
    return out

