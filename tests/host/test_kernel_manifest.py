"""Host tests of kernel.manifest: the format, every ManifestError message
(each names source, field and what is wrong), and check_system's capability
table and system-wide errors."""
import random

import pytest

from kernel import manifest
from kernel.manifest import ManifestError

SRC = "userland/ledger/manifest"

LEDGER = """\
# userland/ledger/manifest
name       = ledger
entry      = userland.ledger.main
priority   = 3
heap       = 16384
stack      = 4096
restart    = limit 5
backoff_ms = 500
calls      = audit, hsm        # who it may call
console    = false
devices    = uart1
hsm_keys   = ledger-sign:sign+verify, ledger-kek:wrap
"""

MINIMAL = """\
name = audit
entry = audit
priority = 2
heap = 4096
stack = 1024
restart = always
"""


def with_field(field, value, text=LEDGER):
    """LEDGER with `field` set to value (None: the line removed)."""
    out = []
    for line in text.splitlines():
        if line.split("=")[0].strip() == field:
            if value is None:
                continue
            line = "%s = %s" % (field, value)
        out.append(line)
    return "\n".join(out) + "\n"


def error_of(text, source=SRC, **kw):
    with pytest.raises(ManifestError) as info:
        manifest.parse(text, source, **kw)
    return str(info.value)


# ---- the format ---------------------------------------------------------------

def test_parse_full_manifest():
    m = manifest.parse(LEDGER, SRC, folder="ledger")
    assert m.as_dict() == {
        "name": "ledger", "entry": "userland.ledger.main", "priority": 3,
        "heap": 16384, "stack": 4096, "restart": "limit", "restart_limit": 5,
        "backoff_ms": 500, "calls": ["audit", "hsm"], "console": False,
        "kernel": False, "clock": False, "devices": ["uart1"], "irqs": [],
        "hsm_keys": [{"label": "ledger-sign", "ops": ["sign", "verify"]},
                     {"label": "ledger-kek", "ops": ["wrap"]}], "start": "boot", "arena": 0,
        "gc_threshold": 0, "ports": [],
    }
    assert m.source == SRC
    assert m.region_size() == 32768        # 16384 + 4096 rounded up


def test_optional_fields_default_to_nothing_granted():
    m = manifest.parse(MINIMAL, "userland/audit/manifest")
    assert m.calls == [] and m.devices == [] and m.hsm_keys == []
    assert m.console is False
    assert m.restart == "always" and m.restart_limit is None
    assert m.backoff_ms == manifest.BACKOFF_DEFAULT
    assert m.region_size() == 8192


def test_restart_never_has_no_backoff():
    m = manifest.parse(with_field("restart", "never", MINIMAL))
    assert m.restart == "never" and m.backoff_ms is None


def test_empty_lists_comments_blank_lines_crlf_and_bytes():
    text = "\r\n# comment\r\n\r\n" + MINIMAL.replace("\n", "\r\n") + "calls =\r\ndevices=   # none\r\nconsole=true\r\n"
    m = manifest.parse(text.encode())
    assert m.calls == [] and m.devices == [] and m.console == "write"


def test_to_text_round_trips():
    for text in (LEDGER, MINIMAL, with_field("restart", "never", MINIMAL)):
        m = manifest.parse(text)
        again = manifest.parse(m.to_text())
        assert again == m
        assert again.to_text() == m.to_text()


def test_bounds_are_accepted():
    for field, value in [("priority", "0"), ("priority", "7"), ("heap", "4096"),
                         ("heap", "262144"), ("stack", "1024"), ("stack", "65536"),
                         ("stack", "1032"), ("backoff_ms", "0"), ("restart", "limit 1")]:
        manifest.parse(with_field(field, value))


# ---- every error message ---------------------------------------------------------

def test_heap_not_a_power_of_two():
    assert error_of(with_field("heap", "5000")) == \
        "userland/ledger/manifest: heap: 5000 is not a power of two between 4096 and 262144"


@pytest.mark.parametrize("value, shown", [("2048", "2048"), ("524288", "524288"),
                                          ("16K", "'16K'"), ("-4096", "'-4096'"), ("", "''")])
