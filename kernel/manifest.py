"""Task manifests: parse one task's manifest, check the whole set as a system.

Holds the manifest format, its validation and check_system(), which turns
the set into the capability table the kernel consults on every call. It does
not read files, start tasks or allocate memory (the loader does), and knows
no device or HSM key beyond the names it is given.

Format: `userland/<name>/manifest`, one `field = value` per line. Blank lines
are ignored and `#` starts a comment (no value contains `#`). Values are bare
text, lists are comma-separated and may be empty. Not JSON: MicroPython's
json reports "syntax error in JSON" with no line or field, this format lets
every error name its field.

    # userland/ledger/manifest
    name       = ledger            # identifier, at most 15 characters
    entry      = userland.ledger.main  # module whose import starts the task
    priority   = 3                 # 0 (highest) .. 7
    heap       = 16384             # power of two, 4096 .. 262144
    stack      = 4096              # multiple of 8, 1024 .. 65536
    restart    = limit 5           # never | always | limit N  (N >= 1)
    backoff_ms = 500               # wait before a restart; not with never
    calls      = audit, hsm        # tasks it may call()
    console    = write             # false | write | read (read: may also read it
                                   # while the operator hands it the console)
    start      = boot              # boot: started at boot; manual: by the shell's start
    kernel     = false             # true: may query and control the kernel
                                   # (SYS_KCTL: ps, kill, start...): the shell
    clock      = false             # true: may set the board's UTC clock
                                   # (KCTL_TIME; the shell: `date set`; SNTP)
    devices    = ledger_store      # devices whose MMIO it is granted
    irqs       = uart1:0, eth:1    # interrupts it is granted (the board's IRQS), each
                                   # to one of its notification bits 0..30 (as Hubris's
                                   # app.toml): the kernel raises the bit when the
                                   # interrupt fires; the owner acknowledges it
                                   # (SYS_IRQ) and no other task can
    hsm_keys   = ledger-sign:sign+verify, ledger-kek:wrap
    arena      = 196608            # bytes of raw RAM outside the GC heap (_qx.arena())
    gc_threshold = 8192            # collect after this many bytes allocated (gc.threshold)
    ports      = 7, 8080           # TCP/UDP ports it may listen on through the net task
                                   # (1..65535; no port is granted to two tasks)

Required: name, entry, priority, heap, stack, restart. The rest default to
nothing granted (backoff_ms to 100 when restart is not never). Unknown and
repeated fields are errors. Decimal integers only.

Every error is a ManifestError whose message is "SOURCE: FIELD: what is
wrong", e.g. "userland/ledger/manifest: heap: 5000 is not a power of two
between 4096 and 262144"; a line that is not `field = value` gives
"SOURCE: line N: ...", and system-wide errors use source "system".

Memory: a task gets one buddy block holding its stack and heap, the next
power of two >= heap + stack (Manifest.region_size()), so it is one MPU
region. check_system() requires the regions to sum to at most the pool; when
the pool is a power of two, power-of-two blocks that sum to at most it always
fit in a buddy allocator if allocated largest first.

Pure Python, runs under MicroPython (no float, json, re) and CPython.
"""

from kernel.buddy import ceil_pow2

NAME_MAX = 15
ENTRY_MAX = 63
LABEL_MAX = 32
TEXT_MAX = 4096             # bytes of manifest text the parser accepts
PRIORITY_MIN, PRIORITY_MAX = 0, 7
HEAP_MIN, HEAP_MAX = 4096, 262144
STACK_MIN, STACK_MAX = 1024, 65536
BACKOFF_MAX = 3600000       # one hour
BACKOFF_DEFAULT = 100
LIMIT_MAX = 1000000
HSM_OPS = ("sign", "verify", "encrypt", "decrypt", "wrap", "unwrap")

REQUIRED = ("name", "entry", "priority", "heap", "stack", "restart")
OPTIONAL = ("backoff_ms", "calls", "console", "kernel", "clock", "devices", "irqs", "hsm_keys", "start", "arena",
            "gc_threshold", "ports")
IRQ_BIT_MAX = 30                    # notification bits 0..30 (kernel/abi.py NOTIFY_MASK)
PORT_MAX = 65535
ARENA_MAX = 262144                  # bytes of raw RAM outside the task's GC heap
GC_THRESHOLD_MIN = 1024             # bytes; 0 (the default): collect only when the heap is full
FIELDS = REQUIRED + OPTIONAL

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
_DIGITS = "0123456789"
_LABEL_CHARS = _LETTERS + _DIGITS + "-."


