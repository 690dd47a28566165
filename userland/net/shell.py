"""The shell's `net` command: the net task's state (address, link,
counters, SNTP, every task's sockets) and the operator's SNTP server. It
holds the command's forms and output; not the shell's table or dispatcher
(userland/shell/dispatch.py, commands.py registers it), nor the service
(main.py, sockets.py) or its client (userland/lib/net.py), which it imports
only when the command runs: the shell's heap pays for it then."""
import json

from userland.shell.dispatch import Refused, UsageError, table


def _client():
    from userland.lib import net
    return net


def _ask(ctx, f, *args):
    net = _client()
    try:
        return f(*args)
    except net.NetError as e:
        raise Refused("net: %s" % e)
    except Exception as e:          # no net task in this image (NO_SUCH_TASK)
        raise Refused("net: %s" % e)


def _net(ctx, args):
    from userland.lib import netproto as P
    net = _client()
    if args and args[0] == "sntp":
        if len(args) not in (2, 3):
            raise UsageError()
        if args[1] == "off":
            _ask(ctx, net.sntp, 0)
            ctx.write("net: SNTP off\n")
            return
        try:
            ip = P.ip_int(args[1])
            port = int(args[2]) if len(args) == 3 else 123
        except ValueError:
            raise UsageError()
        _ask(ctx, net.sntp, ip, port)
        ctx.write("net: the clock is kept by SNTP against %s:%d\n" % (P.ip_text(ip), port))
        return
    if args:
        raise UsageError()
    info = json.loads(_ask(ctx, net.info))
    st = info["stack"]
    if st:
        ctx.write("address %s/%s gateway %s%s, link %s, mac %s\n" % (
            P.ip_text(st["ip"]), P.ip_text(st["mask"]), P.ip_text(st["gw"]), " (DHCP)" if st.get("dhcp") else "",
            "up" if st.get("link") else "down", st.get("mac")))
        ctx.write("frames: %d in, %d out, %d dropped; TCP: %d connections, %d listening; stack memory free %d\n"
                  % (st["rx_frames"], st["tx_frames"], st["rx_dropped"], st["tcp_active"], st["tcp_listen"],
                     st["mem_free"]))
    else:
        ctx.write("net: the stack is not up\n")
    s = info.get("sntp")
    if s:
        ods = s["offset_delay_stratum"]
        ctx.write("sntp: %s:%d, %d answers, %d refused or lost%s%s\n" % (
            P.ip_text(s["server"][0]), s["server"][1], s["answers"], s["failures"],
            "" if ods is None else "; last: offset %+d ms, delay %d ms, stratum %d" % tuple(ods),
            "" if not s["last_error"] else "; last error: %s" % s["last_error"]))
    else:
        ctx.write("sntp: off (`net sntp IP [PORT]`)\n")
    rows = [["%d" % (o & 0xFF), "%d" % sid, kind, "%d" % port, state, "%d" % rx, "%d" % tx]
            for o, sid, kind, port, state, rx, tx in info["sockets"]]
    if rows:
        table(ctx, ["task", "socket", "kind", "port", "state", "in", "out"], rows)
    else:
        ctx.write("no sockets\n")


COMMANDS = (
    ("net [sntp IP [PORT] | sntp off]", "the network: address, link, counters, SNTP, every task's sockets; "
     "`net sntp` names the SNTP server (operator)", _net, 3),
)
