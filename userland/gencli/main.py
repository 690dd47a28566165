"""gencli: calls gensrv with a message naming its incarnation and prints the
reply it got (a reply meant for an earlier incarnation must never arrive)."""
from userland.lib import qenex


def main():
    me = qenex.lookup("gencli") >> 8              # this incarnation (kernel/abi.py HANDLE_*)
    r = qenex.call("gensrv", b"call %d" % me)
    qenex.write("gencli %d: %s\n" % (me, r.decode()))
    qenex.wait(1 << 30)
