"""The hsm service as other tasks call it (the protocol is in
userland/hsm/main.py): a request is fields, the answer a status byte and
fields; a refusal raises HsmRefused with the service's reason. `call` is
how to reach the service: qenex.call (the default) in a task, the shell's
context in the shell (which the host tests fake)."""
from drivers.hsm import frame as F


class HsmRefused(OSError):
    pass


# qenex.Error names: the service is not there to answer (NOT_RUNNING: down
# or restarting, the request never reached it; PEER_DIED: it ended while it
# held the request; NO_SUCH_TASK: gone)
UNAVAILABLE = ("NOT_RUNNING", "PEER_DIED", "NO_SUCH_TASK")


def request(*args, call=None):
    """The answer's fields; HsmRefused(reason) when refused or failed."""
    if call is None:
        from userland.lib import qenex
        call = qenex.call
    try:
        r = call("hsm", F.fields(*args))
    except Exception as e:
        # The hsm task down or restarting (NOT_RUNNING, PEER_DIED), or gone: a refusal
        # like any other, so a caller's service stays up. Other kernel
        # errors (NOT_PERMITTED, a caller's bug) go on up.
        if getattr(e, "name", None) not in UNAVAILABLE:
            raise
        raise HsmRefused("the hsm service is unavailable (%s)" % e.name)
    if not r:
        raise HsmRefused("the hsm service gave an empty answer")
    out = F.unfields(r[1:])
    if r[0] != 0:
        raise HsmRefused(out[0].decode() if out else "failed")
    return out


def whole(first, call=None):
    """A result sent as (total length, first piece): all of it, the rest
    read in pieces (an ML-DSA signature or key is larger than a message)."""
    total, data = F.u32(first[0], 0), first[1]
    while len(data) < total:
        data += request("read", str(len(data)), call=call)[0]
    return data


def sign(label, data, call=None):
    """The whole signature of data with key `label`."""
    return whole(request("sign", label, data, call=call), call)


def verify(label, data, sig, call=None):
    """True or False; HsmRefused when the HSM cannot say."""
    return request("verify", label, data, sig, call=call)[0] == b"\x01"
