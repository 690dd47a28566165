"""Board description of the Arm MPS2 AN385 (Cortex-M3) as QEMU models it.

This file is the single source of the board's memory map: it is frozen into
the firmware (the shell's `mem` prints it), read by the host tools, and turned
into the linker-script and C-header constants by tools/layout.py. It holds
numbers only, no behaviour.

Flash layout (the 4 MiB ZBT SSRAM1 at 0x0, which QEMU loads `flash.bin` into and
which plays the part of the board's flash):

    0x00000000  boot     64 KiB   bootloader, reset vector at 0x0
    0x00010000  slot A   1.5 MiB  kernel image: 512 B header, firmware, TLVs
    0x00190000  slot B   1.5 MiB  second kernel slot; each slot's image is linked
                                  to run where it lies (execute in place)
    0x00310000  (free)   960 KiB

Persistent storage: the MPS2's memories are all RAM, and QEMU reloads
flash.bin on every start. QEMU backs the board's 16 MiB PSRAM at 0x21000000
with a host file instead (`-object memory-backend-file,share=on`, see
tools/qemu.py), so what the OS writes there survives a reset and a QEMU
restart, and a killed QEMU leaves exactly the bytes written so far. The
driver (drivers/flash/) gives it the behaviour of NOR flash: erase a sector
to 0xff, program only clears bits. A board with on-chip flash implements the
same three calls on its flash controller.

    0x21000000  boot state  2 sectors  the bootloader's record (boot/bootstate.c)
    0x21002000  bundles     1 MiB     installed task bundles
    0x21102000  (free)
    0x21200000  gateway     2 MiB     the host link's key (first sector) and the audit log
    0x21400000  bench       4 MiB     scratch for the ledger benchmark (granted to ledgerbench)
    0x21800000  ledger      8 MiB     the ledger's write-ahead log (granted to the ledger task)
"""

NAME = "mps2-an385"
CPU = "Cortex-M3"
QEMU_MACHINE = "mps2-an385"
SYSCLK_HZ = 25000000          # CMSDK timers and the FPGA counter tick at this

FLASH_BASE = 0x00000000
FLASH_SIZE = 0x00400000
BOOT_BASE = 0x00000000
BOOT_SIZE = 0x00010000
SLOT_A_BASE = 0x00010000
SLOT_B_BASE = 0x00190000
SLOT_SIZE = 0x00180000
STORAGE_BASE = 0x21000000    # PSRAM, file-backed under QEMU (see above)
STORAGE_SIZE = 0x01000000
SECTOR_SIZE = 0x1000          # erase unit of the storage driver
BOOT_STATE_OFFSET = 0x0       # two sectors, written alternately
BUNDLE_STORE_OFFSET = 0x2000
BUNDLE_STORE_SIZE = 0x00100000
GATEWAY_STORE_OFFSET = 0x00200000  # the host link key, then the audit log
GATEWAY_STORE_SIZE = 0x00200000
BENCH_STORE_OFFSET = 0x00400000    # scratch for `make bench`'s ledger figures
BENCH_STORE_SIZE = 0x00400000
LEDGER_STORE_OFFSET = 0x00800000   # an MPU region: aligned to its size
LEDGER_STORE_SIZE = 0x00800000
IMAGE_HEADER_SIZE = 0x200     # kernel vector table follows the header

RAM_BASE = 0x20000000
RAM_SIZE = 0x00400000
BOOT_RAM_SIZE = 0x00008000    # bootloader: top 32 KiB of RAM, dead after the jump
KERNEL_HEAP_SIZE = 0x00040000 # the kernel VM's MicroPython heap
KERNEL_STACK_SIZE = 0x00004000
TASK_POOL_BASE = 0x20200000   # task RAM pool: buddy blocks, each one MPU region
TASK_POOL_SIZE = 0x00200000   # to the end of RAM (the bootloader's RAM there is dead once the kernel runs)
MAX_TASKS = 32               # trap-layer task slots (tids 1..31)
BENCH_FLAG_ADDR = 0x201F0000  # `make bench` has QEMU's loader put BENCH_FLAG here
BENCH_FLAG = 0x42454E43       # "BENC": time the CPU workload in the kernel VM first
BOOT_INFO_ADDR = 0x201F0100   # the bootloader's hand-over to the kernel (boot/bootstate.h)

