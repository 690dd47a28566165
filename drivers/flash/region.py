"""A storage partition as a task sees it: the memory-mapped region granted
to it (manifest `devices`), with the rules of NOR flash kept in software, as
the kernel's C driver (drivers/flash/mapped_flash.c) keeps them: erase a
sector to 0xff; program only clears bits (FlashError otherwise, nothing
written). `mem` supplies read(addr, n) and write(addr, data): _qx.mem_read
and _qx.mem_write on the device (the MPU checks each access), a bytearray
in the host tests and tools."""


class FlashError(OSError):
    pass


class Region:
    def __init__(self, base, size, sector, read, write):
        self.base, self.size, self.sector = base, size, sector
        self._read, self._write = read, write
        self._erased = b"\xff" * sector       # one, kept: erasing allocates nothing

    def _check(self, off, n):
        if off < 0 or n < 0 or off + n > self.size:
            raise FlashError("0x%x+%d is outside the %d-byte region" % (off, n, self.size))

    def read(self, off, n):
        self._check(off, n)
        return self._read(self.base + off, n)

    def first_data(self, off, n):
        """The offset of the first byte in [off, off + n) that is not erased
        (0xff), or None: read a sector at a time, compared at C speed."""
        self._check(off, n)
        e = self._erased
        while n > 0:
            k = min(n, len(e))
            b = self._read(self.base + off, k)
            if b != (e if k == len(e) else e[:k]):
                for i in range(k):
                    if b[i] != 0xff:
                        return off + i
            off += k
            n -= k
        return None

    def last_data(self, off, n):
        """The offset of the last byte in [off, off + n) that is not erased,
        or None: read a sector at a time from the end."""
        self._check(off, n)
        e = self._erased
        end = off + n
        while end > off:
            k = min(end - off, len(e))
            b = self._read(self.base + end - k, k)
            kept = len(b.rstrip(b"\xff"))      # at C speed; b is bytes (mem_read's, MemoryImage's)
            if kept:
                return end - k + kept - 1
            end -= k
        return None

    def erase(self, off):
        if off % self.sector:
            raise FlashError("erase at 0x%x: not a sector boundary" % off)
        self._check(off, self.sector)
        self._write(self.base + off, self._erased)

    def program(self, off, data):
        self._check(off, len(data))
        old = self._read(self.base + off, len(data))
        if old.count(b"\xff") != len(old):            # the usual case, erased, is checked at C speed
            for i in range(len(data)):
                if old[i] & data[i] != data[i]:
                    raise FlashError("program at 0x%x: byte %d is not erased" % (off, i))
        self._write(self.base + off, data)


class MemoryImage:
    """read/write over a bytearray (a storage file read on the host)."""

    def __init__(self, data, base):
        self.data, self.base = data, base

    def read(self, addr, n):
        return bytes(self.data[addr - self.base:addr - self.base + n])

    def write(self, addr, data):
        self.data[addr - self.base:addr - self.base + len(data)] = data
