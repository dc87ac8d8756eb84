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
    # 17 claim checks and provenance; claims 10, 11, 12, 16 restate 2, 3, 4, 8 and share
    # their checks' rows: each judgement once
    assert len(seen["rows"]) == 14 and all(r[0] == "PASS" for r in seen["rows"])
    assert len({tuple(r[2:]) for r in seen["rows"]}) == len(seen["rows"])
    assert ["PASS", "18", "mail crossed the WAN"] == seen["rows"][-1][:3]
    assert ["PASS", "3, 11"] == next(r[:2] for r in seen["rows"] if r[1].startswith("3"))
    assert len(seen["images"]) == 2
    for img in seen["images"]:
        assert img["complete"] and img["width"] == 1200 and img["shown"] > 600, img
    assert ["r1|r2", "link cut"] in seen["links"]
    assert ["mx1", "node role-mx destroyed"] in seen["nodes"]
    assert seen["pcaps"] == ["pcaps/cut-1-r1-eth1.pcap"]
    assert (tmp_path / "report.png").stat().st_size > 50_000


PREDICTIONS = """
return [...document.querySelectorAll('#exercise table.predictions tbody tr')].map(
    r => [r.dataset.key, r.querySelector('.predicted').innerText,
          r.querySelector('.observed').innerText, r.cells[3].innerText]);
"""


def test_a_student_sees_their_lab_and_their_predictions_against_what_happened(tmp_path):
    from lab.workbook import catalog
    from lab.workbook import predictions
    from tests.unit.test_course import _student_run
    exercise = catalog.load(2)
    run_dir = _student_run(tmp_path / "run", "alice", held=3)
    section = catalog.student_lab(exercise, "alice").as_dict(exercise)
    section["predictions"] = predictions.compared(
        exercise, predictions.evidence_so_far(run_dir), {"relay_used": "yes", "relay_held": 5})
    paths = report_dir(tmp_path, extra={"exercise": section})
    with headless_chromium(window=(1400, 1000)) as driver:
        look_at(driver, paths["report.html"], tmp_path / "report.png")
        rows = driver.execute_script(PREDICTIONS)
        lab = driver.find_element("id", "exercise").text
    assert rows == [["relay_used", "yes", "yes", "as predicted"],
                    ["relay_held", "5", "3", "different"]]
    assert "Student alice" in lab and "seed %d" % section["seed"] in lab
    for line in section["your_lab"]:
        assert line in lab


def test_the_timeline_is_whole_when_the_page_is_printed(tmp_path):
    paths = report_dir(tmp_path)
    with headless_chromium(window=(1400, 1000)) as driver:
        look_at(driver, paths["report.html"], tmp_path / "report.png")
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        box = driver.execute_script(
            "const d = document.querySelector('#story .scroll');"
            "return [d.clientHeight, d.scrollHeight, getComputedStyle(d).overflowY];")
    assert box[2] == "visible" and box[0] >= box[1], box
