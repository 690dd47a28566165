"""The install stream and the rights of an installed task, on the host:
kernel/rights.py's table, kernel/bundles.py's Installer streaming into a
store with NOR rules on a Kernel over the simulated trap layer (boot/image.c
through cffi as the verifier), and the shell's side (userland/shell/
install.py) against a scripted console."""
import pytest

from kernel import abi, bundles, manifest, rights
from kernel.kernel import Kernel
from kernel.sim import Sim
from test_bundle_format import CODE, Flash, verifier
from test_image_format import KEY, c  # noqa: F401 (c: the compiled checker fixture)
from tools import bundle, imgformat
from userland.shell import install as shell_install

POOL = 0x20000000
HELLO = "name = hello\nentry = main\npriority = 4\nheap = 8192\nstack = 4096\nrestart = never\nconsole = true\n"


def mf(text):
    return manifest.parse(text, "bundle")


def with_(**fields):
    lines = [ln for ln in HELLO.splitlines() if ln.split("=")[0].strip() not in fields]
    return "\n".join(lines + ["%s = %s" % kv for kv in fields.items()]) + "\n"


# --- the rights table -----------------------------------------------------

def test_hello_asks_for_nothing_it_may_not_have():
    assert rights.check(mf(HELLO)) == []
    assert rights.requested(mf(with_(calls="heartbeat"))) == {
        "calls": ["heartbeat"], "priority": 4, "memory": 16384, "console": "write", "start": "boot",
        "restart": "never"}


@pytest.mark.parametrize("fields,why", [
    (dict(priority="0"), "priority 0: "),
    (dict(priority="3"), "priority 3: "),
    (dict(heap="65536"), "memory 131072: "),
    (dict(calls="shell"), "calls shell: "),
    (dict(calls="hsm, ponger, ledger"), "calls hsm, ledger: "),
    (dict(hsm_keys="k:sign"), "hsm_keys: "),
    (dict(devices="uart1"), "devices uart1: "),
    (dict(ports="80, 8080"), "ports 80: "),
    (dict(kernel="true"), "kernel: "),
])
def test_each_right_beyond_the_table_is_refused_by_name(fields, why):
    got = rights.check(mf(with_(**fields)))
    assert len(got) == 1 and got[0].startswith(why), got


def test_the_table_names_every_right_once_and_the_floor_is_below_every_service():
    names = [r[0] for r in rights.RIGHTS]
    assert len(names) == len(set(names))
    assert set(names) == {"priority", "memory", "calls", "callers", "console", "hsm_keys", "devices", "irqs", "kernel",
                         "clock", "ports"}
    from tools import gather_manifests
    for source, text in gather_manifests.find():
        m = manifest.parse(text, source)
        if m.start == "boot":               # the shell and the services
            assert m.priority < rights.PRIORITY_FLOOR, m.name


# --- the installer's stream ------------------------------------------------

def system(c, slots=4, fail_create=0):
    sim = Sim(0)
    sim.program("main", lambda sys: iter(()))
    for name in ("shell", "heartbeat"):
        sim.program(name, lambda sys: iter(()))
    ms = [manifest.parse("name = shell\nentry = shell\npriority = 1\nheap = 8192\nstack = 1024\nrestart = never\n"
                         "kernel = true\nconsole = true\n", "shell"),
          manifest.parse("name = heartbeat\nentry = heartbeat\npriority = 2\nheap = 4096\nstack = 1024\n"
                         "restart = never\n", "heartbeat")]
    k = Kernel(sim, POOL, 1 << 17, ms)
    f = Flash(slots * bundles.SLOT_SIZE)
    store = bundles.Store(f.read, f.erase, f.program, 0, slots * bundles.SLOT_SIZE, 4096)
    k.installer = bundles.Installer(store, verifier(c))
    return k, sim, f, store