def test_heap_out_of_range_or_not_a_number(value, shown):
    assert error_of(with_field("heap", value)) == \
        "%s: heap: %s is not a power of two between 4096 and 262144" % (SRC, shown)


@pytest.mark.parametrize("value, shown", [("1000", "1000"), ("1028", "1028"), ("65544", "65544"),
                                          ("4k", "'4k'")])
def test_stack_errors(value, shown):
    assert error_of(with_field("stack", value)) == \
        "%s: stack: %s is not a multiple of 8 between 1024 and 65536" % (SRC, shown)


@pytest.mark.parametrize("value, shown", [("8", "8"), ("high", "'high'"), ("-1", "'-1'"), ("1.5", "'1.5'")])
def test_priority_errors(value, shown):
    assert error_of(with_field("priority", value)) == \
        "%s: priority: %s is not an integer 0..7" % (SRC, shown)


def test_name_not_an_identifier():
    assert error_of(with_field("name", "1ledger")) == (
        "%s: name: '1ledger' is not an identifier (letters, digits, _; not starting with a digit)" % SRC)
    assert "'led ger' is not an identifier" in error_of(with_field("name", "led ger"))


def test_name_too_long():
    assert error_of(with_field("name", "a_very_long_name")) == \
        "%s: name: 'a_very_long_name' is 16 characters, more than 15" % SRC
    manifest.parse(with_field("name", "fifteen_chars__"))


def test_name_must_match_folder_when_given():
    assert error_of(LEDGER, folder="ledgr") == \
        "%s: name: 'ledger' does not match its folder 'ledgr'" % SRC


@pytest.mark.parametrize("value", ["userland..ledger", "1st", "ledger-main", ".x", "a" * 64])
def test_entry_not_a_module_name(value):
    assert error_of(with_field("entry", value)) == (
        "%s: entry: %r is not a module name (dotted identifiers, at most 63 characters)" % (SRC, value))


@pytest.mark.parametrize("value", ["sometimes", "limit", "limit 0", "limit x", "limit 3 4", "Always"])
def test_restart_errors(value):
    assert error_of(with_field("restart", value)) == (
        "%s: restart: %r is not never, always or limit N (N = 1..1000000)" % (SRC, value))


def test_backoff_errors():
    assert error_of(with_field("backoff_ms", "soon")) == \
        "%s: backoff_ms: 'soon' is not an integer 0..3600000" % SRC
    assert error_of(with_field("backoff_ms", "3600001")) == \
        "%s: backoff_ms: 3600001 is not an integer 0..3600000" % SRC
    assert error_of(with_field("restart", "never")) == \
        "%s: backoff_ms: means nothing with restart = never" % SRC


def test_console_not_a_right():
    assert error_of(with_field("console", "yes")) == \
        "%s: console: 'yes' is not false, write (or true) or read" % SRC


@pytest.mark.parametrize("text, right", [("false", False), ("write", "write"), ("true", "write"),
                                         ("read", "read")])
def test_console_rights_are_none_write_or_read_and_round_trip(text, right):
    m = manifest.parse(MINIMAL + "console = %s\n" % text)
    assert m.console == right and m.as_dict()["console"] == right
    assert manifest.parse(m.to_text()) == m


def test_kernel_capability_defaults_to_false():
    assert manifest.parse(LEDGER).kernel is False
    assert manifest.parse(MINIMAL).kernel is False


def test_kernel_capability_true_round_trips():
    m = manifest.parse(MINIMAL + "kernel = true\nconsole = true\n")
    assert m.kernel is True and m.as_dict()["kernel"] is True
    assert "kernel = true\n" in m.to_text()
    assert manifest.parse(m.to_text()) == m
    assert manifest.parse(m.to_text()) != manifest.parse(MINIMAL)


def test_kernel_capability_not_a_boolean():
    assert error_of(LEDGER + "kernel = 1\n") == "%s: kernel: '1' is not true or false" % SRC
    assert error_of(LEDGER + "kernel = True\n") == "%s: kernel: 'True' is not true or false" % SRC
    assert error_of(LEDGER + "kernel = false\nkernel = true\n") == \
        "%s: kernel: given twice (lines 13 and 14)" % SRC


