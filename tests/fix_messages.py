"""FIX 4.4 messages for the gateway's tests, made and read with simplefix
(PyPI) as the counterparty's codec: fixmsg() builds one message from a
host session (the gateway is QENEX), parse_fix() splits what the gateway
answered into messages. It holds no test and no expectation about the
gateway (tests/host/test_gateway_fix.py, test_gateway_robustness.py and
tests/qemu/test_gateway_e2e.py, test_gateway_soak.py use it)."""
import simplefix


def fixmsg(seq, mtype, *pairs, sender="HOST", sent="20261126-10:00:00", poss_dup=False):
    """One message: the header (BeginString, MsgType, SenderCompID, TargetCompID
    QENEX, MsgSeqNum, SendingTime, PossDupFlag when poss_dup), then the
    (tag, value) pairs; simplefix adds BodyLength and CheckSum."""
    m = simplefix.FixMessage()
    for t, v in ((8, "FIX.4.4"), (35, mtype), (49, sender), (56, "QENEX"), (34, seq), (52, sent)):
        m.append_pair(t, v, header=True)
    if poss_dup:
        m.append_pair(43, "Y", header=True)
    for t, v in pairs:
        m.append_pair(t, v)
    return m.encode()


def parse_fix(data):
    """Every whole message in data (bytes, or text as the link answers:
    latin-1), as simplefix.FixMessage."""
    p = simplefix.FixParser()
    p.append_buffer(data.encode("latin-1") if isinstance(data, str) else data)
    out = []
    while True:
        m = p.get_message()
        if m is None:
            return out
        out.append(m)
