"""`make bench`: QENEX OS costs measured under QEMU with `-icount shift=0`, where
one guest instruction takes one virtual nanosecond, so figures are guest
instructions and repeat exactly from run to run. Wall time is reported where a
person feels it (boot to prompt).

Boot figures come from the board's 25 MHz counter (`uptime`); the kernel's
mechanisms are timed from inside a task by userland/bench (N repetitions over
N); the CPU-bound workload runs once alone in the kernel's VM (QEMU's loader
sets the bench flag) and once in a task under the kernel.
"""
import argparse
import contextlib
import os
import re
import tempfile
import sys
import time

import pexpect
from elftools.elf.elffile import ELFFile

from tools import benchcharts, qemu, shaharness
from tools.hsm import process as hsm_process
from tools.layout import ROOT, load_board

NS_PER_COUNT = 40           # the FPGA counter runs at 25 MHz


def footprint(path):
    with open(path, "rb") as f:
        elf = ELFFile(f)
        sizes = {"text": 0, "data": 0, "bss": 0}
        for s in elf.iter_sections():
            if not s["sh_flags"] & 2:
                continue
            kind = "bss" if s["sh_type"] == "SHT_NOBITS" else "data" if s["sh_flags"] & 1 else "text"
            sizes[kind] += s["sh_size"]
        return sizes


def spawn(board, bench_flag, storage, hsm=None, image="test"):
    cmd = qemu.command(board, flash=qemu.flash_path(board, image), serial="stdio", icount=True, storage=storage, hsm=hsm)
    if bench_flag:
        b = load_board(board)
        cmd += ["-device", "loader,addr=0x%x,data=0x%x,data-len=4" % (b.BENCH_FLAG_ADDR, b.BENCH_FLAG)]
    return pexpect.spawn(cmd[0], cmd[1:], timeout=120, encoding="utf-8", codec_errors="replace")


def sha256_figures(board):
    """Instructions a byte of the bootloader's SHA-256 and of mbedtls's C,
    from the harness (tools/shaharness.py), which also checks both agree."""
    r = shaharness.run(board)
    if r["sweep"][0] or r["big"][0] != r["big"][1]:
        raise SystemExit("bench: the SHA-256 harness found the assembly and mbedtls's C disagree: %r" % (r,))
    return {"sha256_per_byte": r["asm_per_byte"], "sha256_c_per_byte": r["c_per_byte"]}


def run_device(board):
    with tempfile.TemporaryDirectory(prefix="qenex-bench-") as tmp:
        out = sha256_figures(board)
        out.update(boots(board, os.path.join(tmp, "storage.bin")))
        out.update(hsm_round_trips(board, tmp))
    with tempfile.TemporaryDirectory(prefix="qenex-bench-") as tmp:
        out.update(install_hold(board, tmp))
    with tempfile.TemporaryDirectory(prefix="qenex-bench-") as tmp:
        out.update(gateway_messages(board, tmp))
        out.update(gateway_http(board, tmp))
    with tempfile.TemporaryDirectory(prefix="qenex-bench-") as tmp:
        out.update(task_irq_figures(board, tmp))
    return out


TASK_UART_BYTES = 262144     # uartecho reports every 256 KiB


def task_irq_rows(f):
    n = "{:,}".format
    return [
        ("task UART receive in bulk: SYS_UART read, instructions a byte (target <= 60; polled: ~2,500)",
         "%.2f" % (f["uart_read_x100"] / 100)),
        ("task UART transmit in bulk: SYS_UART write, instructions a byte (target <= 60; polled: ~800)",
         "%.2f" % (f["uart_write_x100"] / 100)),
        ("interrupt to the owning task running (timer 1 to its SYS_WAIT returning; irqtimer at priority 1, "
         "a driver's, above the services; spurious deliveries skipped): min / median (target <= 1,500)",
         "%s / %s" % (n(f["irq_to_task_min"]), n(f["irq_to_task_median"]))),
    ]


def task_irq_figures(board, tmp):
    """The dev image (userland/irqtest/): irqtimer's interrupt-to-task
    latency (timer 1 ticks from its interrupt to the owner running after
    its SYS_WAIT, 40 instructions a tick), and uartecho's SYS_UART costs a
    byte over a 256 KiB echo through UART3 (its own counter timing of its
    read and write calls: the bulk copies, not the UART's interrupt path)."""
    import socket
    import threading
    sock = os.path.join(tmp, "uart3.sock")
    cmd = qemu.command(board, flash=qemu.flash_path(board, "dev"), serial="stdio", icount=True,
                       storage=os.path.join(tmp, "storage.bin"))
    cmd += ["-serial", "chardev:u3", "-chardev", "socket,id=u3,path=%s,server=on,wait=off" % sock]
    child = pexpect.spawn(cmd[0], cmd[1:], timeout=300, encoding="utf-8", codec_errors="replace")
    out = {}
    try:
        up = False
        while not up or "irq_to_task_min" not in out:      # the two lines come in either order
            if child.expect([r"irqtimer: (\d+) irqs, latency ticks min (\d+) median (\d+) max (\d+) \(spurious \d+\)",
                             r"uartecho: up"]) == 0:
                out["irq_to_task_min"] = int(child.match.group(2)) * NS_PER_COUNT
                out["irq_to_task_median"] = int(child.match.group(3)) * NS_PER_COUNT
            else:
                up = True
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        data = os.urandom(TASK_UART_BYTES)
        t = threading.Thread(target=s.sendall, args=(data,), daemon=True)
        t.start()
        got = bytearray()
        s.settimeout(300)
        while len(got) < len(data):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        if bytes(got) != data:
            raise SystemExit("bench: UART3's echo lost or changed bytes (%d of %d back)" % (len(got), len(data)))
        child.expect(r"uartecho: %d bytes, syscalls read_x100 (\d+) write_x100 (\d+)" % TASK_UART_BYTES)
        out["uart_read_x100"] = int(child.match.group(1))
        out["uart_write_x100"] = int(child.match.group(2))
        s.close()
    finally:
        child.close(force=True)
    return out