def made(text=HELLO, version=(1, 0, 0, 0), code=CODE, extra=b""):
    payload = bundle.PayloadTlvs.build([dict(type=bundle.T_MANIFEST, value=text.encode()),
                                        dict(type=bundle.T_CODE, value=code)]) + extra
    return imgformat.make_image(payload, version=version, hdr_size=bundle.HEADER_SIZE, key=KEY,
                                security_counter="auto", flags=imgformat.F_NON_BOOTABLE)


def stream(k, data, chunk=456):
    inst = k.installer
    inst.begin(k, "hello")
    for i in range(0, len(data), chunk):
        inst.data(k, data[i:i + chunk])
    return inst.end(k)


def test_the_stream_writes_to_a_slot_and_commits_it_only_once_confirmed(c):
    k, sim, f, store = system(c)
    data = made()
    r = stream(k, data)
    assert r["name"] == "hello" and r["rights"]["priority"] == 4 and r["block"] == 16384 and r["replaces"] is None
    assert r["free"] == (1 << 17) - 16384 - 8192
    assert bytes(f.mem[:len(data)]) == data and store.used() == []     # written, not valid yet
    got = k.installer.commit(k)
    assert got["slot"] == 0 and got["started"] and store.used() == [0] and store.length(0) == len(data)
    assert "hello" in k.caps["shell"] and "hello" not in k.caps["heartbeat"]
    k2, _, _, _ = system(c)
    k2.installer.store = store
    assert k2.installer.load_all(k2) == [] and "hello" in k2.installer.installed


def test_abort_and_refusals_erase_what_was_written(c):
    k, sim, f, store = system(c)
    data = made()
    k.installer.begin(k, "hello")
    k.installer.data(k, data[:500])
    k.installer.abort()
    assert f.mem[:bundles.SLOT_SIZE] == b"\xff" * bundles.SLOT_SIZE and k.installer.stream is None
    big = made(extra=b"\x7f\x00\x60\xea" + b"\0" * 60000) + b""
    huge = bytearray(big[:32])
    huge[12:16] = (1 << 20).to_bytes(4, "little")                      # the header says 1 MB
    k.installer.begin(k, "hello")
    with pytest.raises(bundles.BundleError, match=r"its header says \d+ bytes or more, a bundle slot holds 131056"):
        k.installer.data(k, bytes(huge))
    assert k.installer.stream is None and f.mem[:4096] == b"\xff" * 4096
    k.installer.begin(k, "hello", 100)
    with pytest.raises(bundles.BundleError, match="more than 100 bytes, the size announced"):
        k.installer.data(k, data[:456])
    with pytest.raises(bundles.BundleError, match="a bundle slot holds"):
        k.installer.begin(k, "hello", 10 ** 6)
    k.installer.begin(k, "hello")
    with pytest.raises(bundles.BundleError, match="more bytes than the bundle's header says"):
        k.installer.data(k, data + b"extra")
    k.installer.begin(k, "hello")
    with pytest.raises(bundles.BundleError, match="not a bundle"):
        k.installer.data(k, b"\0" * 64)
    assert store.used() == [] and store.dirty() == []


def test_an_install_cut_short_by_a_reset_is_erased_at_boot(c):
    k, sim, f, store = system(c)
    k.installer.begin(k, "hello")
    k.installer.data(k, made()[:600])
    k2, _, _, _ = system(c)
    k2.installer.store = store
    assert k2.installer.load_all(k2) == ["kernel: bundle slot 0 held an unfinished install; erased\n"]
    assert store.dirty() == [] and f.mem[:4096] == b"\xff" * 4096


def test_a_replacement_that_does_not_start_brings_the_old_version_back(c):
    k, sim, f, store = system(c)
    k.installer.install(k, made())
    stream(k, made(version=(2, 0, 0, 0)))
    sim.fail_create = 5
    with pytest.raises(bundles.BundleError, match="it does not start .*; the old version is back"):
        k.installer.commit(k)
    sim.fail_create = 0
    assert store.used() == [0] and k.installer.describe("hello")["version"] == [1, 0, 0, 0]
    assert store.dirty() == []
    r = k.installer.install(k, made(version=(2, 0, 0, 0)))
    assert r["replaced"] and r["slot"] == 1 and store.used() == [1]    # the old slot is erased after the commit


