"""Isolation between VMs, checked on the linked firmware: every writable global
of the MicroPython core that a VM touches must sit in the .vmstate block (the
one swapped on every switch and the only RW region a task gets besides its own
memory), and every other writable global must be a known kernel/driver one.
A module added later that brings a new global fails here until it is placed."""
import os

import pytest
from elftools.elf.elffile import ELFFile

from tools.layout import ROOT

ELF = os.path.join(ROOT, "build", "mps2-an385", "kernel", "firmware.elf")

# Per-VM state: lives in .vmstate, swapped on every switch.
VM_GLOBALS = {"mp_state_ctx", "mp_interrupt_char", "yasmarang_pad", "yasmarang_n", "yasmarang_d",
              "yasmarang_dat"}
# Kernel-only state (privileged RAM; a task touching it faults), by owner.
KERNEL_GLOBALS = {
    "gc_heap", "qx_entry_counter",                                   # kernel VM (main.c)
    "ring", "head", "tail", "received", "dropped", "rx_paused", "uart", "tx_prev",  # drivers/uart
    "ticks", "hz", "timer",                                          # drivers/timer
    "qx_current", "qx_event", "qx_slice", "qx_slice_left", "qx_deadline_ms", "qx_irq_watch",
    "qx_cur_ctx", "qx_next_ctx", "qx_kernel_msp", "pend_kind", "pend_bits", "qx_alone",
    "qx_fast_syscalls",                                              # trap.c
    "qx_ipc", "qx_other_best", "qx_fastlog", "qx_fastlog_len", "qx_fast_enabled", "made_ready",
    "n_ready", "qx_peer",                                            # ipcfast.c, modtrap.c
    "tasks", "kernel_vm",                                            # modtrap.c
    "region", "region_size", "sector_size",                          # drivers/flash
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


def test_vmstate_block_fits_one_1k_mpu_region(writable):
    syms, sections = writable
    lo, hi = sections[".vmstate"]
    assert lo % 1024 == 0 and hi - lo == 1024
    used = max(addr + size for sec, addr, size in syms.values() if sec == ".vmstate") - lo
    assert used <= 1024


def test_no_writable_global_is_unaccounted_for(writable):
    syms, _ = writable
    unknown = sorted(n for n in syms if n not in VM_GLOBALS | KERNEL_GLOBALS)
    assert not unknown, ("writable globals not audited: %s — a VM's state goes in .vmstate "
                         "(hal/board/*/kernel.ld), kernel state in KERNEL_GLOBALS here" % unknown)
    in_vmstate = sorted(n for n, (sec, _, _) in syms.items() if sec == ".vmstate")
    assert set(in_vmstate) <= VM_GLOBALS, in_vmstate
