"""The account directory kept in the gateway's storage (layout.py: two
copies, the newest whole one wins) and changed by the operator: the shell's
`accounts` requests and the host's ACCOUNTS frames (a new directory in
parts). Every change is checked whole, stored, then used and audited; a
refused one changes nothing. Holds no IBAN rules (accounts.py) and no
payment logic (service.py resolves through `directory`). Plain Python; the
host tests run it over a bytearray region (drivers/flash/region.py)."""
from userland.gateway import accounts, layout
from userland.lib.asciinum import is_digits

PAGE = 240                  # bytes of `list` lines a reply carries (the shell asks page after page)
USAGE = "accounts: list FROM | add IBAN ACCOUNT [BIC] | open|close|block|remove IBAN"
VERBS = {"open": "open", "close": "closed", "block": "blocked"}


class AccountStore:
    def __init__(self, store, record, alarm=None):
        """store: the gateway partition (Region); record(text): an audit
        entry; alarm(text): the console."""
        self.store, self.record = store, record
        self.staged = None          # the text of a directory the host is loading, until its last part
        self.directory = accounts.Directory()
        newest = self._newest()
        if newest is not None:
            try:
                self.directory = accounts.parse(newest[2].decode())
            except (ValueError, UnicodeError) as e:     # stored checked: a defect, said, the empty one used
                if alarm:
                    alarm("stored account directory ignored (%s)" % str(e)[:120])

    def resolve(self, text, debtor):
        """The directory in use's answer (accounts.Directory.resolve)."""
        return self.directory.resolve(text, debtor)

    def _newest(self):
        return layout.accounts_of(lambda off, n: self.store.read(layout.ACCOUNTS_OFFSET + off, n))

    def _save(self, d, what):
        """d stored (the copy not holding the newest record), then used."""
        try:
            newest = self._newest()
            rec = layout.accounts_record(0 if newest is None else newest[0] + 1, d.to_text().encode())
            at = layout.ACCOUNTS_OFFSET + layout.accounts_slot(newest)
            for off in range(at, at + layout.ACCOUNTS_COPY, self.store.sector):
                self.store.erase(off)
            self.store.program(at, rec)
        except (ValueError, OSError) as e:
            return False, "accounts: not stored (%s): nothing changed" % str(e)[:120]
        self.directory = d
        self.record(what)
        return True, what

    def request(self, words):
        """A shell request's words -> (ok, answer). `list FROM` answers
        "TOTAL NEXT" and the lines from FROM (PAGE bytes at most)."""
        d = self.directory
        if words[:1] == ["list"] and len(words) == 2 and is_digits(words[1], 6):
            keys = sorted(d.entries)
            start = int(words[1])
            out, n = [], 0
            for k in keys[start:]:
                line = d.line(k)
                if n + len(line) + 1 > PAGE:
                    break
                out.append(line)
                n += len(line) + 1
            return True, "%d %d\n%s" % (len(keys), start + len(out), "\n".join(out))
        new = accounts.parse(d.to_text())           # a copy: changed, stored, then used
        try:
            if words[:1] == ["add"] and 3 <= len(words) <= 4:
                key = new.add(words[1], words[2], words[3] if len(words) == 4 else None)
                what = "account %s added: ledger account %s" % (key, words[2])
            elif words[:1] and words[0] in VERBS and len(words) == 2:
                key = new.set_state(words[1], VERBS[words[0]])
                what = "account %s %s" % (key, VERBS[words[0]])
            elif words[:1] == ["remove"] and len(words) == 2:
                what = "account %s removed" % new.remove(words[1])
            else:
                return False, USAGE
        except accounts.AccountError as e:
            return False, "accounts: %s" % e
        return self._save(new, what)

    def load_part(self, flags, text):
        """A part of a new directory from the host: flags "F" (first part:
        the parts so far are dropped), "L" (last: the whole replaces the
        directory). -> (ok, answer)."""
        if b"F" in flags:
            self.staged = b""
        if self.staged is None:
            return False, "accounts: no directory is being loaded (its first part is flagged F)"
        if len(self.staged) + len(text) > layout.ACCOUNTS_MAX * 2:
            self.staged = None
            return False, "accounts: larger than the directory can hold (%d bytes)" % layout.ACCOUNTS_MAX
        self.staged += text
        if b"L" not in flags:
            return True, "accounts: %d bytes received" % len(self.staged)
        text, self.staged = self.staged, None
        try:
            d = accounts.parse(text.decode())
            layout.accounts_record(0, d.to_text().encode())     # fits a copy, or ValueError
        except (ValueError, UnicodeError) as e:
            self.record("account directory refused: %s" % str(e)[:160])
            return False, "accounts refused: %s" % str(e)[:160]
        return self._save(d, "account directory loaded, %d accounts" % len(d.entries))
