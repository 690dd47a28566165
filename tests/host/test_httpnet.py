"""ISO 20022 and MT103 over HTTP/1.1 (userland/httpnet/, userland/lib/http1.py,
userland/gateway/isorelay.py) with the real gateway behind it: the
conversations of tests/host/http_world.py, run under MicroPython and
CPython, must send the same bytes back; CPython's own HTTP client
(http.client) reads every answer, and the pacs.002s are read back as XML."""
import http.client
import io
import json
import os
import sys
import xml.etree.ElementTree as ET

import pytest

from tests.host import upy

HOST = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HOST)
import http_world  # noqa: E402
from userland.httpnet.main import IDLE_MS  # noqa: E402

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"}


class _Stream(io.BytesIO):
    def close(self):
        pass                        # http.client closes its file after each answer: the stream goes on


class _Sock:
    def __init__(self, data):
        self.f = _Stream(data)

    def makefile(self, mode):
        return self.f


def answers(sent):
    """[(status, headers, body)] of every final answer in `sent`, read by http.client."""
    sock = _Sock(sent.encode("latin-1"))
    out = []
    while sock.f.tell() < len(sent):
        r = http.client.HTTPResponse(sock, method="POST")
        r.begin()                                   # skips an interim 100 Continue
        out.append((r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()))
    return out


def statuses(body):
    root = ET.fromstring(body)
    return (root.findtext(".//p:OrgnlGrpInfAndSts/p:GrpSts", namespaces=NS),
            [(t.findtext("p:OrgnlEndToEndId", namespaces=NS), t.findtext("p:TxSts", namespaces=NS),
              t.findtext(".//p:Cd", namespaces=NS)) for t in root.findall(".//p:TxInfAndSts", namespaces=NS)],
            root.findtext(".//p:CreDtTm", namespaces=NS), root.findtext(".//p:GrpHdr/p:MsgId", namespaces=NS))


@pytest.fixture(scope="module")
def world():
    script = "sys.path.insert(0, %r)\nimport json, http_world\nprint(json.dumps(http_world.run(%r)))\n" % (
        HOST, upy.ROOT)
    mine = json.loads(upy.run(script, timeout=240))
    want = json.loads(json.dumps(http_world.run(upy.ROOT)))
    for a, b in zip(mine["conversations"], want["conversations"]):
        assert a == b, "%s differs:\nMicroPython %r\nCPython     %r" % (b["name"], a["sent"][:400], b["sent"][:400])
    assert mine == want
    return {c["name"]: c for c in want["conversations"]}, want["audit"]


def test_a_3_transaction_pacs008_and_a_chunked_pain001_on_one_kept_alive_connection(world):
    c = world[0]["keepalive"]
    got = answers(c["sent"])
    assert [s for s, _, _ in got] == [200, 200] and c["requests"] == 2
    (_, h1, b1), (_, h2, b2) = got
    assert h1["content-type"] == "application/xml; charset=utf-8" and "connection" not in h1
    assert h1["date"] == "Thu, 03 Dec 2026 09:30:00 GMT"
    group, txs, created, msg_id = statuses(b1)
    assert group == "ACSC" and [t[:2] for t in txs] == [("E2E-20261203-000%d" % i, "ACSC") for i in (1, 2, 3)]
    assert created == "2026-12-03T09:30:01.000Z"            # the board's UTC clock, an ISODateTime
    # the pain.001 vector pays JPY between accounts of the USD ledger: refused by the ledger, AM03
    assert statuses(b2)[:2] == ("RJCT", [("PAIN-E2E-1", "RJCT", "AM03")]) and statuses(b2)[3] != msg_id
    assert c["waits"][0] == IDLE_MS and c["waits"][-1] == IDLE_MS     # the idle wait between requests


def test_a_320_kb_message_streams_in_and_every_transaction_is_answered(world):
    conv, audit = world
    c = conv["large"]
    [(status, h, body)] = answers(c["sent"])
    assert status == 200 and int(h["content-length"]) == len(body) > 8192      # more than one lease: ISO_MORE
    group, txs, _, _ = statuses(body)
    assert group == "ACSC" and len(txs) == 90 and len(set(t[0] for t in txs)) == 90
    assert sum(1 for e in audit if "QX-BIG" in e for line in e.splitlines() if line.startswith("accept")) == 90


