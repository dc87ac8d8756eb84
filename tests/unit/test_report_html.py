import json
import re

from lab.report import network_picture
from lab.report import html_page as report_html
from tests.unit.report_page_fixture import INJECTED, remote_plan, report_dir
from tests.unit.run_fixtures import T0, ev

SECTIONS = ("summary", "topology", "aggregate", "story", "checks", "messages", "servers", "files")


def test_report_html_is_one_self_contained_page(tmp_path):
    paths = report_dir(tmp_path)
    html = open(paths["report.html"]).read()
    assert html.startswith("<!DOCTYPE html>")
    assert "<title>remote-failover: PASSED - maillab report</title>" in html
    for section in SECTIONS:
        assert 'id="%s"' % section in html
    # the plots are inside the page; the only links out are relative files
    assert len(re.findall(r'<img src="data:image/png;base64,', html)) == 2
    assert re.findall(r'(?:src|href)="(?!data:|#)([^"]+)"', html) == ["pcaps/cut-1-r1-eth1.pcap"]
    assert "<svg" in html and 'data-node="mx3"' in html


def test_text_from_events_cannot_become_html(tmp_path):
    html = open(report_dir(tmp_path)["report.html"]).read()
    assert INJECTED not in html and "<script" not in html and "<img src=x" not in html
    assert "&lt;script&gt;document.title=" in html and "&lt;img src=x onerror" in html


def test_every_judgement_is_a_row_with_anchors_for_each_claim(tmp_path):
    paths = report_dir(tmp_path)
    checks = json.load(open(paths["report.json"]))["checks"]
    html = open(paths["report.html"]).read()
    rows = report_html.judgements(checks)
    assert len(re.findall(r'<tr id="check-\d+" class="pass">', html)) == len(rows)
    for n in range(1, len(checks) + 1):        # every check of report.json has its anchor
        assert html.count('id="check-%d"' % n) == 1
    for claim in ("2", "3", "4", "8", "10", "11", "12", "16", "18"):
        assert html.count('<a id="claim-%s"></a>' % claim) == 1
        assert '<a href="#claim-%s">' % claim in html


def _row_texts(html):
    return [tuple(re.sub(r"<[^>]+>", "", cell) for cell in cells) for cells in re.findall(
        r'<tr id="check-\d+" class="\w+"><td class="verdict">(.*?)</td><td>(.*?)</td>'
        r'<td>(.*?)</td><td>(.*?)</td></tr>', html)]


def test_claims_judged_by_one_check_share_one_row(tmp_path):
    """Claims 13 and 15 restate 5 and 7 for the network, and the verdict judges each
    pair with one check on the same evidence: report.json keeps a check per claim, the
    page one row per judgement (it printed the same row twice)."""
    from lab.report import files as report
    from lab.verdict import claims as checker
    from tests.unit.run_fixtures import relay_failover_run
    evidence, _ = relay_failover_run(tmp_path / "data")
    verdict = checker.check(evidence)
    paths = report.write(str(tmp_path / "report"), evidence.scenario, verdict, evidence, seed=1)
    checks = json.load(open(paths["report.json"]))["checks"]
    assert [c["claim"] for c in checks].count("13") == 1      # the data: one check per claim
    rows = _row_texts(open(paths["report.html"]).read())
    assert len(rows) == len(set(rows))                          # no row twice
    assert len({r[2:] for r in rows}) == len(rows)              # no judgement twice
    claims = {r[2]: r[1] for r in rows}
    assert claims["periodic retry to the messaging server"] == "5, 13"
    assert claims["relay sends to the messaging server once it is back"] == "7, 15"
    md = open(paths["report.md"]).read()
    assert md.count("periodic retry to the messaging server") == 1
    assert "**claims 5, 13, periodic retry to the messaging server**" in md
    assert report_html.judgements([{"name": "a", "claim": "5", "ok": True},
                                   {"name": "b", "ok": True}, {"name": "b", "ok": True},
                                   {"name": "a", "claim": "13", "ok": False}]) == [
        ([1], ["5"], {"name": "a", "claim": "5", "ok": True}),
        ([2], [], {"name": "b", "ok": True}), ([3], [], {"name": "b", "ok": True}),
        ([4], ["13"], {"name": "a", "claim": "13", "ok": False})]   # judged apart: two rows


def test_checks_show_whatever_fields_they_carry():
    report = {"scenario": "x", "ok": False, "checks": [
        {"name": "same MAC", "claim": "19", "ok": False, "detail": "it changed",
         "evidence": [{"kind": "pcap", "source": "pcaps/a.pcap", "independent": True}],
         "tolerance_s": 0.2},
        {"name": "relay in dc1", "claim": "17", "ok": None, "detail": "from the plan"},
        {"name": "retries", "claim": "5", "ok": True, "detail": "", "status": "pass"}]}
    html = report_html.page(report, {}, [], {}, {}, {}, None, [])
    assert '<tr id="check-1" class="fail"><td class="verdict">FAIL' in html
    assert "<dt>kind</dt><dd>pcap</dd>" in html and "<dt>independent</dt><dd>yes</dd>" in html
    assert "tolerance_s:</span> 0.2" in html
    assert '<tr id="check-2" class="info"><td class="verdict">INFO' in html
    assert 'id="verdict">FAILED<' in html


def test_an_interrupted_run_says_so():
    html = report_html.page({"scenario": "x", "ok": False, "checks": [],
                             "interrupted": "SIGTERM 3.2 s into the run"},
                            {}, [], {}, {}, {}, None, [])
    assert 'id="verdict">INTERRUPTED<' in html
    assert "Stopped by SIGTERM 3.2 s into the run." in html


def test_the_picture_marks_what_the_faults_did():
    events = [ev(0.1, "lab", "fault", "fault_start", fault="destroy", id="d",
                 matched={"target": "mx1"}),
              ev(1.0, "lab", "fault", "fault_start", fault="cut", id="c",
                 matched={"link": "r1-r2", "interfaces": ["r1-eth1", "r2-eth1"]}),
              ev(3.0, "lab", "fault", "fault_end", fault="cut", id="c"),
              ev(2.0, "lab", "fault", "fault_start", fault="blackhole", id="b",
                 matched={"target": "relay1"}),
              ev(4.3, "lab", "provisioner", "created", name="mx3", dc="dc2", action="create")]
    marks = network_picture.damage(remote_plan(), events, T0)
    assert marks["links"] == {"r1|r2": [("cut", "cut 1.0-3.0 s")]}
    assert marks["hosts"] == {"mx1": [("destroyed", "destroyed at 0.1 s")],
                              "mx3": [("created", "created at 4.3 s")],
                              "relay1": [("blackholed", "blackholed from 2.0 s")]}
    svg = network_picture.svg(remote_plan(), events, T0, {"mx3": {"delivered": 4}})
    assert '<g class="link cut" data-link="r1|r2">' in svg
    assert '<g class="node role-mx destroyed" data-node="mx1">' in svg
    assert 'class="cross"' in svg and ">stored 4<" in svg


def test_a_fact_of_the_set_up_shows_as_info_not_pass():
    report = {"scenario": "x", "ok": True, "checks": [
        {"name": "mx1 and the relay share a data center", "claim": "17", "ok": True,
         "detail": "the address plan puts mx1 in dc1", "kind": "info", "evidence": ["topology"]}]}
    html = report_html.page(report, {}, [], {}, {}, {}, None, [])
    assert '<tr id="check-1" class="info"><td class="verdict">INFO' in html
