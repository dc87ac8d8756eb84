"""Run one fault as its own process: apply its plan, hold it, undo it.

Every fault module ends with ``main = fault_process.entry(__name__)``; running
``python -m lab.faults.NAME ...`` parses the common options below plus the
module's own, builds the module's pure ``plan``, and then:

1. opens the module's worker, if it has one (NFQUEUE binding, sniffer), so
   that it is ready before any packet is diverted to it;
2. starts the captures (tcpdump per affected interface);
3. runs the apply commands; emits ``fault_start``;
4. holds the fault until ``--duration`` passes or SIGTERM/SIGINT/SIGHUP
   arrives (instant faults such as ``restore`` or ``kill`` skip this);
5. runs the undo commands (also after a failed apply), closes the worker,
   stops the captures; emits ``fault_end`` with the evidence.

Exit status: 0 done and undone, 1 failed (fault_end has ``error``),
3 refused (the fault cannot be done here; ``fault_refused`` says why).
"""
import argparse
import importlib
import logging
import os
import signal
import subprocess
import sys
import time

from lab.faults.capture import Captures
from lab.faults.commands import parse_intf
from servers.common.events import EventLog

log = logging.getLogger(__name__)
EXIT_FAILED = 1
EXIT_REFUSED = 3


class Refused(Exception):
    """The fault cannot be done on this machine (never a silent no-op)."""


class CommandFailed(Exception):
    pass


def run_command(argv):
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CommandFailed("%s: exit %d: %s" % (" ".join(argv), proc.returncode,
                                                 (proc.stderr or proc.stdout).strip()))
    return proc.stdout


class StopFlag:
    def __init__(self):
        self.signal = None

    def install(self):
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._handler)

    def _handler(self, signum, frame):
        self.signal = signal.Signals(signum).name

    def __bool__(self):
        return self.signal is not None


def module_name(module):
    """``lab.faults.cut``, also when the module runs as ``__main__`` (python -m)."""
    spec = getattr(module, "__spec__", None)
    return spec.name if spec is not None else module.__name__


def fault_name(module):
    short = module_name(module).rsplit(".", 1)[-1]
    return short.replace("_", "-")


def build_parser(module):
    name = fault_name(module)
    p = argparse.ArgumentParser(prog="python -m lab.faults.%s" % name.replace("-", "_"),
                                description=(module.__doc__ or "").strip() or None,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--id", help="fault id in the events (default NAME-PID)")
    p.add_argument("--events", metavar="FILE", help="append fault_start/fault_end here")
    p.add_argument("--duration", type=float, metavar="S",
                   help="undo after S seconds (default: hold until SIGTERM/SIGINT)")
    p.add_argument("--pcap-dir", metavar="DIR", help="capture the affected interfaces here")
    p.add_argument("--capture", action="append", default=[], metavar="[PID/]INTF",
                   help="capture this interface too (with --pcap-dir)")
    p.add_argument("-v", "--verbose", action="count", default=0)
    module.add_arguments(p)
    return p


def entry(name):
    def main(argv=None):
        module = sys.modules[name] if name == "__main__" else importlib.import_module(name)
        args = build_parser(module).parse_args(argv)
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                            format="%(levelname)s %(name)s: %(message)s")
        return run(module, args)
    return main


def run(module, args, execute=run_command):
    name = fault_name(module)
    fault_id = args.id or "%s-%d" % (name, os.getpid())
    events = EventLog(args.events, service="fault")
    base = {"fault": name, "id": fault_id}
    try:
        plan = module.plan_from_args(args, fault_id)
    except (Refused, ValueError) as e:
        events.emit("fault_refused", reason=str(e), **base)
        print("fault %s refused: %s" % (name, e), file=sys.stderr)
        return EXIT_REFUSED

    stop = StopFlag()
    stop.install()
    worker = module.worker(args, plan) if hasattr(module, "worker") else None
    extra = [parse_intf(t) for t in getattr(args, "capture", [])]
    captures = Captures(plan.capture + extra if plan.lasting else [], args.pcap_dir, fault_id)
    evidence, error, started = {}, None, time.monotonic()
    undo_errors, applied = [], 0
    try:
        if worker is not None:
            worker.open()
        pcaps = captures.start()
        for argv in plan.apply:
            execute(argv)
            applied += 1
        events.emit("fault_start", duration=args.duration, pcaps=pcaps,
                    **base, **plan.describe())
        print("fault %s started: %s" % (fault_id, plan.summary), file=sys.stderr, flush=True)
        if plan.lasting:
            deadline = started + args.duration if args.duration is not None else None
            while not stop and (deadline is None or time.monotonic() < deadline):
                timeout = 0.1 if deadline is None else max(0.0, min(0.1, deadline - time.monotonic()))
                if worker is not None:
                    worker.poll(timeout)
                else:
                    time.sleep(timeout)
        if hasattr(module, "collect"):
            evidence.update(module.collect(args, plan, execute))
    except Refused as e:
        error = "refused: %s" % e
    except Exception as e:  # a failed fault must still undo what it did
        log.exception("fault %s failed", fault_id)
        error = str(e)
    finally:
        for argv in plan.undo_for(applied):
            try:
                execute(argv)
            except Exception as e:
                undo_errors.append(str(e))
        if worker is not None:
            try:
                worker.close()
                evidence.update(worker.evidence())
            except Exception as e:
                log.exception("closing the worker of %s", fault_id)
                undo_errors.append(str(e))
        evidence["captured"] = captures.stop()
    if undo_errors:
        evidence["undo_errors"] = undo_errors
    events.emit("fault_end", ok=error is None and not undo_errors, error=error,
                stopped_by=stop.signal, seconds=round(time.monotonic() - started, 3),
                undone=bool(plan.undo) and not undo_errors, summary=plan.summary,
                matched=plan.matched, **base, **evidence)
    events.close()
    if error and error.startswith("refused"):
        print("fault %s %s" % (name, error), file=sys.stderr)
        return EXIT_REFUSED
    if error or undo_errors:
        print("fault %s failed: %s" % (fault_id, error or undo_errors), file=sys.stderr)
        return EXIT_FAILED
    return 0
