"""QEMU tests of the HSM: the emulator (`qenex hsm serve`) on a unix socket,
QEMU's UART1 connected to it, the hsm service task driving it.

A task signs a transaction digest and the host verifies the signature with
`cryptography`; a task without the key policy is refused and the refusal
is in the audit log; wrong PINs lock the HSM; the HSM process killed gives
an error and, restarted, serves again; the audit chain verifies on the host."""
import json
import os
import re
import subprocess
import sys
import time

import pytest

from qemu_console import OPERATOR_PIN, PROMPT, norm
from tools.hsm import process as hsm_process
from tools.layout import ROOT

pytestmark = pytest.mark.timeout(180)


class HsmProcess:
    def __init__(self, tmp_path):
        self.sock = str(tmp_path / "hsm.sock")
        self.state = str(tmp_path / "hsm-state.json")
        self.proc = None
        self.start()

    def start(self):
        self.proc = hsm_process.start(self.sock, self.state)

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=10)
        if os.path.exists(self.sock):
            os.unlink(self.sock)

    def audit(self):
        with open(self.state) as f:
            return json.load(f)["audit"]


@pytest.fixture
def hsm(tmp_path):
    h = HsmProcess(tmp_path)
    yield h
    if h.proc.poll() is None:
        h.kill()


@pytest.fixture
def board_with_hsm(boot, hsm):
    dev = boot(hsm=hsm.sock)
    dev.wait_prompt()
    return dev


def test_a_task_signs_a_digest_that_verifies_on_the_host(board_with_hsm, hsm):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    dev = board_with_hsm
    dev.hsm_ready()
    assert dev.cmd("hsm gen ecdsa-p256 txn-sign sign verify") == \
        "hsm: key txn-sign (ecdsa-p256) generated; public key 91 bytes\n"
    pub = bytes.fromhex(dev.cmd("hsm pubkey txn-sign").strip())
    mark = dev.mark()
    dev.cmd("start hsmdemo")
    m = dev.wait_line(r"hsmdemo: digest ([0-9a-f]{64}) signature ([0-9a-f]+) \(\d+ bytes\)", since=mark)
    digest, sig = bytes.fromhex(m.group(1)), bytes.fromhex(m.group(2))
    assert digest == __import__("hashlib").sha256(b"transfer 1000.00 USD from account 1 to account 2").digest()
    serialization.load_der_public_key(pub).verify(sig, digest, ec.ECDSA(hashes.SHA256()))
    dev.wait_line(r"exit: task hsmdemo .*", since=mark)   # not in the middle of the next command's output
    # and the shell's own signature checks on the device too
    sig2 = dev.cmd("hsm sign txn-sign hello").strip()
    assert dev.cmd("hsm verify txn-sign hello %s" % sig2) == "hsm: signature valid\n"
    assert dev.cmd("hsm verify txn-sign hellO %s" % sig2) == "hsm: signature INVALID\n"


def test_a_task_without_the_policy_is_refused_and_audited(board_with_hsm, hsm):
    dev = board_with_hsm
    dev.hsm_ready()
    dev.cmd("hsm gen ecdsa-p256 txn-sign sign")
    mark = dev.mark()
    dev.cmd("start hsmrogue")
    dev.wait_line(r"hsmdemo: refused: not permitted: task hsmrogue has no policy for key txn-sign", since=mark)
    last = hsm.audit()[-1]
    assert (last["op"], last["label"], last["result"]) == ("sign", "txn-sign", "denied")
    assert "hsmrogue" in last["note"]
    assert "denied" in dev.cmd("hsm audit 1")


def test_wrong_pins_lock_the_hsm(board_with_hsm):
    dev = board_with_hsm
    for left in (4, 3, 2, 1):
        assert dev.hsm_login("000000") == "hsm: wrong PIN: wrong PIN, %d tries left\n" % left
    assert dev.hsm_login("000000") == "hsm: locked: locked\n"
    assert dev.hsm_login("123456") == "hsm: locked: locked after 5 wrong PINs\n"
    assert dev.cmd("hsm info").endswith(", LOCKED\n")


def own(out):
    """The board's output without QEMU's own complaints about the socket
    (QEMU's stderr shares the console's terminal)."""
    return "".join(line for line in out.splitlines(True) if not line.startswith("qemu-system-arm:"))


def test_the_hsm_killed_gives_an_error_and_serves_again_after_a_restart(board_with_hsm, hsm):
    dev = board_with_hsm
    dev.hsm_ready()
    dev.cmd("hsm gen aes-256 k encrypt")
    hsm.kill()
    assert own(dev.cmd("hsm keys", timeout=30)).startswith("hsm: timeout: no answer from the HSM")
    assert own(dev.cmd("echo the board is fine")) == "the board is fine\n"
    hsm.start()
    deadline = time.monotonic() + 20                 # QEMU reconnects every second
    while True:
        out = own(dev.cmd("hsm keys", timeout=30))
        if "LABEL" in out or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert re.search(r"\nk +aes-256 +encrypt\n", out), out        # logged in again by itself


