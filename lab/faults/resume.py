"""Resume a paused service (SIGCONT); instant.

``python -m lab.faults.resume --service mx --netns-pid PID``
"""
from lab.faults import kill, fault_process


def add_arguments(p):
    p.add_argument("--service", required=True)
    p.add_argument("--netns-pid", type=int, required=True)
    p.add_argument("--label", default="")


def plan(service, targets, label=""):
    return kill.plan(service, targets, "CONT", label, fault="resume")


def plan_from_args(args, fault_id):
    return plan(args.service, kill.find(args), args.label)


main = fault_process.entry(__name__)

if __name__ == "__main__":
    raise SystemExit(main())