def test_expect_100_continue_is_answered_before_the_body(world):
    c = world[0]["continue"]
    assert c["sent"].startswith("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
    [(status, h, body)] = answers(c["sent"])
    assert h["connection"] == "close" and statuses(body)[0] == "ACSC"


def test_an_mt103_over_http_1_0_is_answered_and_the_connection_closes(world):
    [(status, h, body)] = answers(world[0]["mt103"]["sent"])
    assert status == 200 and h["content-type"].startswith("text/plain") and h["connection"] == "close"
    assert body == b"MT103 QXREF0001 ACSC"


@pytest.mark.parametrize("name, reason", [
    ("not_xml", "FF01"),
    ("too_long_xml", "FF01"),
])
def test_a_malformed_document_is_a_rejected_pacs002_not_an_http_error(world, name, reason):
    [(status, h, body)] = answers(world[0][name]["sent"])
    group, txs, _, _ = statuses(body)
    assert status == 200 and group == "RJCT" and txs[0][1:] == ("RJCT", reason)


@pytest.mark.parametrize("name, status, why", [
    ("404", 404, "no such path"),
    ("405", 405, "POST only"),
    ("415", 415, "Content-Type 'application/json'"),
    ("411", 411, "needs Content-Length or Transfer-Encoding: chunked"),
    ("413", 413, "a body of 2000000 bytes; at most 1048576"),
    ("413_chunked", 413, "a chunked body longer than 1048576 bytes"),
    ("400_chunk", 400, "'zz' is not a chunk size"),
    ("400_line", 400, "the request line is not"),
    ("400_host", 400, "without a Host header"),
    ("505", 505, "not HTTP/2.0"),
    ("431", 431, "longer than 8192 bytes"),
    ("501", 501, "only chunked"),
    ("stall", 408, "the request stopped"),
    ("clock_unset", 503, "the board's clock is not set"),
])
def test_http_errors_say_why_and_close(world, name, status, why):
    c = world[0][name]
    [(got, h, body)] = answers(c["sent"])
    assert (got, h["connection"], h["content-type"]) == (status, "close", "text/plain; charset=utf-8")
    assert why in body.decode(), body
    if name == "405":
        assert h["allow"] == "POST"


def test_an_idle_connection_closes_without_an_answer(world):
    c = world[0]["idle"]
    assert c["sent"] == "" and c["waits"] == [IDLE_MS]


def test_nothing_refused_reached_the_ledger(world):
    conv, audit = world
    assert not [e for e in audit if "QX-CONT" in e and "reject" in e]
    # a message refused by HTTP (415, 413, 503 ...) never reached the gateway: one audit entry for each
    # decided message alone (keepalive 2, large, continue, mt103, the two malformed)
    decided = sum(len(answers(c["sent"])) for c in conv.values() if c["sent"].startswith(
        ("HTTP/1.1 200", "HTTP/1.1 100")))
    assert decided == 7 and len(audit) == decided


def test_what_a_client_still_sends_after_a_closing_answer_is_read_before_the_close(world):
    from userland.httpnet.main import LINGER_MS
    conv = world[0]
    # refused at the head (503, 415) or mid-body (400): the rest is read and dropped until the client closes
    for name in ("clock_unset", "415", "400_chunk"):
        c = conv[name]
        assert c["left"] > 0 and c["dropped"] > 0 and c["lingered"] == [LINGER_MS, LINGER_MS], (name, c)
    # one that had sent all: one wait for its close; one that closed first is not waited for
    assert conv["mt103"]["dropped"] == 0 and conv["mt103"]["lingered"] == [LINGER_MS]
    assert conv["keepalive"]["lingered"] == []


def test_a_client_that_goes_on_sending_is_read_for_a_bounded_time_and_length():
    from userland.httpnet.main import CHUNK, LINGER_MAX, LINGER_MS, Server
    flood = [b"POST /nowhere HTTP/1.1\r\nHost: board\r\nContent-Length: 9000000\r\n\r\n"] + [b"x" * 50000] * 40
    sock = http_world.Sock(flood)
    srv = Server(sock, None, http_world.TimedOut)
    srv.run()                                           # 404 at the head
    dropped = srv.linger()
    assert LINGER_MAX <= dropped < LINGER_MAX + CHUNK
    assert sock.waits[-1] == LINGER_MS and sock.chunks  # it stopped, the client had more
    slow = http_world.Sock([b"POST /nowhere HTTP/1.1\r\nHost: board\r\n\r\n", b"x", None, b"never read"])
    srv = Server(slow, None, http_world.TimedOut)
    srv.run()
    assert srv.linger() == 1 and slow.chunks == [b"never read"]       # a wait without bytes ends it
