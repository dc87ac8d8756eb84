import json
import os

from lab.evidence import records
from lab.report import plots
from lab.report import files as report
from lab.verdict import claims as checker
from tests.unit.run_fixtures import T0, relay_failover_run, remote_run

CONTRACT = {"scenario", "claims", "ok", "sent", "delivered", "lost", "duplicates", "timings",
            "checks"}


def test_report_json_holds_the_contract(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    v = checker.check(evidence)
    paths = report.write(str(tmp_path / "r"), evidence.scenario, v, evidence, seed=3)
    d = json.load(open(paths["report.json"]))
    assert CONTRACT <= set(d)
    assert d["scenario"] == "relay-failover" and d["ok"] is True and d["seed"] == 3
    assert set(d["timings"]) >= {"failover", "recovery_drain", "recreate", "total"}
    assert all(set(c) == {"name", "claim", "ok", "detail", "kind", "evidence", "inconclusive",
                          "outcome", "wire_matched", "not_applicable"} for c in d["checks"])
    assert {c["kind"] for c in d["checks"]} == {"observed", "info"}
    periodic = next(c for c in d["checks"] if c["claim"] == "5")
    assert "wire" in periodic["evidence"]
    assert (d["sent"], d["delivered"], d["lost"], d["duplicates"]) == (6, 6, 0, 0)


def test_report_json_of_a_failed_run_says_so(tmp_path):
    evidence, root = relay_failover_run(tmp_path)
    os.unlink(evidence.mails[0].path)
    evidence.mails = records.read_maildir(root, "mx1")
    v = checker.check(evidence)
    d = report.report_dict(evidence.scenario, v)
    assert d["ok"] is False and d["lost"] == 1
    assert any(not c["ok"] and c["name"] == "nothing lost" for c in d["checks"])


def test_markdown_tells_the_story(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    v = checker.check(evidence)
    md = report.markdown(evidence.scenario, v, evidence, seed=1)
    assert md.startswith("# relay-failover: PASSED")
    lines = md.splitlines()
    fault = next(i for i, l in enumerate(lines) if "FAULT STARTS: blackhole" in l)
    queued = next(i for i, l in enumerate(lines) if "queued 3 messages durably" in l)
    end = next(i for i, l in enumerate(lines) if "fault ends: blackhole" in l)
    relayed = next(i for i, l in enumerate(lines) if "relayed 3 messages to 10.0.1.10:25" in l)
    assert fault < queued < end < relayed
    assert "   1.00" in lines[fault]
    assert "PASS **claims 5, 13, periodic retry" in md
    assert "INFO **claim 17, mx1 and the relay share a data center" in md
    assert "_(evidence: wire, relay-log, ledger, fault-log)_" in md
    assert "mx1 holds 6" in md


def test_markdown_of_a_failure_names_what_failed(tmp_path):
    evidence, root = relay_failover_run(tmp_path)
    gone = evidence.mails[-1]
    os.unlink(gone.path)
    evidence.mails = records.read_maildir(root, "mx1")
    md = report.markdown(evidence.scenario, checker.check(evidence), evidence)
    assert md.startswith("# relay-failover: FAILED")
    assert "FAIL **nothing lost**" in md and gone.msgid in md



def test_timeline_png_is_a_png(tmp_path):
    evidence, _ = remote_run(tmp_path)
    path = plots.timeline_png(str(tmp_path / "t.png"), evidence.scenario, evidence)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(path) > 5000


def test_text_from_events_is_not_a_template(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    evidence.events.append({"ts": T0 + 1.5, "host": "mx1", "service": "fault",
                            "event": "fault_end", "fault": "blackhole",
                            "summary": "{weird}", "error": "{n} {0}"})
    md = report.markdown(evidence.scenario, checker.check(evidence), evidence)
    assert "{weird}" in md and "{n} {0}" in md


def test_the_aggregate_plot_comes_first_in_report_md(tmp_path):
    evidence, _ = remote_run(tmp_path)
    paths = report.write(str(tmp_path / "r"), evidence.scenario, checker.check(evidence), evidence)
    md = open(paths["report.md"]).read()
    assert md.index("](aggregate.png)") < md.index("## Timeline")
    for name in ("aggregate.png", "timeline.png"):
        with open(paths[name], "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_the_recovery_story_is_one_sentence_per_outage():
    from lab.report.files import recovery_story
    events = [
        {"ts": 1, "event": "recovery_decision", "server": "10.0.1.10:25", "decision": "recreate",
         "story": "mx1 down 2.0 s -> dc1 healthy -> re-create in place"},
        {"ts": 2, "event": "recovery_decision", "server": "10.0.1.10:25", "decision": "create",
         "story": "mx1 down 2.0 s -> dc1 healthy -> re-create in place -> provisioner refused: "
                  "dc1 has no capacity -> create a server in dc2"},
        {"ts": 3, "event": "replaced", "server": "10.0.1.10:25", "new_name": "mx3", "dc": "dc2",
         "messages": 7},
        {"ts": 4, "event": "recovery_decision", "server": "10.0.2.10:25", "decision": "recreate",
         "story": "mx2 down 2.0 s -> dc2 healthy -> re-create in place"},
        {"ts": 5, "event": "recovered", "server": "10.0.2.10:25", "name": "mx2",
         "how": "recreated", "down_seconds": 2.5},
    ]
    assert recovery_story(events) == [
        "mx1 down 2.0 s -> dc1 healthy -> re-create in place -> provisioner refused: dc1 has "
        "no capacity -> create a server in dc2 -> mx3 created in dc2, 7 stored messages "
        "re-routed to it",
        "mx2 down 2.0 s -> dc2 healthy -> re-create in place -> mx2 re-created in place, "
        "back after 2.5 s"]


def test_inconclusive_and_info_rows_are_counted_apart(tmp_path):
    """"N of M checks hold" counts PASS and FAIL only; a run with an INCONCLUSIVE
    claim says so in report.json, report.md and report.html, and does not pass."""
    evidence, _ = relay_failover_run(tmp_path)
    for e in evidence.events:
        if e["event"] == "fault_end":
            e.update(dropped_packets=0, summary="blackhole mx1")
    v = checker.check(evidence)
    paths = report.write(str(tmp_path / "r"), evidence.scenario, v, evidence, seed=3)
    d = json.load(open(paths["report.json"]))
    assert d["ok"] is False and d["outcome"] == "INCONCLUSIVE"
    assert d["tally"]["INFO"] == 1 and d["tally"]["INCONCLUSIVE"] >= 7 and d["tally"]["FAIL"] == 0
    periodic = next(c for c in d["checks"] if c["claim"] == "5")
    assert periodic["outcome"] == "INCONCLUSIVE" and "0 packets dropped" in periodic["inconclusive"]
    md = open(paths["report.md"]).read()
    assert md.startswith("# relay-failover: INCONCLUSIVE")
    held = d["tally"]["PASS"]
    assert "%d of %d checks hold (%d inconclusive, 1 for information)" % (
        held, held, d["tally"]["INCONCLUSIVE"]) in md
    assert "- INCONCLUSIVE **claims 5, 13, " in md
    html = open(paths["report.html"]).read()
    assert "%d of %d checks hold (%d inconclusive, 1 for information)" % (
        held, held, d["tally"]["INCONCLUSIVE"]) in html
    assert 'class="inconclusive"><td class="verdict">INCONCLUSIVE' in html


def test_the_run_exits_3_when_inconclusive(tmp_path):
    from lab.cli.run import exit_code
    evidence, _ = relay_failover_run(tmp_path)
    good = checker.check(evidence)
    for e in evidence.events:
        if e["event"] == "fault_end":
            e["dropped_packets"] = 0
    unsure = checker.check(evidence)
    evidence.mails = evidence.mails[1:]
    bad = checker.check(evidence)
    assert (good.outcome, unsure.outcome, bad.outcome) == ("PASS", "INCONCLUSIVE", "FAIL")
    assert exit_code([good]) == 0 and exit_code([good, unsure]) == 3
    assert exit_code([unsure, bad]) == 1