class ManifestError(ValueError):
    """A manifest (or the system of them) is invalid. Attributes: source,
    field (or "line N"), reason; str() is 'source: field: reason'."""

    def __init__(self, source, field, reason):
        super().__init__("%s: %s: %s" % (source, field, reason))
        self.source = source
        self.field = field
        self.reason = reason


class Manifest:
    """One task's validated manifest. restart is "never", "always" or
    "limit" (then restart_limit is N); backoff_ms is None with never;
    hsm_keys is a list of {"label": str, "ops": [str, ...]}."""

    def __init__(self, source):
        self.source = source
        self.name = None
        self.entry = None
        self.priority = None
        self.heap = None
        self.stack = None
        self.restart = None
        self.restart_limit = None
        self.backoff_ms = None
        self.calls = []
        self.console = False       # False, "write" or "read" (read includes write)
        self.kernel = False
        self.clock = False         # may set the UTC clock (kernel/clock.py)
        self.start = "boot"        # boot: started at boot; manual: by `start NAME`
        self.devices = []
        self.irqs = []             # [(interrupt name, notification bit)]
        self.hsm_keys = []
        self.arena = 0             # raw RAM beside the heap, never scanned by the GC (_qx.arena())
        self.gc_threshold = 0      # bytes allocated between collections (gc.threshold); 0: heap full
        self.ports = []            # ports it may listen on (the net task asks the kernel: KCTL_PEER)

    def region_size(self):
        """Bytes of the task's one memory block: stack + heap + arena,
        rounded up to a power of two."""
        return ceil_pow2(self.heap + self.stack + self.arena)

    def as_dict(self):
        keys = []
        for k in self.hsm_keys:
            keys.append({"label": k["label"], "ops": list(k["ops"])})
        return {
            "name": self.name, "entry": self.entry, "priority": self.priority,
            "heap": self.heap, "stack": self.stack, "restart": self.restart,
            "restart_limit": self.restart_limit, "backoff_ms": self.backoff_ms,
            "calls": list(self.calls), "console": self.console,
            "kernel": self.kernel, "clock": self.clock, "devices": list(self.devices),
            "irqs": [(n, b) for n, b in self.irqs], "hsm_keys": keys,
            "start": self.start, "arena": self.arena, "gc_threshold": self.gc_threshold,
            "ports": list(self.ports),
        }

    def to_text(self):
        """The manifest in canonical form; parse(m.to_text()) equals m."""
        restart = self.restart
        if restart == "limit":
            restart = "limit %d" % self.restart_limit
        lines = [
            "name = %s" % self.name,
            "entry = %s" % self.entry,
            "priority = %d" % self.priority,
            "heap = %d" % self.heap,
            "stack = %d" % self.stack,
            "restart = %s" % restart,
        ]
        if self.backoff_ms is not None:
            lines.append("backoff_ms = %d" % self.backoff_ms)
        lines.append("calls = %s" % ", ".join(self.calls))
        lines.append("console = %s" % (self.console or "false"))
        lines.append("kernel = %s" % ("true" if self.kernel else "false"))
        lines.append("clock = %s" % ("true" if self.clock else "false"))
        lines.append("start = %s" % self.start)
        lines.append("devices = %s" % ", ".join(self.devices))
        if self.irqs:
            lines.append("irqs = %s" % ", ".join("%s:%d" % (n, b) for n, b in self.irqs))
        keys = []
        for k in self.hsm_keys:
            keys.append("%s:%s" % (k["label"], "+".join(k["ops"])))
        lines.append("hsm_keys = %s" % ", ".join(keys))
        lines.append("arena = %d" % self.arena)
        if self.gc_threshold:
            lines.append("gc_threshold = %d" % self.gc_threshold)
        if self.ports:
            lines.append("ports = %s" % ", ".join(["%d" % p for p in self.ports]))
        return "\n".join(lines) + "\n"

    def __eq__(self, other):
        return isinstance(other, Manifest) and self.as_dict() == other.as_dict()

    def __ne__(self, other):
        return not self.__eq__(other)

    def __repr__(self):
        return "<Manifest %s from %s>" % (self.name, self.source)


