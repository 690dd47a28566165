"""Host tests of userland.shell.commands (splitting, dispatch, every command)
and userland.shell.shell.run (the loop survives anything typed)."""
import io
import os
import tokenize

import pytest

from shell_fakes import FakeConsole, FakeSystem
from userland.shell import commands, lineedit, shell

ALL = ["help", "version", "uptime", "date", "ps", "cpu", "top", "kill", "start", "restart", "fg", "fault", "exit", "mem", "faults", "ipc",
       "call", "echo", "tasks", "hsm", "ledger", "compliance", "audit", "accounts", "net", "boot", "reboot", "poweroff"]


def run_line(line, **over):
    ctx = FakeSystem(**over)
    commands.dispatch(line, ctx)
    return ctx.text(), ctx


# ---- split ------------------------------------------------------------------

def test_split_separates_on_runs_of_spaces_and_tabs():
    assert commands.split("  a  b\tc ") == ["a", "b", "c"]
    assert commands.split("   ") == []


def test_split_keeps_spaces_inside_double_quotes():
    assert commands.split('echo "a b"  c') == ["echo", "a b", "c"]
    assert commands.split('x "" y') == ["x", "", "y"]
    assert commands.split('pre"mid dle"post') == ["premid dlepost"]


def test_split_raises_usage_error_on_an_unterminated_quote():
    with pytest.raises(commands.UsageError, match="unterminated quote"):
        commands.split('echo "abc')


# ---- dispatch -----------------------------------------------------------------

def test_blank_line_prints_nothing():
    assert run_line("")[0] == "" and run_line(" \t ")[0] == ""


def test_unknown_command_prints_exactly_the_hint():
    assert run_line("frob 1 2")[0] == "unknown command: frob (try 'help')\n"


def test_unterminated_quote_in_a_line_is_reported_not_raised():
    assert run_line('echo "x')[0] == "error: unterminated quote\n"


@pytest.mark.parametrize("name", ["version", "uptime", "mem", "ps", "cpu", "reboot", "poweroff"])
def test_commands_without_arguments_reject_one_with_their_usage(name):
    out, ctx = run_line(name + " extra")
    assert out == "usage: %s\n" % name
    assert ctx.calls == []


def test_help_with_two_arguments_prints_its_usage():
    assert run_line("help a b")[0] == "usage: help [CMD]\n"


def test_an_exception_in_a_handler_is_printed_and_dispatch_returns():
    out, _ = run_line("ps", kctl_error=RuntimeError("task table locked"))
    assert out == "error: RuntimeError: task table locked\n"


def test_an_exception_without_message_prints_just_its_name():
    out, _ = run_line("ps", kctl_error=MemoryError())
    assert out == "error: MemoryError\n"


def test_register_adds_a_command_and_replaces_one_of_the_same_name():
    def boom(ctx, args):
        return 1 // 0
    try:
        commands.register("boom", "divide by zero", boom, 0)
        commands.register("boom N", "divide by zero again", boom)
        assert [c.name for c in commands.commands()].count("boom") == 1
        assert commands.lookup("boom").usage == "boom N"
        out = run_line("boom 1")[0]
        assert out.startswith("error: ZeroDivisionError: ")
    finally:
        commands._COMMANDS[:] = [c for c in commands._COMMANDS if c.name != "boom"]


# ---- help ---------------------------------------------------------------------

def test_help_lists_every_command_once_with_usage_and_help_aligned():
    out = run_line("help")[0]
    lines = out.splitlines()
    assert [l.split()[0] for l in lines] == ALL
    col = len(max((c.usage for c in commands.commands()), key=len)) + 2
    for line, c in zip(lines, commands.commands()):
        assert line == c.usage.ljust(col) + c.help


def test_help_cmd_shows_that_command_only():
    out = run_line("help echo")[0]
    assert out.splitlines() == [out.rstrip("\n")]
    assert out.startswith("echo TEXT...") and out.rstrip().endswith("print TEXT")


def test_help_of_an_unknown_command_prints_the_unknown_line():
    assert run_line("help nope")[0] == "unknown command: nope (try 'help')\n"


# ---- version / uptime -----------------------------------------------------------

def test_version_prints_kernel_commit_micropython_board_and_build():
    assert run_line("version")[0] == (
        "QENEX OS 0.1.0 (commit abc1234)\n"
        "MicroPython 1.25.0\n"
        "board mps2-an385\n"
        "built 2026-11-25T23:00:00Z\n")