GATEWAY_N = 40
# A new HSM made ready for keys: log in (the PIN typed after the `PIN: ` prompt), change the factory PIN.
HSM_READY = ("hsm login\r123456", "hsm pin\r123456\r246810\r246810")


@contextlib.contextmanager
def gateway_board(board, tmp, image, net=None, gdb=None):
    """The board booted (`image`, under icount) on a new storage file with a
    provisioned host link, the emulated HSM ready with the `audit` key, and
    ledger accounts 1 and 2; yields a logged-in host link."""
    from tools import hostlink
    storage = qemu.ensure_storage(os.path.join(tmp, "storage-%s.bin" % image), load_board(board).STORAGE_SIZE)
    key = hostlink.provision(storage, board, os.path.join(tmp, "hostlink-%s.key" % image))
    link_sock = os.path.join(tmp, "link-%s.sock" % image)
    with emulated_hsm(tmp) as hsm_sock:
        cmd = qemu.command(board, flash=qemu.flash_path(board, image), serial="stdio", icount=True, storage=storage,
                           hsm=hsm_sock, hostlink=link_sock, net=net, gdb=gdb)
        child = pexpect.spawn(cmd[0], cmd[1:], timeout=300, encoding="utf-8", codec_errors="replace")
        try:
            child.expect_exact("qenex> ")
            for line in HSM_READY + ("hsm gen ecdsa-p256 audit sign verify", "ledger account new 1 1 10",
                                     "ledger account new 2 1 10"):
                child.send(line + "\r")
                child.expect_exact("qenex> ")
            link = hostlink.Link(link_sock, key)
            link.console = child            # for task_cpu()
            try:
                yield link
            finally:
                link.close()
        finally:
            child.close(force=True)


def task_cpu(child):
    """{task name: CPU ms since boot} from the shell's `cpu`, "idle", and
    "busy_counts": the 25 MHz counter less its idle counts (mod 2**32; 40
    instructions a count: what the board ran, exactly)."""
    child.send("cpu\r")
    child.expect_exact("qenex> ")
    out = {}
    for line in child.before.splitlines():
        m = re.match(r"up \d+ ms, idle (\d+) ms", line.strip())
        if m:
            out["idle"] = int(m.group(1))
        m = re.match(r"25 MHz counter (\d+), idle (\d+)", line.strip())
        if m:
            out["busy_counts"] = (int(m.group(1)) - int(m.group(2))) % (1 << 32)
        m = re.match(r"\d+\s+(\S+)\s+(\d+)$", line.strip())
        if m:
            out[m.group(1)] = int(m.group(2))
    if "idle" not in out or "busy_counts" not in out or len(out) < 3:
        raise SystemExit("bench: `cpu` printed no table: %r" % child.before[-300:])
    return out


def cpu_by_task(before, after, n):
    """{task: CPU ms per message} between two task_cpu() readings (tasks that ran, idle left out)."""
    return {t: (after[t] - before.get(t, 0)) / n for t in after
            if t not in ("idle", "busy_counts") and after[t] != before.get(t, 0)}


def ran(before, after, n):
    """Instructions the board ran per message between two task_cpu() readings (exact)."""
    return (after["busy_counts"] - before["busy_counts"]) % (1 << 32) * NS_PER_COUNT // n


def by_task_row(ms):
    n = "{:,}".format
    return ", ".join("%s %s" % (t, n(int(v * 1000000))) for t, v in sorted(ms.items(), key=lambda kv: -kv[1]))


def gateway_messages(board, tmp):
    """pacs.008 and FIX NewOrderSingle end to end over the host link: guest
    ms per message and per stage (the gateway's own counters), wall time."""
    from drivers.hsm import frame as F
    out = {}
    with open(os.path.join(ROOT, "tests", "vectors", "gateway", "pacs008.xml")) as f:
        pacs = f.read().replace("<NbOfTxs>2</NbOfTxs>", "<NbOfTxs>1</NbOfTxs>")
    pacs = pacs[:pacs.index("    <CdtTrfTxInf>\n      <PmtId><EndToEndId>E2E-0002")] + \
        "  </FIToFICstmrCdtTrf>\n</Document>\n"
    out["gw_pacs_bytes"] = len(pacs.replace("QX-20261126-0001", "B-0").encode())
    with gateway_board(board, tmp, "test") as link:
        s0 = link.stats()
        c0 = task_cpu(link.console)
        t0 = time.monotonic()
        for i in range(GATEWAY_N):
            answer = link.submit("pacs.008", pacs.replace("QX-20261126-0001", "B-%d" % i).encode())
            if "<GrpSts>ACSC</GrpSts>" not in answer:
                raise SystemExit("bench: pacs.008 not accepted: %s" % answer[:300])
        out["gw_pacs_wall_ms"] = (time.monotonic() - t0) * 1000 / GATEWAY_N
        out["gw_pacs_ran"] = ran(c0, task_cpu(link.console), GATEWAY_N)
        s1 = link.stats()
        link.control(0x44, F.fields(str(int(time.time() * 1000))))     # no FIX Logon without a date
        s1f = link.stats()
        if "\x0135=A\x01" not in link.submit("FIX", _fix(1, "A", [(98, "0"), (108, "30")])):
            raise SystemExit("bench: the FIX Logon was not answered with a Logon")
        c1 = task_cpu(link.console)
        t0 = time.monotonic()
        for i in range(GATEWAY_N):
            answer = link.submit("FIX", _fix(i + 2, "D", [(11, "B%d" % i), (55, "QNX"), (54, "1"), (38, "10"),
                                                          (40, "2"), (44, "100.00"), (60, "20261126-10:00:00")]))
            if "\x01150=0\x01" not in answer:
                raise SystemExit("bench: FIX order not accepted: %r" % answer[:300])
        out["gw_fix_wall_ms"] = (time.monotonic() - t0) * 1000 / GATEWAY_N
        out["gw_fix_ran"] = ran(c1, task_cpu(link.console), GATEWAY_N)
        s2 = link.stats()
    out["gw_pacs_ms"] = (s1["ticks"] - s0["ticks"]) / GATEWAY_N
    out["gw_fix_ms"] = (s2["ticks"] - s1f["ticks"]) / GATEWAY_N
    for stage in ("parse", "compliance", "ledger", "audit"):
        out["gw_%s_ms" % stage] = (s1["stage_ms"][stage] - s0["stage_ms"][stage]) / GATEWAY_N
    return out


