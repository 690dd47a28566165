"""Isolation between VMs, checked on the linked firmware: every writable global
of the MicroPython core that a VM touches must sit in the .vmstate block (the
one swapped on every switch and the only RW region a task gets besides its own
memory), and every other writable global must be a known kernel/driver one.
A module added later that brings a new global fails here until it is placed.
The net task's state (lwIP's, the LAN9118 driver's, `_net`'s: the objects
built from lwIP's tree, drivers/net/ and kernel/port/modnet.c) is the third
kind: every writable global of those files is in the .net/.netbss sections
(device net_ram, the net task's alone), and nothing else is."""
import os

import pytest
from elftools.elf.elffile import ELFFile

from tools.layout import ROOT

ELF = os.path.join(ROOT, "build", "mps2-an385", "kernel", "firmware.elf")

# Per-VM state: lives in .vmstate, swapped on every switch.
VM_GLOBALS = {"mp_state_ctx", "mp_interrupt_char", "yasmarang_pad", "yasmarang_n", "yasmarang_d",
              "yasmarang_dat", "qx_vm_r1", "qx_vm_gc_run_hint"}   # (the last: gc-run-hint.patch)
# Kernel-only state (privileged RAM; a task touching it faults), by owner.
KERNEL_GLOBALS = {
    "gc_heap", "qx_entry_counter",                                   # kernel VM (main.c)
    "ring", "head", "tail", "received", "dropped", "rx_paused", "uart", "tx_prev",  # drivers/uart
    "ticks", "hz", "timer",                                          # drivers/timer
    "qx_current", "qx_event", "qx_slice", "qx_slice_left", "qx_deadline_ms", "qx_irq_watch",
    "qx_cur_ctx", "qx_next_ctx", "qx_kernel_msp", "pend_kind", "pend_bits",
    "qx_fast_syscalls", "qx_irq_pending", "qx_irq_owner",            # trap.c
    "qx_tuarts",                                                     # drivers/uart/task_uart.c
    "qx_fasttab", "qx_fastlog", "qx_fastlog_len", "qx_fast_enabled",  # ipcfast.c
    "tasks", "kernel_vm", "ev_args", "ev_syscall", "idle_counts",    # modtrap.c (ev_*: the reused syscall event)
    "region", "region_size", "sector_size",                          # drivers/flash
    # mbedtls's restartable-ECC budget (ecp.c, MBEDTLS_ECP_RESTARTABLE): set
    # once at kernel start to a constant (kernel/port/imgcheck.c
    # qx_imgcheck_init), read by every ECDSA verification, which only the
    # kernel's VM runs; in kernel RAM that no task region covers
    # (test_mbedtls_budget_is_out_of_every_task_region).
    "ecp_max_ops",
}


@pytest.fixture(scope="module")
def writable():
    if not os.path.exists(ELF):
        pytest.fail("firmware not built: run `make build` first")
    with open(ELF, "rb") as f:
        elf = ELFFile(f)
        sections = {s.name: (s["sh_addr"], s["sh_addr"] + s["sh_size"]) for s in elf.iter_sections()}
        out = {}
        for sym in elf.get_section_by_name(".symtab").iter_symbols():
            if sym["st_info"]["type"] != "STT_OBJECT" or sym["st_shndx"] in ("SHN_UNDEF", "SHN_ABS"):
                continue
            sec = elf.get_section(sym["st_shndx"])
            if sec["sh_flags"] & 1:                          # SHF_WRITE
                out[sym.name] = (sec.name, sym["st_value"], sym["st_size"])
        return out, sections


def test_every_vm_global_is_inside_the_vmstate_block(writable):
    syms, sections = writable
    lo, hi = sections[".vmstate"]
    for name in VM_GLOBALS & set(syms):
        sec, addr, size = syms[name]
        assert sec == ".vmstate" and lo <= addr and addr + size <= hi, name
    assert "mp_state_ctx" in syms


