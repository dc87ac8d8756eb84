"""Partition two data centers: cut every link between them until the fault ends.

``python -m lab.faults.partition --intf PID/INTF --intf INTF ... --label dc1|dc2``:
the ends of every link to cut (the lab maps data centers to links, see
``lab.faults.targets.partition_links``). Undone (healed) on duration or signal.
"""
from lab.faults import cut, fault_process
from lab.faults.commands import parse_intf


def add_arguments(p):
    cut.add_arguments(p)


def plan(ends, label="", routes=None):
    return cut.plan(ends, label, fault="partition", routes=routes)


def plan_from_args(args, fault_id):
    ends = [parse_intf(t) for t in args.intf]
    return plan(ends, args.label, routes=cut.snapshot_routes(ends))


collect = cut.collect
main = fault_process.entry(__name__)

if __name__ == "__main__":
    raise SystemExit(main())
