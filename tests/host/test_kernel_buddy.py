"""Host tests of kernel.buddy (the task RAM pool allocator) and kernel.errors:
every error code it raises, coalescing, quotas, and seeded random operation
sequences checked against a model after every step (a failing seed is named
in the assertion message and replays exactly)."""
import random

import pytest

from kernel import buddy, errors
from kernel.errors import KernelError

BASE = 0x20100000
POOL = 1 << 20          # 1 MiB, aligned: BASE is a multiple of it


def pool(min_order=5):
    b = buddy.Buddy(BASE, POOL, min_order)
    b.check()
    return b


def code_of(fn, *args):
    with pytest.raises(KernelError) as info:
        fn(*args)
    return info.value.code


# ---- errors -----------------------------------------------------------------

def test_error_codes_are_in_precedence_order_and_named():
    assert [row[0] for row in errors.TABLE] == list(range(len(errors.TABLE)))
    names = [row[1] for row in errors.TABLE]
    assert len(set(names)) == len(names)
    for code, name, doc in errors.TABLE:
        assert getattr(errors, name) == code
        assert errors.name_of(code) == name
        assert doc and errors.doc_of(code) == doc
    assert errors.TABLE[0][1] == "OK"
    for name in ("NO_SUCH_TASK", "NOT_PERMITTED", "PEER_DIED", "MSG_TOO_LARGE",
                 "BAD_ARGUMENT", "NO_MEMORY", "QUOTA", "BAD_FREE"):
        assert name in names


def test_name_of_unknown_code():
    assert errors.name_of(99) == "UNKNOWN(99)"
    assert errors.name_of(-1) == "UNKNOWN(-1)"
    assert errors.name_of("x") == "UNKNOWN('x')"
    assert errors.doc_of(99) == ""


def test_kernel_error_carries_code_and_message():
    e = KernelError(errors.NO_MEMORY, "no block of 64 bytes")
    assert e.code == errors.NO_MEMORY
    assert e.message == "no block of 64 bytes"
    assert str(e) == "NO_MEMORY: no block of 64 bytes"


# ---- helpers ------------------------------------------------------------------

def test_bit_length_and_pow2_helpers_match_python():
    for n in list(range(0, 300)) + [2**20 - 1, 2**20, 2**20 + 1, 2**31 - 1, 2**31, 2**40 + 3]:
        assert buddy.bit_length(n) == n.bit_length()
        if n >= 1:
            p = buddy.ceil_pow2(n)
            assert p >= n and p & (p - 1) == 0 and p // 2 < n
    assert buddy.is_pow2(1) and buddy.is_pow2(4096) and not buddy.is_pow2(0)
    assert not buddy.is_pow2(True) and not buddy.is_pow2(6)
    assert buddy.order_of(4096) == 12


# ---- construction -------------------------------------------------------------

def test_new_pool_is_one_free_block():
    st = pool().stats()
    assert st == {"total": POOL, "free": POOL, "largest_free": POOL,
                  "blocks": [(BASE, POOL, None)]}


@pytest.mark.parametrize("base, size, min_order", [
    (BASE, 3 << 18, 5),            # size not a power of two
    (BASE + 4096, POOL, 5),        # base not aligned to the size
    (BASE, POOL, 4),               # blocks smaller than an MPU region
    (BASE, 4096, 13),              # minimum block larger than the pool
    (-POOL, POOL, 5),
])
def test_bad_pool_geometry_is_bad_argument(base, size, min_order):
    assert code_of(buddy.Buddy, base, size, min_order) == errors.BAD_ARGUMENT


# ---- alloc --------------------------------------------------------------------

def test_alloc_rounds_up_to_a_power_of_two_and_aligns():
    b = pool()
    addr, size = b.alloc(5000, "a")
    assert size == 8192 and addr % size == 0
    b.check()
    addr, size = b.alloc(1, "a")
    assert size == 32 and addr % 32 == 0
    b.check()
    assert b.used_by("a") == 8192 + 32


def test_alloc_never_goes_below_min_order():
    b = pool(min_order=12)
    assert b.alloc(1, "a")[1] == 4096
    b.check()


def test_alloc_takes_lowest_address_first_and_splits_buddies():
    b = pool()
    a1, _ = b.alloc(4096, "a")
    a2, _ = b.alloc(4096, "a")
    assert a1 == BASE and a2 == BASE + 4096
    b.check()
    sizes = [blk[1] for blk in b.stats()["blocks"] if blk[2] is None]
    assert sum(sizes) == POOL - 8192
    assert sorted(sizes) == [8192 << k for k in range(0, 7)]


def test_whole_pool_then_no_memory():
    b = pool()
    addr, size = b.alloc(POOL, 1)
    assert (addr, size) == (BASE, POOL)
    e = pytest.raises(KernelError, b.alloc, 32, 2).value
    assert e.code == errors.NO_MEMORY and "32" in e.message
    b.check()


def test_larger_than_pool_is_no_memory():
    assert code_of(pool().alloc, POOL + 1, "a") == errors.NO_MEMORY