def test_calls_errors():
    assert error_of(with_field("calls", "audit, audit")) == "%s: calls: 'audit' listed twice" % SRC
    assert error_of(with_field("calls", "audit,,hsm")) == "%s: calls: empty item in 'audit,,hsm'" % SRC
    assert error_of(with_field("calls", "audit,")) == "%s: calls: empty item in 'audit,'" % SRC
    assert error_of(with_field("calls", "au dit")) == (
        "%s: calls: 'au dit' is not an identifier (letters, digits, _; not starting with a digit)" % SRC)
    assert error_of(with_field("calls", "audit, ledger")) == \
        "%s: calls: a task may not call itself ('ledger')" % SRC


def test_devices_errors():
    assert error_of(with_field("devices", "uart1, uart1")) == "%s: devices: 'uart1' listed twice" % SRC
    assert "devices: 'uart-1' is not an identifier" in error_of(with_field("devices", "uart-1"))


def test_hsm_keys_errors():
    def err(v):
        return error_of(with_field("hsm_keys", v))
    assert err("ledger-sign") == \
        "%s: hsm_keys: 'ledger-sign' is not label:op+op (ops: sign, verify, encrypt, decrypt, wrap, unwrap)" % SRC
    assert err("ledger sign:sign") == \
        "%s: hsm_keys: label 'ledger sign' is not 1..32 letters, digits, _ - ." % SRC
    assert err(":sign") == "%s: hsm_keys: label '' is not 1..32 letters, digits, _ - ." % SRC
    assert err("k:sign, k:verify") == "%s: hsm_keys: label 'k' listed twice" % SRC
    assert err("k:sign+mint") == \
        "%s: hsm_keys: 'k': 'mint' is not an operation (ops: sign, verify, encrypt, decrypt, wrap, unwrap)" % SRC
    assert err("k:") == \
        "%s: hsm_keys: 'k': '' is not an operation (ops: sign, verify, encrypt, decrypt, wrap, unwrap)" % SRC
    assert err("k:sign+sign") == "%s: hsm_keys: 'k': 'sign' listed twice" % SRC


def test_unknown_field():
    assert error_of(LEDGER + "colour = red\n") == (
        "%s: colour: unknown field (line 13); fields are name, entry, priority, heap, stack, "
        "restart, backoff_ms, calls, console, kernel, clock, devices, irqs, hsm_keys, start, arena, gc_threshold, ports" % SRC)


def test_field_given_twice():
    assert error_of(LEDGER + "heap = 8192\n") == "%s: heap: given twice (lines 5 and 13)" % SRC


@pytest.mark.parametrize("field", manifest.REQUIRED)
def test_missing_required_field(field):
    assert error_of(with_field(field, None)) == "%s: %s: missing" % (SRC, field)


def test_line_without_equals():
    assert error_of(LEDGER + "heap 8192\n") == \
        "%s: line 13: expected 'field = value', got 'heap 8192'" % SRC


def test_line_without_field_name():
    assert error_of(LEDGER + " = 3\n") == "%s: line 13: no field name before '='" % SRC


def test_text_errors():
    assert error_of(b"\xff\xfe") == "%s: text: is not UTF-8" % SRC
    assert error_of(42) == "%s: text: is a int, not text" % SRC
    assert error_of("#" * 5000) == "%s: text: is 5000 characters, more than 4096" % SRC


def test_error_attributes():
    with pytest.raises(ManifestError) as info:
        manifest.parse(with_field("heap", "5000"), SRC)
    e = info.value
    assert (e.source, e.field) == (SRC, "heap")
    assert e.reason == "5000 is not a power of two between 4096 and 262144"
    assert isinstance(e, ValueError)


def test_default_source_is_named():
    with pytest.raises(ManifestError, match=r"^userland/x/manifest: heap: "):
        manifest.parse(with_field("heap", "1"))


