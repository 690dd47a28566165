"""The boot state (boot/bootstate.c: the record in storage and the slot
choice) built for the host with cffi and run on a buffer that plays the
storage: record round trips, wear over both sectors, a power cut at every
byte of a write, and the A/B policy (trial, revert, confirm, rollback)
against a reference model."""
import hashlib
import importlib.util
import os
import random

import pytest

from test_image_format import MBEDTLS, MBEDTLS_FLAGS, MBEDTLS_SRC, ROOT

SECTOR = 4096
RECORD = 96
PLACES = SECTOR // RECORD
CANDIDATE, INVALID, ROLLED_BACK, REVERTED, RETRIED = range(5)
CONFIRMED, FIRST, TEST = range(3)


@pytest.fixture(scope="module")
def bs(tmp_path_factory):
    if not os.path.exists(os.path.join(MBEDTLS, "library", "sha256.c")):
        pytest.fail("mbedtls source not found: run `make build`")
    import cffi
    ffi = cffi.FFI()
    ffi.cdef("""
        void qx_flash_init(uint8_t *base, uint32_t size, uint32_t sector);
        int qx_flash_erase(uint32_t off);
        int qx_flash_program(uint32_t off, const void *buf, uint32_t n);
        int qx_flash_read(uint32_t off, void *buf, uint32_t n);
        typedef struct { uint32_t seq; uint32_t min_counter; uint8_t confirmed[32]; uint8_t trial[32]; }
            qx_boot_state_t;
        int qx_bootstate_load(uint32_t off, qx_boot_state_t *st);
        int qx_bootstate_save(uint32_t off, qx_boot_state_t *st);
        typedef struct { int valid; uint8_t major, minor; uint16_t revision; uint32_t build;
                         uint32_t counter; uint8_t hash[32]; } qx_boot_cand_t;
        int qx_boot_choose(const qx_boot_cand_t *c, int n, int have_state, qx_boot_state_t *st,
                           uint8_t *verdict, int *kind, int *save);
        int qx_boot_select(qx_boot_cand_t *c, int n, int have_state, qx_boot_state_t *st,
                           uint8_t *verdict, int *kind, int *save, signed char *checked,
                           int (*verify)(int slot, void *ctx), void *ctx);
        typedef struct { uint32_t magic, slot, kind; uint8_t major, minor; uint16_t revision;
                         uint32_t build, counter, min_counter; uint8_t hash[32]; } qx_boot_info_t;
        int qx_boot_confirm(uint32_t off, qx_boot_info_t *bi);""")
    ffi.set_source("_qx_bootstate", '#include "boot/bootstate.h"\n#include "drivers/flash/mapped_flash.h"',
                   sources=[os.path.join(ROOT, "boot", "bootstate.c"),
                            os.path.join(ROOT, "drivers", "flash", "mapped_flash.c"),
                            os.path.join(ROOT, "boot", "image.c")] + MBEDTLS_SRC,
                   include_dirs=[ROOT], extra_compile_args=MBEDTLS_FLAGS)
    path = ffi.compile(tmpdir=str(tmp_path_factory.mktemp("cffi-bootstate")))
    spec = importlib.util.spec_from_file_location("_qx_bootstate", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.ffi, mod.lib


class Store:
    """Two sectors of erased storage (plus one more, never touched)."""

    def __init__(self, bs):
        self.ffi, self.lib = bs
        self.buf = self.ffi.new("uint8_t[]", 3 * SECTOR)
        self.set(b"\xff" * (3 * SECTOR))
        self.lib.qx_flash_init(self.buf, 3 * SECTOR, SECTOR)

    def bytes(self):
        return bytes(self.ffi.buffer(self.buf))

    def set(self, data):
        self.ffi.memmove(self.buf, data, len(data))

    def load(self):
        st = self.ffi.new("qx_boot_state_t *")
        have = self.lib.qx_bootstate_load(0, st)
        return (bool(have), st.seq, st.min_counter, bytes(st.confirmed), bytes(st.trial))

    def save(self, min_counter, confirmed, trial):
        st = self.ffi.new("qx_boot_state_t *", {"min_counter": min_counter, "confirmed": confirmed,
                                                "trial": trial})
        assert self.lib.qx_bootstate_save(0, st) == 0
        return st.seq


def h(n):
    return hashlib.sha256(b"image %d" % n).digest()


def test_erased_storage_has_no_state(bs):
    assert Store(bs).load() == (False, 0, 0, bytes(32), bytes(32))


def test_a_saved_state_loads_back(bs):
    s = Store(bs)
    assert s.save(7, h(1), h(2)) == 1
    assert s.load() == (True, 1, 7, h(1), h(2))
    assert s.bytes()[2 * SECTOR:] == b"\xff" * SECTOR          # nothing outside its two sectors


def test_many_saves_wear_both_sectors_and_the_newest_always_wins(bs):
    s = Store(bs)
    for i in range(1, 5 * PLACES):
        assert s.save(i, h(i), h(-i)) == i
        assert s.load() == (True, i, i, h(i), h(-i))
    data = s.bytes()
    assert data[:SECTOR] != b"\xff" * SECTOR and data[SECTOR:2 * SECTOR] != b"\xff" * SECTOR


def test_a_power_cut_at_any_byte_of_a_save_leaves_the_old_or_the_new_state(bs):
    """Saves at the end of a sector (which erase the other first) and in
    its middle; the cut falls after every byte of the erase and of the
    record's programming, in the order the driver writes them."""
    s = Store(bs)
    for i in range(1, PLACES - 1):
        s.save(i, h(i), bytes(32))
    for _ in range(3):                              # mid-sector, last place, first of the other
        before = s.bytes()
        old = s.load()
        seq = s.save(old[2] + 1, h(100 + old[1]), h(200))
        after = s.bytes()
        new = s.load()
        assert new[1] == seq
        changed = [i for i in range(len(before)) if before[i] != after[i]]
        erase = [i for i in changed if after[i] == 0xFF]
        program = [i for i in changed if after[i] != 0xFF]
        cuts = []
        state = bytearray(before)
        for i in erase + program:
            state[i] = after[i]
            cuts.append(bytes(state))
        for k, image in enumerate(cuts):
            s.set(image)
            assert s.load() in (old, new), "cut after %d of %d bytes" % (k + 1, len(cuts))
        s.set(after)
        assert cuts[-1] == after and s.load() == new


def test_a_torn_record_is_skipped_and_the_next_save_goes_after_it(bs):
    s = Store(bs)
    s.save(1, h(1), bytes(32))
    torn = bytearray(s.bytes())
    torn[RECORD:RECORD + 40] = bytes(40)                   # a write cut short in place 1
    s.set(bytes(torn))
    assert s.load()[1:3] == (1, 1)
    assert s.save(2, h(2), bytes(32)) == 2
    assert s.load() == (True, 2, 2, h(2), bytes(32))
    assert s.bytes()[2 * RECORD:2 * RECORD + 4] == b"QXBS"


def test_program_cannot_set_bits_an_erase_did_not(bs):
    s = Store(bs)
    ffi, lib = bs
    assert lib.qx_flash_program(0, b"\x0f", 1) == 0
    assert lib.qx_flash_program(0, b"\xf0", 1) == -3 and s.bytes()[0] == 0x0F
    assert lib.qx_flash_erase(100) == -2 and lib.qx_flash_erase(3 * SECTOR) == -1
    assert lib.qx_flash_program(3 * SECTOR - 1, b"ab", 2) == -1
    assert lib.qx_flash_erase(0) == 0 and s.bytes()[0] == 0xFF


# ---- the policy ---------------------------------------------------------------------

def choose(bs, cands, have, min_counter=0, confirmed=bytes(32), trial=bytes(32)):
    ffi, lib = bs
    c = ffi.new("qx_boot_cand_t[]", len(cands))
    for i, x in enumerate(cands):
        if x is None:
            continue
        version, counter, digest = x
        c[i].valid = 1
        c[i].major, c[i].minor, c[i].revision, c[i].build = version
        c[i].counter = counter
        c[i].hash = digest
    st = ffi.new("qx_boot_state_t *", {"min_counter": min_counter, "confirmed": confirmed, "trial": trial})
    verdict = ffi.new("uint8_t[]", len(cands))
    kind, save = ffi.new("int *"), ffi.new("int *")
    pick = lib.qx_boot_choose(c, len(cands), have, st, verdict, kind, save)
    return pick, list(verdict), kind[0], bool(save[0]), (st.min_counter, bytes(st.confirmed), bytes(st.trial))


V1, V2 = (1, 0, 0, 0), (2, 0, 0, 0)
A1, B2 = (V1, 1, h(1)), (V2, 2, h(2))


def test_first_boot_confirms_the_best_image_and_stores_its_counter(bs):
    assert choose(bs, [A1, None], False) == (0, [CANDIDATE, INVALID], FIRST, True, (1, h(1), bytes(32)))
    assert choose(bs, [A1, B2], False)[:4] == (1, [CANDIDATE, CANDIDATE], FIRST, True)


def test_a_confirmed_image_boots_without_a_write(bs):
    assert choose(bs, [A1, None], True, 1, h(1)) == (0, [CANDIDATE, INVALID], CONFIRMED, False,
                                                      (1, h(1), bytes(32)))


def test_a_new_higher_image_boots_on_trial(bs):
    assert choose(bs, [A1, B2], True, 1, h(1)) == (1, [CANDIDATE, CANDIDATE], TEST, True, (1, h(1), h(2)))


def test_an_unconfirmed_trial_reverts_to_the_confirmed_image(bs):
    assert choose(bs, [A1, B2], True, 1, h(1), h(2)) == (0, [CANDIDATE, REVERTED], CONFIRMED, False,
                                                          (1, h(1), h(2)))


def test_a_reverted_trial_is_tried_again_when_nothing_else_can_boot(bs):
    assert choose(bs, [None, B2], True, 1, h(1), h(2))[:3] == (1, [INVALID, RETRIED], TEST)


def test_an_image_below_the_stored_counter_never_boots(bs):
    assert choose(bs, [A1, B2], True, 2, h(2)) == (1, [ROLLED_BACK, CANDIDATE], CONFIRMED, False,
                                                    (2, h(2), bytes(32)))
    assert choose(bs, [A1, None], True, 2, h(2))[:2] == (-1, [ROLLED_BACK, INVALID])


def test_the_highest_version_wins_and_a_lower_new_image_waits(bs):
    low = ((0, 9, 0, 0), 1, h(9))
    assert choose(bs, [A1, low], True, 1, h(1))[:3] == (0, [CANDIDATE, CANDIDATE], CONFIRMED)
    same = (V1, 1, h(11))
    assert choose(bs, [A1, same], True, 1, h(1))[0] == 0          # equal versions: slot A


def test_nothing_valid_means_nothing_boots(bs):
    assert choose(bs, [None, None], True, 1, h(1))[:2] == (-1, [INVALID, INVALID])
    assert choose(bs, [None, None], False)[:2] == (-1, [INVALID, INVALID])


def select(bs, cands, good, have, min_counter=0, confirmed=bytes(32), trial=bytes(32)):
    """qx_boot_select over parsed slots `cands` (as choose()), where
    good[i] says whether slot i's full check (hash, key, signature) passes.
    Returns (pick, verdicts, kind, save, state, checked, slots verified in order)."""
    ffi, lib = bs
    c = ffi.new("qx_boot_cand_t[]", len(cands))
    for i, x in enumerate(cands):
        if x is not None:
            c[i].valid = 1
            c[i].major, c[i].minor, c[i].revision, c[i].build = x[0]
            c[i].counter, c[i].hash = x[1], x[2]
    st = ffi.new("qx_boot_state_t *", {"min_counter": min_counter, "confirmed": confirmed, "trial": trial})
    verdict, checked = ffi.new("uint8_t[]", len(cands)), ffi.new("signed char[]", len(cands))
    kind, save = ffi.new("int *"), ffi.new("int *")
    calls = []

    @ffi.callback("int(int, void *)")
    def verify(i, ctx):
        calls.append(i)
        return 0 if good[i] else 1
    pick = lib.qx_boot_select(c, len(cands), have, st, verdict, kind, save, checked, verify, ffi.NULL)
    return (pick, list(verdict), kind[0], bool(save[0]), (st.min_counter, bytes(st.confirmed), bytes(st.trial)),
            list(checked), calls)


def test_only_the_slot_that_boots_is_verified(bs):
    """A confirmed A and a lower B: A is verified, B never read whole."""
    low = ((0, 9, 0, 0), 1, h(9))
    pick, verdict, kind, save, st, checked, calls = select(bs, [A1, low], [True, True], True, 1, h(1))
    assert (pick, kind, save, calls, checked) == (0, CONFIRMED, False, [0], [1, 0])
    # A newer B on trial: only B is verified.
    pick, verdict, kind, save, st, checked, calls = select(bs, [A1, B2], [True, True], True, 1, h(1))
    assert (pick, kind, save, st, calls, checked) == (1, TEST, True, (1, h(1), h(2)), [1], [0, 1])


def test_the_fallback_is_verified_before_it_boots(bs):
    """The chosen slot fails its check: it becomes invalid and the other is
    verified before the bootloader may take it; the state saved is that of
    the slot that boots."""
    pick, verdict, kind, save, st, checked, calls = select(bs, [A1, B2], [True, False], True, 1, h(1))
    assert (pick, verdict, kind, save, calls, checked) == (0, [CANDIDATE, INVALID], CONFIRMED, False,
                                                           [1, 0], [1, -1])
    assert st == (1, h(1), bytes(32))               # B's trial was never recorded
    pick, verdict, kind, save, st, checked, calls = select(bs, [A1, B2], [False, False], True, 1, h(1))
    assert (pick, verdict, save, calls, checked) == (-1, [INVALID, INVALID], False, [1, 0], [-1, -1])
    assert st == (1, h(1), bytes(32))
    pick, _, kind, save, st, checked, calls = select(bs, [A1, B2], [False, True], False)
    assert (pick, kind, save, calls, st) == (1, FIRST, True, [1], (2, h(2), bytes(32)))


def test_select_boots_what_choose_would_with_the_bad_slots_removed(bs):
    """Random situations: the pick is choose()'s over the slots that pass,
    it is always verified, and no slot is verified that would not boot."""
    rng = random.Random(99)
    digests = [h(i) for i in range(4)] + [bytes(32)]
    for _ in range(2000):
        cands = [None if rng.random() < 0.2 else
                 ((rng.randint(0, 2), rng.randint(0, 1), 0, 0), rng.randint(0, 3), rng.choice(digests[:4]))
                 for _slot in range(2)]
        good = [rng.random() < 0.7 for _slot in range(2)]
        have = rng.random() < 0.8
        mc, conf, trial = rng.randint(0, 3), rng.choice(digests), rng.choice(digests)
        pick, verdict, kind, save, st, checked, calls = select(bs, cands, good, have, mc, conf, trial)
        passing = [x if x is not None and good[i] else None for i, x in enumerate(cands)]
        want = choose(bs, passing, have, mc, conf, trial)
        situation = (cands, good, have, mc, conf[:2], trial[:2])
        assert pick == want[0], situation
        assert len(calls) == len(set(calls)), situation
        if pick >= 0:
            assert (kind, save, st) == want[2:], situation
            assert checked[pick] == 1 and good[pick], situation
            assert calls[-1] == pick and all(not good[i] for i in calls[:-1]), situation
        else:
            assert not save and all(not good[i] for i in calls), situation


def model(cands, have, min_counter, confirmed, trial):
    """The policy of bootstate.h, written again plainly: (pick, kind)."""
    ok = [i for i, c in enumerate(cands) if c is not None and c[1] >= min_counter]
    live = [i for i in ok if not (have and trial != bytes(32) and cands[i][2] == trial
                                  and cands[i][2] != confirmed)]
    pool = live or ok
    if not pool:
        return -1, None
    best = max(pool, key=lambda i: (cands[i][0], -i))
    if not live:
        return best, TEST
    if not have:
        return best, FIRST
    return best, CONFIRMED if cands[best][2] == confirmed else TEST


def test_the_policy_matches_its_model_on_random_situations(bs):
    rng = random.Random(1234)
    digests = [h(i) for i in range(4)] + [bytes(32)]
    for _ in range(3000):
        cands = []
        for _slot in range(2):
            if rng.random() < 0.2:
                cands.append(None)
            else:
                cands.append(((rng.randint(0, 2), rng.randint(0, 1), 0, 0), rng.randint(0, 3),
                              rng.choice(digests[:4])))
        have = rng.random() < 0.8
        mc, conf, trial = rng.randint(0, 3), rng.choice(digests), rng.choice(digests)
        pick, verdict, kind, save, st = choose(bs, cands, have, mc, conf, trial)
        want_pick, want_kind = model(cands, have, mc, conf, trial)
        situation = (cands, have, mc, conf[:2], trial[:2])
        assert pick == want_pick, situation
        if pick >= 0:
            assert kind == want_kind, situation
            assert save == (kind != CONFIRMED and verdict[pick] != RETRIED), situation
            assert cands[pick][1] >= mc                     # never below the stored counter
            assert st[0] >= mc                              # the stored counter never goes down


def test_confirm_raises_the_counter_and_clears_the_trial(bs):
    s = Store(bs)
    ffi, lib = bs
    s.save(1, h(1), h(2))
    bi = ffi.new("qx_boot_info_t *", {"magic": 0x49425851, "slot": 1, "kind": TEST, "counter": 2, "hash": h(2)})
    assert lib.qx_boot_confirm(0, bi) == 0
    assert s.load()[2:] == (2, h(2), bytes(32)) and bi.kind == CONFIRMED and bi.min_counter == 2
    assert lib.qx_boot_confirm(0, bi) == 1                      # once is enough
    assert choose(bs, [A1, B2], True, *s.load()[2:])[:2] == (1, [ROLLED_BACK, CANDIDATE])
