"""QENEX OS userland: programs that run on top of the kernel VM."""
