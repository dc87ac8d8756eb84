"""The ``maillab`` command: one entry point, one subcommand per job.

Each subcommand lives in its own module and is imported only when used,
so ``maillab clean`` works even on a machine where Mininet is broken.
"""
import argparse
import importlib
import logging
import sys

from lab.host.net import SWITCH_KINDS    # lab.net imports Mininet only when it builds a net
from lab.chaos import schedule as chaos_schedule
from lab.cli.bench_scale import add_arguments as bench_scale_arguments
from lab.chaos.shrink import MAX_RUNS as SHRINK_RUNS
from lab.testbed.mta_role import SERVERS as RELAY_SERVERS
from lab.web import options as web_options


def _cmd_clean(args):
    from lab.host.clean import LabBusy, clean
    try:
        counts = clean(wait=args.wait)
    except LabBusy as e:
        print("maillab clean: %s; stop it first, or wait with --wait SECONDS" % e,
              file=sys.stderr)
        return 1
    print("removed: " + ", ".join("%d %s" % (n, what) for what, n in counts.items()))
    return 0


def _chaos_arguments(s):
    s.add_argument("--seed", type=int, default=1, help="seed of the schedule (with --runs: "
                   "the first of R seeds in a row; default 1)")
    s.add_argument("--runs", type=int, default=1, metavar="R",
                   help="run R seeds in a row and print a table (default 1)")
    s.add_argument("--duration", type=float, default=60.0, metavar="SECONDS",
                   help="seconds of traffic, faults within them (default 60)")
    s.add_argument("--topology", default="two_dc", help="one_dc, two_dc or n_dc (default two_dc)")
    s.add_argument("--faults", metavar="LIST", default=",".join(chaos_schedule.KINDS),
                   help="fault kinds to draw from, comma-separated (default: all: %(default)s)")
    s.add_argument("--intensity", type=float, default=1.0, metavar="K",
                   help="faults per 10 s of traffic (default 1)")
    s.add_argument("--messages", type=int, help="messages to send (default: 2 per second)")
    s.add_argument("--shrink-runs", type=int, metavar="N",
                   help="re-runs a failing schedule's reduction may take (default %d for one "
                   "run, 0 with --runs: each failing seed is listed with its replay)"
                   % SHRINK_RUNS)
    s.add_argument("--report", metavar="DIR", help="where to write the reports "
                   "(default: reports/chaos-TOPOLOGY-TIME)")


def _cluster_arguments(s):
    s.add_argument("--cluster", metavar="HOST[,HOST...]", help="spread the lab over these "
                   "servers ([user@]host[:port]; localhost: this machine), each data center "
                   "and the sender site on one, in turn (maillab cluster check HOST... says "
                   "what a server lacks)")
    s.add_argument("--place", action="append", default=[], metavar="NAME=SERVER",
                   help="with --cluster: put a place (site, dc1...) or one host on this "
                   "server of the list instead of the default (repeatable)")
    s.add_argument("--ssh-key", metavar="PATH", help="with --cluster: log in with this key "
                   "(default: the lab's own, see maillab cluster key)")
    s.add_argument("--ssh-option", action="append", default=[], metavar="OPTION",
                   help="with --cluster: one more ssh -o option, e.g. "
                   "UserKnownHostsFile=PATH (repeatable)")


def _lazy(module, func):
    def run(args):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            print("maillab %s: not available in this version" % args.command,
                  file=sys.stderr)
            return 2
        return getattr(mod, func)(args)
    return run