@pytest.fixture(scope="module")
def symbols():
    """Every symbol of the ELF with its value (the linker's absolute ones too)."""
    with open(ELF, "rb") as f:
        return {s.name: s["st_value"] for s in ELFFile(f).get_section_by_name(".symtab").iter_symbols()}


SUBREGIONS = 8


def granted(base, size_field, srd):
    """[lo, hi) that a PMSAv7 region with RBAR base and RASR SIZE/SRD fields
    gives a task: its enabled subregions, which must be one run from its base
    (disabled ones only at the top), else a task could reach the gap."""
    size = 2 << size_field
    assert base % size == 0, "region base 0x%x not aligned to its size %d" % (base, size)
    enabled = [not (srd >> i) & 1 for i in range(SUBREGIONS)]
    n = enabled.count(True)
    assert enabled == [True] * n + [False] * (SUBREGIONS - n), "SRD 0x%02x leaves holes" % srd
    return base, base + n * size // SUBREGIONS


def test_vmstate_block_fits_one_1k_mpu_region(writable, symbols):
    syms, sections = writable
    lo, hi = sections[".vmstate"]
    assert lo % 1024 == 0 and lo == symbols["_svmstate"] and hi == symbols["_gvmstate"]
    used = max(addr + size for sec, addr, size in syms.values() if sec == ".vmstate") - lo
    assert used <= symbols["_evmstate"] - lo <= hi - lo <= 1024


def test_the_mpu_grants_exactly_the_swapped_vm_state(writable, symbols):
    """Issue 13: the region was 1 KiB and 0x290 bytes were swapped, so the
    tail was shared by every task. The trap layer swaps [_svmstate,
    _gvmstate) (kernel/port/modtrap.c VMSTATE_LEN) and programs the region
    from the linker's _qx_vmstate_rasr_size/_srd (hal/arch/armv7m/mpu.c):
    what those fields grant must be that range, byte for byte, and hold no
    other writable data."""
    syms, sections = writable
    svm, evm, gvm = symbols["_svmstate"], symbols["_evmstate"], symbols["_gvmstate"]
    lo, hi = granted(svm, symbols["_qx_vmstate_rasr_size"], symbols["_qx_vmstate_rasr_srd"])
    swapped = (svm, gvm)
    assert (lo, hi) == swapped, "MPU grants 0x%x..0x%x, the switch swaps 0x%x..0x%x" % (lo, hi, svm, gvm)
    assert (gvm - svm) % 32 == 0 and gvm - evm < 1024 // SUBREGIONS   # whole ldm/stm copies, one subregion of padding at most
    for name, (a, b) in sections.items():
        if name != ".vmstate" and a < b and a < hi and lo < b:
            pytest.fail("section %s (0x%x..0x%x) lies in the VM-state region a task may write" % (name, a, b))
    for name, (sec, addr, size) in syms.items():
        if lo <= addr < hi:
            assert name in VM_GLOBALS, "%s in the granted VM-state region" % name


NET_SECTIONS = (".net", ".netbss")


@pytest.fixture(scope="module")
def input_sections():
    """[(addr, size, object file)] of every .data/.bss input section the
    link placed, from the linker map (firmware.map): which file each
    writable global comes from."""
    out = []
    pending = None
    placed = False                           # past the discarded sections' list
    for line in open(ELF[:-4] + ".map"):
        placed = placed or line.startswith("Linker script and memory map")
        m = line.split()
        if not placed:
            continue
        if not m:
            continue
        if m[0].startswith((".data", ".bss")) and len(m) == 1:
            pending = m[0]                   # a long name: the numbers follow on the next line
            continue
        if pending and len(m) == 3 and m[0].startswith("0x"):
            m = [pending] + m
        pending = None
        if len(m) == 4 and m[0].startswith((".data", ".bss")) and m[1].startswith("0x") and m[3].endswith(".o"):
            out.append((int(m[1], 16), int(m[2], 16), m[3]))
    return out


