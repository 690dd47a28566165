"""Allocates until its heap is exhausted: MemoryError ends it."""


def main():
    keep = []
    while True:
        keep.append(bytearray(1024))