def build_parser():
    p = argparse.ArgumentParser(
        prog="maillab",
        description="Mail failover on emulated data centers, on real packets.")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="more log output (-vv for debug)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    s = sub.add_parser("clean", help="remove what a crashed lab run left behind (like mn -c)")
    s.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for a running lab to finish (default: refuse at once)")
    s.set_defaults(func=_cmd_clean)

    s = sub.add_parser("scenarios", help="list scenarios and the claims each exercises")
    s.set_defaults(func=_lazy("lab.cli.run", "cmd_scenarios"))

    s = sub.add_parser("run", help="run a scenario (or 'all') and write its report")
    s.add_argument("scenario", help="scenario name, a scenario .toml file, or 'all'")
    s.add_argument("--messages", type=int, help="messages to send (default: the scenario's)")
    s.add_argument("--seed", type=int, default=1, help="seed for faults and message IDs (default 1)")
    s.add_argument("--report", metavar="DIR", help="where to write report.json and friends "
                   "(default: reports/SCENARIO-TIME)")
    s.add_argument("--switch", default="lxbr", choices=SWITCH_KINDS,
                   help="Linux bridges (default) or Open vSwitch")
    _cluster_arguments(s)
    s.add_argument("--relay", choices=RELAY_SERVERS, metavar="SERVER",
                   help="what runs the relay host: maillab (maillab's relay) or postfix (a "
                        "private Postfix, the relay's numbers rounded up to whole seconds; "
                        "default: the scenario's relay.server)")
    s.add_argument("--sender", choices=RELAY_SERVERS, metavar="SERVER",
                   help="what sends from the clients: maillab (maillab's sender) or postfix "
                        "(a private Postfix on each client, handed the scenario's messages; "
                        "default: the scenario's traffic.server)")
    s.add_argument("--mx", choices=RELAY_SERVERS, metavar="SERVER",
                   help="what runs the messaging servers: maillab (default) or postfix (a "
                        "private Postfix on each, delivering into its Maildir)")
    web_options.add_arguments(s)
    s.set_defaults(func=_lazy("lab.cli.run", "cmd_run"))

    s = sub.add_parser("chaos", help="random overlapping faults from a seed; a failing "
                       "schedule is shrunk to the smallest that still fails")
    _chaos_arguments(s)
    s.add_argument("--switch", default="lxbr", choices=SWITCH_KINDS)
    _cluster_arguments(s)
    s.set_defaults(func=_lazy("lab.cli.chaos", "cmd_chaos"))

    s = sub.add_parser("demo", help="run the relay-failover scenario and explain it")
    s.add_argument("scenario", nargs="?", default="relay-failover")
    s.add_argument("--messages", type=int)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--report", metavar="DIR")
    s.add_argument("--switch", default="lxbr", choices=SWITCH_KINDS)
    web_options.add_arguments(s)
    s.set_defaults(func=_lazy("lab.cli.run", "cmd_demo"))

    s = sub.add_parser("exercises", help="list the workbook's exercises")
    s.set_defaults(func=_lazy("lab.cli.exercise", "cmd_exercises"))

    s = sub.add_parser("exercise", help="run exercise N; answers|solve|check N for its questions",
                       description="maillab exercise N runs exercise N; maillab exercise "
                       "answers N prints its blank answers file; check N --report DIR "
                       "--answers FILE says which answers match the run's evidence; "
                       "solve N --report DIR prints the answers computed from it.")
    s.add_argument("what", metavar="N|answers|solve|check")
    s.add_argument("number", nargs="?", metavar="N")
    s.add_argument("--seed", type=int, help="seed (default: the exercise's, so a class "
                   "sees the same run)")
    s.add_argument("--messages", type=int, help="messages to send (default: the exercise's)")
    s.add_argument("--report", metavar="DIR", help="run: where to write the report; "
                   "check/solve: the run's report directory")
    s.add_argument("--answers", metavar="FILE", help="check: the student's answers file")
    s.add_argument("--student", metavar="ID", help="run: this student's own lab (its seed "
                   "and the values the answers depend on follow from the ID); check: the "
                   "run must be this student's")
    s.add_argument("--predict", action="store_true", help="run: ask the worksheet's "
                   "prediction questions first and record the answers with the run")
    s.add_argument("--policy", metavar="FILE", help="run, the build capstone: your retry "
                   "policy (a Python file, see the exercise's starter_policy.py)")
    s.add_argument("--key", metavar="PATH", help="solve/check: the teacher key (default: "
                   "$MAILLAB_TEACHER_KEY, else ~/.config/maillab/teacher.key)")
    s.add_argument("--relay", choices=RELAY_SERVERS, metavar="SERVER",
                   help="run: what runs the relay host, maillab or postfix (default: the "
                   "exercise's): the same lab with another relay, to compare")
    s.add_argument("--switch", default="lxbr", choices=SWITCH_KINDS)
    web_options.add_arguments(s)
    s.set_defaults(func=_lazy("lab.cli.exercise", "cmd_exercise"))

    s = sub.add_parser("course", help="for teachers: init (make the teacher key), "
                       "grade DIR (a folder of submissions into a CSV), diagnose DIR "
                       "--students LIST (the diagnose capstone's labs)",
                       description="maillab course init makes the teacher key that solve, "
                       "check's right/wrong and grade need; maillab course grade DIR checks "
                       "every submission under DIR (its run untouched, this student's, this "
                       "exercise's) and grades it into a CSV; maillab course diagnose DIR "
                       "--students LIST runs each student's diagnose lab (a broken relay "
                       "drawn by the key) into DIR/ID.")
    s.add_argument("what", choices=("init", "grade", "diagnose"))
    s.add_argument("folder", nargs="?", metavar="DIR", help="grade: the folder of handed-in "
                   "report directories (each with its submission.json); diagnose: where "
                   "the labs go")
    s.add_argument("--students", metavar="ID,ID,...", help="diagnose: the students")
    s.add_argument("--key", metavar="PATH", help="the teacher key (default: "
                   "$MAILLAB_TEACHER_KEY, else ~/.config/maillab/teacher.key)")
    s.add_argument("--force", action="store_true", help="init: replace an existing key")
    s.add_argument("--csv", metavar="FILE", help="grade: write the CSV here (default: stdout)")
    s.set_defaults(func=_lazy("lab.cli.course", "cmd_course"))

    s = sub.add_parser("up", help="bring a lab up with all services and open the Mininet CLI")
    s.add_argument("topology", nargs="?", default="two_dc",
                   help="one_dc, two_dc or n_dc (default two_dc)")
    s.add_argument("--switch", default="lxbr", choices=SWITCH_KINDS,
                   help="Linux bridges (default) or Open vSwitch")
    s.add_argument("--dcs", type=int, default=4, help="n_dc: data centers")
    s.add_argument("--mx-per-dc", type=int, default=4, help="n_dc: messaging servers per DC")
    _cluster_arguments(s)
    s.add_argument("--relay", choices=RELAY_SERVERS, metavar="SERVER", default="maillab",
                   help="what runs the relay host: maillab (default) or postfix (a private "
                        "Postfix: retries after 1 s, at most 1 s apart, 1 s connect timeout)")
    s.add_argument("--mx", choices=RELAY_SERVERS, metavar="SERVER", default="maillab",
                   help="what runs the messaging servers: maillab (default) or postfix")
    web_options.add_arguments(s, actions=True)
    s.set_defaults(func=_lazy("lab.cli.up", "cmd_up"))

    from lab.cli.cluster import add_parser as add_cluster_parser
    add_cluster_parser(sub).set_defaults(func=_lazy("lab.cli.cluster", "cmd_cluster"))

    s = sub.add_parser("bench", help="benchmarks, side by side with Postfix")
    s.add_argument("what", choices=("relay", "memory", "scale"),
                   help="relay: our relay and Postfix side by side; memory: peak memory of "
                        "mx and the relay receiving 1, 10 and 50 concurrent 10 MB messages; "
                        "scale: n_dc labs of growing size up and down, what each costs")
    s.add_argument("--messages", type=int, default=2000)
    s.add_argument("--sessions", default=[10], type=_session_counts, metavar="S[,S...]",
                   help="concurrent sessions (a list runs one round each; default 10)")
    s.add_argument("--size", type=int, default=4096, metavar="BYTES")
    s.add_argument("--receivers", type=int, default=None, metavar="N",
                   help="our relay's receiving processes (its --receivers; default: the "
                        "number of cores)")
    s.add_argument("--backlog", type=int, default=0, metavar="N",
                   help="instead: the next hop down while N messages arrive, then back "
                        "(ingest, memory, restart and drain, side by side with Postfix)")
    bench_scale_arguments(s)
    _cluster_arguments(s)
    s.set_defaults(func=_lazy("lab.cli.bench", "cmd_bench"))
    return p


def _session_counts(text):
    """``10`` or ``10,50``: a list of positive session counts."""
    try:
        counts = [int(word) for word in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("not a list of numbers: %r" % text) from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("session counts must be 1 or more: %r" % text)
    return counts


def main(argv=None):
    args = build_parser().parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    from lab.host.interrupt import run_command
    from lab.host.ovs import OVSUnavailable
    try:
        return run_command("maillab %s" % args.command, args.func, args) or 0
    except OVSUnavailable as e:     # --switch ovs where Open vSwitch cannot run: say how
        print("maillab %s: %s" % (args.command, e), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
