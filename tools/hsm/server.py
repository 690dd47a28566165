"""`qenex hsm serve`: the emulated HSM on a unix socket, where QEMU's UART1
connects (a chardev socket in client mode that reconnects, as QEMU talks to
swtpm). One connection at a time; bytes in are framed by frame.Reader
(garbage is skipped, the link resynchronises), each request is answered,
and only then is the state the request changed (its audit entry) written
and synced (3-9 ms on a disk: no longer part of the round trip; written
before the next request is read)."""
import os
import socket

from drivers.hsm import frame as F
from tools.hsm.emulator import Hsm, crc32


QUIET_S = 0.2          # a partial request this long without a byte is stale (PROTOCOL.md, resynchronisation)


def serve(sock_path, state_path, pin="123456", log=print, ready=None):
    hsm = Hsm(state_path, pin=pin)
    hsm.defer_save = True          # each answer first, then its state (audit entry) written and synced
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    os.chmod(sock_path, 0o600)                     # before listen(): nobody else can have connected
    srv.listen(1)
    log("hsm: %s serial %s on %s (state %s)" % (hsm.state["serial"], hsm.state["serial"], sock_path, state_path))
    if ready:
        ready()
    try:
        while True:
            conn, _ = srv.accept()
            reader = F.Reader(crc32)
            hsm.end_session()                      # a new link: no session,
            hsm.open_cache = None                  # and nothing of the old one's to repeat
            with conn:
                conn.settimeout(QUIET_S)
                while True:
                    try:
                        data = conn.recv(4096)
                    except socket.timeout:
                        # Quiet with a partial frame: the device stopped mid-frame
                        # (the hsm task killed while writing). Dropped as on the
                        # device's side, so it does not swallow the next driver's
                        # frames.
                        frames = reader.stale() if reader.buf else []
                        data = None
                    else:
                        if not data:
                            break
                        frames = reader.feed(data)
                    for request in frames:
                        if request[3] & F.RESPONSE:
                            continue               # not a request
                        try:
                            answer = hsm.handle(request)
                        except Exception as e:     # handle() answers every frame; should it not, serve on
                            log("hsm: request 0x%02x not answered: %s: %s" % (request[3], type(e).__name__, e))
                            continue
                        conn.sendall(answer)
                        hsm.flush()                # before the next request is read
    finally:
        hsm.flush()
        srv.close()
        if os.path.exists(sock_path):
            os.unlink(sock_path)
