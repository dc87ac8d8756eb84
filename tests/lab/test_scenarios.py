"""Every scenario, run for real with a small message count, holds its verdict
(broken systems that it fails: tests/lab/test_variants.py)."""
import io
import json
import os

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


@pytest.mark.parametrize("name", scenario.names())
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