def net_object(path):
    """An object file whose writable globals are the net task's."""
    return "/lwip/" in path or "/drivers/net/" in path or path.endswith("/modnet.o")


def test_net_state_is_in_the_net_region_and_nothing_else_is(writable, input_sections, symbols, board_module):
    syms, sections = writable
    b = board_module
    lo, hi = b.NET_RAM_BASE, b.NET_RAM_BASE + b.NET_RAM_SIZE
    in_net = {n for n, (sec, _, _) in syms.items() if sec in NET_SECTIONS}
    assert {"ram_heap", "tcp_active_pcbs", "qx_netif", "net"} <= in_net, sorted(in_net)[:20]
    for name in in_net:
        sec, addr, size = syms[name]
        assert lo <= addr and addr + size <= hi, name
        assert name not in VM_GLOBALS | KERNEL_GLOBALS, name
    # Every writable global from lwIP, the driver or _net is in there, and
    # every one in there is from them.
    from_net = [(a, n, f) for a, n, f in input_sections if net_object(f)]
    assert len(from_net) > 50, "no lwIP objects in the map"
    for a, n, f in input_sections:
        inside = lo <= a < hi
        assert inside == net_object(f), "%s at 0x%x: %s the net region" % (f, a, "in" if inside else "outside")
    # The region is one MPU region, clear of kernel RAM and the task pool.
    assert b.NET_RAM_SIZE & (b.NET_RAM_SIZE - 1) == 0 and lo % b.NET_RAM_SIZE == 0
    assert symbols["_estack"] <= lo and hi <= b.TASK_POOL_BASE and hi <= b.BENCH_FLAG_ADDR
    assert symbols["_snet"] == lo and symbols["_enet"] <= hi
    for name, (a, z) in sections.items():
        if name not in NET_SECTIONS and a < z and a < hi and lo < z and a >= b.RAM_BASE:
            pytest.fail("section %s (0x%x..0x%x) lies in the net region" % (name, a, z))
    assert ("net_ram", lo, b.NET_RAM_SIZE) in [d[:3] for d in b.DEVICES]


def test_no_writable_global_is_unaccounted_for(writable):
    syms, _ = writable
    unknown = sorted(n for n, (sec, _, _) in syms.items()
                     if n not in VM_GLOBALS | KERNEL_GLOBALS and sec not in NET_SECTIONS)
    assert not unknown, ("writable globals not audited: %s — a VM's state goes in .vmstate "
                         "(hal/board/*/kernel.ld), kernel state in KERNEL_GLOBALS here" % unknown)
    in_vmstate = sorted(n for n, (sec, _, _) in syms.items() if sec == ".vmstate")
    assert set(in_vmstate) <= VM_GLOBALS, in_vmstate


def test_mbedtls_budget_is_out_of_every_task_region(writable, symbols, board_module):
    """ecp_max_ops is writable, so a task must not reach it: a task gets the
    flash (read-only), the VM-state block, its own block of the task pool
    and the devices its manifest names (hal/arch/armv7m/mpu.c); with
    PRIVDEFENA the rest of RAM is privileged-only (peek_kernel's MemManage
    fault in tests/qemu/test_isolation.py shows the kernel RAM is)."""
    syms, _ = writable
    sec, addr, size = syms["ecp_max_ops"]
    b = board_module
    assert b.RAM_BASE <= addr and addr + size <= b.TASK_POOL_BASE, hex(addr)
    lo, hi = granted(symbols["_svmstate"], symbols["_qx_vmstate_rasr_size"], symbols["_qx_vmstate_rasr_srd"])
    assert not (lo <= addr < hi)
    for name, base, n, _what in b.DEVICES:
        assert not (base <= addr < base + n), name


@pytest.fixture(scope="module")
def board_module():
    from tools.layout import load_board
    return load_board("mps2-an385")
