"""The diagnose capstone: each student gets a lab whose relay is broken in one
of several ways, drawn from a teacher-only set, and names what is broken
from the evidence.

The set is a folder of retry policies (``[diagnosis] broken`` in the
exercise's ``exercise.toml``), one file per choice the student picks from,
each with one thing wrong. The draw is an HMAC-SHA256 of the exercise and
the student ID under the teacher key: reproducible by the teacher at grading
time, and not computable by a student. The teacher runs the labs
(``maillab course diagnose N --students ID,ID``) and hands each student their
report directory; the policy is run from a neutral copy (``policy.py`` in a
temporary folder), so neither its name nor its path is in the evidence.
"""
import hashlib
import hmac
import os
import shutil
import tempfile

from lab.workbook import catalog
from lab.workbook import grading


def drawn(exercise, student, key):
    """The choice (a diagnosis) drawn for ``student`` under the teacher ``key``."""
    choices = exercise.diagnosis.choices
    mac = hmac.new(key, ("diagnose\0%s\0%s" % (exercise.name, student)).encode(),
                   hashlib.sha256).digest()
    return choices[int.from_bytes(mac[:8], "big") % len(choices)]


def broken_lab(exercise, student, key, workdir):
    """(StudentLab with the drawn broken relay, the choice): the policy is copied to
    ``workdir``/policy.py."""
    choice = drawn(exercise, student, key)
    copy = os.path.join(workdir, "policy.py")
    shutil.copyfile(exercise.diagnosis.file_of(choice), copy)
    return catalog.with_policy(catalog.student_lab(exercise, student), copy), choice


def run_labs(exercise, students, key, out_dir, run, out):
    """One lab per student, each into ``out_dir``/ID; ``run(lab, report_dir)`` runs
    one and returns its verdict. Returns {student: report_dir}."""
    done = {}
    for student in students:
        workdir = tempfile.mkdtemp(prefix="maillab-diagnose-")
        try:
            lab, _ = broken_lab(exercise, student, key, workdir)
            report_dir = os.path.join(out_dir, lab.student)
            print("diagnose lab for %s -> %s" % (lab.student, report_dir), file=out)
            run(lab, report_dir)
            done[lab.student] = report_dir
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return done


def grade(exercise, student, key, given):
    """RIGHT, WRONG or UNANSWERED for the student's ``diagnosis`` answer."""
    answer = str(given.get(grading.DIAGNOSIS, "") or "").strip()
    if not answer:
        return grading.UNANSWERED
    return grading.RIGHT if grading.matches(drawn(exercise, student, key), answer) \
        else grading.WRONG
