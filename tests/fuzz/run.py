"""Runs atheris (libFuzzer for CPython) on one target of tests/fuzz/targets.py.

    build/venv/bin/python tests/fuzz/run.py TARGET [--runs N] [--seed S] [--max-len L]
        [--seconds T] [--keep-going] [--out DIR] [-- LIBFUZZER FLAGS...]
    build/venv/bin/python tests/fuzz/run.py --list
    build/venv/bin/python tests/fuzz/run.py TARGET --replay FILE...   # no atheris: run inputs, show tracebacks

The seeds are tests/fuzz/corpus/TARGET/ (read only), with the libFuzzer dictionary
tests/fuzz/dict/TARGET.dict where there is one; new inputs the fuzzer finds
interesting go to --out (default: a temporary directory; `make fuzz` keeps them in
build/fuzz/TARGET/). A crash is written to tests/fuzz/crashes/TARGET/ as
<Exception>-<file>-<line>-<sha1>.in with its traceback beside it (.txt); copy it into
tests/fuzz/regressions/TARGET/ under a name that says what it is.

Without --keep-going the run stops at the first crash (exit status 1), as in `make
test`; with it (`make fuzz`) every crash is saved, one file per distinct exception and
location, and the run goes on; the exit status is 1 if any was found. An input slower
than --slow seconds is saved as slow-<sha1>.in; libFuzzer's -timeout (default
--timeout 20 s) ends a run on a hang."""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TARGETS = ("fix", "iso20022", "mt103", "frames", "link", "hsm", "rules", "ledger")
MAX_LEN = {"iso20022": 8192, "link": 8192, "rules": 4096}


def location(exc):
    """(file, line, function) of the innermost frame in the repository outside the
    harness (the code that raised), else in the harness (a HarnessFailure, or a library
    such as json called by the harness), else the innermost."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f.filename.startswith(ROOT + os.sep)]
    inner = [f for f in ours if not f.filename.startswith(HERE)] or ours or frames
    f = inner[-1]
    return os.path.relpath(f.filename, ROOT), f.lineno, f.name


def signature(exc):
    """Exception type and the place it was raised, with its caller's (a MoneyError from
    money.py called by risk.py is not the one called by the engine)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename.startswith(ROOT + os.sep) and not f.filename.startswith(HERE)]
    parts = [type(exc).__name__]
    for f in frames[-2:][::-1]:
        parts.append("%s-%d" % (os.path.splitext(os.path.basename(f.filename))[0], f.lineno))
    return "-".join(parts)


def save(crashes, data, exc, kind=None):
    os.makedirs(crashes, exist_ok=True)
    sha = hashlib.sha1(data).hexdigest()[:12]
    name = "%s-%s" % (kind or signature(exc), sha)
    with open(os.path.join(crashes, name + ".in"), "wb") as f:
        f.write(data)
    with open(os.path.join(crashes, name + ".txt"), "w") as f:
        if exc is not None:
            f.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        else:
            f.write("slow input\n")
    return name


