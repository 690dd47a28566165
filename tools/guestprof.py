"""Where the board spends its instructions: a sampling profiler over QEMU's
gdbstub (the GDB remote protocol on a TCP port, `-gdb tcp:127.0.0.1:PORT`).
A thread stops the guest at random moments (Ctrl-C, 0x03), reads its PC
(register 15) and lets it go on; the PCs are counted by the function of the
firmware's ELF symbol table (pyelftools) they fall in. Under `-icount
shift=0,sleep=off` the guest runs as fast as the host lets it and idle
time costs no wall time, so the samples fall in proportion to the guest
instructions the board ran.

    python -m tools.guestprof http [N]     # the production image, N 3-transaction
                                           # pacs.008 over HTTP (tools/bench.py's loop)
    python -m tools.guestprof fix [N]      # N FIX orders over TCP

It prints each task's share (the task whose memory block the SP is in, from
the shell's `mem`; "kernel" otherwise) and the functions that took the most
samples; C functions only (a Python function is the VM's
mp_execute_bytecode)."""
import bisect
import os
import random
import socket
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


class Stub:
    """A client of QEMU's gdbstub: stop, read a register, continue."""

    def __init__(self, port, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
                self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)    # each stop is short
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.buf = b""

    def _packet(self):
        """The next $...#xx packet's body (acknowledged)."""
        while True:
            i = self.buf.find(b"$")
            j = self.buf.find(b"#", i + 1) if i >= 0 else -1
            if i >= 0 and j >= 0 and len(self.buf) >= j + 3:
                body, self.buf = self.buf[i + 1:j], self.buf[j + 3:]
                self.s.sendall(b"+")
                return body
            data = self.s.recv(4096)
            if not data:
                raise EOFError("gdbstub closed")
            self.buf += data

    def send(self, body):
        self.s.sendall(b"$%s#%02x" % (body, sum(body) & 0xFF))

    def pc_at_stop(self):
        """Stop the guest, read its PC and SP, leave it stopped: (pc, sp)."""
        self.s.sendall(b"\x03")
        reply = self._packet()
        while not reply.startswith((b"T", b"S")):
            reply = self._packet()
        self.send(b"g")                 # all registers, r0..r15 first, 8 hex digits each
        regs = self._packet()
        while len(regs) < 128 or regs.startswith(b"E"):
            if regs.startswith(b"E"):
                raise EOFError("gdbstub: %r" % regs[:20])
            regs = self._packet()
        reg = lambda k: int.from_bytes(bytes.fromhex(regs[8 * k:8 * k + 8].decode()), "little")
        return reg(15), reg(13)

    def go(self):
        self.send(b"c")

    def close(self):
        self.s.close()


def sample(port, stop, out, gap_ms=(4, 12)):
    """Append PCs to `out` until `stop` is set."""
    stub = Stub(port)
    stub.go()
    try:
        while not stop.is_set():
            time.sleep(random.uniform(*gap_ms) / 1000)
            try:
                out.append(stub.pc_at_stop())
            finally:
                stub.go()               # never leave the board stopped
    finally:
        stub.close()


def symbols(elf):
    """Sorted [(address, size, name)] of the ELF's functions (Thumb bit cleared)."""
    from elftools.elf.elffile import ELFFile
    with open(elf, "rb") as f:
        tab = ELFFile(f).get_section_by_name(".symtab")
        out = sorted((s["st_value"] & ~1, s["st_size"], s.name) for s in tab.iter_symbols()
                     if s["st_info"]["type"] == "STT_FUNC" and s["st_size"])
    return out


def blocks(console):
    """[(base, size, task name)] from the shell's `mem` (console: the pexpect child at its prompt)."""
    import re
    console.send("mem\r")
    console.expect_exact("qenex> ")
    out = []
    for line in console.before.splitlines():
        m = re.match(r"\s*0x([0-9a-f]+)\s+(\d+)K\s+(\w+) \(\d+\)", line)
        if m:
            out.append((int(m.group(1), 16), int(m.group(2)) * 1024, m.group(3)))
    return out


def report(samples, syms, owners=(), top=30):
    """The functions (and, with owners, the tasks: whose block the SP is in;
    "kernel" otherwise) that took the most samples."""
    starts = [s[0] for s in syms]
    funcs, tasks, each = {}, {}, {}
    for pc, sp in samples:
        i = bisect.bisect_right(starts, pc) - 1
        name = syms[i][2] if i >= 0 and pc < syms[i][0] + syms[i][1] else "?0x%x" % pc
        funcs[name] = funcs.get(name, 0) + 1
        task = next((t for base, size, t in owners if base <= sp < base + size), "kernel")
        tasks[task] = tasks.get(task, 0) + 1
        mine = each.setdefault(task, {})
        mine[name] = mine.get(name, 0) + 1
    n = len(samples)
    top_of = lambda d, k: sorted(d.items(), key=lambda kv: -kv[1])[:k]
    lines = ["%d samples" % n]
    for name, c in top_of(funcs, top):
        lines.append("%6.1f%%  %5d  %s" % (100.0 * c / n, c, name))
    for task, c in top_of(tasks, len(tasks)):
        lines.append("%s %.1f%%: %s" % (task, 100.0 * c / n, ", ".join(
            "%s %.1f" % (f, 100.0 * k / n) for f, k in top_of(each[task], 8))))
    return "\n".join(lines)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv):
    from tools import bench, qemu
    what = argv[0] if argv else "http"
    n = int(argv[1]) if len(argv) > 1 else 20
    if what not in ("http", "fix"):
        raise SystemExit("usage: python -m tools.guestprof http|fix [N]")
    board = "mps2-an385"
    port = _free_port()
    fwd = qemu.forwards([s for s in qemu.SERVICES if s[1] in (80, 9878)])
    pcs, stop = [], threading.Event()
    with tempfile.TemporaryDirectory() as tmp:
        with bench.gateway_board(board, tmp, "production", net=fwd, gdb=port) as link:
            from drivers.hsm import frame as F
            link.control(0x44, F.fields(str(int(time.time() * 1000))))
            owners = blocks(link.console)
            loop = bench.http_loop if what == "http" else bench.fix_loop
            t = threading.Thread(target=sample, args=(port, stop, pcs), daemon=True)
            try:
                loop(fwd, n, t.start)           # (the first message's imports left out)
            finally:
                stop.set()
                t.join(30)
    print(report(pcs, symbols(os.path.join(ROOT, "build", board, "kernel", "firmware.elf")), owners))


if __name__ == "__main__":
    main(sys.argv[1:])
