"""How QENEX OS is started in QEMU: one function builds the command line that
`make run`, `qenex run`, the tests and the benchmarks all use.

Persistent storage: QEMU reloads flash.bin at every start, so the board's
storage (board.py: STORAGE_BASE, the 16 MiB PSRAM) is backed by a host file
instead, mapped shared (`-object memory-backend-file,share=on`): what the OS
writes there is in the file at once, survives a guest reset and a QEMU
restart, and a killed QEMU leaves exactly the bytes written so far. The
default file is build/<board>/storage.bin; a new one starts erased (0xff),
like new flash. Delete it to start from factory state.

Secrets at rest: the storage file holds the host link key (the gateway's
partition), so it is created 0600 (and made 0600 if it exists), like the
key files; the unix sockets QEMU serves (the host link on UART2, a console
socket) give access to the board, so QEMU runs under umask 177 and binds
them 0600 (the command starts with `sh -c 'umask 177 && exec ...'`)."""
import os
import socket

from tools.layout import ROOT, load_board

# The board on QEMU's user network (slirp): the LAN9118 (`-nic user,model=
# lan9118`), the board at GUEST_IP, and the board's services reached from
# the host through forwards from 127.0.0.1 (`hostfwd`, no root needed). The
# host ports are picked free at each start (forwards()); `qenex run` prints
# them, the tests read them from their Device.
GUEST_IP = "10.0.2.15"
SERVICES = (
    ("tcp", 7, "echo (netecho, dev image)"),
    ("udp", 7, "echo (netecho, dev image)"),
    ("udp", 8, "netecho's busy counters (tools/bench.py)"),
    ("tcp", 4700, "host link (hostnet, production image: qenex send --tcp)"),
    ("tcp", 9878, "FIX 4.4 (fixnet, production image: SocketConnectPort for QuickFIX)"),
    ("tcp", 80, "ISO 20022 and MT103 over HTTP (httpnet, production image: POST /iso20022, /mt103)"),
)


def free_port(proto="tcp"):
    """A port of 127.0.0.1 nothing listens on now (the kernel's pick)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def forwards(services=SERVICES):
    """{(proto, board port): host port} for `services`, host ports free now."""
    return {(proto, port): free_port(proto) for proto, port, _what in services}


def nic_args(fwd):
    """QEMU's options for the LAN9118 on the user network with the forwards `fwd`."""
    spec = "user,model=lan9118" + "".join(",hostfwd=%s:127.0.0.1:%d-%s:%d" % (proto, host, GUEST_IP, port)
                                          for (proto, port), host in sorted(fwd.items()))
    return ["-nic", spec]


def flash_path(board, image="production"):
    """images/<board>/flash.bin (production) or flash-test.bin (the test image,
    hal/board/<board>/images.py)."""
    return os.path.join(ROOT, "images", board, "flash.bin" if image == "production" else "flash-%s.bin" % image)


def build_path(board, image="production"):
    """build/<board>/ (production) or build/<board>-<image>/: the image's kernel and bootloader."""
    return os.path.join(ROOT, "build", board if image == "production" else "%s-%s" % (board, image))


def storage_path(board):
    return os.path.join(ROOT, "build", board, "storage.bin")


def ensure_storage(path, size):
    """Create `path` as `size` erased bytes unless it exists with that size."""
    if os.path.exists(path) and os.path.getsize(path) == size:
        private(path)
        return path
    if os.path.exists(path):
        raise SystemExit("qemu: %s is %d bytes, the board's storage is %d; move it away"
                         % (path, os.path.getsize(path), size))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    chunk = b"\xff" * (1 << 20)
    if os.path.exists(path + ".new"):
        os.unlink(path + ".new")
    fd = os.open(path + ".new", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        for _ in range(size // len(chunk)):
            f.write(chunk)
        f.write(b"\xff" * (size % len(chunk)))
    os.replace(path + ".new", path)
    return path


def private(path):
    """Make a file that holds or gives access to secrets the owner's alone (0600)."""
    if os.stat(path).st_mode & 0o077:
        os.chmod(path, 0o600)
    return path


UMASK = ["sh", "-c", 'umask 177 && exec "$0" "$@"']     # QEMU's sockets are bound 0600


def command(board="mps2-an385", flash=None, serial="mon:stdio", icount=False, storage=None, hsm=None,
            hostlink=None, net=None, gdb=None):
    """The qemu-system-arm command that boots `flash` (default: the board's
    images/<board>/flash.bin) with the console on `serial` (a QEMU chardev
    spec: "mon:stdio" for a person, "stdio" for tests, "unix:PATH,server=on,
    wait=off" for `qenex console`) and its storage in the file `storage`
    (default build/<board>/storage.bin; created erased if missing).
    icount=True makes guest time count guest instructions (1 instruction =
    1 ns), for benchmarks. QEMU runs under umask 177 (UMASK), so the
    sockets it binds are 0600. hsm: the unix socket of the emulated HSM
    (`qenex hsm serve`), which UART1 connects to as a client and reconnects
    to (every second) when it goes away; None leaves UART1 unconnected.
    hostlink: a unix socket QEMU serves UART2 on (the gateway's host link,
    `qenex send`); None leaves UART2 unconnected. net: the host forwards
    ({(proto, board port): host port}, forwards()) of the LAN9118's user
    network; the NIC is there either way. gdb: a port QEMU's gdbstub
    listens on at 127.0.0.1 (tools/guestprof.py), or None."""
    b = load_board(board)
    store = ensure_storage(storage or storage_path(board), b.STORAGE_SIZE)
    cmd = UMASK + ["qemu-system-arm", "-M", b.QEMU_MACHINE, "-display", "none",
           "-monitor", "none",
           "-serial", serial,
           "-serial", "chardev:hsm" if hsm else "null",
           "-serial", "chardev:hostlink" if hostlink else "null",
           "-semihosting-config", "enable=on,target=native",
           "-object", "memory-backend-file,id=storage,size=%d,mem-path=%s,share=on" % (b.STORAGE_SIZE, store),
           "-machine", "memory-backend=storage",
           "-kernel", flash or flash_path(board)]
    if hsm:
        cmd += ["-chardev", "socket,id=hsm,path=%s,reconnect=1" % hsm]
    if hostlink:
        cmd += ["-chardev", "socket,id=hostlink,path=%s,server=on,wait=off" % hostlink]
    cmd += nic_args(net or {})
    if gdb:
        cmd += ["-gdb", "tcp:127.0.0.1:%d" % gdb]
    if icount:
        cmd += ["-icount", "shift=0,sleep=off"]   # idle time does not run the clock: exact repeats
    return cmd
