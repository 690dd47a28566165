"""QuickFIX (PyPI quickfix, built by tools/deps/fetch.sh) as the board's FIX
counterparty: an initiator session HOST -> QENEX over TCP, validating what
it receives against FIX 4.4's data dictionary (build/quickfix/FIX44.xml,
from QuickFIX's own sdist). It records every message it receives and the
session's events; the tests send through it and wait on what it saw. It
holds no expectation about the board (tests/host/test_fix_quickfix.py,
tests/qemu/test_fix_tcp.py use it)."""
import os
import threading
import time

import quickfix as fix

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DICTIONARY = os.path.join(ROOT, "build", "quickfix", "FIX44.xml")
SOH = "\x01"


def fields(message):
    """{tag: value} of a QuickFIX message (header, body and trailer; the first of a repeated tag)."""
    out = {}
    for part in message.toString().split(SOH):
        if "=" in part:
            t, _, v = part.partition("=")
            out.setdefault(int(t), v)
    return out


class _App(fix.Application):
    def __init__(self, peer):
        super().__init__()
        self.peer = peer

    def onCreate(self, sid):
        self.peer.sid = sid

    def onLogon(self, sid):
        self.peer._event("logon")

    def onLogout(self, sid):
        self.peer._event("logout")

    def toAdmin(self, message, sid):
        self.peer._got("sent", fields(message))

    def fromAdmin(self, message, sid):
        self.peer._got("admin", fields(message))

    def toApp(self, message, sid):
        self.peer._got("sent", fields(message))

    def fromApp(self, message, sid):
        self.peer._got("app", fields(message))


class Peer:
    def __init__(self, port, workdir, host="127.0.0.1", heartbeat_s=30, reset=False, sender="HOST",
                 target="QENEX"):
        self.events, self.received, self.sent = [], [], []
        self.lock = threading.Lock()
        self.sid = None
        self.workdir, self.sender, self.target = workdir, sender, target
        os.makedirs(workdir, exist_ok=True)
        cfg = os.path.join(workdir, "initiator.cfg")
        with open(cfg, "w") as f:
            f.write("[DEFAULT]\nConnectionType=initiator\nReconnectInterval=1\nFileStorePath=%s\n"
                    "FileLogPath=%s\nStartTime=00:00:00\nEndTime=00:00:00\nUseDataDictionary=Y\n"
                    "DataDictionary=%s\nLogonTimeout=10\nLogoutTimeout=5\n\n"
                    "[SESSION]\nBeginString=FIX.4.4\nSenderCompID=%s\nTargetCompID=%s\nSocketConnectHost=%s\n"
                    "SocketConnectPort=%d\nHeartBtInt=%d\nResetOnLogon=%s\n"
                    % (os.path.join(workdir, "store"), os.path.join(workdir, "log"), DICTIONARY, sender, target,
                       host, port, heartbeat_s, "Y" if reset else "N"))
        self.settings = fix.SessionSettings(cfg)
        self.app = _App(self)
        self.initiator = fix.SocketInitiator(self.app, fix.FileStoreFactory(self.settings), self.settings,
                                             fix.FileLogFactory(self.settings))

    def _event(self, what):
        with self.lock:
            self.events.append(what)

    def _got(self, where, f):
        with self.lock:
            (self.sent if where == "sent" else self.received).append((where, f))

    def start(self):
        self.initiator.start()

    def stop(self):
        self.initiator.stop()

    def wait(self, pred, timeout=20, what="a message"):
        """The first received message (where, {tag: value}) pred accepts, seen since start; or AssertionError."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                for m in self.received:
                    if pred(m[0], m[1]):
                        return m[1]
            time.sleep(0.02)
        with self.lock:
            raise AssertionError("QuickFIX saw no %s in %d s; events %r, received %r"
                                 % (what, timeout, self.events, [f.get(35) for _, f in self.received][-20:]))

    def wait_event(self, what, count=1, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if self.events.count(what) >= count:
                    return
            time.sleep(0.02)
        raise AssertionError("QuickFIX: %d %s expected in %d s, events %r" % (count, what, timeout, self.events))

    def app_of(self, mtype, **tags):
        """Wait for an application message of type mtype with these tag values (tag numbers as _NNN)."""
        want = {int(k[1:]): v for k, v in tags.items()}
        return self.wait(lambda where, f: where == "app" and f.get(35) == mtype and
                         all(f.get(t) == v for t, v in want.items()), what="35=%s %r" % (mtype, want))

    def send(self, mtype, *pairs):
        m = fix.Message()
        h = m.getHeader()
        h.setField(fix.BeginString("FIX.4.4"))
        h.setField(fix.MsgType(mtype))
        for t, v in pairs:
            m.setField(fix.StringField(t, v))
        assert fix.Session.sendToTarget(m, self.sid), "QuickFIX would not send 35=%s" % mtype

    def wire(self):
        """Every message QuickFIX logged on the wire, both ways (its messages log; '|' for SOH):
        what it received but refused to take as well."""
        path = os.path.join(self.workdir, "log", "FIX.4.4-%s-%s.messages.current.log" % (self.sender, self.target))
        try:
            with open(path, "rb") as f:
                return f.read().decode("latin-1").replace(SOH, "|")
        except OSError:
            return ""

    def session(self):
        return fix.Session.lookupSession(self.sid)

    def now(self):
        return time.strftime("%Y%m%d-%H:%M:%S.000", time.gmtime())
