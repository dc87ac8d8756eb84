"""``maillab chaos``: seeded random fault schedules, their verdicts, and for a
failing one the smallest schedule that still fails (see lab.chaos)."""
import os
import sys

from lab.report.files import report_folder
from lab.chaos import schedule as chaos_schedule
from lab.chaos.schedule import ChaosError
from lab.chaos.shrink import MAX_RUNS as SHRINK_RUNS


def table(outcomes):
    """Markdown: one row per seed, then a summary line."""
    lines = ["| seed | faults injected | messages | lost | duplicates | verdict |",
             "|---|---|---|---|---|---|"]
    for o in outcomes:
        v = o.verdict
        lines.append("| %d | %d/%d | %d | %d | %d | %s |" % (
            o.seed, o.injected, len(o.schedule.faults), v.sent, v.lost, v.duplicates,
            "PASS" if v.ok else "FAIL: " + ", ".join(
                c.name for c in v.checks if not c.ok)))
    failed = [o.seed for o in outcomes if not o.verdict.ok]
    lines += ["", "%d runs: %d passed, %d failed%s; %d faults injected, %d messages accepted, "
              "%d lost, %d duplicates" % (
                  len(outcomes), len(outcomes) - len(failed), len(failed),
                  " (seeds %s)" % ", ".join(map(str, failed)) if failed else "",
                  sum(o.injected for o in outcomes), sum(o.verdict.sent for o in outcomes),
                  sum(o.verdict.lost for o in outcomes),
                  sum(o.verdict.duplicates for o in outcomes))]
    return "\n".join(lines)


def cmd_chaos(args):
    from lab.chaos.runs import chaos
    from lab.cli.cluster import cluster_of
    from lab.testbed.mail_lab import make_topology
    kinds = tuple(k.strip() for k in args.faults.split(",") if k.strip())
    if args.runs < 1:
        print("maillab chaos: --runs must be at least 1", file=sys.stderr)
        return 2
    try:
        topo = make_topology(args.topology)
        chaos_schedule.generate(topo, args.seed, args.duration, kinds, args.intensity,
                                args.messages)
        cluster = cluster_of(args, plan=topo.plan)
    except (ChaosError, ValueError) as e:
        print("maillab chaos: %s" % e, file=sys.stderr)
        return 2
    shrink_runs = args.shrink_runs if args.shrink_runs is not None else \
        (SHRINK_RUNS if args.runs == 1 else 0)
    base = args.report or report_folder("chaos-%s" % args.topology)
    outcomes = []
    for seed in range(args.seed, args.seed + args.runs):
        d = base if args.runs == 1 else os.path.join(base, "seed-%d" % seed)
        outcomes.append(chaos(topo, seed, d, duration=args.duration, kinds=kinds,
                              intensity=args.intensity, messages=args.messages,
                              shrink_runs=shrink_runs, out=sys.stdout,
                              switch=getattr(args, "switch", "lxbr"),
                              lab_options={"cluster": cluster} if cluster else None))
        if args.runs > 1:
            print("seed %d: %s" % (seed, "PASS" if outcomes[-1].verdict.ok else
                                   "FAIL; replay: maillab run %s --seed %d"
                                   % (os.path.join(d, "schedule.toml"), seed)), flush=True)
    if args.runs > 1:
        text = table(outcomes)
        with open(os.path.join(base, "chaos.md"), "w", encoding="utf-8") as f:
            f.write(text + "\n")
        print()
        print(text)
    return 0 if all(o.verdict.ok for o in outcomes) else 1
