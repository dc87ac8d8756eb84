"""The exercises' answer functions on report directories with known answers,
the student's answers checked against them, and every exercise file valid."""
import pytest

from lab.workbook import answers
from lab.workbook import catalog
from lab.workbook import grading
from lab.evidence import saved_run
from tests.unit import exercise_runs as runs


@pytest.fixture
def failover(tmp_path):
    return saved_run.load(runs.failover_run(tmp_path / "failover"))


@pytest.fixture
def recreated(tmp_path):
    return saved_run.load(runs.recreate_run(tmp_path / "recreate"))


def test_counts_from_events_and_the_ledger(failover):
    assert answers.count(failover, "queued", service="relay", distinct=True) == 3
    assert answers.count(failover, "delivered", service="mx", host="mx1") == 5
    assert answers.count(failover, "queued", service="mx") == 0
    assert answers.count_during(failover, "queued", "blackhole", service="relay") == 3
    assert answers.count_during(failover, "delivered", "blackhole", service="mx") == 0
    assert answers.count_during(failover, "queued", "partition") is None
    assert answers.sent_via(failover, "mx1") == 2
    assert answers.sent_via(failover, "relay1") == 3
    assert answers.sender_mx(failover) == "mx1"
    assert answers.sender_mx(failover, index=-1) == "relay1"
    assert answers.sender_server(failover) == runs.MX1


def test_times_are_differences_of_events(failover):
    assert answers.seconds_between(failover, "fault_start", "queued", end_service="relay",
                                   fault="blackhole") == 1.3
    assert answers.last_relay_delivery_after(failover, "fault_end", fault="blackhole") == 0.35
    assert answers.seconds_between(failover, "fault_start", "fault_end", fault="nothing") is None


