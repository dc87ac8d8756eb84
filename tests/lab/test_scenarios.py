"""Every scenario, run for real with a small message count, holds its verdict
(broken systems that it fails: tests/lab/test_variants.py)."""
import io
import json
import os
import time

import pytest

from lab.report import html_page
from lab.scenarios import model as scenario
from lab.scenarios.run import Run
from tests.browser import headless_chromium
from tests.report_in_browser import look_at

pytestmark = pytest.mark.lab


def run(name, tmp_path, **kwargs):
    """The scenario with its own (small: 10-30) message count."""
    out = io.StringIO()
    s = scenario.load(name)
    verdict, paths = Run(s, seed=1,
                         report_dir=str(tmp_path / name), out=out, **kwargs).execute()
    print(out.getvalue())
    return verdict, paths, out.getvalue()


# the scenarios with a real MTA run in tests/lab/test_postfix.py, checked further there
# (the machine's own Postfix untouched, no process left, its log kept)
BY_THEIR_OWN_TESTS = {"relay-failover-postfix", "relay-failover-postfix-sender"}


@pytest.mark.parametrize("name", [n for n in scenario.names() if n not in BY_THEIR_OWN_TESTS])
def test_scenario_passes(name, clean_machine, tmp_path):
    verdict, paths, progress = run(name, tmp_path)
    with open(paths["report.json"]) as f:
        rep = json.load(f)
    failed = [c for c in rep["checks"] if not c["ok"]]
    assert failed == [], open(paths["report.md"]).read()
    assert rep["ok"] and rep["lost"] == 0 and rep["duplicates"] == 0
    assert rep["sent"] > 0 and rep["delivered"] == rep["sent"]
    assert "sent " in progress and "delivered " in progress   # live progress lines
    assert os.path.getsize(paths["report.html"]) > 0
    if name == "remote-failover":   # one real run's report, in a real browser
        with headless_chromium() as driver:
            seen = look_at(driver, paths["report.html"], tmp_path / "report.png")
        assert seen["verdict"] == "PASSED"
        assert len(seen["rows"]) == len(html_page.judgements(rep["checks"]))   # one per judgement
        assert len(seen["rows"]) == len({tuple(r[2:]) for r in seen["rows"]})   # none twice
        assert [img["width"] > 0 for img in seen["images"]] == [True, True]
        assert ["mx1", "node role-mx destroyed"] in seen["nodes"]
        assert any(n == "mx3" and "created" in cls for n, cls in seen["nodes"])



class SlowMachineRun(Run):
    """What an emulated VM does to relay-failover: the black hole comes into
    force only after the senders are done, and the extra sender the run starts
    for it takes longer to start than the black hole lasts."""
    sender_delay = 7.0      # seconds; the black hole lasts 6

    def _step_faults(self, now):
        if any(sd.alive() for sd in self.senders) and not self.top_ups:
            return
        super()._step_faults(now)

    def _start_sender(self, client, n, prefix=None):
        if prefix:
            time.sleep(self.sender_delay)   # wait: the point of the test, a slow start
        return super()._start_sender(client, n, prefix)


def test_a_fault_that_comes_late_still_meets_mail_for_its_stated_time(clean_machine, tmp_path):
    out = io.StringIO()
    verdict, paths = SlowMachineRun(scenario.load("relay-failover"), seed=1,
                                    report_dir=str(tmp_path / "slow"), out=out).execute()
    progress = out.getvalue()
    print(progress)
    assert "came into force as the traffic ended" in progress
    assert "the new mail meets blackhole mx1: it lasts 6.0 s from now" in progress
    with open(paths["report.json"]) as f:
        rep = json.load(f)
    assert rep["outcome"] == "PASS", open(paths["report.md"]).read()