UART0_BASE = 0x40004000       # console
UART1_BASE = 0x40005000       # reserved: HSM link
UART2_BASE = 0x40006000       # reserved: host link
UART3_BASE = 0x40007000       # free: the dev image's UART tests (QEMU's fourth -serial)
UART0_RX_IRQ = 0
UART0_TX_IRQ = 1
UART1_RX_IRQ = 2
UART1_TX_IRQ = 3
UART2_RX_IRQ = 4
UART2_TX_IRQ = 5
UART3_RX_IRQ = 18
UART3_TX_IRQ = 19
UART_OVERFLOW_IRQ = 12
ETH_BASE = 0x40200000         # LAN9118 (QEMU's mps2 model: hw/arm/mps2.c)
ETH_IRQ = 13
TIMER0_BASE = 0x40000000      # kernel tick
TIMER0_IRQ = 8
TIMER1_BASE = 0x40001000
TIMER1_IRQ = 9
DUALTIMER_BASE = 0x40002000
FPGAIO_BASE = 0x40028000      # free-running 25 MHz counter at +0x18
ETH_BASE = 0x40200000         # SMSC LAN9118 (QEMU hw/arm/mps2.c), registers in its first 256 bytes
ETH_SIZE = 0x00001000
ETH_IRQ = 13
# The net task's lwIP state (drivers/net/STACK.md): lwIP's, the LAN9118 driver's
# and `_net`'s .data and .bss, linked here (the .net section of kernel.ld), one
# MPU region (aligned to its size) between the kernel's RAM below and
# BENCH_FLAG_ADDR above; granted as device `net_ram` to the net task alone.
NET_RAM_BASE = 0x20100000
NET_RAM_SIZE = 0x00020000
TICK_HZ = 1000

# Devices a task may be granted (manifest `devices`): name, MMIO base, size
# (one MPU region), what. The kernel maps the one a task names while it runs.
DEVICES = (
    ("uart1", UART1_BASE, 0x1000, "HSM link"),
    ("ledger_store", STORAGE_BASE + LEDGER_STORE_OFFSET, LEDGER_STORE_SIZE, "the ledger's log (storage)"),
    ("bench_store", STORAGE_BASE + BENCH_STORE_OFFSET, BENCH_STORE_SIZE, "scratch for ledger benchmarks"),
    ("uart2", UART2_BASE, 0x1000, "host link"),
    ("gateway_store", STORAGE_BASE + GATEWAY_STORE_OFFSET, GATEWAY_STORE_SIZE, "host link key and audit log"),
    ("fpgaio", FPGAIO_BASE, 0x1000, "FPGA I/O: the 25 MHz counter, for bench timing"),
    ("eth", ETH_BASE, ETH_SIZE, "LAN9118 Ethernet"),
    ("net_ram", NET_RAM_BASE, NET_RAM_SIZE, "the net task's lwIP state (RAM)"),
    ("timer1", TIMER1_BASE, 0x1000, "CMSDK timer 1 (its interrupt: irqs timer1)"),
)

# Interrupts a task may be granted (manifest `irqs = NAME:BIT`): name, the
# NVIC interrupt numbers behind it, how the kernel serves them, what.
#   raw   the trap layer's generic handler masks the IRQ in the NVIC and the
#         kernel raises the owner's notification bit; it stays masked until
#         the owner acknowledges it (SYS_IRQ IRQ_ACK)
#   uart  the kernel's UART driver fills the receive ring and drains the
#         transmit ring (SYS_UART, device number = the UART's): the owner's
#         bit is raised when data arrives on a ring it found empty, or space
#         frees in one it found full; nothing to acknowledge
IRQS = (
    ("uart1", (UART1_RX_IRQ, UART1_TX_IRQ), "uart", "HSM link (UART1): receive and transmit rings"),
    ("uart2", (UART2_RX_IRQ, UART2_TX_IRQ), "uart", "host link (UART2): receive and transmit rings"),
    ("eth", (ETH_IRQ,), "raw", "LAN9118 Ethernet"),
    ("uart3", (UART3_RX_IRQ, UART3_TX_IRQ), "uart", "UART3 (free): receive and transmit rings"),
    ("timer1", (TIMER1_IRQ,), "raw", "CMSDK timer 1 (free; its registers: device timer1)"),
)
# name, SYS_UART device number, MMIO base
TASK_UARTS = (("uart1", 1, UART1_BASE), ("uart2", 2, UART2_BASE), ("uart3", 3, UART3_BASE))

MEMORY_MAP = (
    # (name, base, size, what)
    ("boot", BOOT_BASE, BOOT_SIZE, "bootloader (flash)"),
    ("slot A", SLOT_A_BASE, SLOT_SIZE, "kernel image (flash)"),
    ("slot B", SLOT_B_BASE, SLOT_SIZE, "kernel image, second slot (flash)"),
    ("storage", STORAGE_BASE, STORAGE_SIZE, "persistent store (PSRAM, file-backed in QEMU)"),
    ("ram", RAM_BASE, RAM_SIZE, "SSRAM2/3: kernel data, heap, stack"),
    ("net", NET_RAM_BASE, NET_RAM_SIZE, "lwIP's state, the net task's (in ram)"),
    ("tasks", TASK_POOL_BASE, TASK_POOL_SIZE, "task RAM pool (in ram)"),
    ("apb", 0x40000000, 0x00010000, "CMSDK timers, UARTs"),
    ("fpgaio", FPGAIO_BASE, 0x00001000, "FPGA I/O, 25 MHz counter"),
    ("eth", ETH_BASE, ETH_SIZE, "LAN9118 Ethernet"),
)
