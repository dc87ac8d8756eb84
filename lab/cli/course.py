"""``maillab course init`` and ``maillab course grade DIR``: the teacher's commands."""
import sys

from lab.workbook import course_grade
from lab.workbook import teacher_key


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


def _grade(args):
    if not args.folder:
        print("maillab course grade: which folder? (the students' report directories, "
              "each with its submission.json)", file=sys.stderr)
        return 2
    rows = course_grade.grade_folder(args.folder)
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


def cmd_course(args):
    if args.what == "init":
        return _init(args)
    try:
        teacher_key.load(args.key)
    except teacher_key.NoTeacherKey as e:
        print("maillab course %s: %s" % (args.what, e), file=sys.stderr)
        return 2
    return _grade(args)
