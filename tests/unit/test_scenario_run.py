import io
import json

import pytest

from lab.scenarios import model as scenario
from lab.scenarios.run import Schedule, progress_line, relay_args, sender_args, split_count
from lab.scenarios.model import fault_plan


def test_schedule_starts_and_stops_on_time():
    sched = Schedule(fault_plan(scenario.load("relay-failover"), 1))   # 0.3 after first_sent
    anchors = {"start": 0.0}
    assert sched.due(5.0, anchors) == ([], [])       # nothing sent yet: nothing to break
    anchors["first_sent"] = 0.2
    assert sched.due(0.4, anchors) == ([], [])
    start, stop = sched.due(0.5, anchors)
    assert [p.name for _, p in start] == ["blackhole"] and stop == []
    sched.mark_started(start[0][0], 0.5)
    assert sched.due(6.4, anchors) == ([], [])
    assert not sched.settled() and len(sched.active()) == 1
    start, stop = sched.due(6.5, anchors)
    assert start == [] and [p.name for _, p in stop] == ["blackhole"]
    sched.mark_stopped(stop[0][0], 6.5)
    assert sched.settled() and sched.active() == []


def test_schedule_waits_for_its_anchor():
    sched = Schedule(fault_plan(scenario.load("partition"), 1))
    start, _ = sched.due(100.0, {"start": 0.0})
    assert [p.name for _, p in start] == ["destroy"]
    sched.mark_started(start[0][0], 0.0)
    assert sched.settled() is False
    assert [p.name for p in sched.never_started()] == ["partition"]
    start, _ = sched.due(3.4, {"start": 0.0, "created": 3.0})
    assert start == []
    start, _ = sched.due(3.5, {"start": 0.0, "created": 3.0})
    assert [p.name for _, p in start] == ["partition"]
    sched.mark_started(start[0][0], 3.7)       # in force 0.2 s after it was due
    assert sched.due(5.1, {"start": 0.0, "created": 3.0})[1] == []
    _, stop = sched.due(5.2, {"start": 0.0, "created": 3.0})
    assert [p.name for _, p in stop] == ["partition"]   # held for its full 1.5 s


def test_a_fault_without_end_is_settled_once_started():
    sched = Schedule(fault_plan(scenario.load("remote-failover"), 1))
    (i, p), = sched.due(0.0, {"start": 0.0})[0]
    sched.mark_started(i, 0.0)
    assert sched.settled() and sched.due(99, {"start": 0.0}) == ([], [])


def test_command_lines_from_the_scenario():
    s = scenario.load("recreate")
    assert relay_args(s, ["-v"]) == [
        "--retry-interval", "1.0", "--max-retry-interval", "1.0", "--connect-timeout", "1.0",
        "--command-timeout", "5.0", "--provision-after", "3.0",
        "--provision-action", "recreate:mx1", "-v"]
    assert "--provision-after" not in relay_args(scenario.load("direct"))
    args = sender_args(s, "client1", 12, 5)
    assert args[args.index("--seed") + 1] == "5" and args[args.index("--msgid-prefix") + 1] == "client1"


def test_split_count_and_progress():
    assert split_count(5, ["a", "b"]) == [("a", 3), ("b", 2)]
    line = progress_line(3.25, "traffic", 4, 16, 2, 2, ["blackhole mx1"])
    assert line == "[   3.2s] traffic   sent 4/16  delivered 2  queued 2  faults: blackhole mx1"


def test_coverage_table_marks_each_claim(tmp_path):
    from lab.verdict import claims as checker
    from lab.cli.run import coverage_table
    from tests.unit.run_fixtures import relay_failover_run
    evidence, _ = relay_failover_run(tmp_path)
    good = checker.check(evidence)
    evidence.events = [e for e in evidence.events if e["event"] != "deferred"]
    bad = checker.check(evidence)
    s = evidence.scenario
    table = coverage_table([(s, good), (s, bad)])
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in table.splitlines() if line.startswith("| ")}
    assert rows["5"] == ["PASS", "FAIL"]
    assert rows["17"] == ["PASS", "PASS"]
    assert rows["**run**"] == ["**PASS**", "**FAIL**"]
    assert "2" not in rows    # no scenario here exercises claim 2
    timing_rows = [l for l in table.splitlines() if l.startswith("| relay-failover |")]
    assert [r.split("|")[2].strip() for r in timing_rows] == ["yes", "NO"]


def test_maillab_scenarios_lists_claims(capsys):
    from lab.cli.maillab import main
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("relay-failover"))
    assert "1, 5, 7, 9, 13, 15, 17" in line


def test_health_checked_dns_settings_reach_the_health_file(tmp_path):
    import tomllib
    from lab.testbed.mail_lab import Lab
    lab = Lab("one_dc", dns_health={"interval": 0.5, "timeout": 0.4, "ttl": 1})
    lab.rundir = str(tmp_path)
    lab._write_dns_files()
    with open(lab.health_file, "rb") as f:
        health = tomllib.load(f)
    assert (health["interval"], health["timeout"], health["ttl"]) == (0.5, 0.4, 1)
    assert health["mx"][0]["name"] == "example.org."


