"""The secret that `plant` leaves in its memory and `scan` looks for in the
memory it is given next (tests/qemu/test_isolation.py). NEEDLE is a constant
of frozen code, so it lives in flash: `scan` never makes a copy of it in
RAM, and a match in its block can only be what `plant` left there."""

NEEDLE = b"QXSECRET:host-link-key:0123456789abcdef0123456789abcdef"
MARKER = 0x5EC2E7ED         # what plant leaves in the VM-state block's padding


def make():
    """A fresh copy of NEEDLE in the caller's heap, built byte by byte."""
    out = bytearray(len(NEEDLE))
    for i in range(len(NEEDLE)):
        out[i] = NEEDLE[i]
    return bytes(out)


def block_of(size):
    """(base, size) of the caller's block: aligned to its power-of-two size."""
    import _qx
    return _qx.addr(bytearray(4)) & ~(size - 1), size
