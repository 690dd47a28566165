"""Overflows its stack in C, past the bottom of its block, in one step that
MicroPython's recursion limit never sees (64 KiB of alloca, then a write at
its far end): the MPU stops the write (MemManage at an address below the
task's block)."""
import _qx


def main():
    _qx.stack_probe(64 * 1024)
