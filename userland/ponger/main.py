"""ponger: answers each message with the same bytes, reversed."""
from userland.lib import qenex


def main():
    while True:
        sender, msg = qenex.recv()
        qenex.reply(sender, bytes(reversed(msg)))