def test_garbage_never_escapes_as_another_exception():
    rng = random.Random(7)
    alphabet = "=#,:+ \n\r\tabcxyz_019.-\x00\xff"
    base = list(LEDGER)
    for i in range(3000):
        if rng.random() < 0.5:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        else:           # mutate the good manifest in a few places
            t = base[:]
            for _ in range(rng.randint(1, 4)):
                t[rng.randrange(len(t))] = rng.choice(alphabet)
            text = "".join(t)
        try:
            manifest.parse(text, SRC)
        except ManifestError as e:
            assert str(e).startswith(SRC + ": "), "case %d: %s" % (i, e)


# ---- the system ---------------------------------------------------------------------

def task(name, calls="", heap=4096, stack=1024, devices=""):
    text = ("name = %s\nentry = %s\npriority = 4\nheap = %d\nstack = %d\nrestart = never\n"
            "calls = %s\ndevices = %s\n" % (name, name, heap, stack, calls, devices))
    return manifest.parse(text, "userland/%s/manifest" % name)


def test_check_system_returns_capability_table():
    ms = [task("shell", "ledger, audit"), task("ledger", "audit"), task("audit")]
    table = manifest.check_system(ms, 1 << 20)
    assert table == {"shell": {"ledger", "audit"}, "ledger": {"audit"}, "audit": set()}


def test_check_system_duplicate_name():
    a = task("ledger")
    b = manifest.parse(with_field("calls", "", LEDGER), "userland/ledger2/manifest")
    with pytest.raises(ManifestError) as info:
        manifest.check_system([a, b], 1 << 20)
    assert str(info.value) == \
        "userland/ledger2/manifest: name: 'ledger' is also the name in userland/ledger/manifest"


def test_check_system_unknown_callee():
    with pytest.raises(ManifestError) as info:
        manifest.check_system([task("shell", "ledger, audti"), task("ledger")], 1 << 20)
    assert str(info.value) == "userland/shell/manifest: calls: 'audti' is not a task of this system"


def test_check_system_self_call():
    m = task("ledger")
    m.calls = ["ledger"]            # built by hand, past parse()'s own check
    with pytest.raises(ManifestError) as info:
        manifest.check_system([m], 1 << 20)
    assert str(info.value) == "userland/ledger/manifest: calls: a task may not call itself ('ledger')"


def test_check_system_unknown_device():
    ms = [task("hsm", devices="uart1"), task("clock", devices="timer0, rtc")]
    assert manifest.check_system(ms, 1 << 20, devices=("uart1", "timer0", "rtc"))
    with pytest.raises(ManifestError) as info:
        manifest.check_system(ms, 1 << 20, devices=("uart1", "timer0"))
    assert str(info.value) == "userland/clock/manifest: devices: 'rtc' is not a device of this board"


def test_check_system_pool_too_small():
    ms = [task("a", heap=65536, stack=1024), task("b", heap=16384, stack=16384)]
    # a: 65536 + 1024 -> 131072; b: 32768
    assert manifest.check_system(ms, 131072 + 32768) is not None
    with pytest.raises(ManifestError) as info:
        manifest.check_system(ms, 131072)
    assert str(info.value) == \
        "system: memory: tasks need 163840 bytes (a 131072, b 32768), the task pool holds 131072"


def test_regions_that_pass_check_system_fit_the_buddy_allocator():
    from kernel import buddy
    rng = random.Random(3)
    for trial in range(200):
        ms = []
        for i in range(rng.randint(1, 12)):
            ms.append(task("t%d" % i, heap=1 << rng.randint(12, 18), stack=8 * rng.randint(128, 8192)))
        pool = 1 << 20
        try:
            manifest.check_system(ms, pool)
        except ManifestError:
            continue
        b = buddy.Buddy(0x20000000, pool, 5)
        for m in sorted(ms, key=lambda m: -m.region_size()):
            b.set_quota(m.name, m.region_size())
            b.alloc(m.heap + m.stack, m.name)
        b.check()


