"""Host builds of the board's C through cffi, cached by the hash of their
sources: build/host/<tag>-<hash>/ holds the compiled module, so an edit of
the C (or of the module describing it) rebuilds it and nothing else does.
Holds load() only; what is built and how is the caller's (tools/
ipcfast_host.py, tools/task_uart_host.py)."""
import hashlib
import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(name, tag, sources, configure):
    """The module `name` (ffi, lib) built from `sources` (paths hashed for
    the cache); configure(ffi) gives a fresh cffi.FFI its cdef and
    set_source when the cache has no build of this version."""
    h = hashlib.sha256()
    for p in sources:
        h.update(open(p, "rb").read())
    outdir = os.path.join(ROOT, "build", "host", "%s-%s" % (tag, h.hexdigest()[:16]))
    found = [f for f in os.listdir(outdir) if f.startswith(name) and f.endswith((".so", ".pyd"))] \
        if os.path.isdir(outdir) else []
    if found:
        path = os.path.join(outdir, found[0])
    else:
        import cffi
        ffi = cffi.FFI()
        configure(ffi)
        os.makedirs(outdir, exist_ok=True)
        path = ffi.compile(tmpdir=outdir)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
