"""``maillab exercises`` and ``maillab exercise N | answers N | solve N | check N``."""
import os
import shutil
import sys

from lab.report.files import report_folder
from lab.report.whereabouts import where_to_open
from lab.workbook import catalog
from lab.workbook import grading
from lab.workbook import predictions
from lab.workbook import submission
from lab.workbook import teacher_key
from lab.workbook import variation
from lab.evidence import saved_run

ACTIONS = ("answers", "solve", "check")


def cmd_exercises(args):
    try:
        exercises = catalog.load_all()
    except catalog.ExerciseError as e:
        print("maillab exercises: %s" % e, file=sys.stderr)
        return 2
    rows = [("tier", "N", "title", "concept", "faults", "time")] + [
        ("%d %s" % (e.tier, e.tier_name) if e.tier else "-", str(e.number), e.title,
         e.concept or "-", ", ".join(e.faults) or "-", "%d min" % e.minutes)
        for e in catalog.in_course_order(exercises)]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("%-*s  %*s  %-*s  %-*s  %-*s  %s" % (widths[0], r[0], widths[1], r[1], widths[2],
                                                  r[2], widths[3], r[3], widths[4], r[4], r[5]))
    print("\nIn tiers: TCP faults, then MX fallback, durability, recovery, capstones. Run one: "
          "maillab exercise N --student ID   (worksheets: %s/NN-name/README.md)"
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
              % (exercise.number, rel(report_dir)),
              "  (check writes %s: hand in the whole report directory)"
              % rel(os.path.join(report_dir, submission.FILE))]
    return "\n".join(lines)


def _run(exercise, args):
    """The exercise's scenario through the same run as ``maillab run`` (and its live
    page with ``--web``); with ``--student``, that student's lab."""
    from lab.scenarios.run import run
    from lab.web.server import hold, live_view
    if args.student is not None and (args.seed is not None or args.messages is not None):
        print("maillab exercise: with --student, the seed and the message count follow from "
              "the student ID (leave out --seed and --messages)", file=sys.stderr)
        return 2
    if exercise.diagnosis is not None:
        print("maillab exercise: exercise %d's labs are made by your teacher (maillab course "
              "diagnose): answer from the report directory you were given" % exercise.number,
              file=sys.stderr)
        return 2
    try:
        lab = catalog.student_lab(exercise, args.student)
    except variation.VariationError as e:
        print("maillab exercise: %s" % e, file=sys.stderr)
        return 2
    relay = getattr(args, "relay", None)
    suffix = ("-" + lab.student if lab.student else "") + \
        ("-" + relay if relay and relay != lab.scenario.relay.server else "")
    report_dir = args.report or report_folder("exercise-%s%s" % (exercise.name, suffix))
    seed = lab.seed if args.seed is None else args.seed
    if seed != lab.seed:
        lab.seed = seed
    print("Exercise %d: %s (seed %d; worksheet %s)" % (
        exercise.number, exercise.title, seed, _shown(exercise.readme)))
    if lab.student:
        print("Your lab, student %s:" % lab.student)
        for line in variation.describe(exercise.varied, lab.parameters) or [
                "(the same as everyone's)"]:
            print("  your %s" % line)
    if getattr(args, "policy", None):
        if not exercise.builds_policy:
            print("maillab exercise: exercise %d runs no student policy (--policy is for the "
                  "build capstone)" % exercise.number, file=sys.stderr)
            return 2
        os.makedirs(report_dir, exist_ok=True)
        copy = os.path.join(report_dir, "policy.py")      # handed in with the run
        try:
            shutil.copyfile(args.policy, copy)
        except OSError as e:
            print("maillab exercise: --policy %s: %s" % (args.policy, e.strerror),
                  file=sys.stderr)
            return 2
        lab = catalog.with_policy(lab, copy)
        print("The relay runs your retry policy: %s" % _shown(copy))
    if args.predict:
        if os.path.exists(os.path.join(report_dir, "report.json")):
            print("maillab exercise: %s already holds a run; predictions go before a new "
                  "one (another --report DIR)" % report_dir, file=sys.stderr)
            return 2
        given = predictions.ask(exercise, input, sys.stdout)
        path = predictions.write(report_dir, exercise, given)
        print("\n%d predictions recorded in %s before the run" % (len(given), _shown(path)))
    with live_view(args, "exercise %d" % exercise.number) as view:
        verdict, _ = run(lab.scenario, messages=args.messages, seed=seed,
                         report_dir=report_dir, out=sys.stdout, web=view, relay_server=relay,
                         annotate=lambda d: predictions.exercise_section(exercise, lab, d))
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


def _teacher(args, command):
    """True with the teacher key; else says why and False."""
    try:
        teacher_key.load(args.key)
        return True
    except teacher_key.NoTeacherKey as e:
        print("maillab exercise %s: %s" % (command, e), file=sys.stderr)
        return False


def _solve(exercise, args):
    if not _teacher(args, "solve"):
        return 2
    run = _load_run(args, "solve")
    if run is None:
        return 2
    for q, value in zip(exercise.questions, grading.solve(exercise, run).values()):
        shown = "(not in this run's evidence)" if value is None else repr(value)
        tol = "  (within %g)" % q.tolerance if q.tolerance else ""
        print("%s = %s%s\n    # %s" % (q.key, shown, tol, q.question))
    return 0


def _check(exercise, args):
    """The run must be this exercise's (and this student's, with --student); the
    answers are written as a submission beside it. Right or wrong is shown only
    with the teacher key: without it, check is no oracle to try answers on."""
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
    about = submission.run_exercise(run.report)
    notes = submission.belongs(exercise, run.report, args.student)
    if about.get("name") != exercise.name or (args.student and about.get("student")
                                              != args.student):
        print("maillab exercise check: %s: %s" % (args.report, notes[0]), file=sys.stderr)
        return 2
    unknown = grading.unknown_keys(exercise, given)
    for key in unknown:
        print("%-13s %s: no such question in exercise %d" % ("UNKNOWN", key, exercise.number))
    path = submission.write(args.report, submission.make(
        exercise, run, {k: v for k, v in given.items() if k not in unknown}))
    answered = sum(1 for q in exercise.questions if given.get(q.key) not in ("", None))
    print("%d of %d answered; submission written: %s (hand in the report directory)"
          % (answered, len(exercise.questions), _shown(path)))
    for problem in notes:
        print("note: %s" % problem)
    try:
        teacher_key.load(args.key)
    except teacher_key.NoTeacherKey:
        print("Right or wrong is your teacher's to say (maillab course grade).")
        return 0
    rows = grading.grade(exercise, grading.solve(exercise, run), given)
    for q, status, _ in rows:
        print("%-13s %s: %s" % (status.upper(), q.key, q.question))
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
