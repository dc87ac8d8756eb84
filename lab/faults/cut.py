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
from lab.faults.plan import Plan, format_intf, link_cmd, link_show_cmd, link_state, parse_intf


def add_arguments(p):
    p.add_argument("--intf", action="append", required=True, metavar="[PID/]INTF",
                   help="an end of the link (repeat for each end; more links: more ends)")
    p.add_argument("--label", default="", help="what is cut, for the events (e.g. mx1-s1)")


def plan(ends, label="", fault="cut"):
    """``ends``: [(ns_pid or None, intf)]. Down on apply, up on undo."""
    if not ends:
        raise ValueError("cut: no interface given")
    names = [format_intf(ns, intf) for ns, intf in ends]
    return Plan(fault=fault,
                summary="%s %s: down %s" % (fault, label or "link", ", ".join(names)),
                apply=[link_cmd(ns, intf, "down") for ns, intf in ends],
                undo=[link_cmd(ns, intf, "up") for ns, intf in ends],
                capture=list(ends),
                matched={"link": label, "interfaces": names})


def plan_from_args(args, fault_id):
    return plan([parse_intf(t) for t in args.intf], args.label)


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