def test_start_field_says_boot_or_manual():
    assert manifest.parse(LEDGER, SRC).start == "boot"
    assert manifest.parse(LEDGER + "start = manual\n", SRC).start == "manual"
    assert error_of(LEDGER + "start = later\n") == "%s: start: 'later' is not boot or manual" % SRC


def test_the_gc_threshold_is_checked_against_the_heap():
    base = "name = t\nentry = m\npriority = 1\nheap = 16384\nstack = 8192\nrestart = never\n"
    assert manifest.parse(base, SRC).gc_threshold == 0          # default: collect when full
    m = manifest.parse(base + "gc_threshold = 8192\n", SRC)
    assert m.gc_threshold == 8192 and m.region_size() == 32768  # no memory of its own
    assert manifest.parse(m.to_text(), SRC) == m
    assert manifest.parse(base + "gc_threshold = 0\n", SRC).gc_threshold == 0
    for bad in ("-1", "512", "16385", "65536", "x", "8k"):
        assert error_of(base + "gc_threshold = %s\n" % bad).startswith(SRC + ": gc_threshold: ")


def test_the_arena_counts_in_the_block_and_is_checked():
    base = "name = t\nentry = m\npriority = 1\nheap = 65536\nstack = 8192\nrestart = never\n"
    m = manifest.parse(base + "arena = 196608\n", SRC)
    assert m.arena == 196608 and m.region_size() == 524288
    assert manifest.parse(m.to_text(), SRC) == m
    for bad in ("-8", "12", "300000", "x"):
        with pytest.raises(manifest.ManifestError, match="arena"):
            manifest.parse(base + "arena = %s\n" % bad, SRC)


def test_from_dict_rebuilds_every_manifest_of_the_tree():
    """The image freezes each manifest's parsed fields (tools/gather_manifests.py)
    and the kernel rebuilds them with from_dict: the same Manifest as parsing
    the text, for every task of the tree."""
    from tools import gather_manifests
    found = gather_manifests.find()
    assert len(found) > 10
    for source, text in found:
        m = manifest.parse(text, source)
        again = manifest.from_dict(m.as_dict(), source)
        assert again == m and again.source == source and again.region_size() == m.region_size()
        assert again.to_text() == m.to_text()


def test_from_dict_sets_every_field_as_dict_has():
    """from_dict names each field itself: a field added to Manifest and
    as_dict() but not to from_dict would be caught here."""
    fields = {"name": "t", "entry": "userland.t.main", "priority": 3, "heap": 8192, "stack": 4096,
              "restart": "limit", "restart_limit": 4, "backoff_ms": 250, "calls": ["a"], "console": "read",
              "kernel": True, "clock": True, "start": "manual", "devices": ["uart1"], "irqs": [("eth", 3)],
              "hsm_keys": [{"label": "k", "ops": ["sign"]}], "arena": 64, "gc_threshold": 2048, "ports": [7, 8080]}
    m = manifest.from_dict(fields, "src")
    assert m.as_dict() == fields and set(fields) == set(manifest.Manifest("x").as_dict())


def test_ports_are_parsed_checked_and_unique_in_a_system():
    base = "name = t\nentry = userland.t.main\npriority = 3\nheap = 8192\nstack = 4096\nrestart = never\n"
    assert manifest.parse(base, SRC).ports == []
    m = manifest.parse(base + "ports = 7, 8080\n", SRC)
    assert m.ports == [7, 8080] and manifest.parse(m.to_text(), SRC) == m
    assert "ports" not in manifest.parse(base, SRC).to_text()      # old texts unchanged
    for bad, why in (("0", "'0' is not a port 1..65535"), ("65536", "'65536' is not a port 1..65535"),
                     ("x", "'x' is not a port 1..65535"), ("7, 7", "7 is listed twice")):
        assert error_of(base + "ports = %s\n" % bad) == "%s: ports: %s" % (SRC, why)
    other = manifest.parse(base.replace("name = t", "name = u") + "ports = 8080\n", "userland/u/manifest")
    with pytest.raises(manifest.ManifestError) as e:
        manifest.check_system([m, other], 1 << 20)
    assert str(e.value) == "userland/u/manifest: ports: 8080 is also granted to t"