def test_backoff_waits_are_those_of_the_first_held_message(failover):
    assert [answers.backoff_delay(failover, k) for k in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert answers.backoff_delay(failover, 4) is None


def test_queue_depth_follows_queued_and_delivered(failover):
    assert answers.max_queue_depth(failover) == 3


def test_report_and_fault_values(failover):
    assert answers.report_value(failover, "timings.failover") == 1.3
    assert answers.report_value(failover, "timings.recreate") is None
    assert answers.report_value(failover, "lost") == 0
    assert answers.report_value(failover, "no.such") is None
    assert answers.fault_total(failover, "blackhole", "dropped_packets") == 11
    assert answers.fault_count(failover, "blackhole") == 1
    assert answers.fault_total(failover, "loss", "dropped_packets") is None
    assert answers.field(failover, "queue_loaded", "messages", index=-1) == 0


def test_syns_are_counted_once_per_connection(failover):
    # the client's first SYN was retransmitted: same source port, one connection
    assert answers.syn_count(failover, runs.CLIENT, runs.MX1) == 2
    assert answers.syn_count(failover, runs.RELAY, runs.MX1, pcap="blackhole") == 3
    assert answers.syn_count(failover, runs.RELAY, runs.MX1, pcap="wire") == 0
    assert answers.syn_gap(failover, runs.RELAY, runs.MX1, which=2) == 0.8
    assert answers.syn_gap(failover, runs.RELAY, runs.MX1, which=3) is None


def test_the_mac_of_the_recreated_host_comes_from_frames_after_its_creation(recreated):
    assert answers.mac_of(recreated, runs.MX1, after="created") == runs.MX1_MAC
    assert answers.mac_of(recreated, runs.MX1) == "02:00:00:00:00:99"
    assert answers.mac_of(recreated, "10.9.9.9") is None
    assert answers.field(recreated, "created", "dc") == "dc1"
    assert answers.field(recreated, "created", "dc", where={"name": "mx1"}) == "dc1"
    assert answers.field(recreated, "created", "dc", where={"name": "mx9"}) is None
    assert answers.field(recreated, "provision_requested", "outage_seconds") == 2.01
    assert answers.resets(recreated) == 1
    assert answers.resets(recreated, pcap="reset") == 0


def test_stored_next_hops_are_read_from_the_queue_snapshots(recreated, failover):
    assert answers.stored_next_hops(recreated, "first") == "mx:example.org"
    assert answers.stored_next_hops(recreated, "changed") == "10.0.2.11:25"
    assert answers.stored_next_hops(failover) is None


def test_a_directory_without_a_report_is_refused(tmp_path):
    with pytest.raises(saved_run.NotARun):
        saved_run.load(str(tmp_path))


def _exercise(questions):
    return catalog.Exercise(99, "99-test", "Test", "/nowhere", 10, 1, questions, None)


def test_grading_numbers_within_tolerance_and_names_loosely(failover):
    ex = _exercise([
        catalog.Question("held", "held?", "count",
                         {"event": "queued", "service": "relay", "distinct": True}),
        catalog.Question("failover", "s?", "report_value", {"key": "timings.failover"}, 0.05),
        catalog.Question("first", "who?", "sender_mx", {}),
        catalog.Question("recreate", "s?", "report_value", {"key": "timings.recreate"}),
        catalog.Question("extra", "?", "sender_server", {})])
    computed = grading.solve(ex, failover)
    assert computed == {"held": 3, "failover": 1.3, "first": "mx1", "recreate": None,
                        "extra": runs.MX1}
    given = grading.parse('held = 3\nfailover = 1.34\nfirst = "MX1."\nrecreate = 1\n'
                          'extra = ""\nstray = 1\n')
    status = {q.key: s for q, s, _ in grading.grade(ex, computed, given)}
    assert status == {"held": grading.RIGHT, "failover": grading.RIGHT,
                      "first": grading.RIGHT, "recreate": grading.NO_EVIDENCE,
                      "extra": grading.UNANSWERED}
    assert grading.unknown_keys(ex, given) == ["stray"]
    wrong = grading.parse('held = 4\nfailover = 1.4\nfirst = "relay1"\nextra = "x"\n')
    assert {s for _, s, _ in grading.grade(ex, computed, wrong)} == {grading.WRONG,
                                                                     grading.NO_EVIDENCE}


def test_macs_match_whatever_the_separator_and_case():
    assert grading.matches("02:00:0a:00:01:0a", "02-00-0A-00-01-0A")
    assert not grading.matches("02:00:0a:00:01:0a", "02:00:0a:00:01:0b")
    assert not grading.matches(3, "three")


def test_the_template_has_every_key_and_parses():
    ex = catalog.load(2)
    text = grading.template(ex)
    assert set(grading.parse(text)) == {q.key for q in ex.questions}


def test_every_exercise_loads_and_the_workbook_covers_every_fault_and_claim_group():
    exercises = catalog.load_all()
    assert len(exercises) >= 12
    assert [e.number for e in exercises] == sorted({e.number for e in exercises})
    faults = {f for e in exercises for f in e.faults}
    assert {"blackhole", "destroy", "kill", "reset", "loss", "partition", "cut"} <= faults
    claims = {c for e in exercises for c in e.scenario.claims}
    assert {"1a", "1", "2", "3", "4", "5", "7", "9", "12", "14", "18", "19"} <= claims
    for e in exercises:
        assert e.questions, e.name
        with open(e.readme) as f:
            text = f.read()
        run_it = "## Your lab" if e.diagnosis is not None else "## Run it"   # teacher-made
        for heading in (run_it, "## Predict", "## Look", "## Questions", "## Break it"):
            assert heading in text, (e.name, heading)
        with open(e.teacher_notes) as f:
            assert "## Answers and discussion" in f.read(), e.name
        for q in e.questions:
            assert "`%s`" % q.key in text, (e.name, q.key)


def test_an_unknown_answer_function_is_refused(tmp_path):
    with pytest.raises(catalog.ExerciseError, match="no answer function"):
        catalog._question("x.toml", 0, {"key": "k", "question": "q", "compute": "guess"})


def test_the_commands_list_print_solve_and_check(tmp_path, capsys, monkeypatch):
    import json
    from lab.cli import maillab as maillab_cli
    from lab.workbook import teacher_key
    monkeypatch.setenv(teacher_key.ENV, teacher_key.create(str(tmp_path / "teacher.key")))
    assert maillab_cli.main(["exercises"]) == 0
    listing = capsys.readouterr().out
    assert "Fallback to the backup MX" in listing and "blackhole" in listing
    assert maillab_cli.main(["exercise", "answers", "2"]) == 0
    assert 'relay_held = ""' in capsys.readouterr().out
    report = runs.failover_run(tmp_path / "run")
    with open(report + "/report.json") as f:
        data = json.load(f)
    data["exercise"] = catalog.student_lab(catalog.load(2), None).as_dict(catalog.load(2))
    with open(report + "/report.json", "w") as f:
        json.dump(data, f)
    assert maillab_cli.main(["exercise", "solve", "2", "--report", report]) == 0
    solved = capsys.readouterr().out
    assert "relay_held = 3" in solved and "sender_syns_lost = 2" in solved
    answers = tmp_path / "answers.toml"
    answers.write_text("direct_to_mx1 = 2\nrelay_held = 3\nfailover_seconds = 1.3\n"
                       "sender_syns_lost = 2\ndropped_packets = 11\n")
    args = ["exercise", "check", "2", "--report", report, "--answers", str(answers)]
    assert maillab_cli.main(args) == 0
    assert "5 of 5 right" in capsys.readouterr().out
    answers.write_text("direct_to_mx1 = 2\nrelay_held = 4\n")
    assert maillab_cli.main(args) == 1
    out = capsys.readouterr().out
    assert "WRONG" in out and "relay_held" in out and "NOT ANSWERED" in out
    assert maillab_cli.main(["exercise", "check", "2", "--report", str(tmp_path),
                             "--answers", str(answers)]) == 2
    assert maillab_cli.main(["exercise", "99"]) == 2


def test_exercise_13_names_the_replacement_data_center_even_when_mx2_answers_at_teardown(tmp_path):
    # when the lab comes down the partition is lifted before the relay stops; the relay
    # may then see mx2 again and log a "restore", which carries no data center
    decide = lambda ts, name, decision, **kw: runs.ev(ts, "relay1", "relay", "recovery_decision",
                                                       name=name, decision=decision, **kw)
    run = saved_run.load(runs.write_run(tmp_path / "ex13", [
        decide(4.0, "mx2", "create", dc="dc1"),
        decide(4.1, "mx1", "recreate", dc="dc1"),
        decide(9.0, "mx2", "restore")]))
    computed = grading.solve(catalog.load(13), run)
    assert computed["mx2_decision"] == "create" and computed["mx1_decision"] == "recreate"
    assert computed["mx2_replacement_dc"] == "dc1"
