"""Cut a link: take both ends down, bring them back up when the fault ends.

``python -m lab.faults.cut --intf PID/INTF --intf INTF [--duration S]``:
each ``--intf`` is one end of the link, ``PID/INTF`` for an interface in
the network namespace of process PID (a Mininet host's shell), a bare
``INTF`` for one in the fault's own namespace (Linux-bridge switch ports
live in the root namespace). Any link works: host-switch, switch-switch,
router-router (the WAN). Both ends go down, so neither side sees carrier
and the kernel drops what it would send (no ICMP comes back either).

Taking an interface down makes the kernel delete every IPv4 route through
it (a host's default route, a router's static routes), and bringing it up
restores only the connected ones. So the routes through each end are read
before the cut and put back (``ip route replace``) after the links come up.
"""
from lab.host import iproute
from lab.faults import fault_process
from lab.faults.commands import (Plan, format_intf, in_ns, link_cmd, link_show_cmd, link_state,
                             parse_intf)


def add_arguments(p):
    p.add_argument("--intf", action="append", required=True, metavar="[PID/]INTF",
                   help="an end of the link (repeat for each end; more links: more ends)")
    p.add_argument("--label", default="", help="what is cut, for the events (e.g. mx1-s1)")


def plan(ends, label="", fault="cut", routes=None):
    """``ends``: [(ns_pid or None, intf)]; ``routes``: {(ns_pid, intf): [``ip
    route`` lines through it]}. Down on apply; up, then the routes back, on undo."""
    if not ends:
        raise ValueError("cut: no interface given")
    routes = routes or {}
    names = [format_intf(ns, intf) for ns, intf in ends]
    kept = [(ns, intf, line) for ns, intf in ends for line in routes.get((ns, intf), [])]
    restore_routes = [route_cmd(ns, intf, line) for ns, intf, line in kept]
    return Plan(fault=fault,
                summary="%s %s: down %s" % (fault, label or "link", ", ".join(names)),
                apply=[link_cmd(ns, intf, "down") for ns, intf in ends],
                undo=[link_cmd(ns, intf, "up") for ns, intf in ends] + restore_routes,
                capture=list(ends),
                matched={"link": label, "interfaces": names,
                         "routes": ["%s dev %s" % (" ".join(line.split()), intf)
                                    for _, intf, line in kept]})


def routes_to_keep(routes):
    """The routes of ``ip -j -4 route show dev X`` that the kernel will not put
    back by itself, as ``ip route`` lines: all but the connected (``proto
    kernel``) ones."""
    return iproute.route_texts(r for r in routes if r.get("protocol") != "kernel")


def route_cmd(ns_pid, intf, line):
    return in_ns(ns_pid, ["ip", "-4", "route", "replace"] + line.split() + ["dev", intf])


def snapshot_routes(ends):
    routes = {}
    for ns, intf in ends:
        routes[(ns, intf)] = routes_to_keep(
            iproute.run(in_ns(ns, iproute.ip_argv("-4", "route", "show", "dev", intf))))
    return routes


def plan_from_args(args, fault_id):
    ends = [parse_intf(t) for t in args.intf]
    return plan(ends, args.label, routes=snapshot_routes(ends))


def collect(args, plan, execute):
    """Read the ends back: the evidence that they really are down."""
    states = {}
    for name in plan.matched["interfaces"]:
        ns, intf = parse_intf(name)
        try:
            states[intf] = link_state(execute(link_show_cmd(ns, intf)))
        except Exception as e:
            states[intf] = "unknown (%s)" % e
    return {"operstate_during": states}


main = fault_process.entry(__name__)

if __name__ == "__main__":
    raise SystemExit(main())
