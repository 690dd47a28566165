"""ISO 20022 over HTTP/1.1 in QEMU (production image): CPython's own HTTP
client posts to the board's port 80 (httpnet -> the gateway's ISO relay)
through QEMU's forward. While the board's clock is unset: 503 with the
reason. With it set: a 3-transaction pacs.008 (4.5 KB) and a chunked
pain.001 on one kept-alive connection, each answered with a pacs.002
whose CreDtTm is today's UTC and whose MsgId is unique; a message of more
than 256 KiB, chunked, read as it streams in; an MT103; the HTTP errors
(413 before the body is sent, 415, 411, 404) with reasons, the board
serving on after each; `qenex send` over HTTP, and its one-line refusal."""
import http.client
import os
import re
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from qemu_console import PRODUCTION_FLASH
from tools import hostlink, qemu
from tools.layout import ROOT
from userland.gateway import iso20022

pytestmark = pytest.mark.timeout(420)
VEC = os.path.join(ROOT, "tests", "vectors", "gateway")
THREE = open(os.path.join(VEC, "pacs008_3tx.xml"), "rb").read()
PAIN = open(os.path.join(VEC, "pain001.xml"), "rb").read()
MT = open(os.path.join(VEC, "mt103.txt"), "rb").read()
NS = {"p": iso20022.PACS002}


@pytest.fixture
def dev(boot, tmp_path):
    storage = qemu.ensure_storage(str(tmp_path / "storage.bin"), 16 * 1024 * 1024)
    key = hostlink.provision(storage, "mps2-an385", str(tmp_path / "hostlink.key"))
    link_sock = str(tmp_path / "link.sock")
    d = boot(PRODUCTION_FLASH, storage=storage, hostlink=link_sock, net=True)
    d.wait_prompt()
    d.wait_line(r"httpnet: ISO 20022 and MT103 over HTTP on TCP port 80", since=0, timeout=60)
    d.wait_line(r"gateway: host link open.*", since=0, timeout=30)
    for acct in (1, 2, 3):
        assert d.cmd("ledger account new %d 1 10" % acct) == "ok\n"
    d.http_port = d.ports[("tcp", 80)]
    d.link_sock, d.key = link_sock, key
    return d


def set_clock(d):
    from drivers.hsm import frame as F
    link = hostlink.Link(d.link_sock, d.key)
    try:
        assert link.control(0x44, F.fields(str(int(time.time() * 1000)))).startswith("clock: ")
    finally:
        link.close()


def connect(d, timeout=60):
    return http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=timeout)


def post(conn, path, body, ctype="application/xml", headers=None):
    h = {"Content-Type": ctype}
    h.update(headers or {})
    conn.request("POST", path, body=body, headers=h)
    r = conn.getresponse()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()


def report(body):
    root = ET.fromstring(body)
    return (root.findtext(".//p:GrpHdr/p:MsgId", namespaces=NS), root.findtext(".//p:CreDtTm", namespaces=NS),
            root.findtext(".//p:GrpSts", namespaces=NS),
            [(t.findtext("p:OrgnlEndToEndId", namespaces=NS), t.findtext("p:TxSts", namespaces=NS))
             for t in root.findall(".//p:TxInfAndSts", namespaces=NS)])


def big_message():
    """90 transactions with their remittance notes, more than 256 KiB."""
    txs = THREE[THREE.index(b"    <CdtTrfTxInf>"):THREE.index(b"  </FIToFICstmrCdtTrf>")]
    notes = b"".join(b"<Ustrd>%s</Ustrd>" % (b"%03d " % k * 35)[:140] for k in range(14))
    many = b"".join(txs.replace(b"E2E-20261203-000", b"E2E-%02d-" % i) for i in range(30))
    doc = THREE.replace(txs, many).replace(b"<NbOfTxs>3</NbOfTxs>", b"<NbOfTxs>90</NbOfTxs>")
    return doc.replace(b"QX-20261203-3TX", b"QX-BIG").replace(b"<RmtInf>", b"<RmtInf>" + notes)


def chunks(data, size):
    for i in range(0, len(data), size):
        yield data[i:i + size]


