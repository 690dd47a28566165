"""Issue 13, host tools: every `qenex` command that fails ends with one line
on stderr, `qenex CMD: what was wrong`, and a non-zero status (1; 2 for a
usage error), never a Python traceback; whatever `qenex run` starts (the
emulated HSM) is stopped on every way out."""
import os
import signal
import socket
import subprocess
import sys

import pytest

from tools import layout, qemu

ROOT = layout.ROOT
KEY = os.path.join(ROOT, "build", "keys", "dev-ecdsa-p256.pem")
PACS = os.path.join(ROOT, "tests", "vectors", "gateway", "pacs008.xml")
HELLO = os.path.join(ROOT, "userland", "bundles", "hello", "manifest.bundle")


def qenex(*args, env=None):
    return subprocess.run([sys.executable, "-m", "tools.qenex"] + list(args), cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env)


def one_line(r, status=1):
    """The command failed with `status` and said so in exactly one line."""
    assert r.returncode == status, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.fixture
def key(tmp_path):
    path = tmp_path / "hostlink.key"
    path.write_bytes(bytes(32))
    return str(path)


def test_send_with_no_board_says_so(tmp_path, key):
    sock = str(tmp_path / "hostlink.sock")
    line = one_line(qenex("send", "--socket", sock, "--key", key, PACS))
    assert line == "qenex send: no board at %s (is `qenex run` running?)" % sock


