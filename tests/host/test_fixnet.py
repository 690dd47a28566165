"""fixnet's relay loop (userland/fixnet/main.py Relay) with a fake socket
and gateway: whole FIX messages handed on as their own bytes (a byte above
0x7f too: the gateway's session refuses it, not the relay), garbled ones
dropped, the gateway's tick asked for when nothing comes, the loop ended
when the gateway closes the connection or the peer does. Under CPython and
MicroPython."""
import json

from tests.host import upy

SCRIPT = r'''
from userland.fixnet.main import Relay
from userland.gateway import fix


class TimedOut(Exception):
    pass


class Sock:
    def __init__(self, chunks):
        self.chunks, self.sent, self.waits = list(chunks), [], []

    def recv_into(self, buf, timeout_ms):
        self.waits.append(timeout_ms)
        c = self.chunks.pop(0)
        if c is None:
            raise TimedOut()
        buf[:len(c)] = c
        return len(c)

    def sendall(self, data, timeout_ms):
        self.sent.append(data)


class Gateway:
    def __init__(self, close_after):
        self.got, self.ticks, self.close_after = [], 0, close_after

    def message(self, m):
        self.got.append(m)
        return b"ans%d" % len(self.got), len(self.got) >= self.close_after, 250

    def tick(self):
        self.ticks += 1
        return b"hb", False, 5000


def framed(body):
    head = ("8=FIX.4.4\x019=%d\x01" % len(body)).encode()
    return head + body + ("10=%03d\x01" % (sum(head + body) % 256)).encode()


def run(close_after):
    a = fix.encode([("35", "0"), ("49", "HOST"), ("56", "QENEX"), ("34", "2")]).encode()
    b = framed(b"35=1\x0149=HOST\x0156=QENEX\x0134=3\x01112=caf\xe9\x01")     # a byte above 0x7f
    c = fix.encode([("35", "1"), ("49", "HOST"), ("56", "QENEX"), ("34", "4"), ("112", "y")]).encode()
    garbled = a[:-4] + b"999\x01"
    stream = [a[:7], a[7:] + garbled, None, b[:20], b[20:] + c, b""]
    s, g = Sock(stream), Gateway(close_after)
    Relay(s, g, TimedOut).run()
    return {"got": [m.hex() for m in g.got], "sent": [x.decode() for x in s.sent], "ticks": g.ticks,
            "waits": s.waits}


import json
print(json.dumps([run(99), run(1)]))
'''


def test_the_relay_hands_whole_messages_on_and_ticks_between():
    got = json.loads(upy.run(SCRIPT))
    import subprocess
    import sys
    cp = subprocess.run([sys.executable, "-c", "import sys\nsys.path.insert(0, %r)\n%s" % (upy.ROOT, SCRIPT)],
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout) == got                       # the same on both interpreters
    full, closed = got
    msgs = [bytes.fromhex(m) for m in full["got"]]
    assert [m.split(b"\x01")[5] for m in msgs] == [b"34=2", b"34=3", b"34=4"]   # the garbled one dropped
    assert b"112=caf\xe9\x01" in msgs[1]                                      # as it came, byte for byte
    assert full["sent"] == ["ans1", "hb", "ans2", "ans3"] and full["ticks"] == 1
    assert full["waits"][:4] == [1000, 1000, 250, 1000]    # waits what the gateway says is due (at most 1 s)
    assert closed["got"] == full["got"][:1] and closed["sent"] == ["ans1"]  # the gateway closed it: no more
