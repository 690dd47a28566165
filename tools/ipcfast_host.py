"""The device's IPC fast path (kernel/port/ipcfast.c) built for the host with
cffi, for the simulator (kernel/sim.py, Sim(fastpath=True)) and the tests.

Holds the build (cached under build/host/ipcfast-<hash of the sources>, so
an edit of the C rebuilds it) and the port hooks the C calls (task memory,
results, the switch, the clock), which hand each call to the Sim that
holds the module (claim()). It does not simulate anything itself: the C
follows the tables the kernel writes (kernel/fasttab.py) exactly as on the
device. One module, so one Sim drives it at a time.
"""
import os
import re
import sys

from tools import cffi_cache

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORT = os.path.join(ROOT, "kernel", "port")
SOURCES = [os.path.join(PORT, f) for f in ("ipcfast.c", "ipcfast.h", "fasttab.h", "abi.h")]
NAME = "_qx_ipcfast"

_mod = None
_owner = None


def struct_cdef():
    """qx_fasttab_t as cffi reads it: fasttab.h without comments and
    preprocessor lines, its two sizes put in."""
    text = open(os.path.join(PORT, "fasttab.h")).read()
    sizes = dict(re.findall(r"^#define (QX_FT_TASKS|QX_FT_PRIOS|QX_FT_IRQS)\s+(\d+)", text, re.M))
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"^#.*$", "", text, flags=re.M)
    for name, value in sizes.items():
        text = text.replace(name, value)
    return text, {k: int(v) for k, v in sizes.items()}


CDEF_TAIL = """
typedef struct { uint32_t kind, a, b, c, d, e, ms; } qx_fastlog_t;
extern qx_fasttab_t qx_fasttab;
extern qx_fastlog_t qx_fastlog[64];
extern uint32_t qx_fastlog_len, qx_fast_enabled, qx_slice_left;
extern int32_t qx_current;
uint32_t qx_ipc_fast(uint32_t *frame, const uint32_t *args);
uint32_t qx_yield_fast(uint32_t *frame);
uint32_t qx_irq_fast(uint32_t pending, int32_t me, int32_t *run);
extern "Python+C" int qx_task_live(int tid);
extern "Python+C" int qx_task_may_copy(int tid, uint32_t addr, uint32_t len, int writing);
extern "Python+C" void qx_task_copy(int to, uint32_t dst, int from, uint32_t src, uint32_t len);
extern "Python+C" void qx_task_set_result(int tid, uint32_t r0, uint32_t r1);
extern "Python+C" void qx_fast_switch(int tid);
extern "Python+C" uint32_t qx_fast_ms(void);
"""


def build():
    """The compiled module (ffi, lib), built once per source version."""
    global _mod
    if _mod is not None:
        return _mod

    def configure(ffi):
        struct, _ = struct_cdef()
        ffi.cdef(struct + CDEF_TAIL)
        ffi.set_source(NAME, '#include "ipcfast.h"\nvolatile int32_t qx_current;\nvolatile uint32_t qx_slice_left;\n',
                       sources=[os.path.join(PORT, "ipcfast.c")], include_dirs=[PORT],
                       extra_compile_args=["-O1", "-Wall", "-Werror", "-Wno-discarded-qualifiers",
                                           "-Wno-unused-function"])
    mod = cffi_cache.load(NAME, "ipcfast", SOURCES + [os.path.abspath(__file__)], configure)
    _hooks(mod.ffi)
    _mod = (mod.ffi, mod.lib)
    return _mod


def claim(sim):
    """sim drives the module from now on (a new Sim(fastpath=True)); the
    C side's log is emptied and the fast path enabled."""
    global _owner
    ffi, lib = build()
    _owner = sim
    lib.qx_fastlog_len = 0
    lib.qx_fast_enabled = 1
    ffi.memmove(ffi.addressof(lib, "qx_fasttab"), bytes(ffi.sizeof("qx_fasttab_t")), ffi.sizeof("qx_fasttab_t"))
    return ffi, lib


def owner():
    return _owner


def _hooks(ffi):
    def fail(exc, val, tb):
        if _owner is not None and _owner.hook_error is None:
            _owner.hook_error = val

    @ffi.def_extern(onerror=fail)
    def qx_task_live(tid):
        return 1 if _owner.c_live(tid) else 0

    @ffi.def_extern(onerror=fail)
    def qx_task_may_copy(tid, addr, n, writing):
        return 1 if _owner.c_may_copy(tid, addr, n) else 0

    @ffi.def_extern(onerror=fail)
    def qx_task_copy(to, dst, frm, src, n):
        _owner.write(to, dst, _owner.read(frm, src, n))

    @ffi.def_extern(onerror=fail)
    def qx_task_set_result(tid, r0, r1):
        _owner.set_result(tid, r0, r1)

    @ffi.def_extern(onerror=fail)
    def qx_fast_switch(tid):
        _owner.c_switch(tid)

    @ffi.def_extern(onerror=fail)
    def qx_fast_ms():
        return _owner.ticks_ms() & 0xFFFFFFFF


if __name__ == "__main__":
    build()
    sys.stdout.write("built %s\n" % NAME)
