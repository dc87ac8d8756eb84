"""The exercises of the workbook: ``exercises/NN-name/`` in the repository, each
with ``README.md`` (the worksheet), ``scenario.toml`` (the run, a scenario of
its own) and ``exercise.toml`` (title, seed, and the questions whose answers
are computed from the run's evidence)::

    title = "Fallback to the backup MX"
    minutes = 30                  # class time, run and questions
    seed = 2
    [[answers]]
    key = "relay_held"            # the student's answers file uses this key
    question = "How many messages did the relay hold?"
    compute = "count"             # a function of lab/workbook/answers.py
    args = {event = "queued", service = "relay", distinct = true}
    tolerance = 0                 # numbers within this count as right
"""
import dataclasses
import glob
import os
import tomllib

from lab import ROOT
from lab.scenarios import model as scenarios
from lab.workbook.answers import FUNCTIONS

EXERCISE_DIR = os.path.join(ROOT, "exercises")


class ExerciseError(ValueError):
    pass


@dataclasses.dataclass
class Question:
    key: str
    question: str
    compute: str
    args: dict
    tolerance: float = 0.0


@dataclasses.dataclass
class Exercise:
    number: int
    name: str                 # the folder's name, "02-backup-mx"
    title: str
    directory: str
    minutes: int
    seed: int
    questions: list
    scenario: object          # lab.scenarios.model.Scenario

    @property
    def readme(self):
        return os.path.join(self.directory, "README.md")

    @property
    def scenario_path(self):
        return os.path.join(self.directory, "scenario.toml")

    @property
    def faults(self):
        return sorted({f.name for f in self.scenario.faults})


def _question(path, i, data):
    where = "%s: answers[%d]" % (path, i)
    unknown = set(data) - {"key", "question", "compute", "args", "tolerance"}
    if unknown:
        raise ExerciseError("%s: unknown keys %s" % (where, ", ".join(sorted(unknown))))
    for k in ("key", "question", "compute"):
        if not isinstance(data.get(k), str) or not data[k]:
            raise ExerciseError("%s.%s: missing" % (where, k))
    if data["compute"] not in FUNCTIONS:
        raise ExerciseError("%s.compute: no answer function %r" % (where, data["compute"]))
    return Question(data["key"], data["question"], data["compute"], dict(data.get("args", {})),
                    float(data.get("tolerance", 0)))


def load_dir(directory):
    name = os.path.basename(directory.rstrip("/"))
    number = name.split("-", 1)[0]
    if not number.isdigit():
        raise ExerciseError("%s: an exercise folder is named NN-name" % directory)
    path = os.path.join(directory, "exercise.toml")
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ExerciseError("%s: %s" % (path, e)) from None
    questions = [_question(path, i, q) for i, q in enumerate(data.get("answers", []))]
    keys = [q.key for q in questions]
    if len(set(keys)) != len(keys):
        raise ExerciseError("%s: an answer key is used twice" % path)
    try:
        scenario = scenarios.load(os.path.join(directory, "scenario.toml"))
    except scenarios.ScenarioError as e:
        raise ExerciseError(str(e)) from None
    return Exercise(int(number), name, data.get("title", name), directory,
                    int(data.get("minutes", 30)), int(data.get("seed", 1)), questions, scenario)


def load_all(directory=EXERCISE_DIR):
    return [load_dir(d) for d in sorted(glob.glob(os.path.join(directory, "[0-9]*-*")))
            if os.path.isdir(d)]


def load(number, directory=EXERCISE_DIR):
    for d in sorted(glob.glob(os.path.join(directory, "%02d-*" % int(number)))):
        return load_dir(d)
    known = ", ".join(str(e.number) for e in load_all(directory))
    raise ExerciseError("no exercise %s (known: %s)" % (number, known))