def test_no_memory_when_fragmented_though_enough_bytes_are_free():
    b = pool()
    addrs = [b.alloc(POOL // 4, "a")[0] for _ in range(4)]
    b.free(addrs[0], "a")
    b.free(addrs[2], "a")
    assert b.stats()["free"] == POOL // 2
    assert code_of(b.alloc, POOL // 2, "a") == errors.NO_MEMORY
    b.check()


@pytest.mark.parametrize("size", [0, -1, True, "64", None, 1.0])
def test_bad_size_is_bad_argument(size):
    assert code_of(pool().alloc, size, "a") == errors.BAD_ARGUMENT


def test_owner_none_is_bad_argument():
    assert code_of(pool().alloc, 64, None) == errors.BAD_ARGUMENT


# ---- quota ----------------------------------------------------------------------

def test_quota_counts_rounded_blocks():
    b = pool()
    b.set_quota("t", 16384)
    b.alloc(5000, "t")            # 8192
    b.alloc(4096, "t")            # 4096 -> 12288
    e = pytest.raises(KernelError, b.alloc, 4097, "t").value   # 8192 more: 20480
    assert e.code == errors.QUOTA and "16384" in e.message
    b.alloc(4096, "t")            # exactly at quota
    assert b.used_by("t") == 16384 and b.quota_of("t") == 16384
    assert code_of(b.alloc, 1, "t") == errors.QUOTA
    b.alloc(POOL // 2, "other")   # other owners unaffected
    b.check()


def test_quota_is_checked_before_no_memory():
    b = pool()
    b.alloc(POOL, "big")
    b.set_quota("t", 64)
    assert code_of(b.alloc, 128, "t") == errors.QUOTA     # both apply: QUOTA wins
    assert code_of(b.alloc, 64, "t") == errors.NO_MEMORY


def test_quota_frees_up_after_free_and_can_be_removed():
    b = pool()
    b.set_quota("t", 4096)
    addr, _ = b.alloc(4096, "t")
    assert code_of(b.alloc, 32, "t") == errors.QUOTA
    b.free(addr, "t")
    b.alloc(4096, "t")
    b.set_quota("t", None)
    assert b.quota_of("t") is None
    b.alloc(8192, "t")
    b.check()


@pytest.mark.parametrize("q", [-1, "4096", True, 1.5])
def test_bad_quota_is_bad_argument(q):
    assert code_of(pool().set_quota, "t", q) == errors.BAD_ARGUMENT


# ---- free -------------------------------------------------------------------------

def test_free_coalesces_back_to_one_block():
    b = pool()
    got = [b.alloc(s, "a") for s in (32, 4096, 100, 65536, 7, 200000)]
    random.Random(1).shuffle(got)
    for addr, size in got:
        assert b.free(addr, "a") == size
        b.check()
    assert b.stats()["blocks"] == [(BASE, POOL, None)]
    assert b.used_by("a") == 0


def test_double_free_is_bad_free():
    b = pool()
    addr, _ = b.alloc(64, "a")
    b.free(addr, "a")
    e = pytest.raises(KernelError, b.free, addr, "a").value
    assert e.code == errors.BAD_FREE and "0x%x" % addr in e.message
    b.check()


def test_free_of_address_inside_a_block_is_bad_free():
    b = pool()
    addr, _ = b.alloc(4096, "a")
    assert code_of(b.free, addr + 32, "a") == errors.BAD_FREE
    assert code_of(b.free, BASE + POOL, "a") == errors.BAD_FREE
    assert code_of(b.free, "0x100", "a") == errors.BAD_FREE
    assert b.stats()["blocks"][0] == (addr, 4096, "a")
    b.check()


def test_free_of_another_owners_block_is_bad_free_and_changes_nothing():
    b = pool()
    addr, _ = b.alloc(4096, "a")
    before = b.stats()
    e = pytest.raises(KernelError, b.free, addr, "b").value
    assert e.code == errors.BAD_FREE and "'a'" in e.message and "'b'" in e.message
    assert b.stats() == before
    b.check()


def test_free_owner_releases_everything_of_that_owner_only():
    b = pool()
    mine = [b.alloc(s, 7)[1] for s in (32, 5000, 70000)]
    theirs = b.alloc(4096, 8)
    assert b.free_owner(7) == sum(mine)
    b.check()
    assert b.used_by(7) == 0 and b.used_by(8) == 4096
    assert [blk for blk in b.stats()["blocks"] if blk[2] is not None] == [(theirs[0], 4096, 8)]
    assert b.free_owner(7) == 0
    b.free(theirs[0], 8)
    assert b.stats()["blocks"] == [(BASE, POOL, None)]


def test_owner_of_names_the_block_holding_an_address():
    b = pool()
    addr, size = b.alloc(4096, "ledger")
    assert b.owner_of(addr) == (addr, 4096, "ledger")
    assert b.owner_of(addr + 4095) == (addr, 4096, "ledger")
    assert b.owner_of(addr + 4096)[2] is None
    assert b.owner_of(BASE - 1) is None and b.owner_of(BASE + POOL) is None


def test_check_catches_uncoalesced_buddies():
    b = pool()
    addr, _ = b.alloc(POOL // 2, "a")
    b.allocated.pop(addr)                 # corrupt: two free halves side by side
    b.used.pop("a")
    b.free_bytes += POOL // 2
    b.free_sets[buddy.order_of(POOL // 2)].add(addr)
    with pytest.raises(AssertionError, match="uncoalesced"):
        b.check()


def test_check_catches_overlap():
    b = pool()
    b.alloc(4096, "a")
    b.allocated[BASE + 32] = (5, "b")      # inside a's block
    b.used["b"] = 32
    with pytest.raises(AssertionError):
        b.check()


# ---- seeded random sequences ------------------------------------------------------

OWNERS = ["t0", "t1", "t2", "t3", "t4"]


def run_random(seed, steps=2000):
    """Random alloc/free/free_owner/bad-free steps, check() and a model
    comparison after each; raises AssertionError naming seed and step."""
    rng = random.Random(seed)
    b = buddy.Buddy(BASE, POOL, rng.choice([5, 5, 6, 8, 12]))
    for owner in OWNERS[:2]:
        b.set_quota(owner, rng.choice([POOL // 8, POOL // 4, POOL // 2]))
    model = {}              # addr -> (size, owner)
    op = None
    try:
        for step in range(steps):
            r = rng.random()
            if r < 0.55:
                owner = rng.choice(OWNERS)
                size = rng.randint(1, 1 << rng.randint(0, 19))
                op = ("alloc", size, owner)
                block = b.block_size_for(size)
                quota = b.quota_of(owner)
                over = quota is not None and b.used_by(owner) + block > quota
                fits = b.stats()["largest_free"] >= block
                try:
                    addr, got = b.alloc(size, owner)
                except KernelError as e:
                    want = errors.QUOTA if over else errors.NO_MEMORY
                    assert e.code == want, "alloc failed with %s, expected %s" % (
                        errors.name_of(e.code), errors.name_of(want))
                    assert over or not fits, "NO_MEMORY though a %d block was free" % block
                else:
                    assert not over and fits
                    assert got == block and got >= size and addr % got == 0
                    assert addr not in model
                    model[addr] = (got, owner)
            elif r < 0.82 and model:
                addr = rng.choice(sorted(model))
                op = ("free", addr, model[addr][1])
                assert b.free(addr, model[addr][1]) == model[addr][0]
                del model[addr]
            elif r < 0.93:
                owner = rng.choice(OWNERS)
                op = ("free_owner", owner)
                want = sum(s for s, o in model.values() if o == owner)
                assert b.free_owner(owner) == want
                model = {a: v for a, v in model.items() if v[1] != owner}
            else:
                # a bad free: double free, inside a block, or wrong owner
                before = b.stats()
                if model and rng.random() < 0.5:
                    addr = rng.choice(sorted(model))
                    size, owner = model[addr]
                    if rng.random() < 0.5:
                        op = ("free wrong owner", addr)
                        wrong = rng.choice([o for o in OWNERS if o != owner])
                        assert code_of(b.free, addr, wrong) == errors.BAD_FREE
                    else:
                        op = ("free inside", addr)
                        assert code_of(b.free, addr + rng.randint(1, size - 1), owner) == errors.BAD_FREE
                else:
                    addr = BASE + rng.randrange(0, POOL, 32)
                    op = ("free unallocated", addr)
                    if addr not in model:
                        assert code_of(b.free, addr, "t0") == errors.BAD_FREE
                assert b.stats() == before
            b.check()
            st = b.stats()
            owned = {blk[0]: (blk[1], blk[2]) for blk in st["blocks"] if blk[2] is not None}
            assert owned == model, "pool and model disagree"
            assert st["free"] == POOL - sum(s for s, _ in model.values())
        for owner in OWNERS:
            b.free_owner(owner)
        b.check()
        assert b.stats()["blocks"] == [(BASE, POOL, None)], "memory not all back in the pool"
    except (AssertionError, KernelError) as e:
        raise AssertionError("seed %d step %d op %r: %s: %s" % (
            seed, step, op, type(e).__name__, e)) from e


@pytest.mark.parametrize("seed", range(8))
def test_random_operations_keep_invariants(seed):
    run_random(seed)


def test_failing_seed_is_named_in_the_message(monkeypatch):
    monkeypatch.setattr(buddy.Buddy, "check", lambda self: (_ for _ in ()).throw(AssertionError("boom")))
    with pytest.raises(AssertionError, match=r"seed 41 step 0 op .*boom"):
        run_random(41, steps=5)


def test_bit_length_is_ints_own():
    from kernel.buddy import bit_length
    for n in list(range(0, 70000)) + [2 ** k + d for k in range(17, 40) for d in (-1, 0, 1)]:
        assert bit_length(n) == n.bit_length(), n
