"""Buddy allocator over the task RAM pool.

Holds the pool's bookkeeping: which power-of-two blocks are free, which are
allocated and to whom, each owner's usage and quota. Every block is naturally
aligned (its address is a multiple of its size) and at least 32 bytes, so one
block is exactly one ARMv7-M MPU region. Freeing coalesces a block with its
buddy (the other half of the block they were split from) as far up as it goes.

It does not touch the memory itself, program the MPU or know what a task is:
an owner is any hashable value the caller picks (a task id), None excepted.

Failures raise errors.KernelError, checked in table order:
  BAD_ARGUMENT  size not a positive int, owner None, quota not an int >= 0
  QUOTA         the owner's allocated bytes plus this block exceed its quota
  NO_MEMORY     no free block of the rounded size or larger
  BAD_FREE      free() of an address that is not the start of an allocated
                block (this covers a double free), or of another owner's block

check() asserts the invariants: free and allocated blocks tile the pool
exactly, every block is aligned to its size, no free block has a free buddy,
per-owner usage matches the blocks. Pure Python, runs under MicroPython
(integers only) and CPython.
"""

from kernel.errors import KernelError, BAD_ARGUMENT, QUOTA, NO_MEMORY, BAD_FREE

MPU_MIN_ORDER = 5   # 32 bytes: the smallest ARMv7-M MPU region


def bit_length(n):
    """Number of bits needed for n >= 0 (int.bit_length, absent on MicroPython)."""
    assert n >= 0
    bits = 0
    while n >= 0x10000:         # 16 bits, then 4, then 1 at a time: a few rounds, not one a bit
        n >>= 16
        bits += 16
    while n >= 0x10:
        n >>= 4
        bits += 4
    while n:
        n >>= 1
        bits += 1
    return bits


def is_int(x):
    """An int that is not a bool (MicroPython's bool is no int subclass)."""
    return type(x) is int      # not isinstance: a bool is no word (one test, no call inside)


def is_pow2(n):
    return is_int(n) and n > 0 and (n & (n - 1)) == 0


def ceil_pow2(n):
    """Smallest power of two >= n, for n >= 1."""
    assert n >= 1
    return 1 << bit_length(n - 1)


def order_of(size):
    """k such that 2**k == size, for a power of two."""
    assert is_pow2(size)
    return bit_length(size) - 1