def test_iso20022_over_http(dev, tmp_path):
    # no clock: no status report can carry a real CreDtTm
    status, h, body = post(connect(dev), "/iso20022", THREE)
    assert status == 503 and b"clock is not set" in body and h["connection"] == "close"
    set_clock(dev)
    today = time.strftime("%Y-%m-%d", time.gmtime())

    conn = connect(dev)
    status, h, body = post(conn, "/iso20022", THREE)
    assert status == 200 and h["content-type"] == "application/xml; charset=utf-8", (status, body)
    msg_id, created, group, txs = report(body)
    assert group == "ACSC" and txs == [("E2E-20261203-000%d" % i, "ACSC") for i in (1, 2, 3)]
    assert created.startswith(today + "T") and created.endswith("Z")
    sock = conn.sock
    status, h, body = post(conn, "/iso20022", chunks(PAIN, 200), "text/xml")       # an iterable: chunked
    assert status == 200 and conn.sock is sock, body                    # the same connection, kept alive
    assert report(body)[0] != msg_id and report(body)[2] in ("RJCT", "ACSC", "PDNG")
    # the same message again: nothing posted twice, answered from the ledger (exists: ACSC)
    status, _, body = post(conn, "/iso20022", THREE)
    assert report(body)[2:] == ("ACSC", txs) and report(body)[0] not in (msg_id,)
    assert "debits posted 535049 " in dev.cmd("ledger balance 1")       # 1250.50 + 99.99 + 4000.00, once
    conn.close()            # (httpnet serves one connection at a time: the next would wait out its idle time)

    # more than 256 KiB, chunked as it is read: parsed as it streams in
    big = big_message()
    assert len(big) > 256 * 1024
    t0 = time.monotonic()
    status, h, body = post(connect(dev, 300), "/iso20022", chunks(big, 4096))
    took = time.monotonic() - t0
    _, _, group, txs = report(body)
    assert status == 200 and group == "ACSC" and len(txs) == 90, body[:400]
    print("a %d-byte pacs.008 of 90 transactions over HTTP: %.1f s host wall time" % (len(big), took))

    status, h, body = post(connect(dev), "/mt103", MT, "text/plain")
    assert status == 200 and body.startswith(b"MT103 QXREF0001 ")

    # refused at the head, each with its reason; the board serves on after each
    c = connect(dev)
    c.putrequest("POST", "/iso20022")
    c.putheader("Content-Type", "application/xml")
    c.putheader("Content-Length", str(2 << 20))
    c.endheaders()
    r = c.getresponse()
    assert r.status == 413 and b"at most 1048576" in r.read()
    status, _, body = post(connect(dev), "/iso20022", b"{}", "application/json")
    assert status == 415 and b"application/xml or text/xml" in body
    s = socket.create_connection(("127.0.0.1", dev.http_port), timeout=30)
    s.sendall(b"POST /iso20022 HTTP/1.1\r\nHost: board\r\nContent-Type: application/xml\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 411 Length Required\r\n")
    s.close()
    c = connect(dev)
    c.request("GET", "/")
    assert c.getresponse().status == 404

    # qenex send over HTTP: the pacs.002 printed; a refusal in one line, no traceback
    f = tmp_path / "m.xml"
    f.write_bytes(THREE.replace(b"QX-20261203-3TX", b"QX-SEND"))
    cp = subprocess.run([sys.executable, "-m", "tools.qenex", "send", "--http", "127.0.0.1:%d" % dev.http_port,
                         str(f)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0 and "<GrpSts>ACSC</GrpSts>" in cp.stdout, cp.stdout + cp.stderr
    f.write_bytes(b"\xff" * (2 << 20))
    cp = subprocess.run([sys.executable, "-m", "tools.qenex", "send", "--kind", "pacs.008", "--http",
                         "127.0.0.1:%d" % dev.http_port, str(f)], cwd=ROOT, capture_output=True, text=True,
                        timeout=120)
    assert cp.returncode != 0 and "Traceback" not in cp.stderr, cp.stderr
    assert re.search(r"qenex send: (the board refused it: HTTP 413|HTTP to .* failed)", cp.stderr), cp.stderr
    assert re.search(r"\n\d+ +httpnet +", dev.cmd("ps"))        # never restarted: still the same one