@pytest.mark.parametrize("ms, text", [(0, "0:00:00.000"), (62345, "0:01:02.345"),
                                      (3723004, "1:02:03.004"),
                                      (100 * 3600000 + 59999, "100:00:59.999")])
def test_uptime_formats_hours_minutes_seconds_millis(ms, text):
    assert commands.fmt_ms(ms) == text


def test_uptime_prints_one_line_when_boot_counts_are_unknown():
    assert run_line("uptime", ms=3723004)[0] == "up 1:02:03.004 (3723004 ms)\n"


def test_uptime_converts_boot_counts_to_ms_and_guest_instructions():
    out = run_line("uptime", counts=(4567, 1234567))[0]
    assert out.splitlines()[1:] == [
        "boot to prompt: 1234567 counts at 25 MHz = 49.382 ms"
        " (49382680 guest instructions under -icount shift=0)",
        "  bootloader and image check 4567 counts, kernel start 1230000 counts"]


# ---- mem / ps -------------------------------------------------------------------

def test_mem_prints_kernel_heap_pool_blocks_and_the_map():
    out = run_line("mem", heap_used_free=(1000, 2000))[0]
    lines = out.splitlines()
    assert lines[0] == "kernel heap: 1000 used (33%), 2000 free (67%), 3000 total bytes"
    assert lines[1] == "task pool: 64K at 0x20000000, 56K free, largest free block 32K"
    assert lines[2].split() == ["BLOCK", "SIZE", "OWNER"]
    assert lines[3].split() == ["0x20000000", "8K", "echo", "(1)"]
    assert [l.split()[2] for l in lines[4:7]] == ["free"] * 3
    i = lines.index(next(l for l in lines if l.startswith("NAME")))
    assert lines[i + 1].split() == ["boot", "0x00000000", "64K", "bootloader"]
    assert lines[i + 2].split() == ["slot", "A", "0x00010000", "1536K", "kernel", "image"]
    assert len({l.index("0x") for l in lines[i + 1:]}) == 1     # BASE column aligned


def test_mem_survives_an_empty_heap_and_odd_sizes():
    out = run_line("mem", heap_used_free=(0, 0), map=[("io", 0x40004000, 512, "uart")])[0]
    assert out.splitlines()[0] == "kernel heap: 0 used (0%), 0 free (0%), 0 total bytes"
    assert out.splitlines()[-1].split() == ["io", "0x40004000", "512B", "uart"]


def test_ps_prints_one_aligned_row_per_task_from_the_kernel():
    out = run_line("ps")[0]
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "STATE", "PRIO", "HEAP", "STACK", "RESTARTS", "CPU"]
    assert lines[1].split()[:4] == ["1", "echo", "blocked(recv)", "2"]
    assert lines[2].split() == ["2", "idle", "stopped", "3", "-", "-", "0", "0.0%"]
    assert len({l.index(l.split()[2]) for l in lines}) == 1  # STATE column aligned


def test_cpu_prints_each_tasks_ms_since_boot():
    lines = run_line("cpu")[0].splitlines()
    assert lines[0].startswith("up ") and ", idle " in lines[0] and lines[0].endswith(" ms")
    assert lines[1].split() == ["ID", "NAME", "CPU_MS"]
    assert [ln.split()[:2] for ln in lines[2:]] == [["1", "echo"], ["2", "idle"]]
    assert all(ln.split()[2].isdigit() for ln in lines[2:])


def test_cpu_share_is_a_permille_with_integers_only():
    assert commands._permille(1, 3) == "33.3%" and commands._permille(5, 0) == "0.0%"


def test_kill_start_restart_take_an_id_or_a_name_and_reach_the_kernel():
    out, ctx = run_line("start idle")
    assert out == "started task 2\n" and ctx.kernel.state_of(2) != "stopped"
    commands.dispatch("kill 2", ctx)
    commands.dispatch("restart echo", ctx)
    assert ctx.text().splitlines()[1:] == ["killed task 2", "restarted task 1"]
    assert ctx.kernel.state_of(2) == "stopped" and ctx.kernel.tasks[1].starts == 2


