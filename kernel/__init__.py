"""QENEX OS kernel: the Python side of the kernel, frozen into the firmware."""
