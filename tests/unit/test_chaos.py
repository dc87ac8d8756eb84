"""A chaos run's own check (servers that died by themselves) and the --runs table."""
import types

from lab.scenarios import model as scenario
from lab.chaos.runs import SERVERS_ALIVE, ChaosRun, Outcome
from lab.cli.chaos import table
from lab.cli.run import error_verdict
from tests.unit.run_fixtures import relay_failover_run


class FakeService:
    def __init__(self, name, alive, last_words=""):
        self.name, self._alive, self.last_words = name, alive, last_words

    def alive(self):
        return self._alive

    def stderr(self):
        return self.last_words


def chaos_run(tmp_path, faults_toml=""):
    s = scenario.parse('name = "c"\ntopology = "one_dc"\n' + faults_toml)
    run = ChaosRun(s, report_dir=str(tmp_path))
    run.lab = types.SimpleNamespace(services={
        "dns1": FakeService("dns", True),
        "relay1": FakeService("relay", False, "listening on 25\nTraceback: boom\nKeyError: 'x'"),
        "mx1": FakeService("mx", False, "killed")})
    return run


def test_a_server_that_exited_by_itself_fails_the_run(tmp_path):
    run = chaos_run(tmp_path, '[[faults]]\nname = "destroy"\nargs = ["mx1"]\n')
    run.dead = run._dead_servers()
    assert run.dead == ["relay@relay1: KeyError: 'x'"]      # mx1's host was destroyed
    evidence, _ = relay_failover_run(tmp_path)
    v = run._verdict(evidence)
    (check,) = [c for c in v.checks if c.name == SERVERS_ALIVE]
    assert not check.ok and not v.ok and "relay@relay1" in check.detail


def test_every_server_running_passes_that_check(tmp_path):
    run = chaos_run(tmp_path)
    run.lab.services = {"dns1": FakeService("dns", True)}
    run.dead = run._dead_servers()
    evidence, _ = relay_failover_run(tmp_path)
    v = run._verdict(evidence)
    assert [c.ok for c in v.checks if c.name == SERVERS_ALIVE] == [True]


def test_runs_table_and_summary_line(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    passed = chaos_run(tmp_path)
    passed.dead = []
    ok = passed._verdict(evidence)
    s = scenario.parse('name = "c"\ntopology = "one_dc"\n[[faults]]\nname = "cut"\n'
                       'args = ["mx1:s1"]\nfor = 2\n')
    outcomes = [Outcome(1, s, ok, 1, "d1"),
                Outcome(2, s, error_verdict(RuntimeError("relay did not come back")), 0, "d2")]
    text = table(outcomes).splitlines()
    assert text[0] == "| seed | faults injected | messages | lost | duplicates | verdict |"
    assert text[2] == "| 1 | 1/1 | %d | 0 | 0 | PASS |" % ok.sent
    assert text[3] == "| 2 | 0/1 | 0 | 0 | 0 | FAIL: ran |"
    assert text[-1].startswith("2 runs: 1 passed, 1 failed (seeds 2); 1 faults injected")