@pytest.mark.parametrize("line", ["kill", "kill 1 2", "start", "restart", "call echo", "top 5", "top x"])
def test_task_commands_check_their_arguments(line):
    assert run_line(line)[0] == "usage: %s\n" % commands.lookup(line.split()[0]).usage


def test_unknown_task_names_are_reported_by_the_kernel():
    assert run_line("kill nosuch")[0].startswith("error: KernelError: ")


def test_faults_and_ipc_print_the_kernel_tables():
    out = run_line("faults")[0]
    assert out.splitlines()[0] == "0 faults since boot"
    assert out.splitlines()[1].split() == ["#", "AT", "TASK", "REASON", "PC", "ADDR", "ACTION"]
    out = run_line("ipc")[0]
    assert out.splitlines()[1].split()[:2] == ["1", "echo"]


def test_call_sends_the_text_and_prints_the_reply():
    assert run_line("call echo hello world")[0] == "re:hello world\n"


def test_top_redraws_until_a_key_is_pressed():
    out, ctx = run_line("top 100", polls=[None] * 5 + [ord("q")])
    assert out.count("top: up") == 2 and ctx.slept == 250


# ---- echo / reboot / poweroff -----------------------------------------------------

def test_echo_joins_its_arguments_with_one_space():
    assert run_line('echo  a   "b  c" d')[0] == "a b  c d\n"
    assert run_line("echo")[0] == "\n"


@pytest.mark.parametrize("name, text", [("reboot", "rebooting...\n"),
                                        ("poweroff", "power off\n")])
def test_reboot_and_poweroff_say_so_then_call_the_system(name, text):
    out, ctx = run_line(name)
    assert out == text
    assert ctx.calls == [(name, 1)]          # called after the message was written


# ---- shell.run --------------------------------------------------------------------

def session(script, **over):
    data = []
    for item in script:
        data.extend(item.encode() if isinstance(item, str) else [item])
    console, ctx = FakeConsole(data), FakeSystem(**over)
    ctx.write = console.write               # one terminal, as on the device
    shell.run(console, ctx)
    return console.text(), ctx


def test_run_prompts_dispatches_and_returns_when_input_ends():
    out, _ = session(["echo hi\r\n", "\r"])
    assert out == "qenex> echo hi\nhi\nqenex> \nqenex> "


def test_run_keeps_going_after_a_handler_raises():
    out, ctx = session(["ps\r", "nope\r", "echo after\r", "reboot\r"],
                       kctl_error=ValueError("bad task"))
    assert "ps\nerror: ValueError: bad task\nqenex> " in out
    assert "unknown command: nope (try 'help')\n" in out
    assert "after\n" in out and ctx.calls[0][0] == "reboot"
    assert out.endswith("qenex> ")


@pytest.mark.parametrize("exc, text", [(MemoryError(), "\nerror: MemoryError\n"),
                                       (OSError(5, "EIO"), "\nerror: OSError: "),
                                       (KeyboardInterrupt(), "^C\n")])
def test_run_reports_exceptions_from_the_console_and_continues(exc, text):
    out, _ = session(["ec", exc, "echo ok\r"])
    assert out.startswith("qenex> ec" + text)
    assert out.endswith("qenex> echo ok\nok\nqenex> ")  # half-typed "ec" dropped


def test_run_reports_memory_error_without_formatting_anything(monkeypatch):
    def no_alloc(e):
        raise AssertionError("formatted a message while out of memory")
    monkeypatch.setattr(commands, "error_line", no_alloc)
    out, _ = session([MemoryError("heap"), "echo ok\r"])
    assert out.startswith("qenex> \nerror: MemoryError\nqenex> ")


def test_run_survives_a_console_that_fails_while_reporting():
    class Flaky(FakeConsole):
        def __init__(self, script):
            super().__init__(script)
            self.fail = 1

        def write(self, s):
            if s.startswith("\nerror") and self.fail:
                self.fail -= 1
                raise OSError("tx stuck")
            super().write(s)
    console = Flaky([RuntimeError("rx"), *b"echo ok\r"])
    shell.run(console, FakeSystem(write=console.write))
    assert console.text().endswith("\nok\nqenex> ")


# ---- MicroPython subset ---------------------------------------------------------

BANNED = {"isprintable", "format_map", "ljust", "rjust", "typing", "dataclasses",
          "enum", "abc", "print", "float", "__slots__"}


