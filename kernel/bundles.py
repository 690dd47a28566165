"""Installed task bundles, the device side (tools/bundle.py describes the
format and makes them): checking one, streaming one into storage, and
keeping them there.

A bundle is accepted only if boot/image.c's check against the key built
into the firmware says "ok" (hash, key, signature), its header says it is a
bundle (NON_BOOTABLE), its payload holds a manifest and code, and the
manifest asks for nothing beyond what kernel/rights.py lets an installed
task have. The task's code (.mpy) is copied to the top of its memory block
when it starts: its manifest's `heap` must hold the code besides what the
task allocates. The store is BUNDLE_STORE_SIZE bytes of storage cut into
SLOT_SIZE slots, a bundle per slot, found again at every boot and checked
again before it runs.

Installing is a stream (Installer.begin / data / end / commit / abort, one
KCTL_INSTALL step each, from the shell): the bytes go straight into a free
slot as they come, never more than the slot holds or than the image's own
header says (a refusal ends the stream and erases what was written); the
whole image is checked once, when it is complete, in bounded steps (each
INSTALL_END step runs one: at most 8 KiB hashed or 100 of mbedtls's ECC
operations, kernel/port/imgcheck.c, and answers {"busy": steps} until the
verdict), so an install never holds the other tasks for long; the slot becomes valid
only when the operator has confirmed and the task was added (and started,
if it starts at boot): then the commit record, the slot's last 16 bytes,
is written. A slot without one (an install cut short by a reset or a power
cut) is erased at boot. A new version is written into another slot and
the old one is erased only once the new one is committed, so a failed
replacement leaves the old version running."""
from kernel import manifest as kmanifest
from kernel import rights
from kernel.errors import KernelError

F_NON_BOOTABLE = 0x10
T_MANIFEST = 0x01
T_CODE = 0x02
IMAGE_MAGIC = b"\x3d\xb8\xf3\x96"
SLOT_SIZE = 0x20000
COMMIT_AT = SLOT_SIZE - 16          # the commit record: COMMIT_MAGIC, then the image length (LE)
COMMIT_MAGIC = b"QXOK"
IMAGE_MAX = COMMIT_AT               # bytes of a bundle


class BundleError(ValueError):
    pass


class Bundle:
    def __init__(self, data, manifest, code, version, counter):
        self.data = data
        self.manifest = manifest
        self.code = code
        self.version = version
        self.counter = counter

    def version_text(self):
        return "%d.%d.%d+%d" % tuple(self.version)


def payload_tlvs(payload):
    """{type: value} of the first TLV of each type; BundleError if malformed."""
    out = {}
    pos = 0
    while pos < len(payload):
        if len(payload) - pos < 4:
            raise BundleError("payload: a TLV header runs past its end")
        t = payload[pos] | payload[pos + 1] << 8
        n = payload[pos + 2] | payload[pos + 3] << 8
        if pos + 4 + n > len(payload):
            raise BundleError("payload: a TLV runs past its end")
        if t not in out:
            out[t] = payload[pos + 4:pos + 4 + n]
        pos += 4 + n
    return out


def open_bundle(data, verify):
    """A checked Bundle from raw bytes (or a memoryview of a slot: its code
    is then a view too, nothing is copied); BundleError saying what is
    wrong. verify: _hal.verify_image (or a host stand-in)."""
    return open_checked(data, verify(data))


class OneStep:
    """A check done in one step (Installer's default, host tests): the
    interface of _imgcheck's Check over a verify function."""

    def __init__(self, verify, data):
        self.verify, self.data, self.steps = verify, data, 0
        self.longest = 0            # not timed

    def step(self):
        self.steps += 1
        return self.verify(self.data)

    def close(self):
        self.data = None