def test_a_task_is_removed_and_replaced_whatever_its_state(c):
    k, sim, f, store = system(c)
    k.installer.install(k, made(with_(start="manual")))
    tid = k.lookup("hello")
    assert k.state_of(tid) == "stopped"
    r = k.installer.install(k, made(with_(start="manual"), version=(1, 1, 0, 0)))
    assert r["replaced"]
    k.installer.remove(k, "hello")
    assert store.used() == [] and "hello" not in k.caps["shell"]
    k.check()


def test_a_bundle_asking_for_too_much_is_refused_at_the_end_and_erased(c):
    k, sim, f, store = system(c)
    with pytest.raises(bundles.BundleError, match="refused: priority 0: "):
        stream(k, made(with_(priority="0")))
    assert k.installer.stream is None and store.dirty() == []


# --- the shell's side ------------------------------------------------------

class Console:
    """A scripted console and a recorder of install steps."""

    def __init__(self, text, replies=None):
        self.input = list(text.encode() if isinstance(text, str) else text)
        self.out = ""
        self.steps = []
        self.replies = replies or {}
        self.slept = 0

    def read_byte(self):
        return self.input.pop(0)

    def poll_byte(self):
        return self.input.pop(0) if self.input else None

    def sleep(self, ms):
        self.slept += ms

    def write(self, s):
        self.out += s

    def install_step(self, step, data=b""):
        if step == abi.INSTALL_DISCARD:             # as the kernel does it
            if data:
                self.discarding = [int(data), 0]
            n, end = bundles.discard(self.poll_byte, self.discarding, 100)
            return {"n": n, "end": end}
        self.steps.append((step, bytes(data)))
        r = self.replies.get(step)
        if callable(r):
            r = r(len(self.steps))
        return r if r is not None else {}


def lines(data):
    import base64
    t = base64.b64encode(data).decode()
    return "".join(t[i:i + 76] + "\r\n" for i in range(0, len(t), 76))


END = {"name": "hello", "version": [1, 0, 0, 0], "block": 16384, "free": 65536, "replaces": None,
       "rights": {"calls": [], "priority": 4, "memory": 16384, "console": "write", "start": "boot",
                  "restart": "never"}}
COMMIT = {"name": "hello", "id": 5, "version": [1, 0, 0, 0], "slot": 0, "started": True, "replaced": False}


def test_the_shell_sends_chunks_asks_and_commits():
    data = bytes(range(256)) * 8
    con = Console(lines(data) + "\r\ny\r", {abi.INSTALL_END: END, abi.INSTALL_COMMIT: COMMIT})
    shell_install.run(con, "hello")
    sent = b"".join(d for s, d in con.steps if s == abi.INSTALL_DATA)
    assert sent == data and all(len(d) <= shell_install.CHUNK + 57 for s, d in con.steps if s == abi.INSTALL_DATA)
    assert [s for s, _ in con.steps][-2:] == [abi.INSTALL_END, abi.INSTALL_COMMIT]
    assert "install hello v1.0.0+0 with calls=-, priority=4, memory=16K, console=write, start=boot " \
           "(64K free for bundles)? [y/N] y\n" in con.out
    assert con.out.endswith("installed hello v1.0.0+0 as task 5 (bundle slot 0), started\n")


