"""Destroy a host: it leaves the network entirely; instant.

``python -m lab.faults.destroy --netns-pid PID --intf INTF ...``: freezes
every process in the host's network namespace (SIGSTOP), deletes the host's
interfaces (a veth pair goes with its peer, so the switch port disappears
too), then SIGKILLs those processes. The Mininet shell that holds the
namespace is spared (Mininet still needs it to tear the host down or replace
it). Nothing is undone: bringing a server back, with the same name and
address or elsewhere, is the provisioner's job.

Why freeze first: a host that loses its power stops at once. Deleting the
interfaces first would leave its servers running, unseen, for as long as the
deletion takes; a messaging server would go on storing a message whose last
line had arrived and answer 250 into a link that is gone. Its sender, with no
250, sends the message again elsewhere, and a re-created server (a fresh
disk) stores it a second time. Killing first would close the sockets and
send FINs and RSTs a dead host never sends. Frozen, a server can only have
stored a message it was already answering: the window SMTP itself leaves
(RFC 5321, 6.1) shrinks from the deletion's time to a few microseconds.
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
    apply = [["kill", "-s", "STOP"] + pids] if pids else []
    apply += [in_ns(shell_pid, ["ip", "link", "del", "dev", i]) for i in intfs]
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
