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
    install(device, hello[1])
    out = install(device, remade(hello[1], version=(2, 0, 0, 0)))
    assert "installed hello v2.0.0+0 as task" in out and "replacing the old version" in out, out
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
