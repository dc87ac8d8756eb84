"""Kill a service on a host: ``kill SERVICE@HOST [--signal TERM|KILL|...]``; instant.

``python -m lab.faults.kill --service mx --netns-pid PID [--signal KILL]``:
signals every process of the service in the network namespace of PID (a
Mininet host's shell). Nothing restarts it; bringing a server back is the
lab's (or the provisioner's) job.
"""
import os
import signal as signals
import time

from lab.faults import procs, fault_process
from lab.faults.commands import Plan


def add_arguments(p):
    p.add_argument("--service", required=True, help="mx, relay, dns, ... or a program name")
    p.add_argument("--netns-pid", type=int, required=True,
                   help="a process in the host's network namespace (its Mininet shell)")
    p.add_argument("--signal", default="TERM", help="signal name or number (default TERM)")
    p.add_argument("--label", default="", help="SERVICE@HOST, for the events")


def signal_name(sig):
    text = str(sig).upper()
    if text.isdigit():
        return signals.Signals(int(text)).name[3:]
    text = text[3:] if text.startswith("SIG") else text
    signals.Signals["SIG" + text]   # KeyError for a bad name
    return text


def plan(service, targets, sig="TERM", label="", fault="kill", undo_sig=None):
    """``targets``: [(pid, argv)] found by ``procs.matching``."""
    if not targets:
        raise ValueError("%s: no process of %r found on %s" % (fault, service, label or "the host"))
    try:
        sig = signal_name(sig)
        undo_sig = signal_name(undo_sig) if undo_sig else None
    except (KeyError, ValueError):
        raise ValueError("%s: unknown signal %r" % (fault, sig)) from None
    pids = [str(pid) for pid, _ in targets]
    return Plan(fault=fault,
                summary="%s %s: SIG%s to %s" % (fault, label or service, sig, ",".join(pids)),
                apply=[["kill", "-s", sig] + pids],
                undo=[["kill", "-s", undo_sig] + pids] if undo_sig else [],
                matched={"service": service, "target": label, "signal": sig,
                         "processes": [{"pid": pid, "cmd": " ".join(argv)} for pid, argv in targets]},
                lasting=undo_sig is not None)


def find(args):
    table = procs.snapshot()
    return procs.matching(table, procs.netns_of(args.netns_pid), args.service,
                          exclude={args.netns_pid, os.getpid()})


def plan_from_args(args, fault_id):
    return plan(args.service, find(args), args.signal, args.label)


def collect(args, plan, execute, wait=3.0):
    """Which of the signalled processes are gone (a TERM may take a moment)."""
    pids = [p["pid"] for p in plan.matched["processes"]]
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and not all(procs.is_gone(p) for p in pids):
        time.sleep(0.05)  # a terminating process needs a moment to exit
    return {"exited": [p for p in pids if procs.is_gone(p)],
            "still_running": [p for p in pids if not procs.is_gone(p)]}


main = fault_process.entry(__name__)

if __name__ == "__main__":
    raise SystemExit(main())
