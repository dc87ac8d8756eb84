"""A student's answers against the answers computed from the run: the blank
answers file, reading a filled one, and the comparison (numbers within the
question's tolerance; names, addresses and MACs compared case- and
separator-insensitively)."""
import tomllib

from lab.workbook.answers import compute

RIGHT, WRONG, UNANSWERED, NO_EVIDENCE = "right", "wrong", "not answered", "not in this run"
DIAGNOSIS, EXPLANATION = "diagnosis", "evidence"     # the diagnose capstone's answers


def template(exercise):
    """The blank answers file: ``key = ""`` under each question, as a comment."""
    lines = ["# Exercise %d: %s" % (exercise.number, exercise.title),
             "# Fill in each value (a number or a \"string\"), then:",
             "#   maillab exercise check %d --report REPORT_DIR --answers THIS_FILE"
             % exercise.number, ""]
    for q in exercise.questions:
        lines.append("# %s" % q.question)
        lines.append('%s = ""' % q.key)
        lines.append("")
    if exercise.diagnosis is not None:
        lines.append("# %s One of: %s" % (exercise.diagnosis.question,
                                         ", ".join(exercise.diagnosis.choices)))
        lines.append('%s = ""' % DIAGNOSIS)
        lines.append("# Why: the evidence that shows it (events, pcaps, report), in a sentence "
                     "or two")
        lines.append('%s = ""' % EXPLANATION)
        lines.append("")
    return "\n".join(lines)


def parse(text, path="answers"):
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError("%s: not a key = value file: %s" % (path, e)) from None


def solve(exercise, run):
    """{key: computed answer or None} for every question of ``exercise``."""
    return {q.key: compute(run, q.compute, q.args) for q in exercise.questions}


def _normal(value):
    text = str(value).strip().strip(".").lower()
    return text.replace("-", ":") if text.count("-") == 5 else text


def matches(expected, given, tolerance=0.0):
    if isinstance(expected, bool) or not isinstance(expected, (int, float)):
        return _normal(expected) == _normal(given)
    try:
        number = float(given)
    except (TypeError, ValueError):
        return False
    return abs(number - expected) <= tolerance + 1e-9


def grade(exercise, computed, given):
    """[(question, status, computed value)] in the exercise's order."""
    rows = []
    for q in exercise.questions:
        want, have = computed.get(q.key), given.get(q.key, "")
        if want is None:
            status = NO_EVIDENCE
        elif have == "" or have is None:
            status = UNANSWERED
        else:
            status = RIGHT if matches(want, have, q.tolerance) else WRONG
        rows.append((q, status, want))
    return rows


def unknown_keys(exercise, given):
    keys = {q.key for q in exercise.questions}
    if exercise.diagnosis is not None:
        keys |= {DIAGNOSIS, EXPLANATION}
    return sorted(k for k in given if k not in keys)