def test_send_to_a_socket_nobody_serves_says_no_board(tmp_path, key):
    sock = str(tmp_path / "stale.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(sock)                                    # a socket file left behind, nobody listening
    s.close()
    line = one_line(qenex("send", "--socket", sock, "--key", key, PACS))
    assert line == "qenex send: no board at %s (is `qenex run` running?)" % sock


def test_send_to_a_wrong_socket_path_says_no_board(key):
    line = one_line(qenex("send", "--socket", PACS, "--key", key, PACS))      # a file, not a socket
    assert line.startswith("qenex send: no board at ")


def test_send_to_a_silent_board_times_out_in_one_line(tmp_path, key):
    """A board whose gateway is not running: QEMU accepts, nothing answers."""
    sock = str(tmp_path / "silent.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(sock)
    srv.listen(1)
    try:
        line = one_line(qenex("send", "--socket", sock, "--key", key, "--timeout", "2", PACS))
    finally:
        srv.close()
    assert line.startswith("qenex send: the board at %s does not answer in 2 s (is the gateway task running?"
                           % sock), line


def test_send_without_a_key_or_a_message_file_says_which(tmp_path, key):
    sock = str(tmp_path / "s.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(sock)
    srv.listen(1)
    try:
        line = one_line(qenex("send", "--socket", sock, "--key", str(tmp_path / "nokey"), PACS))
        assert line.startswith("qenex send: no host link key at %s" % (tmp_path / "nokey"))
        line = one_line(qenex("send", "--socket", sock, "--key", key, str(tmp_path / "none.xml")))
        assert line.startswith("qenex send: cannot read %s" % (tmp_path / "none.xml"))
    finally:
        srv.close()


def test_the_link_commands_with_no_board_say_so():
    for args in (("audit", "check"), ("compliance", "reload", PACS)):
        line = one_line(qenex("--board", "nosuch", *args))
        assert line == "qenex %s: no board at build/nosuch/hostlink.sock (is `qenex run` running?)" % \
            " ".join(args[:2]), line


def test_bundle_make_with_a_1mb_source_names_the_sizes(tmp_path):
    if not os.path.exists(KEY) or not os.path.exists(os.path.join(ROOT, "build", "mpy-cross", "mpy-cross")):
        pytest.skip("needs the build's key and mpy-cross (make build)")
    src = tmp_path / "big.py"
    src.write_text('DATA = "%s"\n\ndef main():\n    pass\n' % ("a" * 1000000))
    line = one_line(qenex("bundle", "make", "--key", KEY, "--version", "1.0.0", HELLO, str(src),
                          str(tmp_path / "big.bundle")))
    assert line.startswith("qenex bundle make: %s: the bundle's code is " % src) and \
        line.endswith(" bytes, the limit is 65535"), line
    assert not (tmp_path / "big.bundle").exists()


def test_unknown_board_usage_errors_and_missing_files_are_one_line(tmp_path):
    assert one_line(qenex("--board", "nosuch", "image", "info", PACS)).startswith(
        "qenex image info: unknown board 'nosuch'")
    assert one_line(qenex("hsm", "audit-verify", "--state", str(tmp_path / "none.json"))) == \
        "qenex hsm audit-verify: %s: No such file or directory" % (tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert one_line(qenex("hsm", "audit-verify", "--state", str(bad))).startswith("qenex hsm audit-verify: ")
    r = qenex("send")                                       # argparse: usage and status 2
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_a_genuine_bug_keeps_its_traceback_and_qenex_debug_shows_every_one(tmp_path):
    env = dict(os.environ, QENEX_DEBUG="1")
    r = qenex("hsm", "audit-verify", "--state", str(tmp_path / "none.json"), env=env)
    assert r.returncode == 1 and "Traceback" in r.stderr and "FileNotFoundError" in r.stderr


# --- `qenex run` stops what it starts ---------------------------------------------------

def test_run_with_an_unknown_board_starts_nothing():
    sock = os.path.join(ROOT, "build", "nosuch", "hsm.sock")
    line = one_line(qenex("--board", "nosuch", "run"))
    assert line.startswith("qenex run: unknown board 'nosuch'") and not os.path.exists(sock)


@pytest.fixture
def run_here(tmp_path, monkeypatch):
    """`qenex run` in process with its files under tmp_path and the HSM
    process it starts recorded; yields (main, started, paths)."""
    from tools import qenex
    from tools.hsm import process as hsm_process
    d = tmp_path / "build"
    d.mkdir()
    monkeypatch.setattr(qenex, "hsm_paths", lambda b: (str(d / "hsm.sock"), str(d / "hsm-state.json")))
    monkeypatch.setattr(qenex, "hostlink_paths", lambda b: (str(d / "hostlink.sock"), str(d / "hostlink.key")))
    monkeypatch.setattr(qemu, "storage_path", lambda b: str(d / "storage.bin"))
    started = []
    real_start = hsm_process.start

    def start(sock, state, timeout=20):
        started.append(real_start(sock, state, timeout))
        return started[-1]
    monkeypatch.setattr(hsm_process, "start", start)
    flash = tmp_path / "flash.bin"
    flash.write_bytes(b"\xff" * 64)
    yield (lambda: qenex.main(["run", "--flash", str(flash)])), started, d
    for p in started:                                # whatever a failing test left
        if p.poll() is None:
            p.kill()
            p.wait()


def _stopped(started, d):
    assert len(started) == 1
    assert started[0].poll() is not None, "the emulated HSM is still running"
    assert not os.path.exists(d / "hsm.sock"), "the HSM's socket is left behind"


@pytest.mark.parametrize("how", ["fails", "missing", "interrupted", "terminated", "error"])
def test_run_stops_the_hsm_whatever_way_qemu_ends(run_here, monkeypatch, how):
    main, started, d = run_here
    before = signal.getsignal(signal.SIGTERM)

    def fake_qemu(cmd):
        assert started and started[0].poll() is None       # the HSM runs while QEMU does
        if how == "fails":
            return 1                                        # QEMU could not start (a bad option, a bad file)
        if how == "missing":
            raise FileNotFoundError(2, "No such file or directory", "qemu-system-arm")
        if how == "interrupted":
            raise KeyboardInterrupt
        if how == "terminated":
            os.kill(os.getpid(), signal.SIGTERM)            # `kill` of qenex run: the handler unwinds
            return 0
        raise RuntimeError("a bug")                         # not a known failure: its traceback stays
    monkeypatch.setattr(subprocess, "call", fake_qemu)
    with pytest.raises((SystemExit, KeyboardInterrupt, RuntimeError)) as e:
        main()
    if how == "error":
        assert isinstance(e.value, RuntimeError)
    if how == "interrupted":
        assert isinstance(e.value, SystemExit) and e.value.code == 130
    if how == "fails":
        assert e.value.code == "qenex run: QEMU exited with status 1"
    elif how == "missing":
        assert "qemu-system-arm not found" in e.value.code
    elif how == "terminated":
        assert e.value.code == 128 + signal.SIGTERM
    _stopped(started, d)
    assert signal.getsignal(signal.SIGTERM) == before            # run's handler put back


def test_the_emulator_stopped_by_sigterm_removes_its_socket(tmp_path):
    """What `qenex run` (hsm_process.stop) sends it: the emulator goes, and
    its socket with it (before, SIGTERM left the socket behind)."""
    from tools.hsm import process as hsm_process
    sock, state = str(tmp_path / "hsm.sock"), str(tmp_path / "state.json")
    proc = hsm_process.start(sock, state)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) in (0, 128 + signal.SIGTERM)
    assert not os.path.exists(sock), "the socket outlived the emulator"


def test_send_over_http_says_what_the_board_answered_in_one_line(tmp_path):
    """`qenex send --http`: the board's refusal (its HTTP status and reason), nothing
    listening, a FIX message (no HTTP path for it): each one line, never a traceback."""
    import http.server
    import threading

    class Board(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b"the board's clock is not set: a status report needs a real CreDtTm\n"
            self.send_response(503)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    srv = http.server.HTTPServer(("127.0.0.1", 0), Board)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        where = "127.0.0.1:%d" % srv.server_address[1]
        line = one_line(qenex("send", "--http", where, PACS))
        assert line == ("qenex send: the board refused it: HTTP 503 Service Unavailable: the board's clock is "
                        "not set: a status report needs a real CreDtTm")
    finally:
        srv.shutdown()
        srv.server_close()
    port = qemu.free_port()
    line = one_line(qenex("send", "--http", "127.0.0.1:%d" % port, PACS))
    assert line.startswith("qenex send: HTTP to 127.0.0.1:%d failed: " % port) and "refused" in line.lower()
    fix = tmp_path / "order.fix"
    fix.write_bytes(b"8=FIX.4.4\x019=5\x0135=0\x0110=000\x01")
    line = one_line(qenex("send", "--kind", "FIX", "--http", "127.0.0.1:%d" % port, str(fix)))
    assert "FIX does not go over HTTP" in line
    assert one_line(qenex("send", "--http", "nowhere", PACS), 1).startswith("qenex send: --http takes HOST:PORT")
