"""The gateway end to end in QEMU: the host submits over the authenticated
host link (UART2 on a unix socket, tools/hostlink.py as `qenex send` uses
it); pacs.008 in -> compliance -> ledger -> pacs.002 ACSC out with the
balances changed; a sanctioned party -> RJCT and nothing posted; a
structuring pattern -> hold; an MT103; a FIX session with simplefix as the
counterparty (logon, an order, its execution report, a sequence gap
recovered, logout); the audit chain, with checkpoints the HSM signed,
verified on the host with the HSM's public key."""
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from tests.fix_messages import fixmsg, parse_fix
from tools import hostlink
from tools.hsm import process as hsm_process
from tools.layout import ROOT
from userland.gateway import iso20022

pytestmark = pytest.mark.timeout(240)
VEC = os.path.join(ROOT, "tests", "vectors", "gateway")
PACS = open(os.path.join(VEC, "pacs008.xml")).read()
ONE = PACS.replace("<NbOfTxs>2</NbOfTxs>", "<NbOfTxs>1</NbOfTxs>")
ONE = ONE[:ONE.index("    <CdtTrfTxInf>\n      <PmtId><EndToEndId>E2E-0002")] + "  </FIToFICstmrCdtTrf>\n</Document>\n"
NS = {"p": iso20022.PACS002}


def statuses(doc):
    root = ET.fromstring(doc)
    return (root.find("p:FIToFIPmtStsRpt/p:OrgnlGrpInfAndSts/p:GrpSts", NS).text,
            [t.find("p:TxSts", NS).text for t in root.findall("p:FIToFIPmtStsRpt/p:TxInfAndSts", NS)])


@pytest.fixture
def gateway(boot, tmp_path):
    from tools import qemu
    storage = qemu.ensure_storage(str(tmp_path / "storage.bin"), 16 * 1024 * 1024)
    key = hostlink.provision(storage, "mps2-an385", str(tmp_path / "hostlink.key"))
    hsm_sock, state = str(tmp_path / "hsm.sock"), str(tmp_path / "hsm.json")
    hsm = hsm_process.start(hsm_sock, state)
    link_sock = str(tmp_path / "link.sock")
    dev = boot(storage=storage, hsm=hsm_sock, hostlink=link_sock)
    dev.wait_prompt()
    dev.wait_line(r"gateway: host link open.*", since=0, timeout=30)
    dev.hsm_ready()
    pub = dev.cmd("hsm gen ecdsa-p256 audit sign verify")
    for acct in (1, 2):
        assert dev.cmd("ledger account new %d 1 10" % acct) == "ok\n"
    link = hostlink.Link(link_sock, key)
    dev.link_sock, dev.link_key = link_sock, key
    dev.tmp = tmp_path
    yield dev, link, storage, dev.cmd("hsm pubkey audit").strip()
    link.close()
    hsm_process.stop(hsm)


def set_date(dev):
    """The board's clock set at the shell (no FIX Logon is answered without a date)."""
    import datetime
    now = datetime.datetime.now(datetime.timezone.utc)
    assert "(UTC; set by operator" in dev.cmd("date set " + now.strftime("%Y-%m-%dT%H:%M:%SZ"))


def test_payments_compliance_ledger_and_answers(gateway):
    dev, link, storage, pub = gateway
    assert statuses(link.submit("pacs.008", ONE.encode())) == ("ACSC", ["ACSC"])
    assert "debits posted 125050" in dev.cmd("ledger balance 1")
    assert statuses(link.submit("pacs.008", ONE.encode())) == ("ACSC", ["ACSC"])   # resubmitted: posted once
    assert "debits posted 125050" in dev.cmd("ledger balance 1")
    bad = ONE.replace("QX-20261126-0001", "QX-2").replace("Bob Example Ltd", "Ivan Sanctionov")
    assert statuses(link.submit("pacs.008", bad.encode())) == ("RJCT", ["RJCT"])
    assert "debits posted 125050" in dev.cmd("ledger balance 1")
    held = []
    for i in range(3):
        msg = ONE.replace("QX-20261126-0001", "S-%d" % i).replace(">1250.50<", ">9500.00<")
        held.append(statuses(link.submit("pacs.008", msg.encode()))[1][0])
    assert held == ["ACSC", "ACSC", "PDNG"]
    mt = open(os.path.join(VEC, "mt103.txt")).read()
    assert link.submit("MT103", mt.encode()) == "MT103 QXREF0001 ACSC"
    assert link.submit("MT103", mt.replace(":71A:SHA", ":71A:ALL").encode()).startswith("MT103 rejected: T08 71A")


