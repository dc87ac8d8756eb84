"""The shrinker, with fake runners whose failures are known exactly."""
import dataclasses

from lab.chaos.schedule import generate
from lab.testbed.mail_lab import make_topology
from lab.chaos.shrink import ddmin, shrink


@dataclasses.dataclass
class Check:
    name: str
    ok: bool


@dataclasses.dataclass
class Verdict:
    ok: bool
    checks: list


def verdict(lost):
    return Verdict(not lost, [Check("nothing lost", not lost), Check("queue drained", True)])


class FakeRunner:
    """Loses mail when every fault in ``culprits`` (by name and arguments) is in
    the schedule, and ``also(scenario)`` holds."""

    def __init__(self, culprits, also=lambda s: True):
        self.culprits, self.also, self.runs = culprits, also, []

    def __call__(self, s):
        self.runs.append(s)
        present = {(f.name, tuple(f.args)) for f in s.faults}
        return verdict(self.culprits <= present and self.also(s))


def schedule(seed=4, intensity=3.0):
    return generate(make_topology("two_dc"), seed, duration=60, intensity=intensity)


def ident(f):
    return (f.name, tuple(f.args))


def test_ddmin_finds_a_known_subset():
    for culprit in ({3}, {0, 17}, {2, 5, 11}, set(range(20))):
        tests = []

        def fails(sub):
            tests.append(sub)
            return culprit <= set(sub)
        assert sorted(ddmin(list(range(20)), fails)) == sorted(culprit)


def test_finds_exactly_the_failing_subset_of_faults():
    s = schedule()
    assert len(s.faults) >= 15
    culprits = {ident(s.faults[2]), ident(s.faults[9]), ident(s.faults[15])}
    runner = FakeRunner(culprits)
    result = shrink(s, runner(s), runner, max_runs=200)
    assert {ident(f) for f in result.scenario.faults} == culprits
    assert not result.verdict.ok and not result.exhausted
    assert result.runs == len(runner.runs) - 1     # the first call was the original run


def test_a_failure_without_faults_shrinks_to_no_faults():
    s = schedule()
    runner = FakeRunner(set())
    result = shrink(s, runner(s), runner, max_runs=200)
    assert result.scenario.faults == [] and result.runs >= 1


def test_times_durations_and_message_count_shrink_too():
    s = schedule()
    bad = s.faults[5]
    # fails only while the bad fault is held at least 1 s and 30 or more messages go out
    runner = FakeRunner({ident(bad)}, also=lambda c: c.traffic.count >= 30 and any(
        ident(f) == ident(bad) and f.duration >= 1.0 for f in c.faults))
    result = shrink(s, runner(s), runner, max_runs=200)
    (f,) = result.scenario.faults     # its planned start and length: no clock is read
    assert f.at == 0.0
    assert 1.0 <= f.duration < 2.0            # halving again would go below 1 s
    assert 30 <= result.scenario.traffic.count < 60
    assert not result.exhausted


def test_the_budget_bounds_the_reruns_and_keeps_the_best_so_far():
    s = schedule()
    runner = FakeRunner({ident(s.faults[3])})
    result = shrink(s, runner(s), runner, max_runs=4)
    assert result.runs == 4 and len(runner.runs) == 5 and result.exhausted
    assert ident(s.faults[3]) in {ident(f) for f in result.scenario.faults}
    assert len(result.scenario.faults) < len(s.faults)


def test_another_failure_is_not_the_same_failure():
    s = schedule()
    culprit = ident(s.faults[1])

    def runner(c):   # without the culprit it fails, but on another check
        if culprit in {ident(f) for f in c.faults}:
            return verdict(lost=True)
        return Verdict(False, [Check("nothing lost", True), Check("queue drained", False)])
    result = shrink(s, runner(s), runner, max_runs=200)
    assert [ident(f) for f in result.scenario.faults] == [culprit]
