"""`make bench`'s figures against their targets: the table that prints each
figure beside its target and peer, and the charts that draw them (one PNG per
group under docs/bench/, which the README's benchmarks section shows).

Holds the targets (issue 14 and the performance budget of the target design,
/work/shared/ARCHITECTURE.md) and the peer figures measured on the same board
(FreeRTOS-MPU, the bare-metal floor, plain MicroPython). It measures nothing:
tools/bench.py does, and hands the figures here as the dict it collected.
Drawing uses matplotlib's Agg backend, so it needs no display; a chart that
cannot be drawn is reported and the table still printed (the figures matter
more than the picture).
"""
import os

from tools.layout import ROOT

CHART_DIR = os.path.join(ROOT, "docs", "bench")

SLICE_INSTRUCTIONS = 10 * 1000000     # one time slice: 10 ticks of 1 ms (kernel.Kernel slice_ticks)
# Targets that read better in words than as a figure (the figure follows).
TARGET_TEXT = {"install_hold": "<= one time slice (%s)" % "{:,}".format(SLICE_INSTRUCTIONS)}

# (key in bench's figures, label, target or None, [(peer name, figure)]).
# Guest instructions under -icount shift=0 unless the label says otherwise.
GROUPS = (
    ("boot", "Boot (guest instructions, millions)", 1e6, (
        ("prod_boot_to_prompt", "reset to qenex> (signature checked), production", 30e6, ()),
        ("boot_to_prompt", "reset to qenex> (signature checked), test image", 30e6, ()),
        ("prod_bootloader", "bootloader: image hash + ECDSA P-256, production", 25e6, ()),
        ("bootloader", "bootloader: image hash + ECDSA P-256, test image", 25e6, ()),
        ("prod_kernel_start", "kernel start to qenex>, production", 5e6, ()),
        ("kernel_start", "kernel start to qenex>, test image", 5e6, ()),
    )),
    ("sha256", "SHA-256 in the bootloader (guest instructions a byte)", 1, (
        ("sha256_per_byte", "bootloader's: mbedtls + OpenSSL ARMv7 asm block", 25, ()),
        ("sha256_c_per_byte", "mbedtls's C, -O2", None, ()),
    )),
    ("kernel", "Kernel mechanisms (guest instructions, thousands)", 1e3, (
        ("task_start", "task start (request to first message)", 200000, ()),
        ("kernel_syscall", "syscall through the Python kernel (SLEEP 0)", 15000, ()),
        ("ipc_round_trip_raw_both", "IPC round trip, raw both sides", 10000, (("FreeRTOS-MPU", 2375),)),
        ("null_syscall", "null syscall from a Python task", 1000, (("FreeRTOS-MPU", 182),)),
        ("switch_itself", "the switch itself (SVC entry to the other task running)", 200,
         (("FreeRTOS-MPU", 97), ("bare floor, 4 MPU regions", 20.5))),
        ("yield_py_switch", "yield seen from Python (qenex.yield_(), per switch)", 700, ()),
        ("install_hold", "install: longest hold of other tasks", SLICE_INSTRUCTIONS, ()),
        ("function_call", "function call inside one VM", None, (("MicroPython 1.25", 439),)),
    )),
    ("services", "Services (guest instructions, thousands)", 1e3, (
        ("gw_http_instr", "gateway: 3-transaction pacs.008 (4.5 KB) over HTTP, end to end", 3e6, ()),
        ("gw_http_parse_per_byte", "gateway: XML parse, instructions a byte", 300, ()),
        ("gw_fix_tcp_instr", "gateway: FIX NewOrderSingle to ExecutionReport over TCP", 500000, ()),
        ("gw_pacs_instr", "gateway: 1-transaction pacs.008 end to end over the host link (UART)", None, ()),
        ("ledger_durable_batch100_instr", "ledger: durable transfer, batches of 100", 20000, ()),
        ("hsm_sign_round_trip_instr", "HSM: sign round trip (guest time)", None, ()),
    )),
)


