"""Pause a service on a host (SIGSTOP) until the fault ends (SIGCONT).

``python -m lab.faults.pause --service mx --netns-pid PID [--duration S]``:
a paused server keeps its sockets, so the kernel still completes TCP
handshakes into its backlog but nothing answers: clients hang rather than
get refused, which is what an overloaded or wedged server looks like.
"""
from lab.faults import kill, procs, fault_process


def add_arguments(p):
    p.add_argument("--service", required=True)
    p.add_argument("--netns-pid", type=int, required=True)
    p.add_argument("--label", default="")


def plan(service, targets, label=""):
    return kill.plan(service, targets, "STOP", label, fault="pause", undo_sig="CONT")


def plan_from_args(args, fault_id):
    return plan(args.service, kill.find(args), args.label)


def collect(args, plan, execute):
    return {"states": {str(p["pid"]): procs.state_of(p["pid"])
                       for p in plan.matched["processes"]}}


main = fault_process.entry(__name__)

if __name__ == "__main__":
    raise SystemExit(main())
