"""The images built for the mps2-an385: for each, the tasks it carries, the
storage partitions (devices) it maps and the data it freezes. This file is
the one description of each image (Hubris's app.toml plays this part); a
task's own rights (priority, memory, calls, devices, HSM keys) are in its
manifest, userland/<task>/manifest, and an image holds exactly the tasks
named here and only their code.

Read by the build only (tools/gather_manifests.py, never frozen), which
checks each image as one system: every named task has a manifest, no name
twice, every `calls` names a task of the same image, every device is one
the image maps, and the tasks' memory blocks fit the task pool. The shell's
`tasks image` prints the table back from the running image.

    production  images/mps2-an385/flash.bin: what `make run` boots and
                `make flash` writes
    test        images/mps2-an385/flash-test.bin: production and the fault,
                bench, demo and check tasks, their test vectors and the
                FPGA counter (`fpgaio`, which `bench` reads); the QEMU
                tests and `make bench` boot it
    dev         images/mps2-an385/flash-dev.bin: production, the tasks of
                the tests the test image has no room for (31 task ids, its
                pool's RAM kept for bundles): the network's (netecho,
                lwIP's echo service on the LAN9118), task interrupts and
                UARTs (userland/irqtest/), leases, ledgerbench (512 KiB)
                and its bench partition; and the FPGA counter; the QEMU
                tests of those and `make bench` boot it
"""

PRODUCTION_TASKS = ("shell", "hsm", "ledger", "gateway", "heartbeat", "net", "hostnet", "fixnet",
                    "httpnet")
# The test and dev images carry production's tasks but net and its clients
# hostnet (the host link over TCP), fixnet (FIX over TCP) and httpnet (ISO 20022 over HTTP): the test
# image has no task id to spare,
# and the dev image gives the LAN9118 to the network's test tasks (netecho),
# which test the stack below the sockets.
NET_TASKS = ("net", "hostnet", "fixnet", "httpnet")
BASE_TASKS = tuple(t for t in PRODUCTION_TASKS if t not in NET_TASKS)

IMAGES = {
    "production": {
        "flash": "flash.bin",
        "tasks": PRODUCTION_TASKS,
        "devices": ("uart1", "ledger_store", "uart2", "gateway_store", "eth", "net_ram"),
        "calls": {"shell": ("net",)},          # the shell's `net` (only this image has net)
        "vectors": ("userland/compliance/rules.json",),
    },
    "test": {
        "flash": "flash-test.bin",
        "tasks": BASE_TASKS + (
            "ponger", "pinger",                                   # IPC peers of the tests
            "bench", "benchpeer", "hsmbench",                     # `make bench`
            "hsmdemo", "hsmrogue", "ledgerload",                  # demos, attacks on the HSM
            "moneycheck", "gatewaycheck",                         # the vectors, checked on the board
            "pulse",                                              # how long other tasks are held
            "badcall", "crash", "deep_c", "halt", "hog", "peek_kernel", "peek_uart1", "plant",
            "poke_task", "recurse", "scan", "semihost", "spin",  # faults (userland/faulty/)
        ),
        "devices": ("uart1", "ledger_store", "uart2", "gateway_store", "fpgaio"),
        "calls": {"shell": ("ponger",)},       # the QEMU tests call ponger from the shell (test image only)
        "vectors": ("tests/vectors/money.txt", "tests/vectors/gateway/pacs008.xml",
                    "tests/vectors/gateway/pain001.xml", "tests/vectors/gateway/mt103.txt",
                    "userland/compliance/rules.json"),
    },
    "dev": {
        "flash": "flash-dev.bin",
        "tasks": BASE_TASKS + (
            "netecho", "netdhcp", "peek_eth", "net_rogue",        # the network (lwIP on the LAN9118)
            "uartecho", "irqtimer", "irqsnoop",                   # task interrupts and UARTs (userland/irqtest/)
            "leaser", "leasesrv",                                 # leases (tests/qemu/test_leases.py)
            "ledgerbench",                                        # `make bench`'s ledger rows (512 KiB)
        ),
        "devices": ("ledger_store", "gateway_store", "bench_store", "eth", "net_ram", "fpgaio", "timer1"),
        "vectors": ("userland/compliance/rules.json",),
    },
}
