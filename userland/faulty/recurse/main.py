"""Recurses without end: the stack limit stops it ("stack overflow")."""


def down(n):
    return down(n + 1) + 1


def main():
    down(0)