HTTP_N = 10
# receive: what is not in the gateway's own stages (TCP through net, httpnet's HTTP, the relay calls)
HTTP_STAGES = ("receive", "parse", "compliance", "risk", "ledger", "audit", "answer")


def _pacs_3tx():
    with open(os.path.join(ROOT, "tests", "vectors", "gateway", "pacs008_3tx.xml"), "rb") as f:
        return f.read()


def _post_pacs(conn, pacs, i):
    """POST the pacs.008 as message i on the kept-alive connection; SystemExit unless accepted."""
    conn.request("POST", "/iso20022", body=pacs.replace(b"QX-20261203-3TX", b"H-%d" % i),
                 headers={"Content-Type": "application/xml"})
    r = conn.getresponse()
    answer = r.read()
    if r.status != 200 or b"<GrpSts>ACSC</GrpSts>" not in answer:
        raise SystemExit("bench: pacs.008 over HTTP not accepted: %d %s" % (r.status, answer[:300]))


def http_loop(fwd, n, after_first):
    """1 + n 3-transaction pacs.008 over one HTTP connection, after_first()
    called after the first (tools/guestprof.py's workload)."""
    import http.client
    pacs = _pacs_3tx()
    conn = http.client.HTTPConnection("127.0.0.1", fwd[("tcp", 80)], timeout=120)
    try:
        for i in range(n + 1):
            _post_pacs(conn, pacs, 100000 + i)
            if i == 0:
                after_first()
    finally:
        conn.close()


def fix_loop(fwd, n, after_first):
    """1 + n FIX orders over one session, each waiting for its report."""
    with FixClient(fwd[("tcp", 9878)]) as peer:
        for i in range(n + 1):
            peer.order(100000 + i)
            if i == 0:
                after_first()


def gateway_http(board, tmp):
    """On the production image, through QEMU's forwards: a 3-transaction
    pacs.008 (tests/vectors/gateway/pacs008_3tx.xml, 4.5 KB) POSTed over
    HTTP/1.1 to httpnet (one kept-alive connection), end to end through
    compliance, risk, the ledger and the audit entry; and FIX
    NewOrderSingle to ExecutionReport over TCP to fixnet (one session,
    each order waiting for its report). Guest ms per message and per stage
    (the gateway's counters, read over the host link), wall time."""
    import http.client
    from drivers.hsm import frame as F
    fwd = qemu.forwards([s for s in qemu.SERVICES if s[1] in (80, 9878)])
    pacs = _pacs_3tx()
    out = {"gw_http_bytes": len(pacs)}
    with gateway_board(board, tmp, "production", net=fwd) as link:
        link.control(0x44, F.fields(str(int(time.time() * 1000))))      # a status report needs the date
        conn = http.client.HTTPConnection("127.0.0.1", fwd[("tcp", 80)], timeout=120)

        def send(i):
            _post_pacs(conn, pacs, i)
        send(-1)                        # the connection and the first message's imports
        s0 = link.stats()               # (the readings nearest the loop: a stats call runs a collection)
        c0 = task_cpu(link.console)
        t0 = time.monotonic()
        for i in range(HTTP_N):
            send(i)
        out["gw_http_wall_ms"] = (time.monotonic() - t0) * 1000 / HTTP_N
        c1 = task_cpu(link.console)
        s1 = link.stats()
        out["gw_http_task_ms"] = cpu_by_task(c0, c1, HTTP_N)
        out["gw_http_ran"] = ran(c0, c1, HTTP_N)
        conn.close()
        with FixClient(fwd[("tcp", 9878)]) as fix_peer:
            fix_peer.order(0)           # the first order's imports
            s2 = link.stats()
            c2 = task_cpu(link.console)
            t0 = time.monotonic()
            for i in range(GATEWAY_N):
                fix_peer.order(i + 1)
            out["gw_fix_tcp_wall_ms"] = (time.monotonic() - t0) * 1000 / GATEWAY_N
            c3 = task_cpu(link.console)
            s3 = link.stats()
            out["gw_fix_tcp_task_ms"] = cpu_by_task(c2, c3, GATEWAY_N)
            out["gw_fix_tcp_ran"] = ran(c2, c3, GATEWAY_N)
    out["gw_http_ms"] = (s1["ticks"] - s0["ticks"]) / HTTP_N
    for stage in HTTP_STAGES[1:]:
        out["gw_http_%s_ms" % stage] = (s1["stage_ms"][stage] - s0["stage_ms"][stage]) / HTTP_N
    out["gw_fix_tcp_ms"] = (s3["ticks"] - s2["ticks"]) / GATEWAY_N
    out["gw_fix_tcp_session_ms"] = (s3["stage_ms"]["fix"] - s2["stage_ms"]["fix"]) / GATEWAY_N
    return out


