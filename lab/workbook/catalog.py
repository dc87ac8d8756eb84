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

and, optionally: ``tier`` (where the exercise sits in the course: 1 TCP faults,
2 MX fallback, 3 durability, 4 recovery, 5 capstone), ``grade = "verdict"``
(the verdict on the scenario's claims is graded too: a build task),
``concept`` (the idea it teaches, as
a student names it), ``[[vary]]`` (what differs from student to student,
lab/workbook/variation.py) and ``[[predictions]]`` (questions asked before
the run, ``maillab exercise N --predict``; the same keys as ``[[answers]]``,
plus ``choices = [...]`` for a multiple-choice one)::

    [[predictions]]
    key = "relay_used"
    question = "Will any message go through the relay?"
    choices = ["yes", "no"]
    compute = "yes_if"            # the observed value, from the run
    args = {event = "queued", service = "relay"}
"""
import dataclasses
import glob
import os
import tomllib

from lab import ROOT
from lab.scenarios import model as scenarios
from lab.workbook import variation
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
    choices: list = dataclasses.field(default_factory=list)   # predictions: multiple choice


TIERS = {1: "TCP faults", 2: "MX fallback", 3: "durability", 4: "recovery", 5: "capstone"}
GRADES = ("answers", "verdict", "diagnosis")
# verdict: the scenario's claims count too (a build task); diagnosis: the student names
# the broken relay the teacher's key drew for them (lab/workbook/diagnose.py)


@dataclasses.dataclass
class Diagnosis:
    question: str
    choices: list
    broken: str          # the folder of broken relays, one file per choice (teacher only)

    def file_of(self, choice):
        return os.path.join(self.broken, choice.replace(" ", "_") + ".py")

# What each claim (docs/design.md, claims 1-19) is about, as a student names it.
CLAIM_CONCEPTS = {
    "1a": "direct delivery by MX", "1": "backup MX", "9": "DNS steers around a dead server",
    "2": "asking for a replacement server", "10": "asking for a replacement server",
    "14": "asking for a replacement server", "6": "replacement only after retries failed",
    "3": "re-routing to the new server", "11": "re-routing to the new server",
    "4": "rewriting stored next hops", "12": "rewriting stored next hops",
    "5": "retry with backoff", "13": "retry with backoff",
    "7": "store-and-forward: flush on recovery", "15": "store-and-forward: flush on recovery",
    "8": "delivery to the new server", "16": "delivery to the new server",
    "17": "relay and server on one switch", "18": "failover to another data center",
    "19": "re-creation in place (same name, IP, MAC)"}


def claims_by_concept(claims):
    """"backup MX (claim 1), ..." : each concept once, its claim numbers as reference."""
    order, numbers = [], {}
    for c in claims:
        concept = CLAIM_CONCEPTS.get(str(c), "claim %s" % c)
        if concept not in numbers:
            order.append(concept)
            numbers[concept] = []
        numbers[concept].append(str(c))
    return ", ".join("%s (claim%s %s)" % (k, "s" if len(numbers[k]) > 1 else "",
                                         ", ".join(numbers[k])) for k in order)


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
    tier: int = 0
    concept: str = ""
    varied: list = dataclasses.field(default_factory=list)        # [variation.Varied]
    predictions: list = dataclasses.field(default_factory=list)   # [Question]
    grade: str = "answers"
    diagnosis: object = None    # Diagnosis, for grade = "diagnosis"

    @property
    def builds_policy(self):
        """The student hands in a retry policy the relay runs (the build capstone)."""
        return bool(self.scenario.relay.retry_policy)

    @property
    def teacher_notes(self):
        return os.path.join(self.directory, "teacher.md")

    @property
    def tier_name(self):
        return TIERS.get(self.tier, "")

    @property
    def readme(self):
        return os.path.join(self.directory, "README.md")

    @property
    def scenario_path(self):
        return os.path.join(self.directory, "scenario.toml")

    @property
    def faults(self):
        return sorted({f.name for f in self.scenario.faults})


def _question(path, i, data, table="answers"):
    where = "%s: %s[%d]" % (path, table, i)
    allowed = {"key", "question", "compute", "args", "tolerance"}
    if table == "predictions":
        allowed.add("choices")
    unknown = set(data) - allowed
    if unknown:
        raise ExerciseError("%s: unknown keys %s" % (where, ", ".join(sorted(unknown))))
    for k in ("key", "question", "compute"):
        if not isinstance(data.get(k), str) or not data[k]:
            raise ExerciseError("%s.%s: missing" % (where, k))
    if data["compute"] not in FUNCTIONS:
        raise ExerciseError("%s.compute: no answer function %r" % (where, data["compute"]))
    choices = data.get("choices", [])
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        raise ExerciseError("%s.choices: a list of strings" % where)
    return Question(data["key"], data["question"], data["compute"], dict(data.get("args", {})),
                    float(data.get("tolerance", 0)), list(choices))


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
    predictions = [_question(path, i, q, "predictions")
                   for i, q in enumerate(data.get("predictions", []))]
    for qs in (questions, predictions):
        keys = [q.key for q in qs]
        if len(set(keys)) != len(keys):
            raise ExerciseError("%s: an answer key is used twice" % path)
    try:
        scenario = scenarios.load(os.path.join(directory, "scenario.toml"))
    except scenarios.ScenarioError as e:
        raise ExerciseError(str(e)) from None
    try:
        varied = variation.parse(path, data.get("vary", []))
        for v in varied:            # every value must make a lab the scenario accepts
            for value in v.values:
                variation.apply(scenario, {v.parameter: value})
    except variation.VariationError as e:
        raise ExerciseError("%s: %s" % (path, e)) from None
    tier = int(data.get("tier", 0))
    if tier and tier not in TIERS:
        raise ExerciseError("%s: tier must be one of %s" % (path, ", ".join(map(str, TIERS))))
    grade = data.get("grade", "answers")
    if grade not in GRADES:
        raise ExerciseError("%s: grade must be one of %s" % (path, ", ".join(GRADES)))
    diagnosis = None
    if grade == "diagnosis":
        d = data.get("diagnosis") or {}
        if not d.get("question") or not d.get("choices") or not d.get("broken"):
            raise ExerciseError("%s: [diagnosis] needs question, choices and broken" % path)
        diagnosis = Diagnosis(d["question"], list(d["choices"]),
                              os.path.join(directory, d["broken"]))
        if os.path.isdir(diagnosis.broken):      # not in a student's copy
            missing = [c for c in diagnosis.choices if not os.path.exists(diagnosis.file_of(c))]
            if missing:
                raise ExerciseError("%s: no broken relay for %s in %s"
                                    % (path, ", ".join(missing), diagnosis.broken))
    return Exercise(int(number), name, data.get("title", name), directory,
                    int(data.get("minutes", 30)), int(data.get("seed", 1)), questions, scenario,
                    tier, data.get("concept", ""), varied, predictions, grade, diagnosis)


def load_all(directory=EXERCISE_DIR):
    return [load_dir(d) for d in sorted(glob.glob(os.path.join(directory, "[0-9]*-*")))
            if os.path.isdir(d)]


def in_course_order(exercises):
    """Tier by tier (TCP faults, MX fallback, durability, recovery), by number within one."""
    return sorted(exercises, key=lambda e: (e.tier or 99, e.number))


@dataclasses.dataclass
class StudentLab:
    """The lab one student runs for one exercise: its seed, the values that vary,
    and the scenario with them."""
    student: str
    seed: int
    parameters: dict
    scenario: object

    def as_dict(self, exercise):
        return {"number": exercise.number, "name": exercise.name, "student": self.student,
                "seed": self.seed, "parameters": dict(self.parameters),
                "your_lab": variation.describe(exercise.varied, self.parameters)}


def with_policy(lab, path):
    """``lab`` with the relay running the retry policy in ``path``."""
    import copy
    scenario = copy.deepcopy(lab.scenario)
    scenario.relay.retry_policy = os.path.abspath(path)
    return dataclasses.replace(lab, scenario=scenario)


def student_lab(exercise, student):
    """``student``'s lab for ``exercise`` (``student`` None: the exercise's own, the
    same for everyone)."""
    if student is None:
        return StudentLab(None, exercise.seed, {}, exercise.scenario)
    student = variation.normal_student(student)
    params = variation.parameters(exercise.name, exercise.varied, student)
    return StudentLab(student, variation.seed(exercise.name, student), params,
                      variation.apply(exercise.scenario, params))


def load(number, directory=EXERCISE_DIR):
    for d in sorted(glob.glob(os.path.join(directory, "%02d-*" % int(number)))):
        return load_dir(d)
    known = ", ".join(str(e.number) for e in load_all(directory))
    raise ExerciseError("no exercise %s (known: %s)" % (number, known))
