"""Destroy a host: it leaves the network entirely; instant.

``python -m lab.faults.destroy --netns-pid PID --intf INTF ...``: deletes the
host's interfaces (a veth pair goes with its peer, so the switch port
disappears too) and SIGKILLs every process in its network namespace except
the Mininet shell that holds the namespace (Mininet still needs it to tear
the host down or replace it). Nothing is undone: bringing a server back,
with the same name and address or elsewhere, is the provisioner's job.
"""
import os

from lab.faults import procs, fault_process
from lab.faults.commands import Plan, in_ns


def add_arguments(p):
    p.add_argument("--netns-pid", type=int, required=True,
                   help="the host's Mininet shell (kept alive: it holds the namespace)")
    p.add_argument("--intf", action="append", default=[], help="interfaces to delete")
    p.add_argument("--label", default="", help="the host, for the events")


def plan(shell_pid, intfs, victims, label=""):
    """``victims``: [(pid, argv)] in the host's namespace, the shell excluded."""
    if not intfs and not victims:
        raise ValueError("destroy: nothing to destroy on %s" % (label or shell_pid))
    pids = [str(pid) for pid, _ in victims]
    apply = [in_ns(shell_pid, ["ip", "link", "del", "dev", i]) for i in intfs]
    if pids:
        apply.append(["kill", "-s", "KILL"] + pids)
    return Plan(fault="destroy",
                summary="destroy %s: delete %s, kill %d processes"
                        % (label or shell_pid, ", ".join(intfs) or "no interface", len(pids)),
                apply=apply,
                matched={"target": label, "interfaces": list(intfs),
                         "processes": [{"pid": pid, "cmd": " ".join(argv)} for pid, argv in victims]},
                lasting=False)


def plan_from_args(args, fault_id):
    victims = procs.matching(procs.snapshot(), procs.netns_of(args.netns_pid), None,
                             exclude={args.netns_pid, os.getpid()})
    return plan(args.netns_pid, args.intf, victims, args.label)


main = fault_process.entry(__name__)

if __name__ == "__main__":
    raise SystemExit(main())