class FixClient:
    """A FIX 4.4 initiator on a TCP socket (HOST to QENEX, the gateway's
    default session table), framed by the gateway's own encoder and reader:
    Logon with ResetSeqNumFlag, then orders one at a time."""

    def __init__(self, port):
        import socket
        from userland.gateway import fix
        self.fix, self.seq = fix, 1
        self.reader = fix.Reader()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.send("A", (98, "0"), (108, "30"), (141, "Y"))
        self.expect("\x0135=A\x01", "the Logon answer")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def send(self, mtype, *pairs):
        now = time.strftime("%Y%m%d-%H:%M:%S.000", time.gmtime())
        self.sock.sendall(self.fix.encode([(35, mtype), (49, "HOST"), (56, "QENEX"), (34, self.seq), (52, now)]
                                          + list(pairs)).encode("latin-1"))
        self.seq += 1

    def expect(self, needle, what):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            data = self.sock.recv(4096)
            if not data:
                raise SystemExit("bench: fixnet closed the connection waiting for %s" % what)
            for m in self.reader.feed(data):
                if needle in m:
                    return m
        raise SystemExit("bench: no %s from fixnet in 60 s" % what)

    def order(self, i):
        self.send("D", (11, "T%d" % i), (55, "QNX"), (54, "1"), (38, "10"), (40, "2"), (44, "100.00"),
                  (60, time.strftime("%Y%m%d-%H:%M:%S", time.gmtime())))
        self.expect("\x0111=T%d\x01" % i, "the ExecutionReport of order T%d" % i)


def link_ran_rows(f):
    n = "{:,}".format
    return [("gateway: over the host link, instructions the board ran per message (exact; the guest ns above "
             "include the board waiting for the host): pacs.008 / FIX order", "%s / %s" % (n(f["gw_pacs_ran"]),
                                                                                        n(f["gw_fix_ran"])))]


