"""gensrv: holds the call of gencli's first incarnation, takes the call of
the next one, answers the new call, then the old handle (which the kernel
refuses: that incarnation is gone), and says what happened."""
from userland.lib import qenex


def _who(h):
    return "%d/%d" % (h & 0xFF, h >> 8)         # task id / incarnation (kernel/abi.py HANDLE_*)


def main():
    h1, m1 = qenex.recv()
    qenex.write("gensrv: got %s from %s\n" % (m1.decode(), _who(h1)))
    h2, m2 = qenex.recv()
    qenex.write("gensrv: got %s from %s\n" % (m2.decode(), _who(h2)))
    qenex.reply(h2, b"for " + m2)
    ok = qenex.reply(h1, b"for " + m1)
    qenex.write("gensrv: reply to %s %s\n" % (_who(h1), "delivered" if ok else "refused (PEER_DIED)"))
    while True:
        h, m = qenex.recv()
        qenex.reply(h, b"for " + m)
