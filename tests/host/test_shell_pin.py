"""PINs at the console (userland/shell): `hsm login` and `hsm pin` ask for
them with no echo, a PIN typed on the command line is echoed as stars, and
no line holding a PIN is kept in the history; the shell's `hsm pin` checks
the new PIN twice and its length, and the hsm service gets the PINs."""
from drivers.hsm import frame as F
from shell_fakes import FakeConsole, FakeSystem
from userland.shell import commands, lineedit, shell


class HsmSystem(FakeSystem):
    """A FakeSystem whose hsm service records requests and says ok."""

    def __init__(self, typed=b"", **over):
        super().__init__(**over)
        self.keys = list(typed)
        self.requests = []

    def call(self, dest, data):
        assert dest == "hsm"
        self.requests.append([x.decode() for x in F.unfields(data)])
        return b"\x00"


def test_hsm_login_alone_asks_for_the_pin_and_echoes_nothing_of_it():
    ctx = HsmSystem(b"246810\r")
    commands.dispatch("hsm login", ctx)
    assert ctx.text() == "PIN: \nhsm: logged in\n"
    assert ctx.requests == [["login", "246810"]]


def test_the_pin_prompt_takes_backspace_and_ctrl_u_and_ctrl_c_cancels():
    ctx = HsmSystem(b"\n99\x15246x\x7f810\r")         # a LF left from CR LF, a false start, a typo
    commands.dispatch("hsm login", ctx)
    assert ctx.requests == [["login", "246810"]] and "246810" not in ctx.text()
    ctx = HsmSystem(b"12\x03")
    commands.dispatch("hsm login", ctx)
    assert ctx.requests == [] and ctx.text() == "PIN: ^C\nhsm: cancelled\n"


def test_hsm_pin_asks_for_the_old_pin_and_the_new_one_twice():
    ctx = HsmSystem(b"123456\r246810\r246810\r")
    commands.dispatch("hsm pin", ctx)
    assert ctx.text() == "old PIN: \nnew PIN: \nrepeat new PIN: \nhsm: PIN changed\n"
    assert ctx.requests == [["pin", "123456", "246810"]]
    ctx = HsmSystem(b"123456\r246810\r246811\r")
    commands.dispatch("hsm pin", ctx)
    assert ctx.requests == [] and ctx.text().endswith("hsm: the new PINs differ; PIN unchanged\n")
    ctx = HsmSystem(b"123456\r2468\r2468\r")
    commands.dispatch("hsm pin", ctx)
    assert ctx.requests == [] and ctx.text().endswith("hsm: a PIN is 6 to 32 characters; PIN unchanged\n")


def run_console(typed):
    """The shell loop over a console whose bytes both the line editor and
    the PIN prompts read, as on the board; (what it wrote, the ctx)."""
    console = FakeConsole(typed)
    ctx = HsmSystem()
    ctx.read_byte = console.read_byte
    ctx.write = console.write
    shell.run(console, ctx)
    return console.text(), ctx


def test_at_the_console_no_pin_is_echoed_or_kept_in_the_history():
    up = b"\x1b[A"
    out, ctx = run_console(b"hsm login\r246810\recho hi\rhsm login 135790\r" + up + up + b"\r")
    assert "246810" not in out and "135790" not in out
    assert "hsm login ******" in out                      # typed on the line: stars
    assert ctx.requests == [["login", "246810"], ["login", "135790"]]
    assert out.endswith("qenex> echo hi\nhi\nqenex> ")     # up, up: `echo hi`, the PIN lines are not there


def test_the_line_editor_masks_the_arguments_of_secret_commands_only():
    out = []
    ed = lineedit.LineEditor(out.append)
    for b in b"hsm  pin 1 2\r":
        ed.feed(b)
    assert "".join(out) == "hsm  pin ***\n" and ed.history() == []
    out.clear()
    for b in b"hsm keys\r":
        ed.feed(b)
    assert "".join(out) == "hsm keys\n" and ed.history() == ["hsm keys"]
    for b in b"hsm login\r":
        ed.feed(b)
    assert ed.history() == ["hsm keys"]                     # the prompt form is not kept either


def test_read_secret_drops_escape_sequences_and_ends_at_the_end_of_input():
    keys = list(b"12\x1b[A34\r")
    out = []
    assert lineedit.read_secret(lambda: keys.pop(0), out.append, "PIN: ") == "1234" and out == ["PIN: ", "\n"]
    assert lineedit.read_secret(lambda: None, out.append, "PIN: ") is None


def test_only_the_operator_may_change_the_pin():
    from kernel import manifest
    from userland.hsm.policy import Policy
    ms = [manifest.parse("name = shell\nentry = x\npriority = 1\nheap = 4096\nstack = 1024\nrestart = always\n"
                         "kernel = true\n", "userland/shell/manifest"),
          manifest.parse("name = app\nentry = x\npriority = 2\nheap = 4096\nstack = 1024\nrestart = always\n"
                         "hsm_keys = k:sign\n", "userland/app/manifest")]
    p = Policy(ms)
    assert p.allows("shell", "pin") is None
    assert p.allows("app", "pin") == "pin is for the operator only"
    assert p.allows("app", "sign", "k") is None
