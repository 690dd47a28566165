"""Count the instructions of every SVC the trap layer answers, exactly.

`python -m tools.svctrace` boots the test image under QEMU with the bench
task (as `python -m tools.bench --switch` does) and has QEMU log every
instruction executed in SVC_Handler and the functions it reaches (found in
the disassembly of the kernel ELF: the static call graph from SVC_Handler;
`-d exec,nochain -singlestep -dfilter`). Each SVC from a task is one
episode, from SVC_Handler's first instruction to its exception return; the
episodes are grouped by the path they took (the functions visited) and
printed with their length and how often each ran, for example:

    97 instructions x 20,003: SVC_Handler qx_record_syscall qx_yield_alone ...

The bench's yield loops run each path 20,000 or 40,000 times, so they stand
out. This is how tools/bench.py's SWITCH_ALONE_SVC (the alone path's own
instructions) is counted. Interrupt handlers are not in the filter, so an
interrupt taken inside an episode does not lengthen it."""
import argparse
import bisect
import collections
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

from tools import qemu
from tools.layout import load_board

OBJDUMP = "arm-none-eabi-objdump"
ROOT_FN = "SVC_Handler"


def functions(elf):
    """{name: (start, end, [lines of its disassembly])} of the ELF's text."""
    out, cur = {}, None
    dis = subprocess.run([OBJDUMP, "-d", elf], check=True, capture_output=True, text=True).stdout
    for line in dis.splitlines():
        m = re.match(r"^([0-9a-f]{8}) <([^>]+)>:$", line)
        if m:
            cur = m.group(2)
            out[cur] = [int(m.group(1), 16), int(m.group(1), 16), []]
            continue
        m = re.match(r"^\s+([0-9a-f]+):\s+([0-9a-f]{4})(?: ([0-9a-f]{4}))?\s+(.*)$", line)
        if m and cur:
            addr = int(m.group(1), 16)
            size = 4 if m.group(3) else 2
            if m.group(4).startswith(".word") or m.group(4).startswith(".short"):
                continue
            f = out[cur]
            f[1] = max(f[1], addr + size)
            f[2].append((addr, m.group(4)))
    # A function's extent is its symbol's size where it has one (labels
    # inside it, such as an unrolled step's, start blocks of their own).
    nm = subprocess.run(["arm-none-eabi-nm", "-S", elf], check=True, capture_output=True, text=True).stdout
    for line in nm.splitlines():
        m = re.match(r"^([0-9a-f]{8}) ([0-9a-f]{8}) [tTwW] (\S+)$", line)
        if m and m.group(3) in out:
            start = int(m.group(1), 16) & ~1
            f = out[m.group(3)]
            f[1] = start + int(m.group(2), 16)
            for name, g in out.items():
                if name != m.group(3) and start < g[0] < f[1]:
                    f[2].extend(g[2])
    return out


def reachable(fns, root=ROOT_FN):
    """The functions reached from root by a call or a branch (static)."""
    seen, todo = set(), [root]
    while todo:
        name = todo.pop()
        if name in seen or name not in fns:
            continue
        seen.add(name)
        for _, text in fns[name][2]:
            m = re.match(r"^(?:bl|b|b\.w|b\.n|beq\.?w?|bne\.?w?|bx?\w*)\s+[0-9a-f]+ <([^+>]+)(?:\+0x[0-9a-f]+)?>", text)
            if m:
                todo.append(m.group(1))
    return seen


def exits(fns):
    """{address: conditional} of the instructions that end an episode: the
    exception returns (bx lr, bxeq lr) in the trap layer's handlers. A
    conditional one is logged when it does not return too (single-step
    logs every instruction): read() looks at the next one."""
    out = {}
    for name in (ROOT_FN, "qx_switch_to_kernel", "qx_abandon_task"):
        for addr, text in fns.get(name, (0, 0, []))[2]:
            m = re.match(r"^bx(\w*)\s+lr", text)
            if m:
                out[addr] = bool(m.group(1))
    return out


