"""``maillab course init``, ``maillab course grade DIR`` and ``maillab course diagnose
DIR --students ...``: the teacher's commands."""
import sys

from lab.workbook import catalog
from lab.workbook import course_grade
from lab.workbook import diagnose
from lab.workbook import predictions
from lab.workbook import teacher_key
from lab.workbook import variation


def _init(args):
    try:
        path = teacher_key.create(args.key, force=args.force)
    except (FileExistsError, OSError) as e:
        print("maillab course init: %s" % e, file=sys.stderr)
        return 1
    print("teacher key written: %s (mode 600: only you can read it)\n"
          "Keep it from students: maillab exercise solve, the right/wrong of "
          "maillab exercise check and maillab course grade need it." % path)
    return 0


def _grade(args, key):
    if not args.folder:
        print("maillab course grade: which folder? (the students' report directories, "
              "each with its submission.json)", file=sys.stderr)
        return 2
    rows = course_grade.grade_folder(args.folder, key)
    if not rows:
        print("maillab course grade: no %s under %s" % (course_grade.submission.FILE,
                                                          args.folder), file=sys.stderr)
        return 1
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as f:
            course_grade.write_csv(rows, f)
    else:
        course_grade.write_csv(rows, sys.stdout)
    refused = sum(1 for r in rows if r["accepted"] != "yes")
    print("%d submissions graded, %d refused%s" % (len(rows), refused,
                                                  " -> %s" % args.csv if args.csv else ""),
          file=sys.stderr)
    return 0


def _diagnose(args, key):
    """One lab per student for the diagnose capstone, each with the broken relay the
    teacher key draws for the student; their report directories to hand out."""
    from lab.scenarios.run import run
    exercise = next((e for e in catalog.load_all() if e.diagnosis is not None), None)
    if exercise is None:
        print("maillab course diagnose: no diagnose exercise in the workbook", file=sys.stderr)
        return 2
    students = [s for s in (args.students or "").split(",") if s.strip()]
    if not args.folder or not students:
        print("maillab course diagnose: DIR --students ID,ID,... (the labs go to DIR/ID)",
              file=sys.stderr)
        return 2
    try:
        students = [variation.normal_student(s) for s in students]
    except variation.VariationError as e:
        print("maillab course diagnose: %s" % e, file=sys.stderr)
        return 2

    def one(lab, report_dir):
        verdict, _ = run(lab.scenario, seed=lab.seed, report_dir=report_dir, out=sys.stdout,
                         annotate=lambda d: predictions.exercise_section(exercise, lab, d))
        return verdict
    done = diagnose.run_labs(exercise, students, key, args.folder, one, sys.stdout)
    print("\n%d labs for exercise %d: hand each student their folder: %s"
          % (len(done), exercise.number, ", ".join(sorted(done.values()))))
    return 0


def cmd_course(args):
    if args.what == "init":
        return _init(args)
    try:
        key = teacher_key.load(args.key)
    except teacher_key.NoTeacherKey as e:
        print("maillab course %s: %s" % (args.what, e), file=sys.stderr)
        return 2
    if args.what == "diagnose":
        return _diagnose(args, key)
    return _grade(args, key)
