"""Installed task bundles, the device side (tools/bundle.py describes the
format and makes them): checking one, and keeping them in storage.

A bundle is accepted only if boot/image.c's check against the key built
into the firmware says "ok" (hash, key, signature), its header says it is a
bundle (NON_BOOTABLE), its payload holds a manifest and code, and the
manifest asks for neither the kernel capability nor a device. The task's code (.mpy) is copied
to the top of its memory block when it starts: its manifest's `heap` must
hold the code besides what the task allocates. The store is BUNDLE_STORE_SIZE
bytes of storage cut into SLOT_SIZE slots, a bundle per slot, found again at
every boot and checked again before it runs."""
from kernel import manifest as kmanifest

F_NON_BOOTABLE = 0x10
T_MANIFEST = 0x01
T_CODE = 0x02
IMAGE_MAGIC = b"\x3d\xb8\xf3\x96"
SLOT_SIZE = 0x20000


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
    """A checked Bundle from raw bytes; BundleError saying what is wrong.
    verify: _hal.verify_image (or a host stand-in)."""
    result, flags, version, counter, hdr, img, _ = verify(data)
    if result != "ok":
        raise BundleError("refused: %s" % result)
    if not flags & F_NON_BOOTABLE:
        raise BundleError("refused: not a task bundle (a kernel image?)")
    tlvs = payload_tlvs(bytes(data[hdr:hdr + img]))
    if T_MANIFEST not in tlvs or T_CODE not in tlvs:
        raise BundleError("refused: the payload has no %s" % ("manifest" if T_MANIFEST not in tlvs else "code"))
    try:
        m = kmanifest.parse(bytes(tlvs[T_MANIFEST]).decode(), "bundle")
    except (ValueError, UnicodeError) as e:
        raise BundleError("refused: bad manifest: %s" % e)
    if m.kernel:
        raise BundleError("refused: an installed task may not hold the kernel capability")
    if m.devices:
        raise BundleError("refused: an installed task may not be granted devices (%s)" % ", ".join(m.devices))
    return Bundle(bytes(data), m, bytes(tlvs[T_CODE]), tuple(version), counter)


def image_length(head):
    """Bytes of the image whose first bytes (>= 32 + 4 after the areas) are
    `head`'s header, from its sizes; None if it is not an image."""
    if bytes(head[:4]) != IMAGE_MAGIC:
        return None
    hdr = head[8] | head[9] << 8
    prot = head[10] | head[11] << 8
    img = head[12] | head[13] << 8 | head[14] << 16 | head[15] << 24
    return hdr, img, prot


class Store:
    """The bundle slots in storage, through the storage driver's calls:
    read(off, n), erase(off) of a sector, program(off, data)."""

    def __init__(self, read, erase, program, offset, size, sector):
        self.read, self.erase, self.program = read, erase, program
        self.offset, self.sector = offset, sector
        self.slots = size // SLOT_SIZE

    def _at(self, slot):
        return self.offset + slot * SLOT_SIZE

    def load(self, slot):
        """The bytes of the image in a slot (header, payload, both TLV
        areas), or None if the slot holds none."""
        base = self._at(slot)
        sizes = image_length(self.read(base, 32))
        if sizes is None:
            return None
        hdr, img, prot = sizes
        end = hdr + img + prot
        if end + 4 > SLOT_SIZE:
            return self.read(base, SLOT_SIZE)            # the check will say what is wrong
        tail = self.read(base + end, 4)
        tot = tail[2] | tail[3] << 8
        return self.read(base, min(end + tot, SLOT_SIZE))

    def save(self, slot, data):
        if len(data) > SLOT_SIZE:
            raise BundleError("refused: %d bytes, a bundle slot holds %d" % (len(data), SLOT_SIZE))
        self.clear(slot, len(data))
        self.program(self._at(slot), data)

    def clear(self, slot, n=SLOT_SIZE):
        base = self._at(slot)
        for off in range(0, max(n, 1), self.sector):
            self.erase(base + off)

    def used(self):
        return [s for s in range(self.slots) if image_length(self.read(self._at(s), 32)) is not None]


class Installer:
    """Installs, loads at boot and removes bundle tasks of a Kernel.
    verify: _hal.verify_image; store: a Store."""

    def __init__(self, store, verify):
        self.store = store
        self.verify = verify
        self.installed = {}         # task name -> (slot, Bundle)

    def load_all(self, k):
        """Add every stored bundle that still checks; lines to print."""
        lines = []
        for slot in self.store.used():
            try:
                b = open_bundle(self.store.load(slot), self.verify)
                k.add_task(b.manifest, b.code)
            except ValueError as e:      # BundleError, ManifestError, KernelError
                lines.append("kernel: bundle in slot %d not loaded: %s\n" % (slot, e))
                continue
            self.installed[b.manifest.name] = (slot, b)
        return lines

    def install(self, k, data):
        """Check, store and add (and start, if its manifest says start =
        boot) the task of a bundle; a new version of an installed task
        replaces it unless its security counter is lower. Returns a reply
        dict; BundleError / ValueError with the reason when refused (nothing
        is written then)."""
        b = open_bundle(data, self.verify)
        name = b.manifest.name
        old = self.installed.get(name)
        if old is None:
            for tid in k.order:
                if k.tasks[tid].name == name:
                    raise BundleError("refused: %r is the name of a built-in task" % name)
            used = [slot for slot, _ in self.installed.values()]
            free = [s for s in range(self.store.slots) if s not in used]
            if not free:
                raise BundleError("refused: all %d bundle slots are in use" % self.store.slots)
            slot = free[0]
        else:
            slot = old[0]
            if b.counter < old[1].counter:
                raise BundleError("refused: rolled back (security counter %d < installed %d)"
                                  % (b.counter, old[1].counter))
            k.remove_task(k.lookup(name))
        try:
            tid = k.add_task(b.manifest, b.code)
        except ValueError:
            if old is not None:
                k.add_task(old[1].manifest, old[1].code)
            raise
        self.store.save(slot, b.data)
        self.installed[name] = (slot, b)
        started = b.manifest.start == "boot"
        if started:
            k.start(tid)
        return {"name": name, "id": tid, "version": list(b.version), "slot": slot, "started": started,
                "replaced": old is not None}

    def remove(self, k, name):
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
