"""report.html in a real browser (headless Chromium): a report written from
synthetic evidence, opened as a student would open it from disk."""
from tests.browser import headless_chromium
from tests.report_in_browser import look_at
from tests.unit.report_page_fixture import report_dir


def test_a_student_sees_the_verdict_the_claims_the_plots_and_the_topology(tmp_path):
    paths = report_dir(tmp_path)
    with headless_chromium(window=(1400, 1000)) as driver:
        seen = look_at(driver, paths["report.html"], tmp_path / "report.png")
    assert seen["title"] == "remote-failover: PASSED - maillab report"
    assert seen["verdict"] == "PASSED"
    assert seen["scripts"] == 0          # the injected <script> stayed text
    assert len(seen["rows"]) == 18 and all(r[0] == "PASS" for r in seen["rows"])   # 17 claim checks and provenance
    assert ["PASS", "18", "mail crossed the WAN"] == seen["rows"][-1][:3]
    assert len(seen["images"]) == 2
    for img in seen["images"]:
        assert img["complete"] and img["width"] == 1200 and img["shown"] > 600, img
    assert ["r1|r2", "link cut"] in seen["links"]
    assert ["mx1", "node role-mx destroyed"] in seen["nodes"]
    assert seen["pcaps"] == ["pcaps/cut-1-r1-eth1.pcap"]
    assert (tmp_path / "report.png").stat().st_size > 50_000