class Buddy:
    """Buddy(base, size, min_order): a pool of `size` bytes at `base`.
    size is a power of two, base a multiple of size, and blocks are never
    smaller than 2**min_order bytes (min_order >= 5, one MPU region)."""

    def __init__(self, base, size, min_order=MPU_MIN_ORDER):
        if not is_pow2(size):
            raise KernelError(BAD_ARGUMENT, "pool size %r is not a power of two" % (size,))
        if not is_int(base) or base < 0 or base % size != 0:
            raise KernelError(BAD_ARGUMENT, "pool base %r is not aligned to its size 0x%x" % (base, size))
        if not is_int(min_order) or min_order < MPU_MIN_ORDER or (1 << min_order) > size:
            raise KernelError(BAD_ARGUMENT, "min_order %r is not between %d and log2(pool size) %d"
                              % (min_order, MPU_MIN_ORDER, order_of(size)))
        self.base = base
        self.size = size
        self.min_order = min_order
        self.max_order = order_of(size)
        # order -> set of addresses of free blocks of that order
        self.free_sets = {}
        for order in range(min_order, self.max_order + 1):
            self.free_sets[order] = set()
        self.free_sets[self.max_order].add(base)
        self.allocated = {}     # addr -> (order, owner)
        self.used = {}          # owner -> allocated bytes (absent when 0)
        self.quotas = {}        # owner -> bytes (absent: no limit but the pool)
        self.free_bytes = size

    # --- queries --------------------------------------------------------

    def block_size_for(self, size):
        """The block size alloc(size) would hand out."""
        return max(ceil_pow2(size), 1 << self.min_order)

    def used_by(self, owner):
        return self.used.get(owner, 0)

    def quota_of(self, owner):
        """The owner's quota in bytes, or None when it has none."""
        return self.quotas.get(owner)

    def largest_free(self):
        for order in range(self.max_order, self.min_order - 1, -1):
            if self.free_sets[order]:
                return 1 << order
        return 0

    def owner_of(self, addr):
        """(block addr, block size, owner or None) of the block holding addr,
        or None when addr lies outside the pool. For naming the task that
        owns a faulting address."""
        if not is_int(addr) or not (self.base <= addr < self.base + self.size):
            return None
        for order in range(self.min_order, self.max_order + 1):
            start = addr - ((addr - self.base) % (1 << order))
            got = self.allocated.get(start)
            if got is not None and got[0] == order:
                return (start, 1 << order, got[1])
            if start in self.free_sets[order]:
                return (start, 1 << order, None)
        assert False, "address 0x%x is in no block" % addr

    def stats(self):
        """dict(total, free, largest_free, blocks): blocks is a list of
        (addr, size, owner or None) sorted by address."""
        blocks = []
        for order in self.free_sets:
            for addr in self.free_sets[order]:
                blocks.append((addr, 1 << order, None))
        for addr in self.allocated:
            order, owner = self.allocated[addr]
            blocks.append((addr, 1 << order, owner))
        blocks.sort(key=lambda b: b[0])
        return {
            "total": self.size,
            "free": self.free_bytes,
            "largest_free": self.largest_free(),
            "blocks": blocks,
        }

    # --- operations -----------------------------------------------------

    def set_quota(self, owner, nbytes):
        """Cap the owner's allocated bytes (rounded block sizes) at nbytes;
        None removes the cap. A quota below current usage is allowed: only
        later allocations fail."""
        if owner is None:
            raise KernelError(BAD_ARGUMENT, "owner may not be None")
        if nbytes is None:
            self.quotas.pop(owner, None)
            return
        if not is_int(nbytes) or nbytes < 0:
            raise KernelError(BAD_ARGUMENT, "quota %r is not an int >= 0" % (nbytes,))
        self.quotas[owner] = nbytes

    def alloc(self, size, owner):
        """A block of at least `size` bytes for owner: (addr, block_size).
        The lowest-addressed free block of the smallest fitting order is
        split down to size, so allocation is deterministic."""
        if not is_int(size) or size <= 0:
            raise KernelError(BAD_ARGUMENT, "size %r is not an int > 0" % (size,))
        if owner is None:
            raise KernelError(BAD_ARGUMENT, "owner may not be None")
        block = self.block_size_for(size)
        quota = self.quotas.get(owner)
        if quota is not None and self.used_by(owner) + block > quota:
            raise KernelError(QUOTA, "%r asks for %d bytes (block %d) with %d of its %d in use"
                              % (owner, size, block, self.used_by(owner), quota))
        want = order_of(block)
        order = want
        while order <= self.max_order and not self.free_sets[order]:
            order += 1
        if order > self.max_order:
            raise KernelError(NO_MEMORY, "no free block of %d bytes for %r (%d free, largest %d)"
                              % (block, owner, self.free_bytes, self.largest_free()))
        addr = min(self.free_sets[order])
        self.free_sets[order].remove(addr)
        while order > want:         # keep the lower half, free the upper
            order -= 1
            self.free_sets[order].add(addr + (1 << order))
        assert addr % block == 0 and addr not in self.allocated
        self.allocated[addr] = (want, owner)
        self.used[owner] = self.used_by(owner) + block
        self.free_bytes -= block
        return addr, block

    def free(self, addr, owner):
        """Give back the block that starts at addr; returns its size."""
        got = self.allocated.get(addr) if is_int(addr) else None
        if got is None:
            raise KernelError(BAD_FREE, "%s is not the start of an allocated block (freed by %r)"
                              % (_hex(addr), owner))
        order, holder = got
        if holder != owner:
            raise KernelError(BAD_FREE, "block %s belongs to %r, not %r" % (_hex(addr), holder, owner))
        self._release(addr, order, owner)
        return 1 << order

    def free_owner(self, owner):
        """Give back every block of owner (its task ended); returns the bytes."""
        mine = [a for a in self.allocated if self.allocated[a][1] == owner]
        mine.sort()
        total = 0
        for addr in mine:
            order = self.allocated[addr][0]
            self._release(addr, order, owner)
            total += 1 << order
        assert owner not in self.used
        return total

    def _release(self, addr, order, owner):
        del self.allocated[addr]
        size = 1 << order
        left = self.used[owner] - size
        assert left >= 0
        if left:
            self.used[owner] = left
        else:
            del self.used[owner]
        self.free_bytes += size
        while order < self.max_order:
            buddy = self.base + ((addr - self.base) ^ (1 << order))
            if buddy not in self.free_sets[order]:
                break
            self.free_sets[order].remove(buddy)
            if buddy < addr:
                addr = buddy
            order += 1
        self.free_sets[order].add(addr)

    # --- invariants -----------------------------------------------------

    def check(self):
        """Assert every invariant of the pool; returns True."""
        blocks = self.stats()["blocks"]
        at = self.base
        free_total = 0
        usage = {}
        for addr, size, owner in blocks:
            assert addr == at, "gap or overlap at 0x%x (block at 0x%x)" % (at, addr)
            assert is_pow2(size), "block 0x%x size %r" % (addr, size)
            assert (1 << self.min_order) <= size <= self.size, "block 0x%x size %d out of range" % (addr, size)
            assert addr % size == 0, "block 0x%x not aligned to its size %d" % (addr, size)
            if owner is None:
                free_total += size
                order = order_of(size)
                if order < self.max_order:
                    buddy = self.base + ((addr - self.base) ^ size)
                    assert buddy not in self.free_sets[order], \
                        "free buddies 0x%x and 0x%x left uncoalesced" % (addr, buddy)
                assert addr not in self.allocated, "block 0x%x both free and allocated" % addr
            else:
                usage[owner] = usage.get(owner, 0) + size
            at = addr + size
        assert at == self.base + self.size, "blocks end at 0x%x, pool at 0x%x" % (at, self.base + self.size)
        assert free_total == self.free_bytes, "free %d, counted %d" % (self.free_bytes, free_total)
        assert usage == self.used, "usage %r, counted %r" % (self.used, usage)
        nfree = 0
        for order in self.free_sets:
            nfree += len(self.free_sets[order])
        assert nfree + len(self.allocated) == len(blocks), "a block is listed twice"
        return True


def _hex(addr):
    if is_int(addr):
        return "0x%x" % addr
    return repr(addr)
