"""Cut a link: take both ends down, bring them back up when the fault ends.

``python -m lab.faults.cut --intf PID/INTF --intf INTF [--duration S]``:
each ``--intf`` is one end of the link, ``PID/INTF`` for an interface in
the network namespace of process PID (a Mininet host's shell), a bare
``INTF`` for one in the fault's own namespace (Linux-bridge switch ports
live in the root namespace). Any link works: host-switch, switch-switch,
router-router (the WAN). Both ends go down, so neither side sees carrier
and the kernel drops what it would send (no ICMP comes back either).
"""
from lab.faults import runner
from lab.faults.plan import (Plan, format_intf, in_ns, link_cmd, link_show_cmd, link_state,
                             parse_intf)


def add_arguments(p):
    p.add_argument("--intf", action="append", required=True, metavar="[PID/]INTF",
                   help="an end of the link (repeat for each end; more links: more ends)")
    p.add_argument("--label", default="", help="what is cut, for the events (e.g. mx1-s1)")


def plan(ends, label="", fault="cut", routes=()):
    """``ends``: [(ns_pid or None, intf)]. Down on apply, up on undo.

    ``routes``: [(ns_pid, route)] that go through those ends. The kernel deletes
    a device's routes when it goes down and ``up`` does not bring them back, so
    undo re-adds them (a router's static routes, a host's default route)."""
    if not ends:
        raise ValueError("cut: no interface given")
    names = [format_intf(ns, intf) for ns, intf in ends]
    return Plan(fault=fault,
                summary="%s %s: down %s" % (fault, label or "link", ", ".join(names)),
                apply=[link_cmd(ns, intf, "down") for ns, intf in ends],
                undo=[link_cmd(ns, intf, "up") for ns, intf in ends]
                + [in_ns(ns, ["ip", "route", "replace"] + route.split()) for ns, route in routes],
                capture=list(ends),
                matched={"link": label, "interfaces": names})


def routes_through(ends, execute):
    """The non-kernel IPv4 routes of each namespaced end, as ``ip route`` arguments."""
    routes = []
    for ns, intf in ends:
        if ns is None:
            continue    # a switch port in the root namespace: no lab routes use it
        out = execute(in_ns(ns, ["ip", "-o", "-4", "route", "show", "dev", intf]))
        for line in out.splitlines():
            words = [w for w in line.split() if w != "linkdown"]
            if words and "kernel" not in words:
                routes.append((ns, " ".join(words + ["dev", intf])))
    return routes


def plan_from_args(args, fault_id, execute=runner.run_command):
    ends = [parse_intf(t) for t in args.intf]
    return plan(ends, args.label, routes=routes_through(ends, execute))


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


main = runner.entry(__name__)

if __name__ == "__main__":
    raise SystemExit(main())
