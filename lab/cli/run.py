"""``maillab scenarios``, ``maillab run SCENARIO|all`` and ``maillab demo``."""
import os
import sys

from lab.cli.cluster import cluster_of
from lab.report.files import report_folder
from lab.report.whereabouts import where_to_open
from lab.scenarios import model as scenarios
from lab.scenarios.model import CLAIMS, ScenarioError
from lab.verdict.model import error_verdict
from lab.web.server import hold, live_view


def cmd_scenarios(args):
    try:
        loaded = scenarios.load_all()
    except ScenarioError as e:
        print("maillab scenarios: %s" % e, file=sys.stderr)
        return 2
    width = max(len(s.name) for s in loaded)
    for s in loaded:
        first = s.description.split(". ")[0].replace("\n", " ")
        print("%-*s  claims %-28s %s" % (width, s.name, ", ".join(s.claims) or "-",
                                         first.rstrip(".") + "."))
    return 0


def run_one(s, args, report_dir, out=sys.stdout, web=None):
    from lab.scenarios.run import run
    watched = {"web": web} if web is not None else {}
    cluster = cluster_of(args, s)
    if cluster is not None:
        watched["lab_options"] = {"cluster": cluster}
    if getattr(args, "relay", None):
        watched["relay_server"] = args.relay
    if getattr(args, "sender", None):
        watched["sender_server"] = args.sender
    if getattr(args, "mx", None):
        watched["mx_server"] = args.mx
    return run(s, messages=args.messages, seed=args.seed, report_dir=report_dir, out=out,
               switch=getattr(args, "switch", "lxbr"), **watched)



def coverage_table(results):
    """Markdown: claim x scenario x verdict, then the timings of each scenario.

    ``results``: [(Scenario, Verdict)]."""
    names = [s.name for s, _ in results]
    lines = ["| claim | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names)]
    for claim in CLAIMS:
        cells = []
        for s, v in results:
            if claim not in s.claims:
                cells.append("")
                continue
            checks = [c for c in v.checks if c.claim == claim]
            outcomes = {c.outcome for c in checks} - {"INFO"}
            cells.append("FAIL" if "FAIL" in outcomes or not checks else
                         "INCONCLUSIVE" if "INCONCLUSIVE" in outcomes else "PASS")
        if any(cells):
            lines.append("| %s | %s |" % (claim, " | ".join(cells)))
    lines.append("| **run** | %s |" % " | ".join(
        "**%s**" % v.outcome for _, v in results))
    lines += ["", "| scenario | ok | sent | delivered | lost | dup | failover s | "
              "recovery_drain s | recreate s | total s |", "|---|---|---|---|---|---|---|---|---|---|"]

    def f(x):
        return "" if x is None else "%.2f" % x
    for s, v in results:
        t = v.timings
        lines.append("| %s | %s | %d | %d | %d | %d | %s | %s | %s | %s |" % (
            s.name, "yes" if v.ok else "NO" if v.outcome == "FAIL" else "inconclusive",
            v.sent, v.delivered, v.lost, v.duplicates,
            f(t.get("failover")), f(t.get("recovery_drain")), f(t.get("recreate")),
            f(t.get("total"))))
    return "\n".join(lines)


EXIT_FAIL, EXIT_INCONCLUSIVE = 1, 3     # 2: a usage error (argparse, an unknown scenario)


def exit_code(verdicts):
    """0 if every run passed, 1 if one failed, 3 if none failed but one was
    INCONCLUSIVE (the run could not show a claim either way)."""
    outcomes = {v.outcome for v in verdicts}
    return EXIT_FAIL if "FAIL" in outcomes else EXIT_INCONCLUSIVE \
        if "INCONCLUSIVE" in outcomes else 0


def cmd_run(args):
    with live_view(args, "run %s" % args.scenario) as view:
        rc = _cmd_run(args, view)
        hold(view)
    return rc


def _plan_of(scenario):
    from lab.testbed.mail_lab import make_topology
    return make_topology(scenario.topology).plan


def _cmd_run(args, web):
    try:
        chosen = scenarios.load_all() if args.scenario == "all" else \
            [scenarios.load(args.scenario)]
        for s in chosen:
            cluster_of(args, s, _plan_of(s))
    except (ScenarioError, ValueError) as e:
        print("maillab run: %s" % e, file=sys.stderr)
        return 2
    if args.scenario != "all":
        verdict, paths = run_one(chosen[0], args,
                                 args.report or report_folder(chosen[0].name), web=web)
        for line in where_to_open(paths["report.html"]):
            print(line)
        return exit_code([verdict])
    base = args.report or report_folder("all")
    results = []
    for s in chosen:
        try:
            verdict, _ = run_one(s, args, os.path.join(base, s.name), web=web)
        except Exception as e:   # one broken scenario must not hide the others' verdicts
            print("%s: ERROR %s: %s" % (s.name, type(e).__name__, e), file=sys.stderr)
            verdict = error_verdict(e)
        results.append((s, verdict))
    table = coverage_table(results)
    os.makedirs(base, exist_ok=True)
    with open(os.path.join(base, "coverage.md"), "w") as f:
        f.write(table + "\n")
    print()
    print(table)
    return exit_code([v for _, v in results])


def cmd_demo(args):
    with live_view(args, "demo %s" % args.scenario) as view:
        rc = _cmd_demo(args, view)
        hold(view)
    return rc


def _cmd_demo(args, web):
    try:
        s = scenarios.load(args.scenario)
    except ScenarioError as e:
        print("maillab demo: %s" % e, file=sys.stderr)
        return 2
    print(s.description)
    print()
    verdict, paths = run_one(s, args, args.report or report_folder(s.name), web=web)
    print()
    with open(paths["report.md"], encoding="utf-8") as f:
        print(f.read())
    print("Plots: %s (the whole run), %s (each message)"
          % (paths["aggregate.png"], paths["timeline.png"]))
    print("Open in a browser: %s" % paths["report.html"])
    for line in where_to_open(paths["report.html"]):
        print(line)
    return exit_code([verdict])
