"""The CPU-bound workload `make bench` times twice: in a task under the kernel,
and alone in the kernel's own VM before any task starts (kernel/main.py, when
the bench flag is set). Integers only."""


CPU_WORK = 1000000          # iterations: about half a second of guest time


def cpu_work(n):
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) & 0xFFFFFF
    return acc