def from_dict(d, source):
    """The Manifest whose as_dict() is d. The image's own manifests come
    this way: the build parses each manifest's text (parse(), on the host,
    tools/gather_manifests.py) and freezes the fields, so the kernel does no
    text parsing at boot (it cost 8.9 M instructions for the test image's
    29). d is trusted as parse()'s output (it is part of the signed image);
    check_system() still checks the set."""
    m = Manifest(source)            # attribute by attribute: setattr() in a loop costs twice as much
    m.name = d["name"]
    m.entry = d["entry"]
    m.priority = d["priority"]
    m.heap = d["heap"]
    m.stack = d["stack"]
    m.restart = d["restart"]
    m.restart_limit = d["restart_limit"]
    m.backoff_ms = d["backoff_ms"]
    m.calls = d["calls"]
    m.console = d["console"]
    m.kernel = d["kernel"]
    m.clock = d["clock"]
    m.start = d["start"]
    m.devices = d["devices"]
    m.irqs = [(n, b) for n, b in d["irqs"]]
    m.hsm_keys = d["hsm_keys"]
    m.arena = d["arena"]
    m.gc_threshold = d["gc_threshold"]
    m.ports = d.get("ports", [])
    return m


# --- one manifest -------------------------------------------------------

def parse(text, source="userland/x/manifest", folder=None):
    """Parse and validate one manifest; a Manifest or ManifestError.
    source names the file in every error; folder (the loader passes the
    task's folder name) must then equal the manifest's name."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except Exception:
            raise ManifestError(source, "text", "is not UTF-8")
    if not isinstance(text, str):
        raise ManifestError(source, "text", "is a %s, not text" % type(text).__name__)
    if len(text) > TEXT_MAX:
        raise ManifestError(source, "text", "is %d characters, more than %d" % (len(text), TEXT_MAX))

    raw = {}        # field -> value text
    where = {}      # field -> line number
    lineno = 0
    for line in text.split("\n"):
        lineno += 1
        hash_at = line.find("#")
        if hash_at >= 0:
            line = line[:hash_at]
        line = line.strip()
        if not line:
            continue
        eq = line.find("=")
        if eq < 0:
            raise ManifestError(source, "line %d" % lineno, "expected 'field = value', got %r" % line)
        key = line[:eq].strip()
        value = line[eq + 1:].strip()
        if not key:
            raise ManifestError(source, "line %d" % lineno, "no field name before '='")
        if key not in FIELDS:
            raise ManifestError(source, key, "unknown field (line %d); fields are %s"
                                % (lineno, ", ".join(FIELDS)))
        if key in raw:
            raise ManifestError(source, key, "given twice (lines %d and %d)" % (where[key], lineno))
        raw[key] = value
        where[key] = lineno

    for key in REQUIRED:
        if key not in raw:
            raise ManifestError(source, key, "missing")

    m = Manifest(source)
    m.name = _name(source, "name", raw["name"])
    if folder is not None and folder != m.name:
        raise ManifestError(source, "name", "%r does not match its folder %r" % (m.name, folder))
    m.entry = _entry(source, raw["entry"])
    m.priority = _int_in(source, "priority", raw["priority"], PRIORITY_MIN, PRIORITY_MAX,
                         "an integer %d..%d" % (PRIORITY_MIN, PRIORITY_MAX))
    heap = _int_or_none(raw["heap"])
    if heap is None or not (HEAP_MIN <= heap <= HEAP_MAX) or heap & (heap - 1):
        raise ManifestError(source, "heap", "%s is not a power of two between %d and %d"
                            % (_show(raw["heap"], heap), HEAP_MIN, HEAP_MAX))
    m.heap = heap
    stack = _int_or_none(raw["stack"])
    if stack is None or not (STACK_MIN <= stack <= STACK_MAX) or stack % 8:
        raise ManifestError(source, "stack", "%s is not a multiple of 8 between %d and %d"
                            % (_show(raw["stack"], stack), STACK_MIN, STACK_MAX))
    m.stack = stack
    m.restart, m.restart_limit = _restart(source, raw["restart"])
    if "backoff_ms" in raw:
        if m.restart == "never":
            raise ManifestError(source, "backoff_ms", "means nothing with restart = never")
        m.backoff_ms = _int_in(source, "backoff_ms", raw["backoff_ms"], 0, BACKOFF_MAX,
                               "an integer 0..%d" % BACKOFF_MAX)
    elif m.restart != "never":
        m.backoff_ms = BACKOFF_DEFAULT
    if "calls" in raw:
        m.calls = _names(source, "calls", raw["calls"])
        if m.name in m.calls:
            raise ManifestError(source, "calls", _SELF_CALL % m.name)
    if "console" in raw:
        m.console = _console(source, raw["console"])
    if "kernel" in raw:
        m.kernel = _bool(source, "kernel", raw["kernel"])
    if "clock" in raw:
        m.clock = _bool(source, "clock", raw["clock"])
    if "start" in raw:
        if raw["start"] not in ("boot", "manual"):
            raise ManifestError(source, "start", "%r is not boot or manual" % raw["start"])
        m.start = raw["start"]
    if "devices" in raw:
        m.devices = _names(source, "devices", raw["devices"])
    if "irqs" in raw:
        m.irqs = _irqs(source, raw["irqs"])
    if "hsm_keys" in raw:
        m.hsm_keys = _hsm_keys(source, raw["hsm_keys"])
    if "arena" in raw:
        arena = _int_or_none(raw["arena"])
        if arena is None or not (0 <= arena <= ARENA_MAX) or arena % 8:
            raise ManifestError(source, "arena", "%s is not a multiple of 8 between 0 and %d"
                                % (_show(raw["arena"], arena), ARENA_MAX))
        m.arena = arena
    if "gc_threshold" in raw:
        # MicroPython's gc.threshold, set before the task's code runs: a
        # collection after every N bytes allocated, so a heap never fills
        # with garbage that each allocation's first-fit search must pass.
        th = _int_or_none(raw["gc_threshold"])
        if th is None or (th and not (GC_THRESHOLD_MIN <= th <= m.heap)):
            raise ManifestError(source, "gc_threshold", "%s is not 0 or %d..%d (the heap)"
                                % (_show(raw["gc_threshold"], th), GC_THRESHOLD_MIN, m.heap))
        m.gc_threshold = th
    if "ports" in raw:
        m.ports = _ports(source, raw["ports"])
    return m


def _ports(source, text):
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        p = _int_or_none(item)
        if p is None or not (1 <= p <= PORT_MAX):
            raise ManifestError(source, "ports", "%r is not a port 1..%d" % (item, PORT_MAX))
        if p in out:
            raise ManifestError(source, "ports", "%d is listed twice" % p)
        out.append(p)
    return out


_SELF_CALL = "a task may not call itself (%r)"


def _is_identifier(s):
    if not s or s[0] not in _LETTERS:
        return False
    for c in s:
        if c not in _LETTERS and c not in _DIGITS:
            return False
    return True


def _name(source, field, s):
    if not _is_identifier(s):
        raise ManifestError(source, field, "%r is not an identifier (letters, digits, _; "
                            "not starting with a digit)" % s)
    if len(s) > NAME_MAX:
        raise ManifestError(source, field, "%r is %d characters, more than %d" % (s, len(s), NAME_MAX))
    return s


def _entry(source, s):
    ok = 0 < len(s) <= ENTRY_MAX
    if ok:
        for part in s.split("."):
            if not _is_identifier(part):
                ok = False
    if not ok:
        raise ManifestError(source, "entry", "%r is not a module name (dotted identifiers, "
                            "at most %d characters)" % (s, ENTRY_MAX))
    return s


def _bool(source, field, v):
    if v == "true":
        return True
    if v == "false":
        return False
    raise ManifestError(source, field, "%r is not true or false" % v)


def _console(source, v):
    """The console right: False (none), "write" (may write to it; `true`
    is the older spelling) or "read" (may write, and read it while it is
    the console's owner: the console task, or a task the operator hands the
    console to with `fg`)."""
    if v == "false":
        return False
    if v == "write" or v == "true":
        return "write"
    if v == "read":
        return "read"
    raise ManifestError(source, "console", "%r is not false, write (or true) or read" % v)


def _int_or_none(s):
    """The decimal integer s spells, or None."""
    if not s or len(s) > 12:
        return None
    for c in s:
        if c not in _DIGITS:
            return None
    return int(s)


def _show(text, value):
    return "%d" % value if value is not None else repr(text)


def _int_in(source, field, s, lo, hi, what):
    v = _int_or_none(s)
    if v is None or not (lo <= v <= hi):
        raise ManifestError(source, field, "%s is not %s" % (_show(s, v), what))
    return v


def _restart(source, s):
    if s == "never" or s == "always":
        return s, None
    words = s.split()
    if len(words) == 2 and words[0] == "limit":
        n = _int_or_none(words[1])
        if n is not None and 1 <= n <= LIMIT_MAX:
            return "limit", n
    raise ManifestError(source, "restart", "%r is not never, always or limit N (N = 1..%d)"
                        % (s, LIMIT_MAX))


def _items(source, field, s):
    """The comma-separated items of s (none when s is empty)."""
    if not s:
        return []
    items = []
    for item in s.split(","):
        item = item.strip()
        if not item:
            raise ManifestError(source, field, "empty item in %r" % s)
        items.append(item)
    return items


def _names(source, field, s):
    names = []
    for item in _items(source, field, s):
        _name(source, field, item)
        if item in names:
            raise ManifestError(source, field, "%r listed twice" % item)
        names.append(item)
    return names


def _irqs(source, s):
    """`name:bit, ...`: each interrupt once, each bit once."""
    out = []
    for item in _items(source, "irqs", s):
        colon = item.find(":")
        name = item[:colon].strip() if colon >= 0 else item
        bit = _int_or_none(item[colon + 1:].strip()) if colon >= 0 else None
        if colon < 0 or not _is_identifier(name) or len(name) > NAME_MAX:
            raise ManifestError(source, "irqs", "%r is not name:bit (an interrupt of the board, "
                                "a notification bit 0..%d)" % (item, IRQ_BIT_MAX))
        if bit is None or bit > IRQ_BIT_MAX:
            raise ManifestError(source, "irqs", "%r: the bit is not 0..%d" % (item, IRQ_BIT_MAX))
        for n, b in out:
            if n == name:
                raise ManifestError(source, "irqs", "%r listed twice" % name)
            if b == bit:
                raise ManifestError(source, "irqs", "bit %d given to %s and %s" % (bit, n, name))
        out.append((name, bit))
    return out


def _hsm_keys(source, s):
    keys = []
    labels = []
    for item in _items(source, "hsm_keys", s):
        colon = item.find(":")
        if colon < 0:
            raise ManifestError(source, "hsm_keys", "%r is not label:op+op (ops: %s)"
                                % (item, ", ".join(HSM_OPS)))
        label = item[:colon].strip()
        ops_text = item[colon + 1:].strip()
        ok = 0 < len(label) <= LABEL_MAX
        for c in label:
            if c not in _LABEL_CHARS:
                ok = False
        if not ok:
            raise ManifestError(source, "hsm_keys", "label %r is not 1..%d letters, digits, _ - ."
                                % (label, LABEL_MAX))
        if label in labels:
            raise ManifestError(source, "hsm_keys", "label %r listed twice" % label)
        ops = []
        for op in ops_text.split("+"):
            op = op.strip()
            if op not in HSM_OPS:
                raise ManifestError(source, "hsm_keys", "%r: %r is not an operation (ops: %s)"
                                    % (label, op, ", ".join(HSM_OPS)))
            if op in ops:
                raise ManifestError(source, "hsm_keys", "%r: %r listed twice" % (label, op))
            ops.append(op)
        labels.append(label)
        keys.append({"label": label, "ops": ops})
    return keys


# --- the system ---------------------------------------------------------

def check_system(manifests, pool_size, devices=None, irqs=None):
    """Validate a set of manifests as one system and return the capability
    table: dict task name -> set of task names it may call.

    Checks, first failure wins: unique names; no task calls itself; every
    `calls` target has a manifest; every device is in `devices` (when given,
    the board's device names); every interrupt is in `irqs` (when given,
    the board's interrupt names) and granted to one task only (a bit twice
    in one manifest parse() refuses already); no port is granted to two
    tasks; the tasks' regions (region_size()) sum to at most pool_size
    bytes."""
    by_name = {}
    for m in manifests:
        other = by_name.get(m.name)
        if other is not None:
            raise ManifestError(m.source, "name", "%r is also the name in %s" % (m.name, other.source))
        by_name[m.name] = m
    table = {}
    owners = {}                 # interrupt name -> the task granted it
    for m in manifests:
        callees = set()
        for callee in m.calls:
            if callee == m.name:
                raise ManifestError(m.source, "calls", _SELF_CALL % callee)
            if callee not in by_name:
                raise ManifestError(m.source, "calls", "%r is not a task of this system" % callee)
            callees.add(callee)
        if devices is not None:
            for d in m.devices:
                if d not in devices:
                    raise ManifestError(m.source, "devices", "%r is not a device of this board" % d)
        for name, bit in m.irqs:
            if irqs is not None and name not in irqs:
                raise ManifestError(m.source, "irqs", "%r is not an interrupt of this board" % name)
            other = owners.get(name)
            if other is not None:
                raise ManifestError(m.source, "irqs", "%r is granted to %s already" % (name, other))
            owners[name] = m.name
        table[m.name] = callees
    port_of = {}
    for m in manifests:
        for p in m.ports:
            other = port_of.get(p)
            if other is not None:
                raise ManifestError(m.source, "ports", "%d is also granted to %s" % (p, other))
            port_of[p] = m.name
    sizes = [m.region_size() for m in manifests]
    need = sum(sizes)
    if need > pool_size:
        parts = ["%s %d" % (m.name, size) for m, size in zip(manifests, sizes)]
        raise ManifestError("system", "memory", "tasks need %d bytes (%s), the task pool holds %d"
                            % (need, ", ".join(parts), pool_size))
    return table
