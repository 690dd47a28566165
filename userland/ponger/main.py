"""ponger: answers each message with the same bytes, reversed.

For the test of stale IPC handles (tests/qemu/test_generations.py), two
messages starting with "!": "!hold" makes it hold the next call without an
answer until the call after it has been answered, and then answer the held
one ("held reply"); "!held" tells how that went: "delivered", or "refused"
when the held caller had restarted meanwhile (the kernel refuses a reply to
an earlier incarnation, which never reaches the new one)."""
from userland.lib import qenex


def main():
    arm, held, said = False, None, b"none"
    while True:
        sender, msg = qenex.recv()
        if msg and msg[0] == 33:                    # "!": the test's commands
            if msg == b"!hold":
                arm = True
                qenex.reply(sender, b"armed")
                continue
            if msg == b"!held":
                qenex.reply(sender, said)
                continue
        if arm:
            arm, held = False, sender               # answered after the next call
            continue
        qenex.reply(sender, bytes(reversed(msg)))
        if held is not None:
            said = b"delivered" if qenex.reply(held, b"held reply") else b"refused"
            held = None