def test_the_audit_chain_of_a_session_verifies_on_the_host(board_with_hsm, hsm):
    dev = board_with_hsm
    dev.hsm_ready()
    dev.cmd("hsm gen ed25519 e sign")
    dev.cmd("hsm sign e text")
    dev.hsm_login("999999")
    r = subprocess.run([sys.executable, "-m", "tools.qenex", "hsm", "audit-verify", "--state", hsm.state],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and re.search(r"\d+ entries, chain ok", r.stdout), r.stdout + r.stderr
    with open(hsm.state) as f:
        state = json.load(f)
    state["audit"][2]["result"] = "forged"
    with open(hsm.state, "w") as f:
        json.dump(state, f)
    r = subprocess.run([sys.executable, "-m", "tools.qenex", "hsm", "audit-verify", "--state", hsm.state],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "breaks at entry 2" in r.stderr


def test_pins_are_not_echoed_nor_kept_and_the_factory_pin_must_go_before_a_key(board_with_hsm, hsm):
    dev = board_with_hsm
    mark = dev.mark()
    assert dev.hsm_login("123456") == "hsm: logged in\n"
    assert dev.cmd("hsm info").endswith(", factory PIN (change it: hsm pin)\n")
    assert dev.cmd("hsm gen ecdsa-p256 k sign") == \
        "hsm: not permitted: change the factory PIN first (hsm pin)\n"
    assert hsm.audit()[-1]["result"] == "not permitted"
    assert dev.secret_cmd("hsm pin", "123456", "246810", "246811") == "hsm: the new PINs differ; PIN unchanged\n"
    assert dev.secret_cmd("hsm pin", "111111", "246810", "246810") == "hsm: wrong PIN: wrong PIN, 4 tries left\n"
    assert dev.secret_cmd("hsm pin", "123456", "246810", "246810") == "hsm: PIN changed\n"
    assert "factory" not in dev.cmd("hsm info")
    assert dev.cmd("hsm gen ecdsa-p256 k sign").startswith("hsm: key k (ecdsa-p256) generated")
    assert not any(p in dev.text[mark:] for p in ("123456", "246810", "246811", "111111"))   # never echoed
    # Typed on the command line, a PIN shows as stars and stays out of the history.
    assert dev.cmd("echo before") == "before\n"
    dev.send("hsm login 246810\r")
    dev.expect_exact("hsm login ******\r\n")
    assert norm(dev.expect_exact(PROMPT)) == "hsm: logged in\n"
    dev.send("\x1b[A\r")                                  # up: the line before, not the login
    assert norm(dev.expect_exact(PROMPT)) == "echo before\nbefore\n"
    assert "246810" not in dev.text[mark:]
    with open(hsm.state) as f:
        assert json.load(f)["factory_pin"] is False


def test_the_hsm_task_restarted_after_login_serves_again_without_restarting_the_emulator(board_with_hsm, hsm):
    """Issue 13: the hsm task restarted mid-session (its driver's sequence
    numbers back at 0, the PIN gone with its RAM) left the link dead until
    the emulator restarted, even across `reboot`."""
    dev = board_with_hsm
    dev.hsm_ready()
    dev.cmd("hsm gen ed25519 e sign verify")
    assert dev.cmd("hsm sign e before").strip()
    for how in ("restart", "kill"):
        tid = dev.tid("hsm")
        if how == "restart":
            assert dev.cmd("restart %d" % tid).startswith("restarted")
        else:
            assert dev.cmd("kill %d" % tid).startswith("killed")
            assert dev.cmd("start hsm").startswith("started")
        out = own(dev.cmd("hsm sign e after", timeout=30))
        assert out == "hsm: not logged in: `hsm login` first\n", out     # the PIN went with the task
        assert dev.hsm_login(OPERATOR_PIN, timeout=30) == "hsm: logged in\n"
        sig = own(dev.cmd("hsm sign e after", timeout=30)).strip()
        assert re.fullmatch(r"[0-9a-f]+", sig), sig
        assert own(dev.cmd("hsm verify e after %s" % sig, timeout=30)) == "hsm: signature valid\n"
    dev.send("reboot\r")
    dev.wait_prompt()
    assert dev.hsm_login(OPERATOR_PIN, timeout=30) == "hsm: logged in\n"
    assert re.fullmatch(r"[0-9a-f]+\n", own(dev.cmd("hsm sign e rebooted", timeout=30)))


def test_the_hsm_task_restarted_in_the_middle_of_requests_serves_again(board_with_hsm, hsm):
    """The hsm task restarted while another task's signatures stream through
    it: killed mid-frame, mid-answer or with an answer on its way; its
    successor, logged in again, signs at once (no timeout), each time."""
    dev = board_with_hsm
    dev.hsm_ready()
    dev.cmd("hsm gen ecdsa-p256 bench-sign sign")
    tid = dev.tid("hsm")                              # a task keeps its id across restarts
    for delay in (0.0, 0.03, 0.1):
        dev.send("start hsmbench\r")
        time.sleep(delay)
        dev.send("restart %d\r" % tid)
        dev.drain(quiet=1.0)
        assert dev.hsm_login(OPERATOR_PIN, timeout=30) == "hsm: logged in\n"
        out = own(dev.cmd("hsm sign bench-sign x", timeout=30))
        assert re.fullmatch(r"[0-9a-f]+\n", out), out
    assert "timeout" not in dev.text
    assert "bench: hsm done" not in dev.text                  # each restart did cut the stream
    assert dev.lines(r"fault: task hsmbench .*(PEER_DIED|NOT_RUNNING).*|bench: hsm refused: .*")