def open_checked(data, verdict):
    """open_bundle with the verdict of verify(data) already known (an
    install's stepped check)."""
    result, flags, version, counter, hdr, img, _ = verdict
    if result != "ok":
        raise BundleError("refused: %s" % result)
    if not flags & F_NON_BOOTABLE:
        raise BundleError("refused: not a task bundle (a kernel image?)")
    tlvs = payload_tlvs(memoryview(data)[hdr:hdr + img])
    if T_MANIFEST not in tlvs or T_CODE not in tlvs:
        raise BundleError("refused: the payload has no %s" % ("manifest" if T_MANIFEST not in tlvs else "code"))
    try:
        m = kmanifest.parse(bytes(tlvs[T_MANIFEST]).decode(), "bundle")
    except (ValueError, UnicodeError) as e:
        raise BundleError("refused: bad manifest: %s" % e)
    bad = rights.check(m)
    if bad:
        raise BundleError("refused: %s" % "; ".join(bad))
    return Bundle(data, m, tlvs[T_CODE], tuple(version), counter)


def image_length(head):
    """(hdr_size, img_size, protected TLV size) from an image's first 16
    bytes; None if they are not an image's."""
    if bytes(head[:4]) != IMAGE_MAGIC:
        return None
    hdr = head[8] | head[9] << 8
    prot = head[10] | head[11] << 8
    img = head[12] | head[13] << 8 | head[14] << 16 | head[15] << 24
    return hdr, img, prot


