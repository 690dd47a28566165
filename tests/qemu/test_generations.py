"""Task ids with a generation (issue 14), on the board: an IPC handle is the
task id and its incarnation, and a reply addressed to an earlier incarnation
is refused (PEER_DIED) and never reaches the new one.

The case that failed before: ponger holds pinger's first call; pinger is
restarted (its call still held) and its new incarnation calls ponger; ponger
answers the new call, then the held one. Before, the first answer (to the
bare id) was taken for the dead call's and dropped, and the held call's
answer ("held reply") reached the new pinger as the answer to its message:
"1 bad". Test tasks: userland/ponger ("!hold", "!held"), userland/pinger."""
import time


def _wait(pred, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in %d s" % timeout)


def test_a_reply_to_a_restarted_caller_never_reaches_its_new_incarnation(device):
    pinger, ponger = device.tid("pinger"), device.tid("ponger")
    assert device.cmd("call ponger !hold") == "armed\n"
    mark = device.mark()
    assert device.cmd("start pinger") == "started task %d\n" % pinger
    _wait(lambda: device.ps()["pinger"]["STATE"] == "blocked(call %d)" % ponger)
    assert device.cmd("call ponger !held") == "none\n"          # held, not answered
    # pinger is restarted while ponger holds its first incarnation's call.
    assert device.cmd("restart pinger") == "restarted task %d\n" % pinger
    line = device.wait_line(r"pinger: 10000 messages, (\d+) bad, \d+ ms", since=mark, timeout=60)
    assert line.group(1) == "0", line.group(0)                  # never "held reply"
    assert device.cmd("call ponger !held") == "refused\n"       # PEER_DIED: an earlier incarnation
    assert not device.lines(r"fault: task (pinger|ponger)", since=mark)
    ipc = device.ipc()
    assert ipc["ponger"]["RECEIVED"] == ipc["ponger"]["REPLIED"]  # the refused reply answered the held call
    # The shell's ids name tasks that restarted: `call ID` goes by the task's name.
    assert device.cmd("restart ponger") == "restarted task %d\n" % ponger
    assert device.cmd("call %d abc" % ponger) == "cba\n"
