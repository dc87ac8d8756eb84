"""Restore a link: bring both ends up (the undo of ``cut``, on its own).

``python -m lab.faults.restore --intf PID/INTF --intf INTF``; instant.
"""
from lab.faults import fault_process
from lab.faults.commands import Plan, format_intf, link_cmd, parse_intf


def add_arguments(p):
    p.add_argument("--intf", action="append", required=True, metavar="[PID/]INTF",
                   help="an end of the link (repeat for each end)")
    p.add_argument("--label", default="", help="what is restored, for the events")


def plan(ends, label="", fault="restore"):
    if not ends:
        raise ValueError("restore: no interface given")
    names = [format_intf(ns, intf) for ns, intf in ends]
    return Plan(fault=fault, summary="%s %s: up %s" % (fault, label or "link", ", ".join(names)),
                apply=[link_cmd(ns, intf, "up") for ns, intf in ends],
                matched={"link": label, "interfaces": names}, lasting=False)


def plan_from_args(args, fault_id):
    return plan([parse_intf(t) for t in args.intf], args.label)


main = fault_process.entry(__name__)

if __name__ == "__main__":
    raise SystemExit(main())