def test_a_fix_session_with_simplefix(gateway):
    dev, link, storage, pub = gateway
    order = [(11, "O1"), (55, "QNX"), (54, "1"), (38, "100"), (40, "2"), (44, "101.00"), (60, "20261126-10:00:00")]
    assert link.submit("FIX", fixmsg(1, "A", (98, "0"), (108, "30"))) == ""      # no date yet: no Logon
    set_date(dev)
    out = parse_fix(link.submit("FIX", fixmsg(1, "A", (98, "0"), (108, "30")) + fixmsg(2, "D", *order)))
    assert [m.get(35) for m in out] == [b"A", b"8"] and out[1].get(150) == b"0"
    far = [(11, "O2"), (55, "QNX"), (54, "1"), (38, "100"), (40, "2"), (44, "150.00"), (60, "x")]
    out = parse_fix(link.submit("FIX", fixmsg(3, "D", *far)))
    assert out[0].get(150) == b"8" and b"R-RISK-BAND" in out[0].get(58)
    out = parse_fix(link.submit("FIX", fixmsg(5, "1", (112, "T1"))))           # 4 is missing
    assert [(m.get(35), m.get(7)) for m in out] == [(b"2", b"4")]
    out = parse_fix(link.submit("FIX", fixmsg(4, "F", (41, "O1"), (11, "C1"), (55, "QNX"), (54, "1"), (60, "x"))))
    assert [m.get(35) for m in out] == [b"8", b"0"] and out[0].get(150) == b"4" and out[1].get(112) == b"T1"
    out = parse_fix(link.submit("FIX", fixmsg(6, "5")))
    assert [m.get(35) for m in out] == [b"5"]


