"""The ledger task at the shell: accounts, transfers, idempotent retries,
refusals with their result codes (nothing written), two-phase transfers,
history, and the state surviving a reboot (from the write-ahead log)."""
import re

import pytest

pytestmark = pytest.mark.timeout(120)


def test_ledger_at_the_shell_and_across_a_reboot(device):
    d = device
    assert d.cmd("ledger account new 1 1 10 history") == "ok\n"
    assert d.cmd("ledger account new 2 1 10") == "ok\n"
    assert d.cmd("ledger account new 2 1 11") == "exists_with_different_code\n"
    assert d.cmd("ledger transfer 100 1 2 12550 1 1") == "ok\n"
    assert d.cmd("ledger transfer 100 1 2 12550 1 1") == "exists\n"
    assert d.cmd("ledger transfer 100 1 2 99 1 1") == "exists_with_different_amount\n"
    records = int(re.search(r"log (\d+) records", d.cmd("ledger stats")).group(1))
    for line, code in (("ledger transfer 0 1 2 5 1 1", "id_must_not_be_zero"),
                       ("ledger transfer 101 1 1 5 1 1", "accounts_must_be_different"),
                       ("ledger transfer 101 1 9 5 1 1", "credit_account_not_found"),
                       ("ledger transfer 101 1 2 5 1 1 frob", "unknown flag frob"),
                       ("ledger post 102 999", "pending_transfer_not_found")):
        assert code in d.cmd(line), line
    assert int(re.search(r"log (\d+) records", d.cmd("ledger stats")).group(1)) == records   # nothing written
    assert d.cmd("ledger transfer 101 1 2 500 1 1 pending timeout=60") == "ok\n"
    assert d.cmd("ledger void 102 101") == "ok\n"
    assert d.cmd("ledger void 103 101") == "pending_transfer_already_voided\n"
    balance = d.cmd("ledger balance 1")
    assert "debits posted 12550 pending 0" in balance
    assert len(d.cmd("ledger history 1").splitlines()) == 1 + 3
    d.send("reboot\r")
    d.wait_prompt()
    d.wait_line(r"ledger: recovered \d+ records \(2 accounts, 3 transfers\) in \d+ ms", since=0)
    assert d.cmd("ledger balance 1") == balance
    assert d.cmd("ledger transfer 100 1 2 12550 1 1") == "exists\n"          # idempotent across reboots
    assert re.match(r"ledger: invariants hold; \d+ records chained", d.cmd("ledger verify"))