def test_a_refusal_throws_the_rest_away_up_to_an_empty_line_and_leaves_what_follows():
    refuse = {"error": "refused: its header says 1000000 bytes or more, a bundle slot holds 131056"}
    con = Console(lines(b"x" * 5000) + "\r\nps\r", {abi.INSTALL_DATA: refuse})
    shell_install.run(con, "hello")
    assert [s for s, _ in con.steps].count(abi.INSTALL_DATA) == 1
    assert con.out.endswith("tasks: hello: refused: its header says 1000000 bytes or more, a bundle slot holds "
                            "131056\ntasks: the rest of the paste was thrown away; nothing installed\n")
    assert bytes(con.input).lstrip(b"\n") == b"ps\r"    # what follows the paste is the shell's again


def test_a_paste_with_no_empty_line_ends_after_a_quiet_gap():
    con = Console("AAAAA\r\n" + lines(b"y" * 3000), {})
    shell_install.run(con, "hello")
    assert "line 1 is not base64" in con.out and con.input in ([], [10])
    assert con.slept >= shell_install.QUIET_MS and abi.INSTALL_ABORT in [s for s, _ in con.steps]


def test_ctrl_c_aborts_and_the_rest_is_thrown_away():
    text = lines(b"z" * 3000)
    half = text[:len(text) // 2]
    con = Console(half + "\x03" + text[len(half):] + "\r\n", {abi.INSTALL_END: END})
    shell_install.run(con, "hello")
    steps = [s for s, _ in con.steps]
    assert steps[-1] == abi.INSTALL_ABORT and abi.INSTALL_END not in steps and con.input in ([], [10])
    assert con.out.endswith("^C\ntasks: install aborted; nothing installed\n")


def test_a_line_too_long_is_refused_without_holding_it():
    con = Console("A" * 5000 + "\r\n\r\n", {})
    shell_install.run(con, "hello")
    assert "line 1 is longer than 128 characters" in con.out and con.input in ([], [10])


def test_no_answers_no():
    con = Console(lines(b"q" * 100) + "\r\nn\r", {abi.INSTALL_END: END})
    shell_install.run(con, "hello")
    assert [s for s, _ in con.steps][-1] == abi.INSTALL_ABORT and con.out.endswith("tasks: hello not installed\n")


def test_a_slot_whose_bundle_no_longer_loads_is_reused_cleanly(c):
    k, sim, f, store = system(c)
    store.save(0, made(with_(priority="3")))            # as an older kernel let it in
    k2, _, _, _ = system(c)
    k2.installer.store = store
    assert k2.installer.load_all(k2) == [
        "kernel: bundle in slot 0 not loaded: refused: priority 3: an installed task runs at 4..7 "
        "(below the shell and the services)\n"]
    k2.installer.begin(k2, "hello")
    assert store.used() == []                           # its record is gone before anything is written
    data = made()
    k2.installer.data(k2, data)
    k2.installer.end(k2)
    assert k2.installer.commit(k2)["slot"] == 0 and store.length(0) == len(data)


def test_a_manual_bundle_whose_code_does_not_fit_is_refused_before_it_is_confirmed(c):
    k, sim, f, store = system(c)
    with pytest.raises(bundles.BundleError, match=r"refused: memory: its code \(9000 bytes\) does not fit"):
        stream(k, made(with_(start="manual", heap="4096", stack="2048"), code=b"M" * 9000))
    assert store.dirty() == [] and k.installer.stream is None


def test_two_committed_versions_after_a_cut_replacement_keep_the_newer(c):
    k, sim, f, store = system(c)
    store.save(2, made(version=(1, 0, 0, 0)))
    store.save(0, made(version=(2, 0, 0, 0)))           # the commit went through, the old slot's erase did not
    assert k.installer.load_all(k) == []
    assert k.installer.describe("hello") == {"slot": 0, "version": [2, 0, 0, 0], "counter": 2 << 24}
    assert store.used() == [0]
    k2, _, _, _ = system(c)
    store.save(3, made(version=(3, 0, 0, 0)))
    k2.installer.store = store
    assert k2.installer.load_all(k2) == [] and k2.installer.describe("hello")["slot"] == 3 and store.used() == [3]
    k2.check()