def child(args, lib_args):
    import atheris
    sys.path.insert(0, HERE)
    with atheris.instrument_imports(include=["userland", "drivers", "tools"]):
        import targets
    fn = targets.TARGETS[args.target]
    crashes = os.path.join(HERE, "crashes", args.target)
    seen = set()

    def one(data):
        t0 = time.monotonic()
        try:
            fn(data)
        except Exception as e:                      # MemoryError, RecursionError are Exceptions
            sig = signature(e)
            if sig not in seen:
                seen.add(sig)
                name = save(crashes, data, e)
                path, line, where = location(e)
                sys.stderr.write("fuzz: %s: CRASH %s: %s at %s:%d (%s) -> crashes/%s/%s.in\n"
                                 % (args.target, type(e).__name__, str(e)[:200], path, line, where,
                                    args.target, name))
                sys.stderr.flush()
            if not args.keep_going:
                raise
        dt = time.monotonic() - t0
        if dt > args.slow and len(seen) < 1000:
            key = "slow-%d" % (len(data) // 512)
            if key not in seen:
                seen.add(key)
                name = save(crashes, data, None, "slow")
                sys.stderr.write("fuzz: %s: SLOW %.1f s for %d bytes -> crashes/%s/%s.in\n"
                                 % (args.target, dt, len(data), args.target, name))

    atheris.Setup([sys.argv[0]] + lib_args, one)
    atheris.Fuzz()


def replay(args):
    sys.path.insert(0, HERE)
    import targets
    bad = 0
    for path in args.replay:
        data = open(path, "rb").read()
        t0 = time.monotonic()
        try:
            targets.TARGETS[args.target](data)
            print("%s: ok (%.0f ms)" % (path, (time.monotonic() - t0) * 1000))
        except Exception as e:
            bad += 1
            p, line, fn = location(e)
            print("%s: CRASH %s: %s at %s:%d (%s)" % (path, type(e).__name__, str(e)[:200], p, line, fn))
            traceback.print_exc()
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("target", nargs="?", choices=TARGETS)
    ap.add_argument("--list", action="store_true", help="print the targets")
    ap.add_argument("--runs", type=int, default=None, help="inputs to run (libFuzzer -runs)")
    ap.add_argument("--seed", type=int, default=None, help="libFuzzer -seed")
    ap.add_argument("--max-len", type=int, default=None, help="largest input (default per target)")
    ap.add_argument("--seconds", type=int, default=None, help="stop after this long (-max_total_time)")
    ap.add_argument("--keep-going", action="store_true", help="save every distinct crash and go on")
    ap.add_argument("--out", help="where new corpus inputs go (default: a temporary directory)")
    ap.add_argument("--with-regressions", action="store_true", help="seed with regressions/TARGET too")
    ap.add_argument("--timeout", type=int, default=20, help="seconds one input may take (a hang)")
    ap.add_argument("--slow", type=float, default=2.0, help="save inputs slower than this (s)")
    ap.add_argument("--replay", nargs="+", metavar="FILE", help="run these inputs without atheris")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args, extra = ap.parse_known_args()
    extra = [a for a in extra if a != "--"]
    if args.list:
        print("\n".join(TARGETS))
        return 0
    if not args.target:
        ap.error("a target is needed (--list)")
    if args.replay:
        return replay(args)
    if args.child:
        return child(args, extra)
    corpus = os.path.join(HERE, "corpus", args.target)
    crashes = os.path.join(HERE, "crashes", args.target)
    os.makedirs(crashes, exist_ok=True)
    tmp = None
    out = args.out
    if out is None:
        tmp = out = tempfile.mkdtemp(prefix="qenex-fuzz-%s-" % args.target)
    os.makedirs(out, exist_ok=True)
    lib = ["-max_len=%d" % (args.max_len or MAX_LEN.get(args.target, 2048)), "-timeout=%d" % args.timeout,
           "-rss_limit_mb=2048", "-artifact_prefix=%s/" % crashes, "-print_final_stats=1"]
    dictionary = os.path.join(HERE, "dict", args.target + ".dict")
    if os.path.exists(dictionary):
        lib.append("-dict=%s" % dictionary)
    if args.runs is not None:
        lib.append("-runs=%d" % args.runs)
    if args.seed is not None:
        lib.append("-seed=%d" % args.seed)
    if args.seconds is not None:
        lib.append("-max_total_time=%d" % args.seconds)
    lib += extra + [out, corpus]
    if args.with_regressions:
        lib.append(os.path.join(HERE, "regressions", args.target))
    before = set(os.listdir(crashes))
    cmd = [sys.executable, os.path.abspath(__file__), args.target, "--child", "--slow", str(args.slow)] + \
        (["--keep-going"] if args.keep_going else []) + ["--"] + lib
    t0 = time.monotonic()
    try:
        rc = subprocess.call(cmd, cwd=ROOT)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    new = sorted(set(os.listdir(crashes)) - before)
    found = [n for n in new if n.endswith(".in") and not n.startswith("slow-")]
    slow = [n for n in new if n.startswith("slow-") and n.endswith(".in")]
    libfuzzer = [n for n in new if n.startswith(("crash-", "timeout-", "oom-", "slow-unit-"))]
    print("fuzz: %s: %.0f s, exit %d; %d crash(es), %d slow input(s) in tests/fuzz/crashes/%s/%s"
          % (args.target, time.monotonic() - t0, rc, len(found) + len([n for n in libfuzzer if not
                                                                          n.startswith("crash-")]),
             len(slow), args.target, "".join("\n  " + n for n in found + slow + libfuzzer)))
    return 1 if rc != 0 or found or libfuzzer else 0


if __name__ == "__main__":
    sys.exit(main())