def test_stamps_are_a_marker_until_the_clock_is_set_then_utc_in_each_format(gateway):
    """Before `date set` no date is invented (T+<ms>ms); after it, the
    pacs.002's CreDtTm is an ISO 20022 ISODateTime in UTC and FIX's
    SendingTime a UTCTimestamp, both within seconds of the time set."""
    import datetime
    from userland.lib import utc
    dev, link, storage, pub = gateway
    root = ET.fromstring(link.submit("pacs.008", ONE.encode()))
    assert re.fullmatch(r"T\+\d+ms", root.find(".//p:GrpHdr/p:CreDtTm", NS).text)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    set_ms = int(now.timestamp()) * 1000
    out = dev.cmd("date set " + now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert "(UTC; set by operator" in out, out
    root = ET.fromstring(link.submit("pacs.008", ONE.replace("QX-20261126-0001", "T-1").encode()))
    cre = root.find(".//p:GrpHdr/p:CreDtTm", NS).text
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", cre), cre
    assert 0 <= utc.parse_iso(cre) - set_ms < 30000
    logon = parse_fix(link.submit("FIX", fixmsg(1, "A", (98, "0"), (108, "30"))))[0]
    sent = logon.get(52).decode()
    assert re.fullmatch(r"\d{8}-\d\d:\d\d:\d\d\.\d{3}", sent), sent
    assert 0 <= utc.parse_fix(sent) - set_ms < 30000


def test_the_host_provisions_the_clock_over_the_link(gateway):
    """`qenex time set` (what `qenex run` does once the gateway answers):
    the board's clock is set from the host's, source "host", and said in
    the gateway's answer; `date` then agrees with the host within seconds."""
    import datetime
    from userland.lib import utc
    dev, link, storage, pub = gateway
    assert dev.cmd("date").startswith("date: not set")
    link.close()                # QEMU's socket takes one host at a time: the command's
    t0 = int(datetime.datetime.now(datetime.timezone.utc).timestamp() * 1000)
    r = subprocess.run([sys.executable, "-m", "tools.qenex", "time", "set", "--socket", dev.link_sock,
                        "--key", str(dev.tmp / "hostlink.key")], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.fullmatch(r"clock: (\S+) \(set by the host\)\n", r.stdout)
    assert m, r.stdout
    assert abs(utc.parse_iso(m.group(1)) - t0) < 10000
    out = dev.cmd("date")
    assert "set by host" in out, out
    assert abs(utc.parse_iso(out.split()[0]) - t0) < 30000, out


def test_the_audit_chain_and_its_signed_checkpoints_verify_on_the_host(gateway):
    dev, link, storage, pub = gateway
    for i in range(20):                                 # enough entries for a checkpoint
        link.submit("pacs.008", ONE.replace("QX-20261126-0001", "A-%d" % i).encode())
    r = subprocess.run([sys.executable, "-m", "tools.qenex", "audit", "verify", storage, "--pubkey", pub],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"(\d+) entries, (\d+) checkpoints signed", r.stdout)
    assert m and int(m.group(1)) >= 20 and int(m.group(2)) >= 1, r.stdout


def test_rules_reload_over_the_link_and_the_board_checks_its_own_audit_log(gateway):
    import json
    from drivers.hsm import frame as F
    dev, link, storage, pub = gateway
    rules = json.load(open(os.path.join(ROOT, "userland", "compliance", "rules.json")))
    big = ONE.replace("QX-20261126-0001", "R-1").replace(">1250.50<", ">6000.00<")
    assert statuses(link.submit("pacs.008", big.encode())) == ("ACSC", ["ACSC"])
    with pytest.raises(ConnectionError, match="rules refused"):
        link.control(0x42, F.fields(json.dumps(dict(rules, report_threshold="lots"))))
    rules.update(version="test-2", blocked_countries=rules["blocked_countries"] + ["GB"])
    assert link.control(0x42, F.fields(json.dumps(rules))) == "compliance rules reloaded, version test-2"
    again = big.replace("R-1", "R-2")                 # the creditor is in GB: now blocked
    assert statuses(link.submit("pacs.008", again.encode())) == ("RJCT", ["RJCT"])
    for i in range(16):
        link.submit("pacs.008", ONE.replace("QX-20261126-0001", "C-%d" % i).encode())
    assert re.fullmatch(r"audit: \d+ entries, [1-9]\d* checkpoints signed by the HSM, chain ok", link.control(0x43))


def test_reloaded_rules_survive_a_restart(gateway):
    import json
    from drivers.hsm import frame as F
    dev, link, storage, pub = gateway
    rules = json.load(open(os.path.join(ROOT, "userland", "compliance", "rules.json")))
    rules.update(version="kept-3", blocked_countries=["GB"])
    assert link.control(0x42, F.fields(json.dumps(rules))) == "compliance rules reloaded, version kept-3"
    link.close()                                   # QEMU serves one host connection at a time
    mark = dev.mark()
    dev.send("reboot\r")
    dev.wait_prompt()
    dev.wait_line(r"gateway: host link open.*", since=mark, timeout=30)
    link2 = hostlink.Link(dev.link_sock, dev.link_key)
    try:
        msg = ONE.replace("QX-20261126-0001", "K-1")
        assert statuses(link2.submit("pacs.008", msg.encode())) == ("RJCT", ["RJCT"])   # GB still blocked
    finally:
        link2.close()


def test_ledger_batches_get_hsm_signed_checkpoints_verified_on_board_and_host(gateway):
    dev, link, storage, pub = gateway
    mark = dev.mark()
    dev.cmd("start ledgerload")
    deadline = time.monotonic() + 60
    while len(re.findall(r"ledgerload: ack", dev.text[mark:])) < 80 and time.monotonic() < deadline:
        time.sleep(0.2)
        dev.mark()
    dev.cmd("kill ledgerload")
    m = re.search(r"(\d+) checkpoints, (\d+) signatures checked by the HSM", dev.cmd("ledger verify", timeout=60))
    assert m and int(m.group(1)) >= 1 and int(m.group(2)) == int(m.group(1)), m
    r = subprocess.run([sys.executable, "-m", "tools.qenex", "ledger", "verify", storage, "--pubkey", pub],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "signatures verified" in r.stdout, r.stdout + r.stderr
    assert int(re.search(r"(\d+) checkpoints", r.stdout).group(1)) >= 1


def test_the_shell_reloads_the_rules_file_from_storage_and_verifies_the_audit_log(gateway):
    import json
    dev, link, storage, pub = gateway
    rules = json.load(open(os.path.join(ROOT, "userland", "compliance", "rules.json")))
    rules.update(version="pushed-4", blocked_countries=["GB"])
    path = os.path.join(os.path.dirname(storage), "rules.json")
    with open(path, "w") as f:
        json.dump(rules, f)
    r = subprocess.run([sys.executable, "-m", "tools.qenex", "compliance", "push", path, "--storage", storage],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert dev.cmd("compliance reload") == "compliance rules reloaded, version pushed-4\n"
    assert statuses(link.submit("pacs.008", ONE.replace("QX-20261126-0001", "P-1").encode())) == ("RJCT", ["RJCT"])
    for i in range(16):
        link.submit("pacs.008", ONE.replace("QX-20261126-0001", "V-%d" % i).encode())
    assert re.fullmatch(r"audit: \d+ entries, [1-9]\d* checkpoints signed by the HSM, chain ok\n",
                        dev.cmd("audit verify", timeout=60))


def read_answer(sock, timeout=30, seq=None):
    """The next whole frame the board sends on the link socket: (status, body,
    frame); with seq, the next that answers that sequence number (a slow
    board's answer to a retry the client sent meanwhile may come first)."""
    from drivers.hsm import frame as F
    reader = F.Reader(hostlink._crc)
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(65536)
            assert data, "the link closed"
            for fr in reader.feed(data):
                if seq is None or F.parse(fr)[1] == seq:
                    payload = F.parse(fr)[2]
                    return payload[0], payload[1:], fr
    finally:
        sock.setblocking(False)


def test_a_retry_is_answered_from_the_kept_answer_a_replay_refused_and_a_restart_told(gateway):
    from drivers.hsm import frame as F
    dev, link, storage, pub = gateway
    c = link.client
    # One SUBMIT frame, sent twice as a host that lost the first answer would.
    c.seq += 1
    frame = c.codec.encode(0x40, c.seq, F.fields("pacs.008", ONE.replace("QX-20261126-0001", "RT-1")))
    link.sock.sendall(frame)
    first = read_answer(link.sock)
    link.sock.sendall(frame)
    again = read_answer(link.sock)
    assert first[0] == F.OK and again[2] == first[2]                     # the very same answer
    assert statuses(F.unfields(first[1], 1)[0].decode()) == ("ACSC", ["ACSC"])
    assert "debits posted 125050" in dev.cmd("ledger balance 1")          # posted once
    # The session goes on; the captured frame, replayed later, is refused.
    assert statuses(link.submit("pacs.008", ONE.replace("QX-20261126-0001", "RT-2").encode()))[0] == "ACSC"
    link.sock.sendall(frame)
    status, why, _ = read_answer(link.sock, seq=F.parse(frame)[1])
    assert status == F.BAD_SEQ and b"sequence number" in why
    assert "debits posted 250100" in dev.cmd("ledger balance 1")
    # The gateway restarted: the board says the session is gone, the client logs in again at once.
    mark = dev.mark()
    assert dev.cmd("restart %d" % dev.tid("gateway")).startswith("restarted")
    dev.wait_line(r"gateway: host link open.*", since=mark, timeout=30)
    t = time.monotonic()
    assert statuses(link.submit("pacs.008", ONE.replace("QX-20261126-0001", "RT-3").encode()))[0] == "ACSC"
    assert time.monotonic() - t < 10 and c.stats["relogins"] == 1 and c.stats["timeouts"] == 0


def test_the_files_and_sockets_that_hold_or_open_secrets_are_the_owners_alone(gateway):
    import stat
    dev, link, storage, pub = gateway
    d = dev.tmp
    for path in (storage, d / "hostlink.key", d / "link.sock", d / "hsm.sock", d / "hsm.json",
                 d / "hsm.json.master"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path


def test_no_answer_is_lost_when_the_host_keeps_pausing_the_board(gateway):
    """QEMU stopped and resumed again and again (SIGSTOP, SIGCONT: what a
    busy host does to it, only harder), frames cut mid-way in both
    directions: every payment is answered, and posted once."""
    import random
    import signal
    import threading
    dev, link, storage, pub = gateway
    pid = dev.child.pid
    rng = random.Random(12)
    stop = threading.Event()

    def pauser():
        while not stop.is_set():
            time.sleep(rng.uniform(0.02, 0.1))
            os.kill(pid, signal.SIGSTOP)
            time.sleep(rng.choice((0.005, 0.02, 0.05, 0.1, 0.3, 0.6)))   # 0.6 s: past every quiet time
            os.kill(pid, signal.SIGCONT)
    t = threading.Thread(target=pauser, daemon=True)
    t.start()
    n = 30
    try:
        answers = [statuses(link.submit("pacs.008", ONE.replace("QX-20261126-0001", "P-%d" % i).encode()))
                   for i in range(n)]
    finally:
        stop.set()
        t.join()
        os.kill(pid, signal.SIGCONT)
    assert answers == [("ACSC", ["ACSC"])] * n
    assert "debits posted %d " % (125050 * n) in dev.cmd("ledger balance 1", timeout=30)
    assert link.client.stats["timeouts"] == 0
    print("retries under pauses: %d of %d requests" % (link.client.stats["retries"], link.client.stats["requests"]))


def reasons(doc):
    root = ET.fromstring(doc)
    return [c.text for c in root.findall("p:FIToFIPmtStsRpt/p:TxInfAndSts/p:StsRsnInf/p:Rsn/p:Cd", NS)]


def test_a_payment_with_the_ledger_down_is_refused_at_once_and_the_gateway_serves_on(gateway):
    """Issue 13: with the ledger killed the gateway faulted on PEER_DIED (now
    NOT_RUNNING: the call never reached the ledger) and
    the submitter waited 30 s for nothing. Now: RJCT AB07 (offline agent)
    within seconds, the gateway still running; with the ledger back, the
    same payment is posted (once)."""
    dev, link, storage, pub = gateway
    assert dev.cmd("kill %d" % dev.tid("ledger")).startswith("killed")
    t = time.monotonic()
    doc = link.submit("pacs.008", ONE.replace("QX-20261126-0001", "LD-1").encode())
    assert time.monotonic() - t < 5
    assert statuses(doc) == ("RJCT", ["RJCT"]) and reasons(doc) == ["AB07"], doc
    ps = dev.ps()
    assert ps["gateway"]["STATE"].startswith(("blocked", "ready", "running")) and ps["gateway"]["RESTARTS"] == "0"
    assert statuses(link.submit("pacs.008", ONE.replace("QX-20261126-0001", "LD-2").encode())) == ("RJCT", ["RJCT"])
    assert len(dev.lines(r"gateway: ledger unavailable \(NOT_RUNNING\): payments refused \(AB07\)")) == 1  # said once
    assert not dev.lines(r"fault: task gateway")
    assert dev.cmd("start ledger").startswith("started")
    assert statuses(link.submit("pacs.008", ONE.replace("QX-20261126-0001", "LD-1").encode())) == ("ACSC", ["ACSC"])
    dev.wait_line(r"gateway: ledger available again", since=0)
    assert "debits posted 125050" in dev.cmd("ledger balance 1", timeout=30)
    assert link.client.stats["timeouts"] == 0


def test_payments_with_the_hsm_task_down_are_served_and_the_checkpoint_waits(gateway):
    """The hsm task killed: the audit checkpoint is not signed (said so on
    the console) and the gateway and the ledger serve on."""
    dev, link, storage, pub = gateway
    assert dev.cmd("kill %d" % dev.tid("hsm")).startswith("killed")
    for i in range(18):                                  # past a checkpoint (every 16 entries)
        assert statuses(link.submit("pacs.008", ONE.replace("QX-20261126-0001", "HD-%d" % i).encode())) == \
            ("ACSC", ["ACSC"])
    dev.wait_line(r"gateway: audit checkpoint not signed \(the hsm service is unavailable \(NOT_RUNNING\)\)",
                  since=0, timeout=10)
    ps = dev.ps()
    assert ps["gateway"]["RESTARTS"] == "0" and ps["ledger"]["RESTARTS"] == "0"
    assert not dev.lines(r"fault: task (gateway|ledger)")
    assert "hsm: the hsm service is unavailable (NOT_RUNNING)" in dev.cmd("hsm sign audit x")


def test_qenex_send_with_the_gateway_killed_says_so_in_one_line(gateway):
    dev, link, storage, pub = gateway
    def args(timeout):
        return [sys.executable, "-m", "tools.qenex", "send", "--socket", dev.link_sock,
                "--key", str(dev.tmp / "hostlink.key"), "--timeout", str(timeout), os.path.join(VEC, "pacs008.xml")]
    link.close()                                     # QEMU serves one connection at a time
    # A loaded host can keep the board from answering in 3 s; the gateway is up here.
    r = subprocess.run(args(20), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "<TxSts>ACSC</TxSts>" in r.stdout, r.stderr
    assert dev.cmd("kill %d" % dev.tid("gateway")).startswith("killed")
    r = subprocess.run(args(3), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith("qenex send: the board at %s does not answer in 3 s (is the gateway task running?"
                               % dev.link_sock), r.stderr


def gateway_restarts(dev):
    """The gateway's RESTARTS column in `ps`."""
    for line in dev.cmd("ps").splitlines():
        cols = line.split()
        if len(cols) > 1 and cols[1] == "gateway":
            return int(cols[-2])
    raise AssertionError("no gateway in ps")


def test_each_message_that_used_to_stop_the_gateway_gets_its_refusal_and_it_keeps_running(gateway):
    """Issue 12: a limit order with 44=abc, a FIX message with a byte that is
    not UTF-8 (58=caf\\xe9), a SUBMIT whose kind is b"\\xff", Unicode digits
    where numbers are due: each is refused in its protocol's way, the task
    never restarts and the next good message is served."""
    dev, link, storage, pub = gateway
    set_date(dev)
    order = [(11, "O1"), (55, "QNX"), (54, "1"), (38, "100"), (40, "2"), (44, "abc"), (60, "20261126-10:00:00")]
    out = parse_fix(link.submit("FIX", fixmsg(1, "A", (98, "0"), (108, "30")) + fixmsg(2, "D", *order)))
    assert [m.get(35) for m in out] == [b"A", b"j"] and b"tag 44" in out[1].get(58)
    out = parse_fix(link.submit("FIX", fixmsg(3, "1", (112, "T1"), (58, b"caf\xe9"))))
    assert [(m.get(35), m.get(371), m.get(373)) for m in out] == [(b"3", b"58", b"6")]
    out = parse_fix(link.submit("FIX", fixmsg(4, "D", *[(t, "10\u00b2" if t == 38 else v) for t, v in order])))
    assert [(m.get(35), m.get(371), m.get(373)) for m in out] == [(b"3", b"38", b"6")]
    out = parse_fix(link.submit("FIX", fixmsg("5\u00b2", "0")))                 # MsgSeqNum in Unicode digits
    assert [(m.get(35), m.get(371)) for m in out] == [(b"3", b"34")]
    with pytest.raises(ConnectionError, match="unknown message kind"):
        link.control(0x40, hostlink.F.fields(b"\xff", ONE.encode()))
    doc = ONE.replace("<NbOfTxs>1</NbOfTxs>", "<NbOfTxs>\u00b9</NbOfTxs>")
    assert statuses(link.submit("pacs.008", doc.encode())) == ("RJCT", ["RJCT"])
    huge = ONE.replace(">1250.50<", ">" + "9" * 2000 + "<").replace("QX-20261126-0001", "BIG-1")
    assert statuses(link.submit("pacs.008", huge.encode())) == ("RJCT", ["RJCT"])   # beyond 128 bits
    out = parse_fix(link.submit("FIX", fixmsg(5, "D", *[(t, "O2" if t == 11 else "101.00" if t == 44 else v)
                                                        for t, v in order])))
    assert [m.get(35) for m in out] == [b"8"] and out[0].get(150) == b"0"           # the session goes on
    assert statuses(link.submit("pacs.008", ONE.encode())) == ("ACSC", ["ACSC"])
    assert gateway_restarts(dev) == 0 and "fault: task gateway" not in dev.text


def test_a_rules_file_the_gateway_cannot_use_is_refused_and_a_stored_one_ignored_at_start(gateway):
    """Issue 12: `"usd_rates": {"EUR": 1}` was accepted and stored, after which every
    EUR payment crashed the gateway at every start. Now it is refused over the link
    (and so is Infinity, which MicroPython's json does not read); one written into
    storage behind the gateway's back is ignored at start, said on the console."""
    import json
    from drivers.hsm import frame as F
    from tools.layout import load_board
    from userland.gateway import layout
    dev, link, storage, pub = gateway
    rules = json.load(open(os.path.join(ROOT, "userland", "compliance", "rules.json")))
    bad = dict(rules, version="bad-1", usd_rates=dict(rules["usd_rates"], EUR=1))
    with pytest.raises(ConnectionError, match="rules refused: .*usd_rates.EUR must be text"):
        link.control(0x42, F.fields(json.dumps(bad)))
    with pytest.raises(ConnectionError, match="rules refused"):
        link.control(0x42, F.fields('{"report_threshold": "1.00 USD", "structuring": {"count": Infinity}}'))
    eur = ONE.replace('Ccy="USD"', 'Ccy="EUR"').replace("QX-20261126-0001", "EUR-1")
    assert 'Ccy="EUR"' in eur
    assert statuses(link.submit("pacs.008", eur.encode()))[0] in ("ACSC", "RJCT")
    link.close()
    rec = layout.rules_record(json.dumps(bad).encode())
    with open(storage, "r+b") as f:                      # the file is the board's storage, mapped shared
        f.seek(load_board("mps2-an385").GATEWAY_STORE_OFFSET + layout.RULES_OFFSET)
        f.write(rec.ljust(layout.RULES_SPACE, b"\xff"))
    mark = dev.mark()
    dev.send("reboot\r")
    dev.wait_prompt()
    dev.wait_line(r"gateway: stored compliance rules ignored \(bad rules: usd_rates.EUR must be text.*", since=mark,
                  timeout=30)
    dev.wait_line(r"gateway: host link open.*", since=mark, timeout=30)
    link2 = hostlink.Link(dev.link_sock, dev.link_key)
    try:
        assert statuses(link2.submit("pacs.008", eur.replace("EUR-1", "EUR-2").encode()))[0] in ("ACSC", "RJCT")
        assert statuses(link2.submit("pacs.008", ONE.replace("QX-20261126-0001", "USD-2").encode())) == \
            ("ACSC", ["ACSC"])
    finally:
        link2.close()
    assert gateway_restarts(dev) == 0 and "fault: task gateway" not in dev.text


def _by(msg_id, ccy, amount, debtor, creditor):
    doc = ONE.replace("QX-20261126-0001", msg_id).replace('Ccy="USD">1250.50<', 'Ccy="%s">%s<' % (ccy, amount))
    doc = doc.replace("<DbtrAcct><Id><Othr><Id>1</Id></Othr></Id></DbtrAcct>",
                      "<DbtrAcct><Id><IBAN>%s</IBAN></Id></DbtrAcct>" % debtor)
    return doc.replace("<CdtrAcct><Id><Othr><Id>2</Id></Othr></Id></CdtrAcct>",
                       "<CdtrAcct><Id><IBAN>%s</IBAN></Id></CdtrAcct>" % creditor)


def _reason(doc):
    root = ET.fromstring(doc)
    tx = root.find("p:FIToFIPmtStsRpt/p:TxInfAndSts", NS)
    cd = tx.find("p:StsRsnInf/p:Rsn/p:Cd", NS)
    return tx.find("p:TxSts", NS).text, None if cd is None else cd.text


def test_accounts_by_iban_in_eur_jpy_and_bhd_on_their_ledgers_kept_across_a_reboot(gateway):
    """The host loads an account directory (`qenex accounts load`), the
    shell adds and closes accounts; payments by IBAN in EUR, JPY (0
    decimals) and BHD (3) post on their currencies' ledgers; unknown,
    closed, blocked and malformed accounts get AC01, AC04, AC06, AC02/AC03;
    a currency without risk limits (GBP) is held; the directory survives a
    reboot."""
    dev, link, storage, pub = gateway
    for acct, ledger in ((21, 2), (22, 2), (41, 4), (42, 4), (61, 6), (62, 6), (31, 3), (32, 3)):
        assert dev.cmd("ledger account new %d %d 10" % (acct, ledger)) == "ok\n"
    path = dev.tmp / "accounts.txt"
    path.write_text("# EUR\nDE89370400440532013000 21 COBADEFF\nFR1420041010050500013M02606 22\n"
                    "# JPY, BHD, GBP\nNL91ABNA0417164300 41\nBE68539007547034 42\nCH9300762011623852957 61\n"
                    "GB82WEST12345698765432 31 WESTGB2L\nNO9386011117947 32 - blocked\n")
    link.close()                                   # QEMU serves one host connection at a time
    r = subprocess.run([sys.executable, "-m", "tools.qenex", "accounts", "load", str(path), "--socket",
                        dev.link_sock, "--key", str(dev.tmp / "hostlink.key")], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert (r.returncode, r.stdout) == (0, "account directory loaded, 7 accounts\n"), r.stdout + r.stderr
    bad = dev.tmp / "bad.txt"
    bad.write_text("DE89370400440532013000 21\nDE00370400440532013000 22\n")
    r = subprocess.run([sys.executable, "-m", "tools.qenex", "accounts", "load", str(bad), "--socket",
                        dev.link_sock, "--key", str(dev.tmp / "hostlink.key")], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode != 0 and "line 2: the check digits do not match" in r.stderr and "Traceback" not in r.stderr
    assert dev.cmd("accounts add ch5604835012345678009 62") == \
        "account CH5604835012345678009 added: ledger account 62\n"
    assert dev.cmd("accounts close FR1420041010050500013M02606") == "account FR1420041010050500013M02606 closed\n"
    assert dev.cmd("accounts add CH5604835012345678008 62") == "gateway: accounts: the check digits do not match (mod 97)\n"
    out = dev.cmd("accounts")
    assert out.startswith("8 accounts") and "NO9386011117947 32 - blocked" in out, out
    link = hostlink.Link(dev.link_sock, dev.link_key)
    try:
        sub = lambda *a: _reason(link.submit("pacs.008", _by(*a).encode()))   # noqa: E731
        assert sub("X-1", "EUR", "1250.50", "DE89370400440532013000", "FR1420041010050500013M02606") == ("RJCT", "AC04")
        assert sub("X-2", "JPY", "125050", "NL91ABNA0417164300", "BE68539007547034") == ("ACSC", None)
        assert sub("X-3", "BHD", "1250.505", "CH9300762011623852957", "CH5604835012345678009") == ("ACSC", None)
        assert sub("X-4", "JPY", "1250.5", "NL91ABNA0417164300", "BE68539007547034") == ("RJCT", "CH20")
        assert sub("X-5", "EUR", "10.00", "DE89370400440532013001", "DE89370400440532013000") == ("RJCT", "AC02")
        assert sub("X-6", "EUR", "10.00", "DE89370400440532013000", "IT60X0542811101000000123456") == ("RJCT", "AC01")
        assert sub("X-7", "GBP", "10.00", "NO9386011117947", "GB82WEST12345698765432") == ("RJCT", "AC06")
        assert sub("X-8", "GBP", "10.00", "GB82WEST12345698765432", "GB82WEST12345698765432") == ("PDNG", None)
    finally:
        link.close()
    assert "debits posted 125050" in dev.cmd("ledger balance 41")
    assert "credits posted 1250505" in dev.cmd("ledger balance 62")
    assert "debits posted 0" in dev.cmd("ledger balance 21")
    mark = dev.mark()
    dev.send("reboot\r")
    dev.wait_prompt()
    dev.wait_line(r"gateway: host link open.*", since=mark, timeout=30)
    out = dev.cmd("accounts")
    assert out.startswith("8 accounts") and "FR1420041010050500013M02606 22 - closed" in out, out
