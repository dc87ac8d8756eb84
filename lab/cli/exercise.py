"""``maillab exercises`` and ``maillab exercise N | answers N | solve N | check N``."""
import os
import sys

from lab.report.files import report_folder
from lab.report.whereabouts import where_to_open
from lab.workbook import catalog
from lab.workbook import grading
from lab.evidence import saved_run

ACTIONS = ("answers", "solve", "check")


def cmd_exercises(args):
    try:
        exercises = catalog.load_all()
    except catalog.ExerciseError as e:
        print("maillab exercises: %s" % e, file=sys.stderr)
        return 2
    rows = [("N", "title", "claims", "faults", "time")] + [
        (str(e.number), e.title, ", ".join(e.scenario.claims) or "(nothing lost)",
         ", ".join(e.faults) or "-", "%d min" % e.minutes) for e in exercises]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("%*s  %-*s  %-*s  %-*s  %s" % (widths[0], r[0], widths[1], r[1], widths[2], r[2],
                                              widths[3], r[3], r[4]))
    print("\nRun one: maillab exercise N   (worksheets: %s/NN-name/README.md)"
          % _shown(catalog.EXERCISE_DIR))
    return 0


def _shown(path):
    """A path as a student types it: relative below the current directory, else absolute."""
    rel = os.path.relpath(path)
    return os.path.abspath(path) if rel.startswith("..") else rel


def where_to_look(exercise, report_dir):
    """What a student opens after the run."""
    rel = _shown
    lines = ["", "Exercise %d: %s" % (exercise.number, exercise.title),
             "  worksheet:  %s" % rel(exercise.readme),
             "  report:     %s" % rel(os.path.join(report_dir, "report.md"))]
    html = os.path.join(report_dir, "report.html")
    if os.path.exists(html):
        lines.append("  in a browser: %s" % rel(html))
    for name, what in (("aggregate.png", "the run:   "), ("timeline.png", "timeline:  ")):
        if os.path.exists(os.path.join(report_dir, name)):
            lines.append("  %s %s" % (what, rel(os.path.join(report_dir, name))))
    pcaps = sorted(os.listdir(os.path.join(report_dir, "pcaps"))) \
        if os.path.isdir(os.path.join(report_dir, "pcaps")) else []
    for p in pcaps:
        lines.append("  pcap:       %s" % rel(os.path.join(report_dir, "pcaps", p)))
    lines += ["", "Answer the questions:",
              "  maillab exercise answers %d > answers.toml   # then fill it in" % exercise.number,
              "  maillab exercise check %d --report %s --answers answers.toml"
              % (exercise.number, rel(report_dir))]
    return "\n".join(lines)


def _run(exercise, args):
    """The exercise's scenario through the same run as ``maillab run`` (and its live
    page with ``--web``)."""
    from lab.scenarios.run import run
    from lab.web.server import hold, live_view
    report_dir = args.report or report_folder("exercise-%s" % exercise.name)
    args.seed = exercise.seed if args.seed is None else args.seed
    print("Exercise %d: %s (seed %d; worksheet %s)" % (
        exercise.number, exercise.title, args.seed, _shown(exercise.readme)))
    with live_view(args, "exercise %d" % exercise.number) as view:
        verdict, _ = run(exercise.scenario, messages=args.messages, seed=args.seed,
                         report_dir=report_dir, out=sys.stdout, web=view)
        print(where_to_look(exercise, report_dir))
        for line in where_to_open(os.path.join(report_dir, "report.html")):
            print(line)
        hold(view)
    return 0 if verdict.ok else 1


def _load_run(args, command):
    if not args.report:
        print("maillab exercise %s: --report DIR is needed (the run's report directory)"
              % command, file=sys.stderr)
        return None
    try:
        return saved_run.load(args.report)
    except saved_run.NotARun as e:
        print("maillab exercise %s: %s" % (command, e), file=sys.stderr)
        return None


def _solve(exercise, args):
    run = _load_run(args, "solve")
    if run is None:
        return 2
    for q, value in zip(exercise.questions, grading.solve(exercise, run).values()):
        shown = "(not in this run's evidence)" if value is None else repr(value)
        tol = "  (within %g)" % q.tolerance if q.tolerance else ""
        print("%s = %s%s\n    # %s" % (q.key, shown, tol, q.question))
    return 0


def _check(exercise, args):
    run = _load_run(args, "check")
    if run is None:
        return 2
    if not args.answers:
        print("maillab exercise check: --answers FILE is needed "
              "(maillab exercise answers %d prints a blank one)" % exercise.number,
              file=sys.stderr)
        return 2
    try:
        with open(args.answers, encoding="utf-8") as f:
            given = grading.parse(f.read(), args.answers)
    except (OSError, ValueError) as e:
        print("maillab exercise check: %s" % e, file=sys.stderr)
        return 2
    rows = grading.grade(exercise, grading.solve(exercise, run), given)
    for q, status, _ in rows:
        print("%-13s %s: %s" % (status.upper(), q.key, q.question))
    for key in grading.unknown_keys(exercise, given):
        print("%-13s %s: no such question in exercise %d" % ("UNKNOWN", key, exercise.number))
    right = sum(1 for _, s, _ in rows if s == grading.RIGHT)
    print("\n%d of %d right (checked against the evidence in %s)" % (right, len(rows),
                                                                    args.report))
    return 0 if right == len(rows) else 1


def cmd_exercise(args):
    what, number = args.what, args.number
    if what in ACTIONS:
        if number is None:
            print("maillab exercise %s: which exercise? (maillab exercises lists them)" % what,
                  file=sys.stderr)
            return 2
    elif number is not None or not what.isdigit():
        print("maillab exercise: N, or answers|solve|check N", file=sys.stderr)
        return 2
    try:
        exercise = catalog.load(number if what in ACTIONS else what)
    except (catalog.ExerciseError, ValueError) as e:
        print("maillab exercise: %s" % e, file=sys.stderr)
        return 2
    if what == "answers":
        print(grading.template(exercise))
        return 0
    if what == "solve":
        return _solve(exercise, args)
    if what == "check":
        return _check(exercise, args)
    return _run(exercise, args)