def _modules():
    from userland.gateway import shell as gateway_shell
    from userland.hsm import shell as hsm_shell
    from userland.ledger import api, server, shell as ledger_shell
    from userland.shell import dispatch
    return [commands, dispatch, lineedit, shell, hsm_shell, ledger_shell, gateway_shell, api, server]


@pytest.mark.parametrize("mod", _modules(), ids=lambda m: m.__name__)
def test_shell_sources_use_integers_only_and_the_micropython_subset(mod):
    path = mod.__file__
    with open(path) as f:
        toks = list(tokenize.generate_tokens(io.StringIO(f.read()).readline))
    for t in toks:
        where = "%s:%d %r" % (path, t.start[0], t.string)
        if t.type == tokenize.NUMBER:
            assert not any(ch in t.string.lower() for ch in ".ej") or \
                t.string.lower().startswith("0x"), "float literal " + where
        if t.type == tokenize.OP:
            assert t.string not in ("/", "/="), "true division " + where
        if t.type == tokenize.NAME:
            assert t.string not in BANNED, "not in MicroPython " + where


def test_kill_refuses_the_console_task_with_a_reason():
    ctx = FakeSystem()
    ctx.lookup("echo")                          # the kernel is made
    ctx.kernel.console_tid = 1                  # as if echo were the shell
    commands.dispatch("kill echo", ctx)
    assert ctx.text() == ("kill: refused: echo is the console task and is never stopped (the board would "
                          "have no console); `restart echo` starts a new one\n")
    assert ctx.kernel.tasks[1].status == "live"


def test_fg_waits_for_the_console_and_a_task_that_does_not_read_is_refused():
    ctx = FakeSystem()
    commands.dispatch("fg echo", ctx)
    assert ctx.text().startswith("error: KernelError: ") and "console = false" in ctx.text()
    assert ctx.calls == []
    ctx.kernel.tasks[1].manifest.console = "read"
    ctx.out = []
    commands.dispatch("fg echo", ctx)
    assert ctx.kernel.console_owner == 1 and ctx.calls == [("wait_console", 0)]


def test_exit_ends_the_shell():
    ctx = FakeSystem()
    commands.dispatch("exit", ctx)
    assert ctx.calls == [("exit", 0)]


# ---- date -------------------------------------------------------------------

def test_date_says_the_clock_is_not_set_and_never_invents_one():
    out = run_line("date")[0]
    assert out.startswith("date: not set (up ") and "`date set YYYY-MM-DDTHH:MM:SSZ`" in out
    assert "1970" not in out


def test_date_set_takes_utc_or_an_offset_and_date_shows_who_set_it():
    ctx = FakeSystem()
    ctx.kernel = None
    commands.dispatch("date set 2026-12-02T06:30:00.250+01:00", ctx)
    first = ctx.text().splitlines()
    assert first[0].startswith("2026-12-02T05:30:00.2") and first[0].endswith("Z (UTC; set by operator 0:00:00.000 ago)")
    assert ctx.kernel.clock.source == "operator"
    commands.dispatch("date set 2026-12-02T05:30:01Z", ctx)
    assert "which moved it by +750 ms" in ctx.text().splitlines()[-1]


@pytest.mark.parametrize("line,why", [
    ("date set 2026-12-02T05:30:00", "no zone"), ("date set tomorrow", "not YYYY-MM-DDTHH"),
    ("date set 2026-02-30T00:00:00Z", "not a date"),
])
def test_date_set_refuses_what_is_not_a_utc_time(line, why):
    out, ctx = run_line(line)
    assert out.startswith("date: ") and why in out
    assert ctx.kernel is None or ctx.kernel.clock.utc_ms() is None


def test_date_set_reports_the_kernels_refusal():
    ctx = FakeSystem()
    ctx.kernel = None
    ctx.clock()                                     # makes the kernel
    ctx.kernel.clock.floor_ms = 1795647600000       # built 2026-11-25T23:00:00Z
    commands.dispatch("date set 2020-01-01T00:00:00Z", ctx)
    out = ctx.text()
    assert out.startswith("date: refused: ") and "before this firmware was built" in out
    assert "2026-11-25 .. 9999-12-31 UTC" in out and ctx.kernel.clock.utc_ms() is None


@pytest.mark.parametrize("line", ["date now", "date set", "date set a b"])
def test_date_usage(line):
    assert run_line(line)[0].startswith("usage: date [set")