def http_rows(f):
    n = "{:,}".format
    staged = sum(f["gw_http_%s_ms" % t] for t in HTTP_STAGES[1:]) * 1000000
    return [
        ("gateway: 3-transaction pacs.008 (%s bytes) over HTTP, end to end: instructions the board ran per message "
         "(exact: the 25 MHz counter less its idle counts)" % n(f["gw_http_bytes"]), n(f["gw_http_ran"])),
        ("  of which %s (the gateway's whole-ms stage counters; receive: the rest, TCP through net, httpnet, "
         "the relay calls)" % " / ".join(HTTP_STAGES),
         " / ".join(n(int(f["gw_http_%s_ms" % s] * 1000000)) if s != "receive" else n(int(f["gw_http_ran"] - staged))
                    for s in HTTP_STAGES)),
        ("  of which by task, CPU (guest instructions; the shell's `cpu` before and after)",
         by_task_row(f["gw_http_task_ms"])),
        ("gateway: XML parse over HTTP, guest instructions a byte",
         n(int(f["gw_http_parse_ms"] * 1000000) // f["gw_http_bytes"])),
        ("gateway: host wall time per pacs.008 over HTTP (ms)", "%.1f" % f["gw_http_wall_ms"]),
        ("gateway: FIX NewOrderSingle to ExecutionReport over TCP: instructions the board ran per order (exact)",
         n(f["gw_fix_tcp_ran"])),
        ("  of which the gateway's FIX session (guest instructions)", n(int(f["gw_fix_tcp_session_ms"] * 1000000))),
        ("  of which by task, CPU (guest instructions)", by_task_row(f["gw_fix_tcp_task_ms"])),
        ("gateway: host wall time per FIX order over TCP (ms)", "%.1f" % f["gw_fix_tcp_wall_ms"])]


NET_BULK = 1 << 20          # bytes echoed for the bulk figure
NET_RR = 1000               # request/response round trips on one connection
NET_CRC = 200               # connect + request + close


def net_figures(board):
    """TCP through lwIP on the LAN9118 (the dev image's netecho, reached
    through QEMU's user network): guest instructions the echo task's steps
    that handled events took (its busy counter: 40 instructions a count of
    the 25 MHz counter under -icount shift=0; the waits between steps, and
    what other tasks run meanwhile, are not in it), per byte of a bulk echo
    (each byte received and sent back), per request/response round trip of
    64 bytes on an open connection, and per connect + request + close."""
    import socket
    fwd = qemu.forwards()
    with tempfile.TemporaryDirectory(prefix="qenex-bench-") as tmp:
        storage = qemu.ensure_storage(os.path.join(tmp, "storage.bin"), load_board(board).STORAGE_SIZE)
        cmd = qemu.command(board, flash=qemu.flash_path(board, "dev"), serial="stdio", icount=True,
                           storage=storage, net=fwd)
        child = pexpect.spawn(cmd[0], cmd[1:], timeout=120, encoding="utf-8", codec_errors="replace")
        try:
            child.expect(r"netecho: address 10\.0\.2\.15")
            stats = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            stats.settimeout(5)

            def counter(op):
                for _ in range(5):
                    stats.sendto(op, ("127.0.0.1", fwd[("udp", 8)]))
                    try:
                        return int(stats.recvfrom(100)[0].split()[1]) * NS_PER_COUNT
                    except socket.timeout:
                        continue
                raise SystemExit("bench: netecho's counters do not answer")

            def conn():
                c = socket.create_connection(("127.0.0.1", fwd[("tcp", 7)]), timeout=30)
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return c

            def exchange(c, msg):
                c.sendall(msg)
                got = b""
                while len(got) < len(msg):
                    chunk = c.recv(65536)
                    if not chunk:
                        raise SystemExit("bench: netecho closed")
                    got += chunk
                if got != msg:
                    raise SystemExit("bench: netecho echoed other bytes")

            out = {}
            c = conn()
            exchange(c, b"warm up")
            counter(b"reset")
            t0 = time.monotonic()
            exchange(c, bytes(range(256)) * (NET_BULK // 256))
            out["net_bulk_wall_s"] = time.monotonic() - t0
            time.sleep(0.3)
            out["net_echo_per_byte"] = counter(b"read") / NET_BULK
            msg = b"r" * 64
            counter(b"reset")
            for _ in range(NET_RR):
                exchange(c, msg)
            time.sleep(0.3)
            out["net_round_trip"] = counter(b"read") // NET_RR
            c.close()
            time.sleep(0.3)
            counter(b"reset")
            for _ in range(NET_CRC):
                c = conn()
                exchange(c, msg)
                c.close()
            time.sleep(0.5)
            out["net_connect_request_close"] = counter(b"read") // NET_CRC
            stats.close()
        finally:
            child.close(force=True)
    return out


def net_rows(f):
    n = "{:,}".format
    return [
        ("TCP echo through lwIP, per byte (received and sent back; target <= 40 a byte device to host)",
         "%.1f" % f["net_echo_per_byte"]),
        ("TCP request/response round trip, 64 bytes, open connection (target <= 60,000)", n(f["net_round_trip"])),
        ("TCP connect + request + close (target <= 200,000)", n(f["net_connect_request_close"])),
        ("TCP echo of 1 MiB, host wall time under -icount (s)", "%.2f" % f["net_bulk_wall_s"]),
    ]


PULSE = r"pulse: longest gap (\d+) counts"


def install_hold(board, tmp):
    """Install hello (userland/bundles/hello) from the shell while `pulse`
    (priority 2, as the services) spins reading the 25 MHz counter: the
    longest gap between two of its runs from the install command to the
    window after the install ended (guest instructions: 40 a count), and
    what the shell says of the check (steps, guest time from its first to
    its last step, the longest step). The paste is sent a line at a time
    (tests/qemu/test_install_hold.py does the same and fails above a slice)."""
    import base64
    import subprocess
    import sys
    hello = os.path.join(ROOT, "userland", "bundles", "hello")
    path = os.path.join(tmp, "hello.qxb")
    subprocess.run([sys.executable, "-m", "tools.qenex", "bundle", "make", "--key",
                    os.path.join(ROOT, "build", "keys", "dev-ecdsa-p256.pem"), "--version", "1.0.0",
                    os.path.join(hello, "manifest.bundle"), os.path.join(hello, "main.py"), path],
                   check=True, cwd=ROOT, capture_output=True, timeout=60)
    with open(path, "rb") as f:
        text = base64.b64encode(f.read()).decode()
    child = spawn(board, False, os.path.join(tmp, "storage.bin"))
    out = {}
    try:
        child.expect_exact("qenex> ")
        settle(child)
        child.send("start pulse\r")
        child.expect(PULSE)
        child.expect(PULSE)
        child.send("tasks install hello\r")
        child.expect_exact("send the bundle as base64 lines, then an empty line")
        held = []
        for i in range(0, len(text), 76):
            child.send(text[i:i + 76] + "\r")
            time.sleep(0.03)
        child.send("\r")
        i = child.expect([r"signature checked in (\d+) steps over (\d+)\.(\d) ms, the longest (\d+) us",
                          r"\[y/N\] "], timeout=120)
        if i == 0:
            steps, ms, tenth, longest = (int(x) for x in child.match.groups())
            out.update(install_check_steps=steps, install_check_us=ms * 1000 + tenth * 100,
                       install_longest_step_us=longest)
            child.expect(r"\[y/N\] ")
        held += [int(x) for x in re.findall(PULSE, child.before)]
        child.send("y\r")
        child.expect(r"installed hello .*\n")
        held += [int(x) for x in re.findall(PULSE, child.before)]
        child.expect(PULSE)                         # the window the install ended in
        held.append(int(child.match.group(1)))
        out["install_hold"] = max(held) * NS_PER_COUNT
    finally:
        child.close(force=True)
    return out


def _fix(seq, mtype, pairs):
    """A FIX message from the host, framed by the gateway's own encoder."""
    from userland.gateway import fix
    head = [(35, mtype), (49, "HOST"), (56, "QENEX"), (34, seq), (52, "20261126-10:00:00")]
    return fix.encode(head + pairs).encode("latin-1")


@contextlib.contextmanager
def emulated_hsm(tmp):
    """The emulated HSM serving on a socket in tmp (its state there too),
    for the length of a with block; yields the socket's path."""
    sock = os.path.join(tmp, "hsm.sock")
    with hsm_process.running(sock, os.path.join(tmp, "hsm.json")):
        yield sock


def hsm_round_trips(board, tmp):
    """Sign round trips from a task through the hsm service to the emulated
    HSM: guest time per signature, frames per guest second, host wall time."""
    out = {}
    with emulated_hsm(tmp) as sock:
        child = spawn(board, False, os.path.join(tmp, "storage.bin"), hsm=sock)
        try:
            child.expect_exact("qenex> ")
            for line in HSM_READY + ("hsm gen ecdsa-p256 bench-sign sign",):
                child.send(line + "\r")
                child.expect_exact("qenex> ")
            t0 = time.monotonic()

            collect(child, "hsmbench", r"bench: hsm done", out)
            out["hsm_wall_ms"] = (time.monotonic() - t0) * 1000 / 51
        finally:
            child.close(force=True)
    return out


def settle(child):
    """Wait until the tasks started at boot have all come to rest (none
    ready): a task still starting would share the CPU with the benchmark."""
    for _ in range(50):
        child.send("ps\r")
        child.expect_exact("qenex> ")
        if not re.search(r"\bready\b", child.before):
            return
        time.sleep(0.2)
    raise SystemExit("bench: tasks never came to rest:\n%s" % child.before)


def collect(child, task, done, out):
    """Start a bench task and gather its "bench: NAME N" lines into `out`
    until the line `done`; a fault or a refusal ends the benchmark."""
    child.send("start %s\r" % task)
    while True:
        i = child.expect([r"bench: (\w+) (\d+)\s", done, r"fault: .*|bench: \w+ refused.*"], timeout=600)
        if i == 0:
            out[child.match.group(1)] = int(child.match.group(2))
        elif i == 1:
            return
        else:
            raise SystemExit("bench: %s: %s" % (task, child.match.group(0)))


def boot_figures(board, storage, image="test"):
    """Boot `image` twice on the board's storage file: a factory-fresh
    board's first boot writes the boot state, so the figures are those of
    the second, of a confirmed image (the 25 MHz counter, via `uptime`)."""
    child = spawn(board, False, storage, image=image)
    try:
        child.expect_exact("qenex> ")
    finally:
        child.close(force=True)
    t0 = time.monotonic()
    child = spawn(board, False, storage, image=image)
    try:
        child.expect_exact("qenex> ")
        wall = time.monotonic() - t0
        child.send("uptime\r")
        child.expect(r"boot to prompt: (\d+) counts.*\n\s+bootloader and image check (\d+) counts, "
                     r"kernel start (\d+) counts")
        prompt, entry, start = (int(x) for x in child.match.groups())
    finally:
        child.close(force=True)
    return dict(boot_to_prompt=prompt * NS_PER_COUNT, bootloader=entry * NS_PER_COUNT,
                kernel_start=start * NS_PER_COUNT, wall_s=wall)


def boots(board, storage):
    out = boot_figures(board, storage)
    with tempfile.TemporaryDirectory(prefix="qenex-bench-") as tmp:
        prod = boot_figures(board, os.path.join(tmp, "storage.bin"), "production")
    out.update(("prod_" + k, v) for k, v in prod.items())
    # Second boot, with the bench flag: the workload alone, then the bench task.
    child = spawn(board, True, storage)
    try:
        child.expect(r"bench: cpu_alone_ms (\d+)\s")
        out["cpu_alone_ms"] = int(child.match.group(1))
        child.expect_exact("qenex> ")
        settle(child)
        collect(child, "bench", r"bench: done", out)
        child.send("poweroff\r")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    out.update(ledger_figures(board))
    return out


def ledger_figures(board):
    """ledgerbench's rows, in the dev image (its 512 KiB block leaves the
    test image's pool no room for bundles), on a storage file of its own."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="qenex-bench-") as tmp:
        child = spawn(board, False, os.path.join(tmp, "storage.bin"), image="dev")
        try:
            child.expect_exact("qenex> ")
            settle(child)
            collect(child, "ledgerbench", r"bench: ledger done", out)
        finally:
            child.close(force=True)
    return out


# --- the switch and the kernel's own costs (issue 14), 25 MHz counter -------
# userland/bench's switch_figures() prints these in hundredths of an
# instruction ("NAME_x100"), timed with the FPGA counter over 20,000
# repetitions; each row is shown with its target.

def _x(f, key):
    return f[key + "_x100"] / 100


def switch_itself(f):
    """The switch itself: a switch iteration minus an iteration whose yield is
    answered at once (nobody else ready), plus that answer's own SVC path
    (SWITCH_ALONE_SVC instructions, counted from the disassembly)."""
    return _x(f, "switch_raw") - _x(f, "yield_alone_raw") + SWITCH_ALONE_SVC


def switch_rows(f):
    """(measure, value) rows for the switch figures, each with its target."""
    loop = _x(f, "loop")
    sw_raw, sw_py = _x(f, "switch_raw"), _x(f, "switch_py")
    alone_raw = _x(f, "yield_alone_raw")
    itself = switch_itself(f)
    t = lambda v, target: "%s (target <= %s)" % ("{:,.1f}".format(v), "{:,}".format(target))
    g = lambda k: "{:,.0f}".format(_x(f, k))
    return [
        ("empty Python loop iteration (counter-timed, subtracted nowhere)", "%.1f" % loop),
        ("null syscall, raw _qx.syscall (SYS_TICKS fast path)", "%.1f" % _x(f, "null_syscall")),
        ("yield, nobody else ready: raw _qx.syscall / qenex.yield_()", "%.1f / %.1f" % (alone_raw, _x(f, "yield_alone_py"))),
        ("the switch itself (SVC entry to the other task running, VM state and MPU)", t(itself, 200)),
        ("yield between two tasks, raw _qx.syscall loop (per switch)", "%.1f" % sw_raw),
        ("yield between two tasks, qenex.yield_() loop (per switch)", t(sw_py, 700)),
        ("qenex.ticks() (allocates nothing): fresh heap / heap full of garbage",
         "%s / %s" % (g("ticks_fresh"), g("ticks_garbage"))),
        ("bytearray(16) in a fresh heap / full of garbage, no GC threshold",
         "%s / %s" % (g("alloc_fresh"), g("alloc_garbage"))),
        ("bytearray(16) in a fresh heap / full of garbage, gc_threshold %d (manifest)" % f["gc_threshold"],
         "%s / %s" % (g("alloc_fresh_threshold"), g("alloc_garbage_threshold"))),
    ]


def host_wait_rows(f):
    """Rows that wait on the host (the HSM emulator): guest time includes
    the idle time QEMU skips forward (-icount sleep=off), which depends on
    the host; what the board executed is that less the kernel's idle time
    over the same run (hsmbench reads KCTL_PS's counter and idle_counts,
    the board's 25 MHz counter and the counts of it spent idle, polled or
    asleep, around it)."""
    if "hsm_sign_busy_instr" not in f:
        return []
    return [("HSM: ECDSA P-256 sign round trip, instructions executed (guest time less idle)",
             "{:,}".format(f["hsm_sign_busy_instr"]))]


# Instructions from SVC_Handler's first to its return into the same task for
# a yield answered by the trap layer's alone fast path (hal/arch/armv7m/
# trap.c qx_record_syscall, then kernel/port/ipcfast.c qx_yield_fast),
# counted exactly by `python -m tools.svctrace` (QEMU logs every
# instruction SVC_Handler and what it calls execute; the bench's alone loop
# is the path it prints 20,000 times over): 101 (SVC_Handler 9,
# qx_record_syscall 30, qx_yield_fast 54, the clock 8). Recount when that
# path changes.
SWITCH_ALONE_SVC = 101


def switch_only(board):
    """`python -m tools.bench --switch`: boot with the bench task only and
    print the switch rows (a quick loop while working on the switch)."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="qenex-bench-") as tmp:
        storage = os.path.join(tmp, "storage.bin")
        for _ in range(2):          # the first boot of a fresh board writes its boot state
            child = spawn(board, False, storage)
            try:
                child.expect_exact("qenex> ")
                if _:
                    settle(child)
                    collect(child, "bench", r"bench: done", out)
            finally:
                child.close(force=True)
    for name, value in switch_rows(out):
        print("| %s | %s |" % (name, value))


def gateway_only(board):
    """The gateway's rows alone, and parse instructions a byte of the pacs.008 sent."""
    with tempfile.TemporaryDirectory(prefix="qenex-bench-") as tmp:
        f = gateway_messages(board, tmp)
        f.update(gateway_http(board, tmp))
    n = "{:,}".format
    parse = int(f["gw_parse_ms"] * 1000000)
    for name, value in (
            ("gateway: pacs.008 end to end over the host link (guest ns per message, link included)",
             n(int(f["gw_pacs_ms"] * 1000000))),
            ("  of which parse / compliance / ledger / audit (guest instructions)",
             " / ".join(n(int(f["gw_%s_ms" % s] * 1000000)) for s in ("parse", "compliance", "ledger", "audit"))),
            ("gateway: pacs.008 parse, guest instructions a byte (%d bytes)" % f["gw_pacs_bytes"],
             n(parse // f["gw_pacs_bytes"])),
            ("gateway: FIX NewOrderSingle to ExecutionReport (guest ns per message, link included)",
             n(int(f["gw_fix_ms"] * 1000000)))) + tuple(link_ran_rows(f)) + tuple(http_rows(f)):
        print("| %s | %s |" % (name, value))


def hsm_only(board):
    """`python -m tools.bench --hsm`: the HSM sign rows alone (a quick loop
    while working on the link), and the hsm service's link counters."""
    with tempfile.TemporaryDirectory(prefix="qenex-bench-") as tmp:
        f = hsm_round_trips(board, tmp)
    print(" ".join("%s=%s" % kv for kv in sorted(f.items()) if kv[0].startswith("hsm_sign")))
    n = "{:,}".format
    for name, value in [
            ("HSM: ECDSA P-256 sign round trip from a task, guest time (us)", n(f["hsm_sign_round_trip_us"])),
            ("HSM: the same, host wall time (ms, emulator included)", "%.2f" % f["hsm_wall_ms"]),
            ("HSM: link frames per guest second (request + response)", n(f["hsm_frames_per_s"]))] + host_wait_rows(f):
        print("| %s | %s |" % (name, value))


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--board", default="mps2-an385")
    p.add_argument("--switch", action="store_true", help="only the switch figures (bench task alone)")
    p.add_argument("--install", action="store_true", help="only the install figures")
    p.add_argument("--net", action="store_true", help="only the TCP figures (dev image, netecho)")
    p.add_argument("--irq", action="store_true", help="only the task interrupt and task UART figures (dev image)")
    p.add_argument("--gateway", action="store_true", help="only the gateway figures (pacs.008 and FIX over the host "
                                                          "link, pacs.008 over HTTP)")
    p.add_argument("--hsm", action="store_true", help="only the HSM sign round trip figures (test image)")
    args = p.parse_args()
    if args.hsm:
        return hsm_only(args.board)
    if args.irq:
        with tempfile.TemporaryDirectory(prefix="qenex-bench-") as tmp:
            f = task_irq_figures(args.board, tmp)
        for name, value in task_irq_rows(f):
            print("| %s | %s |" % (name, value))
        return
    if args.gateway:
        return gateway_only(args.board)
    if args.net:
        for name, value in net_rows(net_figures(args.board)):
            print("| %s | %s |" % (name, value))
        return
    if args.switch:
        return switch_only(args.board)
    if args.install:
        with tempfile.TemporaryDirectory(prefix="qenex-bench-") as tmp:
            f = install_hold(args.board, tmp)
        for k in sorted(f):
            print("| %s | %s |" % (k, "{:,}".format(f[k])))
        return
    board = load_board(args.board)
    b = qemu.build_path(args.board, "test")        # `make bench` boots the test image
    k, bl = footprint(b + "/kernel/firmware.elf"), footprint(b + "/boot/boot.elf")
    f = run_device(args.board)
    f.update(net_figures(args.board))
    over = (f["cpu_task_ms"] - f["cpu_alone_ms"]) * 1000 // f["cpu_alone_ms"]
    n = "{:,}".format
    rows = [
        ("kernel firmware text / data / bss (bytes)", "%d / %d / %d" % (k["text"], k["data"], k["bss"])),
        ("bootloader text / data / bss (bytes)", "%d / %d / %d" % (bl["text"], bl["data"], bl["bss"])),
        ("bootloader: SHA-256 + ECDSA P-256 check of the image (test image)", n(f["bootloader"])),
        ("kernel start to qenex> prompt (tasks started; test image)", n(f["kernel_start"])),
        ("reset to qenex> prompt (test image)", n(f["boot_to_prompt"])),
        ("bootloader: SHA-256 + ECDSA P-256 check of the image (production)", n(f["prod_bootloader"])),
        ("kernel start to qenex> prompt (production)", n(f["prod_kernel_start"])),
        ("reset to qenex> prompt (production: what a user boots)", n(f["prod_boot_to_prompt"])),
        ("SHA-256, instructions a byte: bootloader's (OpenSSL ARMv7 asm) / mbedtls's C -O2",
         "%.2f / %.2f" % (f["sha256_per_byte"], f["sha256_c_per_byte"])),
        ("reset to prompt, wall time incl. QEMU start (test image)", "%.2f s" % f["wall_s"]),
        ("function call inside one VM (Python)", n(f["function_call"])),
        ("null syscall from a Python task (SYS_TICKS, trap-layer fast path)", n(f["null_syscall"])),
        ("syscall through the Python kernel (SYS_SLEEP 0)", n(f["kernel_syscall"])),
        ("yield with no other task ready (trap-layer fast path)", n(f["yield_alone"])),
        ("IPC round trip, 4 bytes, raw syscalls on both sides", n(f["ipc_round_trip_raw_both"])),
        ("IPC round trip, raw call to ponger (qenex library server)", n(f["ipc_round_trip"])),
        ("IPC round trip, qenex.call() to ponger", n(f["ipc_round_trip_qenex_call"])),
        ("IPC round trip (raw both sides) / function call",
         "%dx" % (f["ipc_round_trip_raw_both"] // max(1, f["function_call"]))),
        ("task start (start request to its first message)", n(f["task_start"])),
        ("CPU-bound work alone / in a task (ms)", "%d / %d" % (f["cpu_alone_ms"], f["cpu_task_ms"])),
        ("kernel overhead on a CPU-bound task", "%d.%d %%" % (over // 10, over % 10)),
        ("ledger, in memory: one transfer per batch (instructions per transfer)",
         n(f["ledger_mem_single_us"] * 1000)),
        ("ledger, in memory: batches of 100 (instructions per transfer)", n(f["ledger_mem_batch100_us"] * 1000)),
        ("ledger, durable (write-ahead log): one per batch (instructions per transfer)",
         n(f["ledger_durable_single_us"] * 1000)),
        ("ledger, durable: batches of 100 (instructions per transfer)", n(f["ledger_durable_batch100_us"] * 1000)),
        ("ledger, durable, batches of 100: transfers per second at 25 MHz",
         n(25 * 1000000 // max(1, f["ledger_durable_batch100_us"] * 1000))),
        ("ledger: recovery of a log of %s transfers (guest ms)" % n(f["ledger_recovered_transfers"]),
         n(f["ledger_recovery_ms"])),
        ("gateway: pacs.008 end to end over the host link (guest ns per message, link included)",
         n(int(f["gw_pacs_ms"] * 1000000))),
        ("  of which parse / compliance / ledger / audit (guest instructions)",
         " / ".join(n(int(f["gw_%s_ms" % s] * 1000000)) for s in ("parse", "compliance", "ledger", "audit"))),
        ("gateway: pacs.008 messages per second at 25 MHz", "%.1f" % (25 / max(f["gw_pacs_ms"], 0.001))),
        ("gateway: FIX NewOrderSingle to ExecutionReport (guest ns per message, link included)",
         n(int(f["gw_fix_ms"] * 1000000))),
        ("gateway: host wall time per pacs.008 / per FIX order (ms)",
         "%.1f / %.1f" % (f["gw_pacs_wall_ms"], f["gw_fix_wall_ms"])),
        ("HSM: ECDSA P-256 sign round trip from a task, guest time (us)", n(f["hsm_sign_round_trip_us"])),
        ("HSM: the same, host wall time (ms, emulator included)", "%.1f" % f["hsm_wall_ms"]),
        ("HSM: link frames per guest second (request + response)", n(f["hsm_frames_per_s"])),
        ("install: longest hold of other tasks (guest instructions; target <= one time slice, %s)"
         % n(benchcharts.SLICE_INSTRUCTIONS), n(f["install_hold"])),
        ("install: the bundle's check (SHA-256 + ECDSA P-256): steps / guest time first to last step "
         "(others' turns and the shell's 1 ms sleeps included) / longest step (us)",
         "%s / %s us / %s us" % (f.get("install_check_steps", "-"), n(f["install_check_us"])
                                 if "install_check_us" in f else "-",
                                 n(f["install_longest_step_us"]) if "install_longest_step_us" in f else "-")),
    ] + link_ran_rows(f) + http_rows(f) + task_irq_rows(f) + net_rows(f) + host_wait_rows(f) + switch_rows(f)
    print("QENEX OS benchmarks on %s (qemu-system-arm -icount shift=0; guest instructions "
          "unless stated)" % board.NAME)
    w = max(len(r[0]) for r in rows)
    print("| %s | %s |" % ("measure".ljust(w), "value"))
    print("| %s | --- |" % ("-" * w))
    for name, value in rows:
        print("| %s | %s |" % (name.ljust(w), value))
    f["switch_itself"], f["yield_py_switch"] = switch_itself(f), _x(f, "switch_py")
    benchcharts.report(f)


if __name__ == "__main__":
    main()
