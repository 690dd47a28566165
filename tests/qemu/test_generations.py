"""Task ids with a generation (issue 14), on the board: an IPC handle is the
task id and its incarnation, and a reply addressed to an earlier incarnation
is refused (PEER_DIED) and never reaches the new one. Before, gensrv's reply
to the bare id of gencli's first incarnation reached the second one (which
then printed "for call 0"), through the trap layer's fast path as through
the kernel. Test tasks: userland/gensrv, userland/gencli."""
import re


def test_a_reply_to_a_restarted_caller_never_reaches_its_new_incarnation(device):
    mark = device.mark()
    assert device.cmd("start gensrv").startswith("started task ")
    assert device.cmd("start gencli").startswith("started task ")
    cli = device.tid("gencli")
    device.wait_line(r"gensrv: got call 0 from %d/0" % cli, since=mark)
    # gencli is blocked in its call, which gensrv holds: restart it.
    assert device.cmd("restart gencli") == "restarted task %d\n" % cli
    device.wait_line(r"gensrv: got call 1 from %d/1" % cli, since=mark)
    device.wait_line(r"gencli 1: for call 1", since=mark)
    device.wait_line(r"gensrv: reply to %d/0 refused \(PEER_DIED\)" % cli, since=mark)
    device.drain(quiet=0.5)
    assert not device.lines(r"gencli \d+: for call 0", since=mark)
    assert not device.lines(r"fault: task gen", since=mark)
    # Shell ids still name tasks that restarted: `call ID` goes by the task's name.
    assert device.cmd("ipc")  # the table still prints
    row = device.ps()["gencli"]
    assert row["RESTARTS"] == "1" and re.match(r"blocked", row["STATE"]), row
    assert device.cmd("kill gencli") == "killed task %d\n" % cli
    assert device.cmd("kill gensrv").startswith("killed task ")