def derived(f):
    """Figures the groups name that bench collects in other units."""
    out = dict(f)
    if "gw_pacs_ms" in f:
        out["gw_pacs_instr"] = int(f["gw_pacs_ms"] * 1000000)
    if "gw_http_ms" in f:       # what the board ran where it was counted, else its guest time
        out["gw_http_instr"] = f.get("gw_http_ran", int(f["gw_http_ms"] * 1000000))
        out["gw_http_parse_per_byte"] = int(f["gw_http_parse_ms"] * 1000000) // f["gw_http_bytes"]
    if "gw_fix_tcp_ms" in f:
        out["gw_fix_tcp_instr"] = f.get("gw_fix_tcp_ran", int(f["gw_fix_tcp_ms"] * 1000000))
    if "ledger_durable_batch100_us" in f:
        out["ledger_durable_batch100_instr"] = f["ledger_durable_batch100_us"] * 1000
    if "hsm_sign_round_trip_us" in f:
        out["hsm_sign_round_trip_instr"] = f["hsm_sign_round_trip_us"] * 1000
    return out


def rows(f):
    """[(group, label, value or None, target or None, peers, target text)] for every figure named."""
    f = derived(f)
    out = []
    for group, _, _, items in GROUPS:
        for key, label, target, peers in items:
            out.append((group, label, f.get(key), target, peers,
                        TARGET_TEXT.get(key, "-" if target is None else "<= " + "{:,}".format(int(target)))))
    return out


def print_targets(f):
    """The figures beside their targets (and peers), as a Markdown table."""
    n = "{:,}".format
    table = [("figure", "value", "target", "met", "peers")]
    for group, label, value, target, peers, target_text in rows(f):
        table.append(("%s: %s" % (group, label),
                      "not measured" if value is None else
                      n(int(value)) if value >= 1000 or value == int(value) else "%.1f" % value,
                      target_text,
                      "-" if target is None or value is None else ("yes" if value <= target else "no"),
                      ", ".join("%s %s" % (p, n(v)) for p, v in peers) or "-"))
    widths = [max(len(r[i]) for r in table) for i in range(5)]
    print("\nFigures against their targets (guest instructions)")
    for i, r in enumerate(table):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
        if i == 0:
            print("| " + " | ".join("-" * w for w in widths) + " |")


def draw(f, out_dir=CHART_DIR):
    """One horizontal bar chart per group: the figure, its target (a red
    tick) and the peers (black dots). Returns the paths written."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    f = derived(f)
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for group, title, unit, items in GROUPS:
        items = [i for i in items if f.get(i[0]) is not None]
        if not items:
            continue
        fig, ax = plt.subplots(figsize=(9, 0.8 + 0.6 * len(items)))
        ys = list(range(len(items)))[::-1]
        for y, (key, label, target, peers) in zip(ys, items):
            v = f[key] / unit
            met = target is None or f[key] <= target
            ax.barh(y, v, color="#4c72b0" if met else "#dd8452", height=0.6)
            ax.text(v, y, " %s" % "{:,.1f}".format(v), va="center", fontsize=8)
            if target is not None:
                ax.plot([target / unit] * 2, [y - 0.4, y + 0.4], color="red", lw=2)
            for p, pv in peers:
                ax.plot(pv / unit, y, "ko", ms=4)
                ax.annotate(p, (pv / unit, y - 0.3), fontsize=6)
        ax.set_yticks(ys)
        ax.set_yticklabels([i[1] for i in items], fontsize=8)
        ax.set_xscale("log" if group == "kernel" else "linear")
        ax.set_title(title + ": bar = QENEX, red = target, dot = peer", fontsize=9)
        fig.tight_layout()
        path = os.path.join(out_dir, "%s.png" % group)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


def report(f):
    """What `make bench` calls after its table: the targets table, then the charts."""
    print_targets(f)
    try:
        for p in draw(f):
            print("chart: %s" % os.path.relpath(p, ROOT))
    except Exception as e:       # noqa: a chart is not worth failing the figures for
        print("chart: not drawn (%s: %s)" % (type(e).__name__, e))
