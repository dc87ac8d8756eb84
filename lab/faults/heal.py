"""Heal a partition: bring every link between two data centers back up; instant.

``python -m lab.faults.heal --intf PID/INTF --intf INTF ...``
"""
from lab.faults import restore, fault_process
from lab.faults.commands import parse_intf


def add_arguments(p):
    restore.add_arguments(p)


def plan(ends, label=""):
    return restore.plan(ends, label, fault="heal")


def plan_from_args(args, fault_id):
    return plan([parse_intf(t) for t in args.intf], args.label)


main = fault_process.entry(__name__)

if __name__ == "__main__":
    raise SystemExit(main())
