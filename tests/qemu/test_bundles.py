"""QEMU tests of signed task bundles: `tasks install` over the console (the
kernel checks the bundle with boot/image.c and the firmware's key), the
task runs, survives a reboot from storage, and `tasks remove` takes it out;
unsigned, tampered, wrong-key and non-bundle images are refused with the
check that failed, and nothing is installed."""
import base64
import os
import re
import subprocess
import sys

import pytest

from tools import bundle, imgformat
from tools.layout import ROOT

pytestmark = pytest.mark.timeout(120)
HELLO = os.path.join(ROOT, "userland", "bundles", "hello")
KEY = os.path.join(ROOT, "build", "keys", "dev-ecdsa-p256.pem")


def load_key():
    from cryptography.hazmat.primitives import serialization
    with open(KEY, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


@pytest.fixture(scope="module")
def hello(tmp_path_factory):
    """hello v1.0.0 made by the host tool: (path, bytes)."""
    out = tmp_path_factory.mktemp("bundle") / "hello.qxb"
    r = subprocess.run([sys.executable, "-m", "tools.qenex", "bundle", "make", "--key", KEY, "--version", "1.0.0",
                        os.path.join(HELLO, "manifest.bundle"), os.path.join(HELLO, "main.py"), str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    return str(out), out.read_bytes()


def remade(data, version=None, key="dev", flags=imgformat.F_NON_BOOTABLE):
    info, text, code = bundle.parse_bundle(data)
    payload = bundle.PayloadTlvs.build([dict(type=bundle.T_MANIFEST, value=text.encode()),
                                        dict(type=bundle.T_CODE, value=code)])
    return imgformat.make_image(payload, version=version or info.version, hdr_size=bundle.HEADER_SIZE,
                                key=load_key() if key == "dev" else key, security_counter="auto", flags=flags)


def b64_lines(data):
    text = base64.b64encode(data).decode()
    return "".join(text[i:i + 76] + "\r" for i in range(0, len(text), 76))


def install(dev, data, name="hello", confirm="y"):
    """`tasks install NAME`, the bundle pasted as base64 lines and an empty
    line, the confirmation answered with `confirm`: what the shell wrote
    (the confirmation question included) up to its next prompt."""
    dev.send("tasks install %s\r" % name)
    dev.expect_exact("send the bundle as base64 lines, then an empty line\r\n")
    dev.send(b64_lines(data) + "\r")
    m = dev.expect(r"\[y/N\] |qenex> ", timeout=60)
    if m.group(0) == "qenex> ":
        return dev.before.replace("\r\n", "\n")
    question = (dev.before + m.group(0)).replace("\r\n", "\n")
    dev.send(confirm + "\r")
    dev.expect_exact(confirm + "\r\n")
    return question + "\n" + answer(dev)


def answer(dev):
    """What the shell wrote up to its next prompt."""
    return dev.expect_exact("qenex> ", timeout=30).replace("\r\n", "\n")


def up(device, mark):
    """Wait until hello has said it is up since `mark`: its line is printed
    when it runs, so a command typed before it could be cut by it."""
    device.wait_line(r"hello: installed task up", since=mark)


def test_a_signed_bundle_installs_runs_survives_reboot_and_is_removed(device, hello):
    mark = device.mark()
    out = install(device, hello[1])
    assert re.search(r"installed hello v1\.0\.0\+0 as task (\d+) \(bundle slot 0\), started\n", out), out
    device.wait_line(r"hello: installed task up", since=mark)
    assert device.ps()["hello"]["STATE"] in ("ready", "blocked(recv)")
    assert re.search(r"\n\d+ +hello +1\.0\.0\+0 +0 +32K +(ready|blocked|running)\n", device.cmd("tasks"))
    mark = device.mark()
    device.send("reboot\r")
    out = device.wait_prompt()
    assert re.search(r"kernel: \d+ tasks, \d+ started: .*\bhello\b", out), out
    device.wait_line(r"hello: installed task up", since=mark)
    assert device.cmd("tasks remove hello") == "removed task hello\n"
    assert device.cmd("tasks").startswith("no installed tasks\n")
    device.send("reboot\r")
    out = device.wait_prompt()
    assert "hello" not in out and "hello" not in device.ps()


def test_a_newer_version_replaces_the_task_and_an_older_one_is_refused(device, hello):
    mark = device.mark()
    install(device, hello[1])
    up(device, mark)
    mark = device.mark()
    out = install(device, remade(hello[1], version=(2, 0, 0, 0)))
    assert "installed hello v2.0.0+0 as task" in out and "replacing the old version" in out, out
    up(device, mark)
    out = install(device, hello[1])
    assert out == "tasks: hello: refused: rolled back (security counter %d < installed %d)\n" % (1 << 24, 2 << 24)
    assert re.search(r" hello +2\.0\.0\+0 ", device.cmd("tasks"))


@pytest.mark.parametrize("name,make,reason", [
    ("unsigned", lambda d: remade(d, key=None), "wrong key"),
    ("tampered", lambda d: d[:200] + bytes([d[200] ^ 1]) + d[201:], "bad hash"),
    ("another-key", lambda d: remade(d, key=__import__(
        "cryptography.hazmat.primitives.asymmetric.ec", fromlist=["ec"]).generate_private_key(
        __import__("cryptography.hazmat.primitives.asymmetric.ec", fromlist=["ec"]).SECP256R1())), "wrong key"),
    ("truncated", lambda d: d[:len(d) - 30], r"cut short: \d+ bytes of \d+"),
    ("not-a-bundle", lambda d: remade(d, flags=0), "bad vectors"),
])
def test_bad_bundles_are_refused_with_the_failed_check(device, hello, name, make, reason):
    out = install(device, make(hello[1]))
    assert re.fullmatch(r"tasks: hello: refused: %s\n" % reason, out), out
    assert device.cmd("tasks").startswith("no installed tasks\n")
    assert device.cmd("echo still here") == "still here\n"


def test_a_built_in_task_cannot_be_removed(device):
    assert device.cmd("tasks remove heartbeat") == \
        "tasks: heartbeat is not an installed task (built-in tasks cannot be removed)\n"
    assert device.ps()["heartbeat"]["STATE"] in ("ready", "blocked(recv)")


def test_text_that_is_not_base64_installs_nothing(device):
    device.send("tasks install x\r")
    device.expect_exact("empty line\r\n")
    device.send("this is not base64!\r\r")
    assert answer(device) == ("tasks: x: line 1 is not base64\n"
                              "tasks: the rest of the paste was thrown away; nothing installed\n")


# --- the install stream, the rights of an installed task, its lifecycle ---------

MPY_CROSS = os.path.join(ROOT, "build", "mpy-cross", "mpy-cross")
HELLO_MANIFEST = open(os.path.join(HELLO, "manifest.bundle")).read()


def made(manifest_text, code=None, version=(1, 0, 0, 0), extra=()):
    """A bundle signed with the dev key from a manifest text and code
    (default: hello's code); extra: more (type, bytes) payload TLVs."""
    if code is None:
        code = bundle.compile_module(os.path.join(HELLO, "main.py"), MPY_CROSS)
    tlvs = [dict(type=bundle.T_MANIFEST, value=manifest_text.encode()), dict(type=bundle.T_CODE, value=code)]
    tlvs += [dict(type=t, value=v) for t, v in extra]
    return imgformat.make_image(bundle.PayloadTlvs.build(tlvs), version=version, hdr_size=bundle.HEADER_SIZE,
                                key=load_key(), security_counter="auto", flags=imgformat.F_NON_BOOTABLE)


def source_code(tmp_path, text):
    p = tmp_path / "main.py"
    p.write_text(text)
    return bundle.compile_module(str(p), MPY_CROSS)


def manifest_with(**fields):
    out = []
    for line in HELLO_MANIFEST.splitlines():
        key = line.split("=")[0].strip()
        if key in fields:
            continue
        out.append(line)
    for k, v in fields.items():
        out.append("%s = %s" % (k, v))
    return "\n".join(out) + "\n"


def no_command_ran(text):
    assert "unknown command" not in text and "usage:" not in text and "error:" not in text, text


def test_tasks_shows_the_ram_free_for_bundles_and_each_bundles_block(device, hello):
    out = device.cmd("tasks")
    m = re.search(r"RAM for bundles: (\d+)K free of the 2048K task pool", out)
    assert out.startswith("no installed tasks\n") and m, out
    free = int(m.group(1))
    mark = device.mark()
    install(device, hello[1])
    up(device, mark)
    out = device.cmd("tasks")
    assert re.search(r"\n\d+ +hello +1\.0\.0\+0 +0 +32K +\w+", out), out
    assert "RAM for bundles: %dK free" % (free - 32) in out, out


def test_the_confirmation_shows_the_rights_and_no_installs_nothing(device, hello):
    out = install(device, hello[1], confirm="n")
    assert re.match(r"tasks: hello: signature checked in \d+ steps over \d+\.\d ms, the longest \d+ us\n"
                    r"install hello v1\.0\.0\+0 with calls=-, priority=4, memory=32K, console=write, start=boot "
                    r"\(\d+K free for bundles\)\? \[y/N\] \ntasks: hello not installed\n$", out), out
    assert device.cmd("tasks").startswith("no installed tasks\n")
    out = install(device, made(manifest_with(calls="heartbeat")))
    assert "with calls=heartbeat, priority=4," in out and "installed hello v1.0.0+0" in out, out


def test_call_reaches_an_installed_task_from_the_shell(device, hello):
    mark = device.mark()
    install(device, hello[1])
    up(device, mark)
    assert device.cmd("call hello hi").endswith("hello 1: hi\n")
    assert device.cmd("call hello again").endswith("hello 2: again\n")


@pytest.mark.parametrize("fields,why", [
    (dict(priority="0"), "priority 0: an installed task runs at 4..7 (below the shell and the services)"),
    (dict(priority="3"), "priority 3: an installed task runs at 4..7 (below the shell and the services)"),
    (dict(calls="shell"), "calls shell: an installed task may call only heartbeat, ponger, net"),
    (dict(calls="ledger, heartbeat"), "calls ledger: an installed task may call only heartbeat, ponger, net"),
    (dict(devices="uart1"), "devices uart1: an installed task may not be granted devices"),
    (dict(kernel="true"), "kernel: an installed task may not hold the kernel capability"),
    (dict(hsm_keys="txn-sign:sign"), "hsm_keys: HSM key policies are granted to built-in tasks only"),
    (dict(heap="131072"), "memory 262144: an installed task's block (heap + stack + arena) is at most 65536 bytes"),
])
def test_a_bundle_asking_for_more_than_an_installed_task_may_is_refused_naming_the_right(device, fields, why):
    out = install(device, made(manifest_with(**fields)))
    assert out == "tasks: hello: refused: %s\n" % why, out
    assert device.cmd("tasks").startswith("no installed tasks\n")


def test_a_1mb_paste_is_refused_whole_and_no_line_of_it_runs(device):
    """A 1 MB bundle (its header says so) is refused at its first chunk and
    the rest of the paste is thrown away by the kernel (INSTALL_DISCARD).
    The emulated UART brings a few kilobytes a second here (the whole 1.4 MB
    of base64 would take minutes), so the test pastes the first 64 KB of it
    (far past the 13 KB where the old shell ran out of memory, and more than
    a bundle slot holds) and stops, as a paste that ends without an empty
    line: the quiet gap ends it."""
    big = made(HELLO_MANIFEST, extra=[(0x7f, os.urandom(60000))] * 17)
    assert len(big) > 1000000
    lines = b64_lines(big)
    device.send("tasks install hello\r")
    device.expect_exact("send the bundle as base64 lines, then an empty line\r\n")
    part = lines[:64 * 1024]
    part = part[:part.rindex("\r") + 1]
    out = device.send_chunked(part, chunk=512, delay=0.01).replace("\r\n", "\n")
    out += norm_prompt(device)
    assert re.search(r"tasks: hello: refused: its header says \d+ bytes or more, a bundle slot holds 131056\n"
                     r"tasks: the rest of the paste was thrown away; nothing installed\n$", out), out
    no_command_ran(out)
    assert device.cmd("echo still here") == "still here\n"
    assert device.cmd("tasks").startswith("no installed tasks\n")


def norm_prompt(dev):
    return dev.expect_exact("qenex> ", timeout=60).replace("\r\n", "\n")


def test_a_size_announced_up_front_bounds_the_paste(device, hello):
    device.send("tasks install hello 100\r")
    device.expect_exact("empty line\r\n")
    device.send(b64_lines(hello[1]) + "\r")
    out = norm_prompt(device).replace("\r\n", "\n")
    assert out == ("tasks: hello: refused: more than 100 bytes, the size announced\n"
                   "tasks: the rest of the paste was thrown away; nothing installed\n"), out
    assert device.cmd("tasks install hello 200000") == \
        "tasks: hello: refused: 200000 bytes, a bundle slot holds 131056\n" \
        "tasks: the rest of the paste was thrown away; nothing installed\n"


def test_ctrl_c_mid_paste_aborts_and_installs_nothing(device, hello):
    lines = b64_lines(hello[1])
    half = lines[:len(lines) // 2]
    half = half[:half.rindex("\r") + 1]
    device.send("tasks install hello\r")
    device.expect_exact("empty line\r\n")
    device.send(half + "\x03" + lines[len(half):] + "\r")
    out = norm_prompt(device)
    assert out == "^C\ntasks: install aborted; nothing installed\n", out
    assert device.cmd("tasks").startswith("no installed tasks\n")
    assert device.cmd("echo still here") == "still here\n"
    assert "hello" not in device.ps()
    out = install(device, hello[1])             # the slot it was writing is free and clean
    assert "installed hello v1.0.0+0 as task" in out and "(bundle slot 0)" in out, out


@pytest.mark.parametrize("how", ["faulted", "exited", "stopped"])
def test_a_faulted_stopped_or_exited_bundle_is_removed_and_replaced(device, tmp_path, how):
    if how == "faulted":
        code = source_code(tmp_path, "def main():\n    raise ValueError('boom')\n")
        manifest = manifest_with(restart="never")
    elif how == "exited":
        code = source_code(tmp_path, "def main():\n    return\n")
        manifest = manifest_with(restart="never")
    else:
        code, manifest = None, HELLO_MANIFEST
    mark = device.mark()
    out = install(device, made(manifest, code))
    assert "installed hello v1.0.0+0" in out, out
    if how == "faulted":
        device.wait_line(r"fault: task hello \(id \d+\): .*boom.*", since=mark)
    elif how == "exited":
        device.wait_line(r"exit: task hello \(id \d+\): code 0", since=mark)
    else:
        device.wait_line(r"hello: installed task up", since=mark)
        assert device.cmd("kill hello").startswith("killed task")
    assert device.ps()["hello"]["STATE"] == how
    mark = device.mark()
    out = install(device, made(HELLO_MANIFEST, version=(2, 0, 0, 0)))
    assert "installed hello v2.0.0+0" in out and "replacing the old version" in out, out
    up(device, mark)
    assert device.cmd("call hello hi").endswith("hello 1: hi\n")
    assert device.cmd("kill hello").startswith("killed task")
    assert device.cmd("tasks remove hello") == "removed task hello\n"
    assert device.cmd("tasks").startswith("no installed tasks\n")


def test_a_bundle_whose_code_does_not_fit_is_rolled_back(device, hello):
    small = manifest_with(heap="4096", stack="2048")
    code = bundle.compile_module(os.path.join(HELLO, "main.py"), MPY_CROSS) + b"\0" * 6000
    out = install(device, made(small, code))
    assert re.search(r"tasks: hello: refused: it does not start \(.*code does not fit.*\); nothing installed\n",
                     out), out
    assert device.cmd("tasks").startswith("no installed tasks\n")
    assert "hello" not in device.ps()
    mark = device.mark()
    install(device, hello[1])                                   # v1 runs; a v2 that does not fit
    up(device, mark)                                            # (its line, before the next mark)
    mark = device.mark()
    out = install(device, made(small, code, version=(2, 0, 0, 0)))
    assert "it does not start" in out and "the old version is back" in out, out
    up(device, mark)
    assert re.search(r" hello +1\.0\.0\+0 ", device.cmd("tasks"))
    assert device.cmd("call hello hi").endswith("hello 1: hi\n")
    device.send("reboot\r")
    out = device.wait_prompt()
    assert re.search(r"kernel: \d+ tasks, \d+ started: .*\bhello\b", out), out
    assert re.search(r" hello +1\.0\.0\+0 ", device.cmd("tasks"))


def test_an_installed_task_may_write_the_console_but_not_read_it(device, tmp_path):
    code = source_code(tmp_path, "from userland.lib import qenex\n"
                                 "def main():\n"
                                 "    try:\n"
                                 "        qenex.read_byte()\n"
                                 "        qenex.write('reader: got a byte\\n')\n"
                                 "    except qenex.Error as e:\n"
                                 "        qenex.write('reader: %s\\n' % e.name)\n")
    mark = device.mark()
    out = install(device, made(manifest_with(restart="never"), code))
    assert "installed hello v1.0.0+0" in out, out
    device.wait_line(r"reader: NOT_PERMITTED", since=mark)
    assert device.cmd("echo still mine") == "still mine\n"
