"""The kernel as the socket table (userland/net/sockets.py) sees it, on the
board: replies, leases and what a caller was granted, through qenex.

Holds Kern, the `kern` object Service takes: reply (False when the caller has
restarted), lease (length, rights; (0, 0) when the call lends nothing),
borrow_read / borrow_write (Gone when the caller has ended), peer (the ports a
caller's manifest grants, from KCTL_PEER; None once that incarnation is no
longer running). It holds no state and decides nothing.
The host tests use a fake of it (tests/host/net_world.py FakeKern)."""
import json

from kernel import abi, errors
from userland.lib import qenex
from userland.net.sockets import Gone

_ENDED = (errors.PEER_DIED, errors.NOT_RUNNING, errors.NO_SUCH_TASK)


def _borrow(f, sender, off, buf):
    try:
        return f(sender, off, buf)
    except qenex.Error as e:
        if e.code in _ENDED or e.code == errors.BAD_STATE:
            raise Gone()            # the caller ended (or its call did): nobody to answer
        raise


class Kern:
    def reply(self, sender, data):
        return qenex.reply(sender, data)

    def lease(self, sender):
        try:
            return qenex.lease_info(sender)
        except qenex.Error as e:
            if e.code == errors.BAD_STATE:
                return 0, 0                 # a call that lends nothing
            if e.code in _ENDED:
                raise Gone()
            raise

    def borrow_read(self, sender, off, buf):
        return _borrow(qenex.borrow_read, sender, off, buf)

    def borrow_write(self, sender, off, data):
        return _borrow(qenex.borrow_write, sender, off, data)

    def peer(self, handle):
        try:
            return json.loads(qenex.kctl(abi.KCTL_PEER, handle))["ports"]
        except qenex.Error as e:
            if e.code in _ENDED:
                return None
            raise
