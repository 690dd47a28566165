"""hello: an example of a task installed at run time from a signed bundle
(`qenex bundle make`, then `tasks install hello` at the shell). Not part of
the built-in system: its manifest is manifest.bundle, which the build does
not gather. Says it is up, then answers every call."""
from userland.lib import qenex


def main():
    qenex.write("hello: installed task up\n")
    calls = 0
    while True:
        sender, msg = qenex.recv()
        calls += 1
        qenex.reply(sender, b"hello %d: %s" % (calls, msg))