def test_demo_and_run_print_the_story_and_exit_on_the_verdict(tmp_path, capsys, monkeypatch):
    from lab.report import files as report
    from lab.scenarios import run as scenario_run
    from lab.verdict import claims as checker
    from lab.cli.maillab import main
    from tests.unit.run_fixtures import relay_failover_run
    evidence, _ = relay_failover_run(tmp_path)
    verdict = checker.check(evidence)

    def fake_run(s, messages=None, seed=1, report_dir=None, out=None, switch="lxbr"):
        assert s.name == "relay-failover" and seed == 4
        return verdict, report.write(report_dir, s, verdict, evidence, seed=seed)
    monkeypatch.setattr(scenario_run, "run", fake_run)
    assert main(["demo", "--seed", "4", "--report", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert "# relay-failover: PASSED" in out and "## Timeline" in out
    assert "timeline.png" in out
    verdict.ok = False
    assert main(["run", "relay-failover", "--seed", "4", "--report", str(tmp_path / "r")]) == 1
    assert (tmp_path / "r" / "report.json").exists()


def test_a_run_stopped_before_its_lab_was_up_still_writes_a_report_marked_interrupted(tmp_path):
    import contextlib
    import signal

    from lab.host import interrupt
    from lab.scenarios import model as scenario
    from lab.scenarios.run import Run

    @contextlib.contextmanager
    def stopped_while_starting(s, relay_argv):
        raise interrupt.Interrupted(signal.SIGTERM)
        yield
    run = Run(scenario.load("relay-failover"), report_dir=str(tmp_path), out=io.StringIO(),
              lab_factory=stopped_while_starting)
    with pytest.raises(interrupt.Interrupted):
        run.execute()
    with open(tmp_path / "report.json") as f:
        rep = json.load(f)
    assert rep["interrupted"] == "SIGTERM before traffic started"
    assert (rep["ok"], rep["sent"], rep["delivered"]) == (False, 0, 0)
    assert any(c["name"] == "run finished" and not c["ok"] for c in rep["checks"])
    assert (tmp_path / "report.md").read_text().startswith("# relay-failover: INTERRUPTED")


def test_a_restarted_server_is_probed_from_its_own_host(tmp_path, monkeypatch):
    """A partition may still cut the clients off from a server that a kill fault
    restarts; it is back all the same, and the run must go on (found by chaos)."""
    import types

    from lab.scenarios import model as scenario
    from lab.testbed import services
    from lab.scenarios.run import Run

    class Relay:
        host = "relay1 node"

        def __init__(self):
            self.started = 0

        def alive(self):
            return False

        def start(self):
            self.started += 1
    relay = Relay()
    probed = []
    monkeypatch.setattr(services, "wait_ready",
                        lambda svcs, probe_from, timeout: probed.append((svcs, probe_from)))
    run = Run(scenario.load("relay-crash"), report_dir=str(tmp_path), out=io.StringIO())
    run.lab = types.SimpleNamespace(services={"relay1": relay}, probe_host="client1 node")
    run.started = 0.0
    run._restart("relay@relay1")
    assert relay.started == 1 and probed == [([relay], "relay1 node")]


def test_a_fault_that_came_late_gets_more_traffic():
    """A slow machine: the black hole due at 0.4 s came into force at 2.9 s,
    after the senders were done at 2.5 s. The run sends more mail for it (once);
    a fault in force at 0.6 s, or one due only after the traffic, gets none."""
    from lab.scenarios.model import PlannedFault
    from lab.scenarios.run import TOP_UP_OVERLAP, Schedule
    plan = [PlannedFault("blackhole", ["mx1"], "first_sent", 0.3, 6.3),
            PlannedFault("cut", ["mx1"], "start", 10.0, 12.0),
            PlannedFault("kill", ["relay@relay1"], "traffic_done", 0.5, 1.5)]
    anchors = {"start": 0.0, "first_sent": 0.1}
    s = Schedule(plan)
    s.due(0.5, anchors)
    s.mark_started(0, 2.9)
    assert [i for i, _ in s.late(2.5, TOP_UP_OVERLAP)] == [0]
    assert s.late(2.5, TOP_UP_OVERLAP, done={0}) == []
    s = Schedule(plan)
    s.due(0.5, anchors)
    s.mark_started(0, 0.6)
    assert s.late(2.5, TOP_UP_OVERLAP) == []
    s.mark_started(1, 10.1)
    s.mark_started(2, 3.1)
    assert s.late(2.5, TOP_UP_OVERLAP) == []


def test_a_late_fault_waits_for_the_new_mail_then_lasts_its_stated_time():
    """On an emulated VM the black hole came into force at 18.9 s, after the
    traffic; the extra sender took 15 s to start, and a fault counted from
    18.9 s was over before any of its mail arrived. Held, it lasts its 6 s
    from the moment the new mail met it."""
    from lab.scenarios.model import PlannedFault
    plan = [PlannedFault("blackhole", ["mx1"], "first_sent", 0.3, 6.3)]
    anchors = {"start": 0.0, "first_sent": 0.1}
    s = Schedule(plan)
    s.due(0.5, anchors)
    s.mark_started(0, 18.9)
    s.hold(0)
    assert s.due(40.0, anchors) == ([], [])          # held: not stopped, however long
    assert not s.settled() and len(s.active()) == 1
    assert s.release(33.0) == [0] and not s.held
    assert s.due(38.9, anchors)[1] == []
    assert [i for i, _ in s.due(39.0, anchors)[1]] == [0]