def read(fifo, start, entry, ends, counts, detail):
    """Parse QEMU's exec log into counts (see trace()) and, per path, the
    instructions spent in each function (detail)."""
    starts = sorted(start)
    n, path, per, maybe = -1, [], None, None

    def end():
        key = (n, " ".join(path))
        counts[key] += 1
        detail.setdefault(key, per)

    with open(fifo, "r") as log:
        for line in log:
            m = re.search(r"/([0-9a-f]{8})/[0-9a-f]{8}/[0-9a-f]{8}\]", line)
            if not m:
                continue
            pc = int(m.group(1), 16)
            if maybe is not None:        # a conditional return: taken unless it fell through
                if pc != maybe + 2:
                    end()
                    n = -1
                maybe = None
            if pc == entry:
                n, path, per = 0, [], collections.Counter()
            if n >= 0:
                n += 1
                f = start.get(pc)
                if f and (not path or path[-1] != f):
                    path.append(f)
                per[start[starts[bisect.bisect_right(starts, pc) - 1]]] += 1
                if pc in ends:
                    if ends[pc]:
                        maybe = pc
                    else:
                        end()
                        n = -1


def trace(board, elf_fns, names, until="done", timeout=900):
    """Boot with the bench, run it, and return Counter{(length, path): n}
    and {(length, path): Counter{function: instructions}} (of its first run)."""
    import pexpect
    ranges = ",".join("0x%x..0x%x" % (elf_fns[n][0], elf_fns[n][1] - 1) for n in sorted(names))
    start = {elf_fns[n][0]: n for n in names}
    ends = exits(elf_fns)
    entry = elf_fns[ROOT_FN][0]
    counts, detail = collections.Counter(), {}
    with tempfile.TemporaryDirectory(prefix="qenex-svctrace-") as tmp:
        storage = os.path.join(tmp, "storage.bin")
        fifo = os.path.join(tmp, "trace")
        os.mkfifo(fifo)
        for boot in range(2):            # the first boot of a fresh board writes its boot state
            cmd = qemu.command(board, flash=qemu.flash_path(board, "test"), serial="stdio", icount=True,
                               storage=storage)
            if boot:
                cmd += ["-singlestep", "-d", "exec,nochain", "-dfilter", ranges, "-D", fifo]
            child = pexpect.spawn(cmd[0], cmd[1:], timeout=timeout, encoding="utf-8", codec_errors="replace")
            if not boot:
                child.expect_exact("qenex> ")
                child.close(force=True)
                continue
            reader = threading.Thread(target=read, args=(fifo, start, entry, ends, counts, detail))
            reader.start()
            try:
                child.expect_exact("qenex> ")
                for _ in range(600):     # tasks come to rest slower under the log
                    child.send("ps\r")
                    child.expect_exact("qenex> ")
                    if not re.search(r"\bready\b", child.before):
                        break
                    time.sleep(0.5)
                child.send("start bench\r")
                child.expect(r"bench: %s" % until, timeout=timeout)
            finally:
                child.close(force=True)
                reader.join()
    return counts, detail


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--board", default="mps2-an385")
    p.add_argument("--min", type=int, default=1000, help="print paths that ran at least this often")
    p.add_argument("--until", default="done", help="stop when the bench prints this figure (e.g. switch_raw_x100)")
    p.add_argument("--detail", action="store_true", help="and the instructions in each function")
    args = p.parse_args()
    elf = os.path.join(qemu.build_path(args.board, "test"), "kernel", "firmware.elf")
    load_board(args.board)
    fns = functions(elf)
    names = reachable(fns) | {"qx_switch_to_kernel", "qx_abandon_task"}
    counts, detail = trace(args.board, fns, names, args.until)
    for (n, path), k in sorted(counts.items(), key=lambda kv: -kv[1]):
        if k >= args.min:
            print("%4d instructions x %s: %s" % (n, "{:,}".format(k), path))
            if args.detail:
                print("      " + ", ".join("%s %d" % fk for fk in detail[(n, path)].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
