"""heartbeat: a task that answers every call with how many it has answered and
when. The tests (and an operator, `call heartbeat ping`) use it to see that
ordinary tasks keep running while another misbehaves."""
from userland.lib import qenex


def main():
    beats = 0
    while True:
        sender, msg = qenex.recv()
        beats += 1
        qenex.reply(sender, b"beat %d at %d ms: %s" % (beats, qenex.ticks(), msg))
