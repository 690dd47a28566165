"""Boot control: the kernel's half of test-then-confirm upgrades. The
bootloader's half, and the record kept in storage, are boot/bootstate.h.

The bootloader hands over what it booted (`_hal.boot_info()`). An image it
booted on trial is confirmed by `boot confirm` (KCTL_CONFIRM) or, here,
automatically once the start proved healthy: HEALTH_MS after the kernel
started, no task that starts at boot has faulted. A fault in that window
gives up the automatic confirmation; the image then reverts at the next
reset unless an operator confirms it. Confirming raises the stored security
counter to the image's, so older images can no longer boot."""

KINDS = ("confirmed", "confirmed (first boot)", "trial")
TRIAL = 2
HEALTH_MS = 5000


class BootControl:
    """info: _hal.boot_info()'s tuple (slot, kind, version, counter,
    min_counter, sha256) or None (no hand-over: the kernel was not started
    by our bootloader); confirm: _hal.boot_confirm (True: written now)."""

    def __init__(self, info, confirm, start_ms=0, health_ms=HEALTH_MS):
        self.info = info
        self._confirm = confirm
        self.confirm_at = start_ms + health_ms if self.on_trial() else None
        self.health_ms = health_ms
        self.gave_up = None         # why the automatic confirmation was abandoned

    def on_trial(self):
        return self.info is not None and self.info[1] == TRIAL

    def describe(self):
        """"slot B v0.2.0+0"."""
        v = self.info[2]
        return "slot %s v%d.%d.%d+%d" % (self.info[0], v[0], v[1], v[2], v[3])

    def confirm(self):
        """Confirm the running image; True if the record was written now,
        False if it was confirmed already. Raises OSError on a storage error."""
        if self.info is None:
            raise ValueError("the bootloader handed over no boot information")
        written = self._confirm()
        slot, kind, version, counter, min_counter, digest = self.info
        self.info = (slot, 0, version, counter, max(min_counter, counter), digest)
        self.confirm_at = None
        return written

    def check(self, now, faulted):
        """The automatic confirmation, called by the kernel's loop: `faulted`
        lists the boot tasks that faulted so far. Returns a console line when
        something was decided, else None."""
        if self.confirm_at is None:
            return None
        if faulted:
            self.confirm_at = None
            self.gave_up = "task %s faulted" % faulted[0]
            return ("boot: not confirming %s: %s; it reverts at the next reset unless `boot confirm`\n"
                    % (self.describe(), self.gave_up))
        if now < self.confirm_at:
            return None
        self.confirm()
        return ("boot: %s confirmed (boot tasks healthy for %d ms); security counter now %d\n"
                % (self.describe(), self.health_ms, self.info[4]))

    def status(self, now):
        """KCTL_BOOT's reply: {"slot", "version" [4], "state", "counter",
        "min_counter", "sha256" (hex), "confirm_in_ms" (null unless an
        automatic confirmation is pending), "gave_up" (why not, or null)}."""
        if self.info is None:
            return {"slot": None}
        slot, kind, version, counter, min_counter, digest = self.info
        return {"slot": slot, "version": list(version), "state": KINDS[kind], "counter": counter,
                "min_counter": min_counter, "sha256": "".join("%02x" % b for b in digest),
                "confirm_in_ms": None if self.confirm_at is None else max(0, self.confirm_at - now),
                "gave_up": self.gave_up}