class Store:
    """The bundle slots in storage, through the storage driver's calls:
    read(off, n), erase(off) of a sector, program(off, data); view(off, n)
    a memoryview of storage as mapped (default: read)."""

    def __init__(self, read, erase, program, offset, size, sector, view=None):
        self.read, self.erase, self.program = read, erase, program
        self.view = view if view is not None else read
        self.offset, self.sector = offset, sector
        self.slots = size // SLOT_SIZE

    def _at(self, slot):
        return self.offset + slot * SLOT_SIZE

    def length(self, slot):
        """The committed image length in a slot, or None (no commit record)."""
        rec = self.read(self._at(slot) + COMMIT_AT, 8)
        if bytes(rec[:4]) != COMMIT_MAGIC:
            return None
        n = rec[4] | rec[5] << 8 | rec[6] << 16 | rec[7] << 24
        return n if 0 < n <= IMAGE_MAX else None

    def load(self, slot):
        """A view of the committed image in a slot, or None."""
        n = self.length(slot)
        return None if n is None else self.view(self._at(slot), n)

    def write(self, slot, off, data, erased):
        """Program data at off in a slot whose first `erased` bytes are
        erased (sectors are erased as the data reaches them); the new
        erased count."""
        base = self._at(slot)
        end = off + len(data)
        while erased < end:
            self.erase(base + erased)
            erased += self.sector
        self.program(base + off, data)
        return erased

    def commit(self, slot, n):
        self.program(self._at(slot) + COMMIT_AT, COMMIT_MAGIC + bytes((n & 255, n >> 8 & 255, n >> 16 & 255, n >> 24)))

    def uncommit(self, slot):
        """Erase the sector holding a slot's commit record, if it is not erased."""
        if bytes(self.read(self._at(slot) + COMMIT_AT, 16)) != b"\xff" * 16:
            self.erase(self._at(slot) + (COMMIT_AT // self.sector) * self.sector)

    def save(self, slot, data):
        """Write and commit a whole image (host tests; the kernel streams)."""
        if len(data) > IMAGE_MAX:
            raise BundleError("refused: %d bytes, a bundle slot holds %d" % (len(data), IMAGE_MAX))
        self.clear(slot)
        self.write(slot, 0, data, SLOT_SIZE)
        self.commit(slot, len(data))

    def clear(self, slot, n=SLOT_SIZE):
        """Erase the first n bytes of a slot and its commit record."""
        base = self._at(slot)
        for off in range(0, max(n, 1), self.sector):
            self.erase(base + off)
        last = (COMMIT_AT // self.sector) * self.sector
        if n <= last:
            self.erase(base + last)

    def used(self):
        """Slots holding a committed image."""
        return [s for s in range(self.slots) if self.length(s) is not None]

    def dirty(self):
        """Slots holding something but no committed image (an install cut short)."""
        out = []
        for s in range(self.slots):
            if self.length(s) is None and (bytes(self.read(self._at(s), 16)) != b"\xff" * 16
                                           or bytes(self.read(self._at(s) + COMMIT_AT, 16)) != b"\xff" * 16):
                out.append(s)
        return out


CHUNK_MAX = 1024        # bytes of one INSTALL_DATA step (the kernel copies them into its heap)
DISCARD_MAX = 4096      # console bytes one INSTALL_DISCARD step drops at most


def discard(read, state, limit=DISCARD_MAX):
    """Drop console bytes (read() -> int or None when none waits) up to and
    including an empty line (CR, LF or CRLF ends), at most `limit`.
    state: [previous byte, length of the line so far], carried from one
    call to the next. Returns (bytes dropped, True if an empty line ended
    it)."""
    n = 0
    while n < limit:
        c = read()
        if c is None:
            break
        n += 1
        if c == 10 and state[0] == 13:
            state[0] = c
            continue
        state[0] = c
        if c == 10 or c == 13:
            if state[1] == 0:
                return n, True
            state[1] = 0
        else:
            state[1] += 1
    return n, False


class Stream:
    """An install being streamed into a slot."""

    def __init__(self, slot, name, announced, owner=None):
        self.slot = slot
        self.owner = owner          # the installing task's tid: its end drops the install
        self.name = name            # what the operator typed (the bundle's own name decides)
        self.announced = announced  # size the operator announced, or None
        self.n = 0                  # bytes written
        self.erased = 0             # bytes of the slot erased
        self.total = None           # the image's length, once its TLV trailer header is in
        self.bundle = None          # the checked Bundle, after end()
        self.check = None           # the check in progress (INSTALL_END steps), kernel memory
        self.t0 = None              # the clock when it began


class Installer:
    """Installs, loads at boot and removes bundle tasks of a Kernel.
    verify: _hal.verify_image; store: a Store; check(data): a stepped
    check of an install (_imgcheck.start: step() -> None while work is
    left, else verify's tuple; close(); steps), default one step of verify;
    clock() a free-running 32-bit counter (the board's 25 MHz one): the
    check's span is reported as "check_counts", its longest step (the
    Check's own timing, same counter) as "longest_step_counts"."""

    def __init__(self, store, verify, check=None, clock=None):
        self.clock = clock          # the board's 25 MHz counter (_hal.counter), or None: times the check
        self.store = store
        self.verify = verify
        self.check = check if check is not None else (lambda data: OneStep(verify, data))
        self.installed = {}         # task name -> (slot, Bundle)
        self.stream = None          # the install being streamed, or None
        self.discarding = [13, 0]   # discard()'s state while a refused paste is thrown away

    def load_all(self, k):
        """Add every stored bundle that still checks; lines to print. A slot
        without a commit record (an install cut short) is erased; of two
        committed slots with one name (a replacement cut short), the newer
        stays."""
        lines = []
        for slot in self.store.dirty():
            self.store.clear(slot)
            lines.append("kernel: bundle slot %d held an unfinished install; erased\n" % slot)
        for slot in self.store.used():
            try:
                b = open_bundle(self.store.load(slot), self.verify)
                old = self.installed.get(b.manifest.name)
                if old is not None:
                    if old[1].counter >= b.counter:
                        self.store.clear(slot)
                        continue
                    k.remove_task(k.lookup(b.manifest.name))
                    self.store.clear(old[0])
                k.add_task(b.manifest, b.code)
            except (ValueError, KernelError) as e:      # BundleError, ManifestError, KernelError
                lines.append("kernel: bundle in slot %d not loaded: %s\n" % (slot, e))
                continue
            self.installed[b.manifest.name] = (slot, b)
        return lines

    # --- the install stream ---------------------------------------------

    def _free_slot(self):
        used = [slot for slot, _ in self.installed.values()]
        for s in range(self.store.slots):
            if s not in used:
                return s
        return None

    def begin(self, k, name, size=None, owner=None):
        """Start streaming a bundle (an earlier unfinished one is dropped);
        size: the bytes the operator announced, or None; owner: the
        installing task's tid (its end drops the install, task_ended)."""
        self.abort()
        if size is not None and size > IMAGE_MAX:
            raise BundleError("refused: %d bytes, a bundle slot holds %d" % (size, IMAGE_MAX))
        slot = self._free_slot()
        if slot is None:
            raise BundleError("refused: all %d bundle slots are in use" % self.store.slots)
        self.store.uncommit(slot)       # a slot whose bundle no longer loads may hold an old record
        self.stream = Stream(slot, name, size, owner)
        return {"slot": slot, "max": IMAGE_MAX}

    def _refuse(self, why):
        self.abort()
        raise BundleError(why)

    def data(self, k, chunk):
        """The next bytes of the bundle, written to its slot at once. A
        refusal (too long, not a bundle) ends the stream: what was written
        is erased."""
        st = self.stream
        if st is None or st.bundle is not None:
            raise BundleError("no install is being sent")
        if st.check is not None:
            self._refuse("refused: more bytes after the end (the bundle is being checked)")
        end = st.n + len(chunk)
        limit = IMAGE_MAX if st.announced is None else st.announced
        if end > limit:
            self._refuse("refused: more than %d bytes%s" % (limit, ", the size announced" if st.announced is not None
                                                              else ", a bundle slot holds %d" % IMAGE_MAX))
        if st.total is not None and end > st.total:
            self._refuse("refused: more bytes than the bundle's header says (%d)" % st.total)
        st.erased = self.store.write(st.slot, st.n, chunk, st.erased)
        st.n = end
        base = self.store._at(st.slot)
        if st.total is None and st.n >= 16:
            sizes = image_length(self.store.read(base, 16))
            if sizes is None:
                self._refuse("refused: not a bundle (bad magic)")
            hdr, img, prot = sizes
            if hdr + img + prot + 4 > limit:
                self._refuse("refused: its header says %d bytes or more, %s %d" % (
                    hdr + img + prot + 4, "the size announced is" if st.announced is not None
                    else "a bundle slot holds", limit))
            at = hdr + img + prot
            if st.n >= at + 4:
                tail = self.store.read(base + at, 4)
                st.total = at + (tail[2] | tail[3] << 8)
                if st.total > limit:
                    self._refuse("refused: its header says %d bytes, %s %d" % (
                        st.total, "the size announced is" if st.announced is not None
                        else "a bundle slot holds", limit))
                if st.n > st.total:
                    self._refuse("refused: more bytes than the bundle's header says (%d)" % st.total)
        return {"n": st.n}

    def end(self, k):
        """The bundle is all sent: check it (boot/image.c, the rights, the
        system it joins), one bounded step a call: {"busy": steps so far}
        while the check goes on (call again), then what the operator
        confirms: {"name", "version", "rights" (rights.requested), "block",
        "free" (RAM left for bundles, this one's old version counted as
        free), "replaces" (the installed version, or null), "steps"}."""
        st = self.stream
        if st is None or st.bundle is not None:
            raise BundleError("no install is being sent")
        if st.check is None:
            if st.total is None or st.n < st.total:
                self._refuse("refused: cut short: %d bytes of %s" % (st.n, st.total if st.total is not None else "?"))
            st.check = self.check(self.store.view(self.store._at(st.slot), st.total))
            st.t0 = self.clock() if self.clock is not None else None
        try:
            verdict = st.check.step()
        except (ValueError, MemoryError) as e:
            self._refuse("refused: the check failed: %s" % e)
        if verdict is None:
            return {"busy": st.check.steps}
        steps, longest = st.check.steps, st.check.longest
        st.check.close()
        st.check = None
        span = (self.clock() - st.t0) & 0xffffffff if st.t0 is not None else None
        try:
            b = open_checked(self.store.view(self.store._at(st.slot), st.total), verdict)
            name = b.manifest.name
            old = self.installed.get(name)
            if old is None:
                for tid in k.order:
                    if k.tasks[tid].name == name:
                        raise BundleError("refused: %r is the name of a built-in task" % name)
            elif b.counter < old[1].counter:
                raise BundleError("refused: rolled back (security counter %d < installed %d)"
                                  % (b.counter, old[1].counter))
            m = b.manifest
            code = (len(b.code) + 7) & ~7
            if m.start == "manual" and (code + m.stack + 1024 > m.region_size()
                                        or m.arena + m.stack + 1024 > m.region_size() - code):
                # not started now: the trap layer's own fit check (trap.create), done here
                raise BundleError("refused: memory: its code (%d bytes) does not fit its %d-byte block "
                                  "beside a %d-byte stack and a %d-byte arena"
                                  % (len(b.code), m.region_size(), m.stack, m.arena))
            free = k.bundle_ram(name)
            if b.manifest.region_size() > free:
                raise BundleError("refused: memory: it needs a block of %d bytes, %d are free for bundles"
                                  % (b.manifest.region_size(), free))
        except (ValueError, KernelError):
            self.abort()
            raise
        st.bundle = b
        return {"name": name, "version": list(b.version), "rights": rights.requested(b.manifest),
                "block": b.manifest.region_size(), "free": free,
                "replaces": list(old[1].version) if old is not None else None, "steps": steps,
                "check_counts": span, "longest_step_counts": longest}

    def abort(self):
        """Drop the install being streamed: its check (if one is under way)
        is closed, its slot erased."""
        st = self.stream
        self.stream = None
        if st is not None and st.check is not None:
            st.check.close()
            st.check = None
        if st is not None and st.erased:
            self.store.clear(st.slot, st.erased)

    def task_ended(self, tid):
        """A task ended (kernel.end): if it was installing, its install is
        dropped, as an abort. True if there was one."""
        if self.stream is not None and self.stream.owner == tid:
            self.abort()
            return True
        return False

    def commit(self, k):
        """The operator confirmed: add the task (replacing the old version),
        start it if it starts at boot, then mark its slot valid and erase
        the old version's. A task that does not start is rolled back: the
        old version (if any) comes back as it was, nothing new stays."""
        st = self.stream
        if st is None or st.bundle is None:
            raise BundleError("no checked install to confirm")
        b = st.bundle
        name = b.manifest.name
        old = self.installed.get(name)
        was_live = False
        if old is not None:
            old_tid = k.lookup(name)
            was_live = k.tasks[old_tid].status in ("live", "restarting")
            k.remove_task(old_tid)
        tid = None
        try:
            tid = k.add_task(b.manifest, b.code)
            started = b.manifest.start == "boot"
            if started:
                k.start(tid)
        except (ValueError, KernelError) as e:
            if tid is not None:
                k.remove_task(tid)
            if old is not None:
                t = k.add_task(old[1].manifest, old[1].code)
                if was_live:
                    try:
                        k.start(t)
                    except (ValueError, KernelError):
                        pass
            self.abort()
            raise BundleError("refused: it does not start (%s); %s" % (
                e, "the old version is back" if old is not None else "nothing installed"))
        self.store.commit(st.slot, st.total)
        self.stream = None
        if old is not None:
            self.store.clear(old[0])
        self.installed[name] = (st.slot, b)
        return {"name": name, "id": tid, "version": list(b.version), "slot": st.slot, "started": started,
                "replaced": old is not None}

    def install(self, k, data, chunk=512):
        """The whole stream at once (host tests): begin, data, end, commit."""
        self.begin(k, None, len(data))
        for i in range(0, len(data), chunk):
            self.data(k, data[i:i + chunk])
        while "busy" in self.end(k):
            pass
        return self.commit(k)

    def remove(self, k, name):
        """Take an installed task out, whatever its state, and erase its slot."""
        if name not in self.installed:
            raise BundleError("no installed task named %r" % name)
        slot, _ = self.installed[name]
        k.remove_task(k.lookup(name))
        self.store.clear(slot)
        del self.installed[name]
        return {"name": name, "slot": slot}

    def describe(self, name):
        got = self.installed.get(name)
        if got is None:
            return None
        return {"slot": got[0], "version": list(got[1].version), "counter": got[1].counter}
