"""Predictions recorded before the run (``maillab exercise N --predict``): the
worksheet's prediction questions asked at the terminal, written to
``predictions.json`` in the report directory before the lab starts, and
set against what the run showed (computed by the same answer functions as
the checked questions) in report.json, report.html and the submission."""
import json
import os
import time

from lab.evidence.wire import read_frames
from lab.evidence.saved_run import RunFiles
from lab.workbook import grading
from lab.workbook.answers import compute
from servers.common.events import read_events

FILE = "predictions.json"


def ask(exercise, read_line, out):
    """{key: answer} for every prediction question, asked one by one;
    ``read_line(prompt)`` returns what was typed (``input``). A multiple-choice
    question takes a choice's number or its text; another a number (or a name,
    an address); an empty answer is asked again, EOF leaves the rest unanswered."""
    given = {}
    if exercise.predictions:
        print("Predict before you run (exercise %d): %d questions"
              % (exercise.number, len(exercise.predictions)), file=out)
    for i, q in enumerate(exercise.predictions, 1):
        print("\n%d. %s" % (i, q.question), file=out)
        for n, choice in enumerate(q.choices, 1):
            print("   %d) %s" % (n, choice), file=out)
        while True:
            try:
                text = read_line("> ").strip()
            except EOFError:
                return given
            value = _accept(q, text)
            if value is not None:
                given[q.key] = value
                break
            print("   %s" % ("a number from 1 to %d, or the choice itself" % len(q.choices)
                             if q.choices else "an answer, please"), file=out)
    return given


def _accept(q, text):
    if not text:
        return None
    if q.choices:
        if text.isdigit() and 1 <= int(text) <= len(q.choices):
            return q.choices[int(text) - 1]
        return next((c for c in q.choices if c.lower() == text.lower()), None)
    try:
        number = float(text)
    except ValueError:
        return text                     # a name or an address
    return int(number) if number.is_integer() else number


def write(directory, exercise, given):
    """predictions.json, fsynced, before the run starts."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, FILE)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"exercise": exercise.name, "recorded": time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "predictions": given}, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    return path


def read(directory):
    path = os.path.join(directory, FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f).get("predictions", {})


def evidence_so_far(directory, report=None):
    """The run's evidence as it stands in ``directory`` before report.json is
    written (the run keeps it there: events, ledger, queue, pcaps)."""
    def jsonl(name):
        path = os.path.join(directory, name)
        return read_events(path) if os.path.exists(path) else []
    packets = []
    pcaps = os.path.join(directory, "pcaps")
    for name in sorted(os.listdir(pcaps)) if os.path.isdir(pcaps) else []:
        if name.endswith(".pcap"):
            packets += read_frames(os.path.join(pcaps, name), name)
    packets.sort(key=lambda p: p.ts)
    return RunFiles(directory, report or {}, sorted(jsonl("events.jsonl"),
                                                    key=lambda e: e.get("ts", 0)),
                    jsonl("ledger.jsonl"), jsonl("queue.jsonl"), packets)


def compared(exercise, run, given):
    """[{key, question, choices, predicted, observed, matches}] for every prediction
    question; ``given`` None: none were made."""
    rows = []
    for q in exercise.predictions:
        try:
            observed = compute(run, q.compute, q.args)
        except (KeyError, ValueError, TypeError):
            observed = None
        predicted = (given or {}).get(q.key)
        rows.append({"key": q.key, "question": q.question, "choices": list(q.choices),
                     "predicted": predicted, "observed": observed,
                     "matches": bool(predicted is not None and observed is not None
                                     and grading.matches(observed, predicted, q.tolerance))})
    return rows


def exercise_section(exercise, lab, report_dir):
    """report.json's ``exercise`` section for a run of ``lab`` (catalog.StudentLab):
    who, the seed, the varied values, and each prediction (from predictions.json
    in ``report_dir``) against what the run showed."""
    section = lab.as_dict(exercise)
    given = read(report_dir)
    if given is not None:
        section["predictions"] = compared(exercise, evidence_so_far(report_dir), given)
    return {"exercise": section}
