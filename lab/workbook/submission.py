"""Answers bound to the run they answer: the digest of a run's evidence, the
submission file ``maillab exercise check`` writes beside it, and the checks
``maillab course grade`` makes on it before grading.

A submission is ``submission.json`` in the report directory; a student hands
in the whole directory. It holds the student's answers, the student ID, the
exercise and the digest of the evidence files as they were when the student
checked. Grading re-reads the directory and refuses a submission when

- the digest of its files is not the one recorded (a file was changed);
- the run is not this exercise's, or not this student's (report.json's
  ``exercise`` section);
- its seed or its varied parameters are not the ones the student's ID gives
  (lab/workbook/variation.py), or the sender's Message-IDs (which carry the
  seed) are not the seed's: a classmate's run with the ID edited fails here;
- another submission in the folder has the same digest (the same run handed
  in twice).

The digest is a plain SHA-256: it tells a changed file from an untouched one
and binds the answers to one run; the seed and parameters, which follow
from the student ID, tie the run to the student.
"""
import hashlib
import json
import os
import re
import time

from lab.workbook import catalog
from lab.workbook import variation

FILE = "submission.json"
EVIDENCE = ("report.json", "events.jsonl", "ledger.jsonl", "queue.jsonl", "predictions.json",
            "policy.py")
MSGID = re.compile(r"^<(?P<client>[^-<>]+)-(?P<seed>\d+)-\d+@maillab>$")


def evidence_files(directory):
    """The files a digest covers, relative to ``directory``, sorted."""
    names = [n for n in EVIDENCE if os.path.isfile(os.path.join(directory, n))]
    pcaps = os.path.join(directory, "pcaps")
    if os.path.isdir(pcaps):
        names += ["pcaps/" + n for n in sorted(os.listdir(pcaps))
                  if os.path.isfile(os.path.join(pcaps, n))]
    return sorted(names)


def digest(directory):
    """"sha256:HEX" over the names and contents of the evidence files."""
    total = hashlib.sha256()
    for name in evidence_files(directory):
        h = hashlib.sha256()
        with open(os.path.join(directory, name), "rb") as f:
            for block in iter(lambda: f.read(1 << 16), b""):
                h.update(block)
        total.update(("%s\0%s\n" % (name, h.hexdigest())).encode())
    return "sha256:" + total.hexdigest()


def run_exercise(report):
    """report.json's ``exercise`` section (number, name, student, seed, parameters)."""
    return report.get("exercise") if isinstance(report.get("exercise"), dict) else {}


def make(exercise, run, given):
    """The submission of ``given`` answers for ``run`` (a RunFiles)."""
    about = run_exercise(run.report)
    return {"format": 1, "exercise": exercise.number, "name": exercise.name,
            "student": about.get("student"), "answers": dict(given),
            "predictions": {p["key"]: p.get("predicted") for p in about.get("predictions", [])},
            "digest": digest(run.directory),
            "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def write(directory, sub):
    path = os.path.join(directory, FILE)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(sub, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            sub = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError("%s: not a submission: %s" % (path, e)) from None
    if not isinstance(sub, dict) or not isinstance(sub.get("answers"), dict):
        raise ValueError("%s: not a submission (no answers)" % path)
    return sub


def belongs(exercise, report, student):
    """Problems that make ``report`` (report.json) not ``student``'s run of
    ``exercise``: [] when it is."""
    about = run_exercise(report)
    if not about:
        return ["the run is not an exercise's run (report.json has no exercise section)"]
    if about.get("name") != exercise.name:
        return ["the run is exercise %s's, not exercise %d's"
                % (about.get("number", "?"), exercise.number)]
    if about.get("student") is None:
        return ["the run is the class's shared lab, not a student's own "
                "(maillab exercise %d --student ID)" % exercise.number]
    if student is not None and about.get("student") != student:
        return ["the run is %s's, not %s's" % (about.get("student"), student)]
    lab = catalog.student_lab(exercise, about["student"])
    problems = []
    if about.get("seed") != lab.seed or report.get("seed") != lab.seed:
        problems.append("its seed is not the one of student %s" % lab.student)
    if about.get("parameters") != lab.parameters:
        problems.append("its parameters are not the ones of student %s" % lab.student)
    wanted = exercise.scenario.relay.server
    if report.get("relay_server", "maillab") != wanted:
        problems.append("its relay host ran %s, the exercise's runs %s (a comparison run "
                        "with --relay is not the one to hand in)"
                        % (report.get("relay_server"), wanted))
    return problems


def foreign_message_ids(ledger, seed):
    """Message-IDs in the sender's ledger that another seed made."""
    out = []
    for row in ledger:
        m = MSGID.match(str(row.get("msgid", "")))
        if m is None or int(m.group("seed")) != seed:
            out.append(row.get("msgid"))
    return out


def problems(exercise, run, sub):
    """Why ``sub`` (a submission) is not a true submission for ``run``: [] if it is."""
    found = []
    if sub.get("name") != exercise.name:
        found.append("the submission is for %s, not %s" % (sub.get("name"), exercise.name))
    try:
        student = variation.normal_student(sub.get("student"))
    except variation.VariationError:
        student = None
        found.append("the submission names no student")
    found += belongs(exercise, run.report, student)
    if not found:
        seed = run_exercise(run.report)["seed"]
        foreign = foreign_message_ids(run.ledger, seed)
        if foreign:
            found.append("%d Message-IDs in the ledger are not of this run's seed (%s)"
                         % (len(foreign), foreign[0]))
    if digest(run.directory) != sub.get("digest"):
        found.append("the evidence files changed since the answers were checked "
                     "(digest differs)")
    return found
