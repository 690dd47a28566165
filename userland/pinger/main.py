"""pinger: sends 10,000 numbered messages to ponger and checks every answer
(none lost, none duplicated, none out of order), then says how it went."""
from userland.lib import qenex

COUNT = 10000


def main():
    pong = qenex.lookup("ponger")
    t0 = qenex.ticks()
    bad = 0
    for i in range(COUNT):
        msg = b"%08d" % i
        if qenex.call(pong, msg) != bytes(reversed(msg)):
            bad += 1
    qenex.write("pinger: %d messages, %d bad, %d ms\n" % (COUNT, bad, qenex.ticks() - t0))
