"""The gateway under load in QEMU (issue 12, "Memory under load"): payments
(pain.001, as many transactions per message as the host link's 4 KB
payload takes) and FIX orders (NewOrderSingle and its OrderCancelRequest,
several per SUBMIT) over the authenticated host link, every answer checked;
the gateway's heap after a collection (its STATS) stays flat and the task
never restarts.

`make test` runs SOAK_PAYMENTS=1000 SOAK_ORDERS=1000 (the defaults);
`make soak` runs 10,000 of each. The figures are printed (pytest -s)."""
import os
import re
import time

import pytest

from drivers.hsm import frame as F
from tests.fix_messages import fixmsg
from userland.gateway import fix_store

from test_gateway_e2e import gateway, gateway_restarts, set_date  # noqa: F401 (the fixture)

PAYMENTS = int(os.environ.get("SOAK_PAYMENTS", "1000"))
ORDERS = int(os.environ.get("SOAK_ORDERS", "1000"))
pytestmark = pytest.mark.timeout(300 + (PAYMENTS + ORDERS) // 2)      # 0.1 s each alone, up to 0.4 s under heavy host load
TXS = 13                    # transactions per pain.001 (about 3.9 KB: the link's payload is 4 KB)
PAIRS = 9                   # orders (and their cancels) per FIX SUBMIT: 18 answers fit one link payload
SLACK = 2048                # heap growth (bytes) allowed between the first and the last sample: fragmentation
# plus the link's one kept answer for a retry (drivers/hsm/PROTOCOL.md): a whole frame, whose size
# follows the last message's answer (a pacs.002 of 13 transactions is most of one)
KEPT = F.MAX_PAYLOAD + F.OVERHEAD
# plus the FIX store's index of the messages it keeps for resends (userland/gateway/fix_store.py:
# seq -> flash offset, MAX_KEPT of them for the session: a dict of small ints, 16 bytes a slot at most)
FIX_INDEX = 2 * fix_store.MAX_KEPT * 8

HEAD = ('<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09">'
        "<CstmrCdtTrfInitn><GrpHdr><MsgId>%s</MsgId><CreDtTm>2026-11-26T10:00:00</CreDtTm><NbOfTxs>%d</NbOfTxs>"
        "<InitgPty><Nm>Alice Example</Nm></InitgPty></GrpHdr><PmtInf><PmtInfId>P</PmtInfId><PmtMtd>TRF</PmtMtd>"
        "<Dbtr><Nm>Alice Example</Nm></Dbtr><DbtrAcct><Id><Othr><Id>1</Id></Othr></Id></DbtrAcct>"
        "<DbtrAgt><FinInstnId><BICFI>QNXBUS33</BICFI></FinInstnId></DbtrAgt>")
TX = ("<CdtTrfTxInf><PmtId><EndToEndId>%s</EndToEndId></PmtId><Amt><InstdAmt Ccy=\"USD\">1.00</InstdAmt></Amt>"
      "<CdtrAgt><FinInstnId><BICFI>QNXBGB2L</BICFI></FinInstnId></CdtrAgt><Cdtr><Nm>Bob Example</Nm></Cdtr>"
      "<CdtrAcct><Id><Othr><Id>2</Id></Othr></Id></CdtrAcct></CdtTrfTxInf>")
TAIL = "</PmtInf></CstmrCdtTrfInitn></Document>"


def pain001(msg_id, e2es):
    return (HEAD % (msg_id, len(e2es)) + "".join(TX % e for e in e2es) + TAIL).encode()


def submit(dev, link, kind, data):
    try:
        return link.submit(kind, data)
    except TimeoutError:
        raise AssertionError("no answer; client %s\n%s\n%s" % (link.client.stats, dev.cmd("ps"), link.stats()))


def heap(link):
    s = link.stats()
    return s["heap"]["alloc"], s


def test_the_gateway_heap_stays_flat_under_payments_and_fix_orders(gateway, monkeypatch):
    dev, link, storage, pub = gateway
    samples = []
    try:
        soak(dev, link, monkeypatch, samples)
    except AssertionError as e:
        time.sleep(1)
        dev.cmd("ps")
        said = [line for line in dev.text.splitlines() if "gateway:" in line or "fault:" in line]
        raise AssertionError("%s\nconsole: %s\nheap samples: %s" % (str(e)[:2000], said, samples)) from None


def soak(dev, link, monkeypatch, samples):
    # The host client drops an answer as stale after 5 quiet polls: under host load a long answer,
    # written a byte at a time from Python, can pause that long (issue 12, "answers lost under
    # host load", the link's own fix). Thousands of answers here: the client waits longer.
    from drivers.hsm import client
    monkeypatch.setattr(client, "QUIET_MS", 200)
    t0 = time.monotonic()
    # Warm up: one of each kind, so every module and first-use structure exists.
    assert "<GrpSts>ACSC</GrpSts>" in link.submit("pain.001", pain001("W-0", ["W-0-1"]))
    seq = 1
    set_date(dev)                   # no FIX Logon without a date
    out = link.submit("FIX", fixmsg(seq, "A", (98, "0"), (108, "30")))
    assert "\x0135=A\x01" in out
    samples.append(heap(link)[0])
    # Payments.
    done = 0
    msg = 0
    tp = time.monotonic()
    while done < PAYMENTS:
        n = min(TXS, PAYMENTS - done)
        msg += 1
        doc = pain001("SOAK-%d" % msg, ["S%d-%d" % (msg, i) for i in range(n)])
        assert len(doc) <= 4080            # the link payload: 4,096 bytes with the kind and two lengths
        answer = submit(dev, link, "pain.001", doc)
        if answer.count("<TxSts>ACSC</TxSts>") != n or "<GrpSts>ACSC</GrpSts>" not in answer:
            raise AssertionError("message %d: %s\nstats %s\n%s" % (msg, answer[:600], link.stats(), dev.cmd("ps")))
        done += n
        if msg % 50 == 0:
            samples.append(heap(link)[0])
    payments_s = time.monotonic() - tp
    samples.append(heap(link)[0])
    # FIX orders: each batch sends PAIRS orders, then their cancels (the book never fills).
    done = 0
    batch = 0
    tf = time.monotonic()
    while done < ORDERS:
        n = min(PAIRS, ORDERS - done)
        batch += 1
        data = b""
        for i in range(n):
            seq += 1
            data += fixmsg(seq, "D", (11, "O%d-%d" % (batch, i)), (55, "QNX"), (54, "1"), (38, "10"), (40, "2"),
                           (44, "100.00"), (60, "20261126-10:00:00"))
        for i in range(n):
            seq += 1
            data += fixmsg(seq, "F", (41, "O%d-%d" % (batch, i)), (11, "C%d-%d" % (batch, i)), (55, "QNX"),
                           (54, "1"), (60, "20261126-10:00:00"))
        out = submit(dev, link, "FIX", data)
        reports = re.findall(r"\x0135=8\x01.*?\x01150=(\w)\x01", out)
        assert reports == ["0"] * n + ["4"] * n, out[:400]
        done += n
        if batch % 50 == 0:
            samples.append(heap(link)[0])
    orders_s = time.monotonic() - tf
    last, stats = heap(link)
    samples.append(last)
    wall = time.monotonic() - t0
    print("\nsoak: %d payments in %.1f s, %d FIX orders (+ cancels) in %.1f s, %.1f s in all"
          % (PAYMENTS, payments_s, ORDERS, orders_s, wall))
    print("soak: gateway heap after collect (bytes): first %d, last %d, min %d, max %d; free %d; %d samples"
          % (samples[0], samples[-1], min(samples), max(samples), stats["heap"]["free"], len(samples)))
    print("soak: audit log %d of %d bytes; stats %s" % (stats["audit"]["end"], stats["audit"]["size"],
                                                     {k: stats[k] for k in ("messages", "held", "orders", "errors")}))
    assert stats["errors"] == 0 and stats["orders"] == 0
    assert max(samples[len(samples) // 4:]) - samples[0] <= SLACK + KEPT + FIX_INDEX, samples
    assert samples[-1] - samples[0] <= SLACK + FIX_INDEX, samples
    assert gateway_restarts(dev) == 0 and "fault: task gateway" not in dev.text
