"""Shrink a failing schedule to a small one that still fails the same way.

``shrink(scenario, verdict, run, max_runs)`` reduces, in this order, the
faults (delta debugging, Zeller's ddmin: drop halves, then complements, then
finer pieces), each remaining fault's start and how long it is held, and the
message count. ``run(scenario)`` runs a candidate and returns its verdict; a
candidate "still fails" when one of the checks that failed the original
fails again (so a reduction cannot slide to some other failure). At most
``max_runs`` candidates run; the result is the smallest failing schedule seen
by then. No I/O here: the runner does that.
"""
import dataclasses

MAX_RUNS = 12      # re-runs a reduction may take, by default
TIME_STEP = 0.1    # seconds: starts and durations are rounded to this


class _OutOfRuns(Exception):
    pass


@dataclasses.dataclass
class Shrunk:
    scenario: object     # the smallest schedule that still failed
    verdict: object      # its verdict (the original's when nothing smaller failed)
    runs: int            # candidates run
    exhausted: bool      # the budget ran out before the reduction was done


def failed_checks(verdict):
    return {c.name for c in verdict.checks if not c.ok}


class _Reducer:
    def __init__(self, scenario, verdict, run, max_runs):
        self.best, self.best_verdict = scenario, verdict
        self.target = failed_checks(verdict)
        self.run, self.max_runs, self.runs = run, max_runs, 0
        self.seen = {}

    def fails(self, candidate):
        key = _key(candidate)
        if key not in self.seen:
            if self.runs >= self.max_runs:
                raise _OutOfRuns()
            self.runs += 1
            v = self.run(candidate)
            failed = not v.ok and bool(failed_checks(v) & self.target)
            self.seen[key] = failed
            if failed:
                self.best, self.best_verdict = candidate, v
        return self.seen[key]

    def with_faults(self, faults):
        return dataclasses.replace(self.best, faults=list(faults))

    def faults(self):
        items = list(self.best.faults)
        if items and self.fails(self.with_faults([])):
            return
        ddmin(items, lambda sub: self.fails(self.with_faults(sub)))

    def times(self):
        for i in range(len(self.best.faults)):
            for field in ("at", "duration"):
                self._lower(i, field)

    def _lower(self, i, field):
        """Halve one fault's start (or hold) while the schedule still fails;
        a start goes to 0 first, a hold never below one step."""
        floor = 0.0 if field == "at" else TIME_STEP
        value = getattr(self.best.faults[i], field)
        tries = [0.0] if field == "at" and value > 0 else []
        while value > floor:
            value = max(floor, round(value / 2 / TIME_STEP) * TIME_STEP)
            tries.append(round(value, 3))
        for value in tries:
            if getattr(self.best.faults[i], field) <= value:
                continue
            faults = list(self.best.faults)
            faults[i] = dataclasses.replace(faults[i], **{field: value})
            if not self.fails(self.with_faults(faults)):
                break

    def count(self):
        traffic = self.best.traffic
        count = traffic.count
        while count > 1:
            count //= 2
            candidate = dataclasses.replace(
                self.best, traffic=dataclasses.replace(traffic, count=count))
            if not self.fails(candidate):
                return
            traffic = self.best.traffic


def _key(s):
    return (s.traffic.count, tuple((f.name, tuple(f.args), f.at, f.duration, f.restart)
                                   for f in s.faults))


def ddmin(items, fails):
    """A 1-minimal sublist of ``items`` for which ``fails`` holds (it holds for all)."""
    n = 2
    while len(items) >= 2:
        size = len(items)
        chunks = [items[size * k // n:size * (k + 1) // n] for k in range(n)]
        for k, chunk in enumerate(chunks):
            if fails(chunk):
                items, n = chunk, 2
                break
            rest = [x for j, c in enumerate(chunks) if j != k for x in c]
            if n > 2 and fails(rest):
                items, n = rest, max(n - 1, 2)
                break
        else:
            if n >= size:
                break
            n = min(size, 2 * n)
    return items


def shrink(scenario, verdict, run, max_runs=MAX_RUNS):
    """The smallest schedule (from ``scenario``, which failed with ``verdict``)
    that ``run`` still fails in the same way, within ``max_runs`` runs."""
    r = _Reducer(scenario, verdict, run, max_runs)
    exhausted = False
    try:
        r.faults()
        r.times()
        r.count()
    except _OutOfRuns:
        exhausted = True
    return Shrunk(r.best, r.best_verdict, r.runs, exhausted)
