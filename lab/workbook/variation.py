"""A different lab per student: the seed and the values an exercise's answers
depend on, derived from the student's ID and the exercise.

An exercise declares what may vary, each within a range that keeps the
exercise's story (``exercise.toml``)::

    [[vary]]
    parameter = "relay.retry_interval"   # SECTION.KEY, faults.N.KEY or faults.N.args.I
    values = [0.3, 0.4, 0.5, 0.6, 0.7]
    name = "retry interval"              # the worksheet says "your retry interval"
    unit = "s"

Each choice is a SHA-256 of (exercise folder, student ID, parameter), so it
needs no secret: a student runs the lab on any machine, and a teacher
re-derives every student's parameters and seed when grading, from the ID
alone. A student who runs the lab under a classmate's ID does the
classmate's exercise; one who copies a classmate's files hands in a run
whose seed, Message-IDs and parameters are not the ones of their own ID
(lab/workbook/submission.py checks that).
"""
import copy
import dataclasses
import hashlib

SEED_BASE, SEED_SPAN = 1000, 900000     # student seeds; the exercises' own are 1-13


class VariationError(ValueError):
    pass


@dataclasses.dataclass
class Varied:
    parameter: str           # "relay.retry_interval", "faults.0.for", "faults.0.args.2"
    values: list
    name: str
    unit: str = ""


def parse(path, entries):
    """[Varied] from exercise.toml's ``[[vary]]`` tables."""
    out = []
    for i, data in enumerate(entries):
        where = "%s: vary[%d]" % (path, i)
        unknown = set(data) - {"parameter", "values", "name", "unit"}
        if unknown:
            raise VariationError("%s: unknown keys %s" % (where, ", ".join(sorted(unknown))))
        values = data.get("values")
        if not isinstance(values, list) or len(values) < 2:
            raise VariationError("%s.values: a list of at least two values" % where)
        for k in ("parameter", "name"):
            if not isinstance(data.get(k), str) or not data[k]:
                raise VariationError("%s.%s: missing" % (where, k))
        out.append(Varied(data["parameter"], list(values), data["name"], data.get("unit", "")))
    return out


def _digest(*parts):
    return int.from_bytes(hashlib.sha256("\0".join(("maillab",) + parts).encode()).digest()[:8],
                          "big")


def normal_student(student):
    student = (student or "").strip()
    if not student or len(student) > 64 or not all(c.isalnum() or c in "._-@" for c in student):
        raise VariationError("a student ID is 1-64 letters, digits or . _ - @, not %r" % student)
    return student


def seed(exercise_name, student):
    return SEED_BASE + _digest("seed", exercise_name, student) % SEED_SPAN


def parameters(exercise_name, varied, student):
    """{parameter: value} for ``student``."""
    return {v.parameter: v.values[_digest("vary", exercise_name, student, v.parameter)
                                   % len(v.values)] for v in varied}


def _target(scenario, parameter):
    """(object or dict, attribute or key) that ``parameter`` names in a Scenario."""
    parts = parameter.split(".")
    if parts[0] == "faults" and len(parts) == 4 and parts[2] == "args" and parts[3].isdigit():
        fault = _target(scenario, ".".join(parts[:3]))[0]
        if int(parts[3]) >= len(fault.args):
            raise VariationError("%s: the fault has %d arguments" % (parameter, len(fault.args)))
        return fault.args, int(parts[3])
    if parts[0] == "faults" and len(parts) == 3 and parts[1].isdigit():
        faults = scenario.faults
        if int(parts[1]) >= len(faults):
            raise VariationError("%s: the scenario has %d faults" % (parameter, len(faults)))
        return faults[int(parts[1])], "duration" if parts[2] == "for" else parts[2]
    if len(parts) == 3 and parts[:2] == ["provisioner", "capacity"]:
        return scenario.provisioner.capacity, parts[2]
    if len(parts) == 2 and parts[0] in ("traffic", "dns", "relay", "expect"):
        return getattr(scenario, parts[0]), parts[1]
    raise VariationError("%s: not a value a student's lab can vary" % parameter)


def apply(scenario, params):
    """A copy of ``scenario`` with ``params`` set; the original is left as it was."""
    varied = copy.deepcopy(scenario)
    for parameter, value in params.items():
        target, attribute = _target(varied, parameter)
        if isinstance(target, dict):
            target[attribute] = value
        elif isinstance(target, list):          # a fault's arguments: strings
            target[attribute] = str(value)
        elif not hasattr(target, attribute):
            raise VariationError("%s: no such scenario value" % parameter)
        else:
            old = getattr(target, attribute)
            setattr(target, attribute, type(old)(value) if isinstance(old, (int, float))
                    and not isinstance(old, bool) else value)
    relay = varied.relay
    if relay.max_retry_interval < relay.retry_interval:
        raise VariationError("max_retry_interval %g < retry_interval %g"
                             % (relay.max_retry_interval, relay.retry_interval))
    return varied


def describe(varied, params):
    """["retry interval: 0.6 s", ...] as a student reads them."""
    return ["%s: %s%s" % (v.name, _shown(params[v.parameter]), " " + v.unit if v.unit else "")
            for v in varied if v.parameter in params]


def _shown(value):
    return "%g" % value if isinstance(value, float) else str(value)
