"""Chaos runs for real: a short seeded run that passes, and a broken relay
that chaos catches and shrinks to a small schedule that fails the same way."""
import io
import json
import os
import signal

import pytest

from lab.scenarios import model as scenario
from lab.chaos.runs import SERVERS_ALIVE, chaos
from lab.testbed.mail_lab import make_topology
from tests.lab.test_signals import Command, assert_clean, machine, snapshot  # noqa: F401

pytestmark = pytest.mark.lab

# Test code only: the relay acknowledges mail, then drops it from its queue.
BROKEN_RELAY = {"relay_module": "tests.variants.relay_drops_queued"}   # tests/variants


def test_a_short_chaos_run_passes(clean_machine, tmp_path):
    out = io.StringIO()
    outcome = chaos(make_topology("two_dc"), 2, str(tmp_path), duration=30, out=out)
    print(out.getvalue())
    v = outcome.verdict
    assert v.ok, open(tmp_path / "report.md").read()
    assert v.sent > 0 and v.lost == 0 and v.duplicates == 0 and v.queued == 0
    assert outcome.injected == len(outcome.schedule.faults) >= 2
    assert [c.ok for c in v.checks if c.name == SERVERS_ALIVE] == [True]
    again = scenario.load(str(tmp_path / "schedule.toml"))    # what `maillab run` replays
    assert again.faults == outcome.schedule.faults
    assert not os.path.exists(tmp_path / "minimal.toml")


def test_chaos_finds_a_relay_that_drops_mail_and_shrinks_the_schedule(clean_machine, tmp_path):
    out = io.StringIO()
    outcome = chaos(make_topology("one_dc"), 21, str(tmp_path), duration=12, messages=24,
                    kinds=("blackhole",), intensity=2.5, shrink_runs=2, out=out,
                    lab_options=BROKEN_RELAY)
    print(out.getvalue())
    assert not outcome.verdict.ok and outcome.verdict.lost > 0
    original = outcome.schedule.faults
    assert len(original) == 3 and ["mx1"] in [f.args for f in original]
    shrunk = outcome.shrunk
    minimal = scenario.load(str(tmp_path / "minimal.toml"))
    assert minimal.faults == shrunk.scenario.faults
    # only mail that went through the relay is lost: a black-holed mx1 sends it there
    assert 1 <= len(minimal.faults) < len(original)
    assert all(f.args == ["mx1"] for f in minimal.faults)
    assert 1 <= shrunk.runs <= 2
    # the failing re-run of exactly that schedule: the failure replays
    replays = []
    for n in range(1, shrunk.runs + 1):
        d = tmp_path / "shrink" / ("%02d" % n)
        if scenario.load(str(d / "schedule.toml")).faults == minimal.faults:
            replays.append(json.load(open(d / "report.json")))
    assert replays and all(not r["ok"] and r["lost"] > 0 for r in replays)
    rep = json.load(open(tmp_path / "report.json"))
    assert rep["chaos"]["shrink_runs"] == shrunk.runs
    assert "nothing lost" in rep["chaos"]["reproduces"]
    assert "re-runs" in open(tmp_path / "report.md").read()


def test_a_signal_stops_maillab_chaos_in_order(machine, tmp_path):
    """SIGTERM while a fault is in force: the lab goes, the run says so, 143."""
    before = snapshot()
    report_dir = tmp_path / "report"
    command = Command(["chaos", "--topology", "one_dc", "--seed", "9", "--duration", "20",
                       "--faults", "blackhole", "--intensity", "3", "--report",
                       str(report_dir)], machine, str(tmp_path))
    command.wait_for("in force")
    status = command.stop(signal.SIGTERM)
    last = assert_clean(before, command, signal.SIGTERM, "maillab chaos")
    assert status == 128 + signal.SIGTERM, command.output
    assert "partial report" in last and "shrink" not in command.output
    assert json.load(open(report_dir / "report.json"))["interrupted"].startswith("SIGTERM")
