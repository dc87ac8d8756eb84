"""``maillab course grade DIR``: every submission under a folder, checked
(lab/workbook/submission.py) and graded against its own run's evidence, as
rows of a CSV file."""
import csv
import os

from lab.evidence import saved_run
from lab.workbook import catalog
from lab.workbook import diagnose
from lab.workbook import grading
from lab.workbook import submission

COLUMNS = ("student", "exercise", "submission", "accepted", "right", "questions",
           "claims_held", "claims", "diagnosis", "predictions_right", "predictions", "problems")


def claims_held(exercise, report):
    """(claims of the scenario whose every check passed, claims) from report.json."""
    held = 0
    for claim in exercise.scenario.claims:
        checks = [c for c in report.get("checks", []) if str(c.get("claim")) == claim
                  and c.get("kind") != "info"]
        held += bool(checks) and all(c.get("ok") for c in checks)
    return held, len(exercise.scenario.claims)


def find(directory):
    """Paths of every submission file under ``directory``, sorted."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        if submission.FILE in files:
            found.append(os.path.join(root, submission.FILE))
    return found


def _row(path, directory, exercises, key):
    rel = os.path.relpath(path, directory)
    row = dict.fromkeys(COLUMNS, "")
    row.update(submission=rel, accepted="no", right=0, questions=0)
    try:
        sub = submission.read(path)
        row.update(student=sub.get("student") or "", exercise=sub.get("exercise", ""))
        exercise = exercises.get(int(sub.get("exercise")))
        if exercise is None:
            raise ValueError("no exercise %s" % sub.get("exercise"))
        run = saved_run.load(os.path.dirname(path))
    except (ValueError, TypeError, saved_run.NotARun) as e:
        row["problems"] = str(e)
        return row, None
    found = submission.problems(exercise, run, sub)
    row["questions"] = len(exercise.questions)
    predictions = submission.run_exercise(run.report).get("predictions", [])
    row["predictions"] = len(predictions)
    row["predictions_right"] = sum(1 for p in predictions if p.get("matches"))
    if found:
        row["problems"] = "; ".join(found)
        return row, sub.get("digest")
    rows = grading.grade(exercise, grading.solve(exercise, run), sub["answers"])
    row["right"] = sum(1 for _, status, _ in rows if status == grading.RIGHT)
    if exercise.grade == "verdict":
        row["claims_held"], row["claims"] = claims_held(exercise, run.report)
    if exercise.grade == "diagnosis":
        row["diagnosis"] = diagnose.grade(exercise, sub["student"], key, sub["answers"])
    row["accepted"] = "yes"
    return row, sub.get("digest")


def grade_folder(directory, key):
    """[row dict] for every submission under ``directory`` (``key``: the teacher
    key, which drew the diagnose capstone's broken relays). A run handed in more
    than once (the same digest) is noted on each; when it passes every check in
    more than one submission (one student handing in one run twice), none counts.
    A copy handed in under another ID fails its own checks, and the original
    keeps its grade."""
    exercises = {e.number: e for e in catalog.load_all()}
    graded = [_row(p, directory, exercises, key) for p in find(directory)]
    by_digest = {}
    for row, dig in graded:
        if dig:
            by_digest.setdefault(dig, []).append(row)
    for rows in by_digest.values():
        if len(rows) < 2:
            continue
        clean = [r for r in rows if r["accepted"] == "yes"]
        for row in rows:
            others = ", ".join(r["submission"] for r in rows if r is not row)
            if len(clean) > 1:
                row["accepted"], row["right"] = "no", 0
            row["problems"] = "; ".join(filter(None, [
                row["problems"], "the same run as %s" % others]))
    return [row for row, _ in graded]


def write_csv(rows, out):
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
