"""lwIP (build/deps/lwip-*, tools/deps/lwip.lock) built for the host with
the board's own configuration (drivers/net/lwipopts.h, drivers/net/arch/
cc.h) and the two-stack harness tests/host/lwip_pair.c, through cffi; the
build is cached under build/host/lwip-<hash of the sources>. A fresh
module per call of load(): lwIP's state is static, so each test gets its
own copy of the library."""
import glob
import hashlib
import importlib.util
import os
import shutil
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NET = os.path.join(ROOT, "drivers", "net")
HARNESS = os.path.join(ROOT, "tests", "host", "lwip_pair.c")


def tree():
    name = [line.split("=", 1)[1].strip() for line in open(os.path.join(ROOT, "tools", "deps", "lwip.lock"))
            if line.startswith("TREE=")][0]
    path = os.path.join(ROOT, "build", "deps", name)
    assert os.path.isfile(os.path.join(path, ".qenex-verified")), "%s is missing: `make build` fetches it" % path
    return path


def sources(lw):
    core = ["init", "def", "inet_chksum", "ip", "mem", "memp", "netif", "pbuf", "stats", "tcp", "tcp_in",
            "tcp_out", "timeouts", "udp"]
    ipv4 = ["dhcp", "etharp", "icmp", "ip4", "ip4_addr", "ip4_frag", "acd"]
    return ([os.path.join(lw, "src", "core", f + ".c") for f in core] +
            [os.path.join(lw, "src", "core", "ipv4", f + ".c") for f in ipv4] +
            [os.path.join(lw, "src", "netif", "ethernet.c")])


CDEF = """
extern uint32_t pair_now_ms, pair_frames, pair_dropped, pair_drop_every, pair_queue_full;
extern uint32_t xtcp_total, xtcp_sent, xtcp_got, xtcp_bad, xtcp_answer_len, xtcp_connected, xtcp_errors;
extern char xtcp_answer[64];
extern uint32_t udp_got, udp_bytes;
extern int pair_asserts;
int pair_init(void);
int pair_poll(void);
int pair_tcp_start(uint32_t total);
int pair_udp_send(uint16_t len);
uint32_t pair_stat_mem_err(void);
uint32_t pair_stat(int which);
"""


def load():
    """(ffi, lib): a fresh copy of lwIP and the harness."""
    import cffi
    lw = tree()
    srcs = sources(lw) + [HARNESS]
    h = hashlib.sha256()
    for p in srcs + [os.path.join(NET, "lwipopts.h"), os.path.join(NET, "arch", "cc.h"), os.path.abspath(__file__)]:
        h.update(open(p, "rb").read())
    outdir = os.path.join(ROOT, "build", "host", "lwip-" + h.hexdigest()[:16])
    found = glob.glob(os.path.join(outdir, "_qx_lwip.*.so"))
    if not found:
        ffi = cffi.FFI()
        ffi.cdef(CDEF)
        ffi.set_source("_qx_lwip", "#include <stdint.h>\n" + CDEF, sources=srcs, include_dirs=[NET, os.path.join(lw, "src", "include")],
                       extra_compile_args=["-O1", "-Wall", "-Wno-address", "-Wno-unused-function"])
        os.makedirs(outdir, exist_ok=True)
        found = [ffi.compile(tmpdir=outdir)]
    copy = os.path.join(outdir, "copy-%s.so" % uuid.uuid4().hex)     # its own static state
    shutil.copy(found[0], copy)
    try:
        spec = importlib.util.spec_from_file_location("_qx_lwip", copy)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        os.unlink(copy)
    return mod.ffi, mod.lib
