"""Interrupts to the tasks that own them, on the simulated trap layer: the
routing policy (tests/host/irq_world.py's scenarios, checked here under
CPython and compared with MicroPython's run), the manifest's `irqs` field,
the system check and the installed-task rights."""
import json
import os

import pytest

from kernel import manifest, rights
from kernel.manifest import ManifestError
from tests.host import irq_world as W
from tests.host import upy
from tools.layout import load_board


def test_the_worlds_table_is_the_boards():
    b = load_board("mps2-an385")
    assert tuple((n, tuple(i), kind) for n, i, kind, _ in b.IRQS) == tuple((n, i, kind) for n, i, kind, _ in W.IRQS)
    assert b.TASK_UARTS == W.UARTS
    assert b.ETH_IRQ == W.ETH == 13          # QEMU's mps2 model wires the LAN9118 to IRQ 13


def test_an_irq_reaches_its_owner_only_and_stays_masked_until_acked():
    log = W.routing()
    assert ["drv owned", 1 << 3] in log and ["other owned", 0] in log
    got = [e for e in log if e[0] == "drv got"]
    assert got[0][1] == 8 and got[0][2] >= 10
    assert ["drv before ack", 0] in log                 # the second one waited for the ack
    assert ["drv after ack", 8] in log                  # latched while masked, delivered at the ack
    assert ["drv acks a bit it does not own", "NOT_PERMITTED"] in log
    assert ["other acks", "NOT_PERMITTED"] in log
    other = [e for e in log if e[0] == "other waited"][0]
    assert other[1] == 0 and other[2] >= 200            # never saw the owner's interrupt
    assert got[1][1] == 8 and 110 <= got[1][2] < 120   # after the acks, the next one
    assert ["owners after kill", [], []] in log
    assert ["pending after kill", 0] in log             # masked and forgotten with its owner
    assert ["owners after start", [W.ETH]] in log
    at = [e for e in log if e[0] == "raised at"][0][1]
    assert at <= got[-1][2] < at + 10                   # the new incarnation gets it
    assert log.count(["drv owned", 1 << 3]) == 2


def test_recv_takes_calls_notifications_and_timeouts_apart():
    log = W.recv_mask()
    srv = [e for e in log if e[0] == "srv"]
    assert srv[0][1:3] == [True, "hello"] and srv[0][3] >= 5
    assert srv[1][1:3] == [False, 1 << 5] and srv[1][3] >= 15     # the IRQ's bit
    assert srv[2][1:3] == [False, 1 << 1] and srv[2][3] >= 25     # a task's notify
    assert srv[3][1:3] == [False, 0] and srv[3][3] - srv[2][3] >= 40   # the timeout
    assert ["cli", "ok"] in log
    w = [e for e in log if e[0] == "srv wait"][0]
    assert w[1] == 0
    assert ["srv bad mask", "BAD_ARGUMENT"] in log


def test_the_ipc_fast_path_gives_the_same_history():
    """A call into a recv that has a mask and a timeout may be delivered by
    the trap layer's fast path (kernel/port/ipcfast.c): the kernel's replay
    drops the timeout and the mask, and a recv with either is the kernel's."""
    assert W.recv_mask(fast=True) == W.recv_mask(fast=False)


def test_a_uart_burst_arrives_whole_and_a_full_ring_holds_the_sender_back():
    log = W.uart_burst()
    assert ["read", 20000, True] in log
    assert ["held back", True, True] in log
    full = [e for e in log if e[0] == "write full at"]
    assert full and full[0][1] == 4096                  # the transmit ring's size: the write came back short
    assert ["wrote", 6144, True] in log
    assert ["sent", 6144] in log
    assert ["nosy reads", "NOT_PERMITTED"] in log
    assert ["nosy writes", "NOT_PERMITTED"] in log
    assert ["bad device", "BAD_ARGUMENT"] in log


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_uart_bursts_hold_under_other_seeds(seed):
    assert ["read", 5000, True] in W.uart_burst(5000, seed)


def test_the_scenarios_give_the_same_history_on_micropython():
    script = "sys.path.insert(0, %r)\nimport json\nimport irq_world\nprint(json.dumps(irq_world.run_all()))\n" \
        % os.path.dirname(os.path.abspath(__file__))
    mine = json.loads(upy.run(script, timeout=240))
    want = json.loads(json.dumps(W.run_all()))
    assert mine == want


# --- the manifest field and the system check -----------------------------------

BASE = "name = t\nentry = t\npriority = 3\nheap = 4096\nstack = 1024\nrestart = never\n"


def test_irqs_parse_and_round_trip():
    m = manifest.parse(BASE + "irqs = uart1:0, eth:7\n")
    assert m.irqs == [("uart1", 0), ("eth", 7)]
    assert manifest.parse(m.to_text()) == m
    assert manifest.from_dict(m.as_dict(), "x") == m


@pytest.mark.parametrize("value, why", [
    ("eth", "is not name:bit"),
    ("eth:31", "the bit is not 0..30"),
    ("eth:x", "the bit is not 0..30"),
    ("eth:1, eth:2", "'eth' listed twice"),
    ("eth:1, uart1:1", "bit 1 given to eth and uart1"),
    ("9x:1", "is not name:bit"),
])
def test_bad_irqs_are_refused(value, why):
    with pytest.raises(ManifestError) as e:
        manifest.parse(BASE + "irqs = %s\n" % value)
    assert e.value.field == "irqs" and why in e.value.reason


def test_the_system_refuses_an_irq_granted_twice_and_unknown_names():
    a = manifest.parse(BASE.replace("= t\n", "= a\n") + "irqs = eth:1\n")
    b = manifest.parse(BASE.replace("= t\n", "= b\n") + "irqs = eth:2\n")
    names = [n for n, _, _, _ in W.IRQS]
    with pytest.raises(ManifestError) as e:
        manifest.check_system([a, b], 1 << 20, None, names)
    assert "granted to a already" in str(e.value)
    c = manifest.parse(BASE.replace("= t\n", "= c\n") + "irqs = uart9:2\n")
    with pytest.raises(ManifestError) as e:
        manifest.check_system([a, c], 1 << 20, None, names)
    assert "'uart9' is not an interrupt of this board" in str(e.value)
    manifest.check_system([a], 1 << 20, None, names)


def test_the_kernel_refuses_a_system_granting_an_irq_twice():
    with pytest.raises(ManifestError):
        W.system([W.task("a", "irqs = uart2:0\n"), W.task("b", "irqs = uart2:1\n")])


def test_an_installed_task_may_not_be_granted_interrupts():
    m = manifest.parse(BASE.replace("priority = 3", "priority = 5") + "irqs = eth:1\n")
    why = rights.check(m)
    assert why == ["irqs eth: an installed task may not be granted interrupts"]
