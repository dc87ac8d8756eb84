"""The workbook as a course: answers kept from students (the teacher key), a
lab per student, submissions bound to their run and graded by folder, and
predictions asked before the run."""
import csv
import io
import json
import os
import re
import shutil
import stat

import pytest

from lab.cli import maillab as maillab_cli
from lab.workbook import catalog
from lab.workbook import course_grade
from lab.workbook import predictions
from lab.workbook import submission
from lab.workbook import teacher_key
from servers.relay.backoff import RetryPolicy
from tests.unit.exercise_runs import MX1, write_run
from tests.unit.run_fixtures import T0, ev

EXERCISES = catalog.load_all()


@pytest.fixture
def no_key(tmp_path, monkeypatch):
    path = tmp_path / "nowhere" / "teacher.key"
    monkeypatch.setenv(teacher_key.ENV, str(path))
    return path


@pytest.fixture
def key(tmp_path, monkeypatch):
    path = str(tmp_path / "keys" / "teacher.key")
    monkeypatch.setenv(teacher_key.ENV, path)
    assert maillab_cli.main(["course", "init"]) == 0
    return path


# -- 1. teacher and student material apart --------------------------------------------

def _teacher_lines(exercise):
    with open(exercise.teacher_notes, encoding="utf-8") as f:
        return [line.strip() for line in f if len(line.strip()) > 30
                and not line.startswith("#") and "Not for students" not in line]


def _student_files():
    """Every file of exercises/NN-*/ a student gets (docs/teaching.md: the copy
    without teacher.md and the diagnose capstone's teacher/ folder)."""
    for e in EXERCISES:
        for folder, dirs, files in os.walk(e.directory):
            dirs[:] = [d for d in dirs if d != "teacher"]
            for name in sorted(files):
                if name != "teacher.md" and name.endswith((".md", ".toml", ".svg", ".py")):
                    yield os.path.join(folder, name)


def _student_material(capsys):
    """Every file and command output a student reads about the exercises."""
    texts = {}
    for e in EXERCISES:
        with open(e.readme, encoding="utf-8") as f:
            texts[e.readme] = f.read()
        assert maillab_cli.main(["exercise", "answers", str(e.number)]) == 0
        texts["maillab exercise answers %d" % e.number] = capsys.readouterr().out
    for path in (os.path.join(catalog.EXERCISE_DIR, "README.md"),
                 os.path.join(catalog.ROOT, "README.md")) + tuple(_student_files()):
        with open(path, encoding="utf-8") as f:
            texts[path] = f.read()
    assert maillab_cli.main(["exercises"]) == 0
    texts["maillab exercises"] = capsys.readouterr().out
    return texts


def test_no_student_facing_file_or_command_holds_a_teacher_note(capsys):
    material = _student_material(capsys)
    for e in EXERCISES:
        assert os.path.exists(e.teacher_notes), e.name
        lines = _teacher_lines(e)
        assert len(lines) >= 3, e.name
        for where, text in material.items():
            assert "## Teacher notes" not in text and "(Answer:" not in text, where
            leaked = [line for line in lines if line in text]
            assert leaked == [], (where, leaked)


def test_no_student_facing_file_or_command_gives_an_answer(capsys):
    """No answer key is given a value anywhere a student reads (worksheets, primers
    and their pictures, scenarios, exercise.toml, the starter policy, the READMEs,
    the blank answers file), whatever the spacing or quoting: ``relay_held = 3``,
    ``relay_held: 3``, `` `relay_held` = 3 ``."""
    material = _student_material(capsys)
    assert any(p.endswith("primer-sequence.svg") for p in material)
    assert any(p.endswith("starter_policy.py") for p in material)
    for e in EXERCISES:
        for key in [q.key for q in e.questions + e.predictions]:
            given = re.compile(r"`?\b%s\b`?(?:\s*[=:]\s*(?!\"\")[`\"]?[\w.:-]+|\s+is\s+[\d`\"])"
                               % re.escape(key))
            for where, text in material.items():
                leaks = given.findall(text)
                assert leaks == [], (e.name, where, leaks)


def test_each_worksheet_opens_with_its_concept_and_says_how_to_hand_in():
    for e in EXERCISES:
        with open(e.readme, encoding="utf-8") as f:
            text = f.read()
        assert "**Concept: %s**" % e.concept in text.split("**Learning goal.**")[0], e.name
        assert "submission.json" in text, e.name
        assert "--student ID" in text or e.diagnosis is not None, e.name


def test_the_answer_revealing_commands_refuse_without_the_teacher_key(no_key, tmp_path,
                                                                       capsys):
    report = _student_run(tmp_path / "run", "alice")
    assert maillab_cli.main(["exercise", "solve", "2", "--report", report]) == 2
    err = capsys.readouterr().err
    assert "needs the teacher key" in err and "maillab course init" in err and str(no_key) in err
    assert maillab_cli.main(["course", "grade", str(tmp_path)]) == 2
    assert "needs the teacher key" in capsys.readouterr().err
    answers = tmp_path / "answers.toml"
    answers.write_text("relay_held = 3\n")
    code = maillab_cli.main(["exercise", "check", "2", "--report", report, "--answers",
                             str(answers)])
    out = capsys.readouterr().out
    assert code == 0 and "Right or wrong is your teacher's" in out
    assert "RIGHT" not in out and "WRONG" not in out      # no oracle to try answers on
    assert os.path.exists(os.path.join(report, submission.FILE))


def test_course_init_writes_a_secret_key_once_and_says_where(tmp_path, capsys, monkeypatch):
    path = tmp_path / "conf" / "teacher.key"
    assert maillab_cli.main(["course", "init", "--key", str(path)]) == 0
    assert str(path) in capsys.readouterr().out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(teacher_key.load(str(path))) == teacher_key.KEY_BYTES
    before = path.read_text()
    assert maillab_cli.main(["course", "init", "--key", str(path)]) == 1
    assert "already holds a teacher key" in capsys.readouterr().err
    assert path.read_text() == before
    os.chmod(path, 0o644)
    with pytest.raises(teacher_key.NoTeacherKey, match="readable by others"):
        teacher_key.load(str(path))


# -- 2. a lab per student ------------------------------------------------------------------

def test_two_students_get_different_seeds_and_parameters_in_every_exercise():
    for e in EXERCISES:
        alice, bob = catalog.student_lab(e, "alice"), catalog.student_lab(e, "bob")
        assert alice.seed != bob.seed and alice.seed != e.seed, e.name
        assert e.varied, e.name
        assert alice.parameters != bob.parameters, e.name
        assert catalog.student_lab(e, "alice").parameters == alice.parameters   # derived, stable
        for v in e.varied:                                  # within the exercise's range
            assert alice.parameters[v.parameter] in v.values


def test_the_answers_that_depend_on_the_parameters_differ_between_students():
    backoff = catalog.load(3)
    waits = {}
    for student in ("alice", "bob"):
        relay = catalog.student_lab(backoff, student).scenario.relay
        policy = RetryPolicy(relay.retry_interval, relay.max_retry_interval)
        waits[student] = [policy.delay(n) for n in (1, 3, 4)]
    assert waits["alice"] != waits["bob"]
    for e in EXERCISES:       # counts of messages: the number sent differs where it varies
        if any(v.parameter == "traffic.count" for v in e.varied):
            counts = {catalog.student_lab(e, s).scenario.traffic.count
                      for s in ("alice", "bob", "carol", "dave", "erin", "frank")}
            assert len(counts) > 1, e.name


def test_a_students_lab_leaves_the_shared_one_as_it_was():
    e = catalog.load(3)
    shared = (e.scenario.relay.retry_interval, e.scenario.faults[0].duration)
    catalog.student_lab(e, "alice")
    catalog.student_lab(e, "bob")
    assert (e.scenario.relay.retry_interval, e.scenario.faults[0].duration) == shared
    assert catalog.student_lab(e, None).seed == e.seed


def test_a_student_id_is_checked():
    with pytest.raises(ValueError, match="student ID"):
        catalog.student_lab(catalog.load(1), "../../etc")


# -- 3. answers bound to the run -----------------------------------------------------------

def _student_run(directory, student, number=2, held=3, given_seed=None):
    """A synthetic report directory of ``student``'s run of exercise ``number``."""
    e = catalog.load(number)
    lab = catalog.student_lab(e, student)
    seed = lab.seed if given_seed is None else given_seed
    ledger, events = [], []
    for i in range(1, 6):
        m = "<client1-%d-%d@maillab>" % (seed, i)
        via_relay = i > 5 - held
        ledger.append({"ts": T0 + i, "msgid": m, "to": "user@example.org",
                       "server": ("10.0.1.3" if via_relay else MX1) + ":25",
                       "mx": "relay1." if via_relay else "mx1.", "code": 250})
        if via_relay:
            events.append(ev(i, "relay1", "relay", "queued", m))
    report = {"scenario": e.scenario.name, "ok": True, "seed": seed,
              "exercise": lab.as_dict(e)}
    return write_run(str(directory), events, ledger, report)


def _submit(report, number, answers, capsys):
    path = os.path.join(report, "..", os.path.basename(report) + ".toml")
    with open(path, "w") as f:
        f.write("".join("%s = %s\n" % (k, json.dumps(v)) for k, v in answers.items()))
    code = maillab_cli.main(["exercise", "check", str(number), "--report", report,
                             "--answers", path])
    capsys.readouterr()
    return code


def _grade(folder, capsys):
    out = io.StringIO()
    course_grade.write_csv(course_grade.grade_folder(str(folder), teacher_key.load()), out)
    rows = csv.DictReader(io.StringIO(out.getvalue()))
    return {r["submission"].split(os.sep)[0]: r for r in rows}


def test_course_grade_accepts_true_submissions_and_refuses_copied_or_changed_ones(
        tmp_path, key, capsys):
    hand_in = tmp_path / "hand-in"
    alice = _student_run(hand_in / "alice", "alice", held=3)
    assert _submit(alice, 2, {"relay_held": 3, "direct_to_mx1": 2}, capsys) == 1   # 3 unanswered
    bob = _student_run(hand_in / "bob", "bob", held=2)
    assert _submit(bob, 2, {"relay_held": 2}, capsys) == 1

    # carol copies alice's run and answers, and puts her own ID in the submission
    shutil.copytree(alice, hand_in / "carol")
    sub = json.load(open(hand_in / "carol" / submission.FILE))
    sub["student"] = "carol"
    json.dump(sub, open(hand_in / "carol" / submission.FILE, "w"))
    # dave copies bob's run, edits report.json to his name, and checks it again
    shutil.copytree(bob, hand_in / "dave")
    report = json.load(open(hand_in / "dave" / "report.json"))
    report["exercise"]["student"] = "dave"
    json.dump(report, open(hand_in / "dave" / "report.json", "w"))
    assert _submit(str(hand_in / "dave"), 2, {"relay_held": 2}, capsys) == 1
    # erin runs her own lab but edits an event after checking
    erin = _student_run(hand_in / "erin", "erin", held=1)
    _submit(erin, 2, {"relay_held": 2}, capsys)
    with open(os.path.join(erin, "events.jsonl"), "a") as f:
        f.write(json.dumps(ev(9, "relay1", "relay", "queued", "<client1-1-9@maillab>")) + "\n")

    rows = _grade(hand_in, capsys)
    assert rows["alice"]["accepted"] == "yes" and rows["alice"]["right"] == "2"
    assert rows["alice"]["questions"] == "5" and rows["alice"]["student"] == "alice"
    assert rows["bob"]["accepted"] == "yes" and rows["bob"]["right"] == "1"
    assert rows["carol"]["accepted"] == "no" and "alice's, not carol's" in rows["carol"]["problems"]
    assert rows["dave"]["accepted"] == "no"
    assert "seed is not the one of student dave" in rows["dave"]["problems"]
    assert rows["erin"]["accepted"] == "no" and "digest differs" in rows["erin"]["problems"]

    csv_path = tmp_path / "grades.csv"
    assert maillab_cli.main(["course", "grade", str(hand_in), "--csv", str(csv_path)]) == 0
    assert "5 submissions graded, 3 refused" in capsys.readouterr().err
    assert csv_path.read_text().splitlines()[0] == ",".join(course_grade.COLUMNS)


def test_the_same_run_handed_in_twice_is_refused_for_both(tmp_path, key, capsys):
    alice = _student_run(tmp_path / "in" / "a1", "alice")
    _submit(alice, 2, {"relay_held": 3}, capsys)
    shutil.copytree(alice, tmp_path / "in" / "a2")
    rows = _grade(tmp_path / "in", capsys)
    assert [rows[k]["accepted"] for k in ("a1", "a2")] == ["no", "no"]
    assert "the same run as" in rows["a1"]["problems"]


def test_check_refuses_another_exercises_run_and_another_students(tmp_path, no_key, capsys):
    report = _student_run(tmp_path / "run", "alice", number=2)
    answers = tmp_path / "a.toml"
    answers.write_text("relay_held = 3\n")
    assert maillab_cli.main(["exercise", "check", "3", "--report", report,
                             "--answers", str(answers)]) == 2
    assert "exercise 2's, not exercise 3's" in capsys.readouterr().err
    assert maillab_cli.main(["exercise", "check", "2", "--report", report, "--student", "bob",
                             "--answers", str(answers)]) == 2
    assert "alice's, not bob's" in capsys.readouterr().err
    assert not os.path.exists(os.path.join(report, submission.FILE))


def test_message_ids_of_another_seed_are_found():
    ledger = [{"msgid": "<client1-7-1@maillab>"}, {"msgid": "<client1-8-2@maillab>"}]
    assert submission.foreign_message_ids(ledger, 7) == ["<client1-8-2@maillab>"]


# -- 4. predictions ------------------------------------------------------------------------

def test_predictions_are_asked_one_by_one_and_checked(tmp_path):
    e = catalog.load(3)
    typed = iter(["", "2.0", "4"])
    out = io.StringIO()
    given = predictions.ask(e, lambda prompt: next(typed), out)
    assert given == {"wait_after_3rd_failure": 2, "relay_syns": 4}
    assert "an answer, please" in out.getvalue()
    choice = catalog.load(6)
    typed = iter(["7", "2", "10.0.1.10"])
    assert predictions.ask(choice, lambda prompt: next(typed), io.StringIO()) == {
        "decision": "create", "new_ip": "10.0.1.10"}


def test_predictions_end_at_eof_and_are_written_before_the_run(tmp_path):
    e = catalog.load(3)

    def eof(prompt):
        raise EOFError
    assert predictions.ask(e, eof, io.StringIO()) == {}
    path = predictions.write(str(tmp_path / "run"), e, {"relay_syns": 4})
    assert predictions.read(str(tmp_path / "run")) == {"relay_syns": 4}
    assert json.load(open(path))["exercise"] == e.name


def test_predicted_is_set_against_observed(tmp_path):
    e = catalog.load(2)
    report = _student_run(tmp_path / "run", "alice", held=3)
    run = predictions.evidence_so_far(report)
    rows = predictions.compared(e, run, {"relay_used": "yes", "relay_held": 4})
    assert [(r["key"], r["predicted"], r["observed"], r["matches"]) for r in rows] == [
        ("relay_used", "yes", "yes", True), ("relay_held", 4, 3, False)]
    assert [r["predicted"] for r in predictions.compared(e, run, None)] == [None, None]


# -- 5. tiers --------------------------------------------------------------------------------

def test_every_exercise_has_a_tier_and_a_concept_and_the_list_is_in_course_order(capsys):
    assert all(e.tier in catalog.TIERS and e.concept for e in EXERCISES)
    assert maillab_cli.main(["exercises"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if re.match(r"^\d ", line)]
    tiers = [int(r[0]) for r in rows]
    assert tiers == sorted(tiers) and set(tiers) == set(catalog.TIERS)
    assert len(rows) == len(EXERCISES)


def test_worksheets_name_claims_by_concept_with_the_number_as_reference():
    assert catalog.claims_by_concept(["5", "13", "1"]) == \
        "retry with backoff (claims 5, 13), backup MX (claim 1)"
    for e in EXERCISES:
        with open(e.readme, encoding="utf-8") as f:
            text = f.read()
        if e.scenario.claims:
            assert "What it shows: %s" % catalog.claims_by_concept(e.scenario.claims) in text
        assert "Claims: 1" not in text and "Claims: 5" not in text


# -- 7. the diagnose capstone --------------------------------------------------------------

def test_the_broken_relay_is_drawn_by_the_teacher_key_and_graded(tmp_path):
    from lab.workbook import diagnose
    from servers.relay import policy_file
    e = next(x for x in EXERCISES if x.diagnosis is not None)
    key_a, key_b = b"a" * 32, b"b" * 32
    students = ["s%d" % i for i in range(20)]
    draws = [diagnose.drawn(e, s, key_a) for s in students]
    assert draws == [diagnose.drawn(e, s, key_a) for s in students]       # reproducible
    assert set(draws) == set(e.diagnosis.choices)                          # all are used
    assert draws != [diagnose.drawn(e, s, key_b) for s in students]        # keyed
    lab, choice = diagnose.broken_lab(e, "s1", key_a, str(tmp_path))
    assert lab.scenario.relay.retry_policy == str(tmp_path / "policy.py")  # a neutral name
    assert open(e.diagnosis.file_of(choice)).read() == (tmp_path / "policy.py").read_text()
    assert e.scenario.relay.retry_policy == ""
    for c in e.diagnosis.choices:                                           # each one loads
        policy_file.load(e.diagnosis.file_of(c), 0.5, 2.0, 600.0)
    assert diagnose.grade(e, "s1", key_a, {"diagnosis": choice.upper()}) == "right"
    other = next(c for c in e.diagnosis.choices if c != choice)
    assert diagnose.grade(e, "s1", key_a, {"diagnosis": other}) == "wrong"
    assert diagnose.grade(e, "s1", key_a, {}) == "not answered"


def test_the_broken_relays_stay_with_the_teacher(no_key, tmp_path, capsys):
    e = next(x for x in EXERCISES if x.diagnosis is not None)
    assert maillab_cli.main(["exercise", str(e.number), "--student", "s1"]) == 2
    assert "made by your teacher" in capsys.readouterr().err
    assert maillab_cli.main(["course", "diagnose", str(tmp_path), "--students", "s1"]) == 2
    assert "needs the teacher key" in capsys.readouterr().err
    material = _student_material(capsys)
    for choice in e.diagnosis.choices:
        with open(e.diagnosis.file_of(choice)) as f:
            doc = f.read().split('"""')[1]
        for where, text in material.items():
            assert doc.splitlines()[1] not in text, where
    assert maillab_cli.main(["exercise", "answers", str(e.number)]) == 0
    template = capsys.readouterr().out
    assert 'diagnosis = ""' in template and "never retries" in template


def test_the_run_records_the_exercise_section_even_when_stopped_early(tmp_path):
    """The run's annotate hook (lab/scenarios/run.py) puts the student's lab and
    predictions into report.json and report.html; a run stopped before its lab
    was up still has them."""
    import contextlib
    import signal

    from lab.host import interrupt
    from lab.scenarios.run import Run

    @contextlib.contextmanager
    def stopped_while_starting(s, relay_argv):
        raise interrupt.Interrupted(signal.SIGTERM)
        yield
    e = catalog.load(3)
    lab = catalog.student_lab(e, "alice")
    report = str(tmp_path / "run")
    predictions.write(report, e, {"relay_syns": 4})
    run = Run(lab.scenario, seed=lab.seed, report_dir=report, out=io.StringIO(),
              lab_factory=stopped_while_starting,
              annotate=lambda d: predictions.exercise_section(e, lab, d))
    with pytest.raises(interrupt.Interrupted):
        run.execute()
    section = json.load(open(os.path.join(report, "report.json")))["exercise"]
    assert section["student"] == "alice" and section["parameters"] == lab.parameters
    assert section["seed"] == lab.seed
    rows = {r["key"]: r for r in section["predictions"]}
    assert rows["relay_syns"]["predicted"] == 4 and rows["relay_syns"]["observed"] == 0
    assert 'id="exercise"' in open(os.path.join(report, "report.html")).read()


def test_under_sudo_the_key_is_the_invoking_users(monkeypatch):
    monkeypatch.delenv(teacher_key.ENV, raising=False)
    monkeypatch.setenv("SUDO_USER", "root")
    assert teacher_key.key_path() == os.path.join(os.path.expanduser("~root"), ".config",
                                                  "maillab", "teacher.key")
    assert teacher_key.key_path("/k") == "/k"


def test_exercise_10_loses_only_client1s_syns_in_a_fixed_order():
    """Determinism: the loss falls on client1's SYNs to mx1's SMTP port only (the
    relay's retries cannot shift the seeded draws), and the messages are further
    apart than a connection attempt lasts, so the SYNs always come in one order."""
    from lab.faults import loss
    from lab.faults.targets import parser
    e = catalog.load(10)
    for student in (None, "alice", "bob"):
        lab = catalog.student_lab(e, student)
        p = parser("loss")
        p.add_argument("link")
        p.add_argument("--rate", type=float)
        p.add_argument("--match")
        a = p.parse_args(lab.scenario.faults[0].args)
        rule = loss.plan("loss-1", "mx1-eth0", a.rate, match=a.match).apply[0]
        assert rule[rule.index("-p"):rule.index("-m")] == [
            "-p", "tcp", "--syn", "--dport", "25", "-s", "10.0.0.10"]
        traffic = lab.scenario.traffic
        assert 1.0 / traffic.rate > traffic.connect_timeout      # one attempt at a time
        assert lab.scenario.faults[0].duration >= (traffic.count - 1) / traffic.rate + \
            traffic.connect_timeout                              # every attempt meets it


def test_exercise_9_resets_a_fixed_number_of_client1s_sessions_on_a_packet_condition():
    """Determinism: the reset fault holds each segment and decides on packets (the
    first K sessions from client1 that cross N bytes), never on time; the fault is
    in force before the first message and for longer than the sender sends, so every
    student's lab resets exactly K sessions, and K differs between students."""
    from lab.faults.targets import parser
    e = catalog.load(9)
    ks = set()
    for student in (None, "alice", "bob", "carol", "dave"):
        lab = catalog.student_lab(e, student)
        f = lab.scenario.faults[0]
        p = parser("reset")
        p.add_argument("target")
        p.add_argument("--after-bytes", type=int)
        p.add_argument("--max-resets", type=int)
        p.add_argument("--from", dest="client")
        a = p.parse_args(f.args)
        assert a.client == lab.scenario.traffic.clients[0] == "client1"
        assert 0 < a.max_resets < lab.scenario.traffic.count
        assert a.after_bytes < lab.scenario.traffic.size     # mid-DATA, before the final dot
        assert f.at == 0.0 and f.after == "start"            # in force before the first message
        # the sender's first K sessions come within the fault, however slowly it starts
        assert f.duration >= lab.scenario.traffic.count / lab.scenario.traffic.rate + 2.0
        ks.add(a.max_resets)
    assert len(ks) > 1


def test_the_readme_points_teachers_to_the_guide_and_gives_students_a_quick_start():
    with open(os.path.join(catalog.ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    teachers = readme.split("\n## For teachers\n")[1].split("\n## ")[0]
    assert "(docs/teaching.md)" in teachers
    assert os.path.exists(os.path.join(catalog.ROOT, "docs", "teaching.md"))
    quick = teachers.split("\n### Student quick start\n")[1]
    assert len(quick.splitlines()) < 40                   # one page
    for step in ("maillab exercises", "--student ID --predict", "maillab exercise answers",
                 "maillab exercise check", "submission.json"):
        assert step in quick, step


def test_a_comparison_run_with_another_relay_is_not_the_one_handed_in(tmp_path):
    """Exercise 16 runs Postfix on relay1; the same lab with --relay maillab is for
    the comparison, and a submission of it is refused."""
    e = catalog.load(16)
    assert e.scenario.relay.server == "postfix"
    run_dir = _student_run(tmp_path / "run", "alice", number=16)
    with open(os.path.join(run_dir, "report.json")) as f:
        report = json.load(f)
    for server, refused in (("postfix", False), ("maillab", True)):
        report["relay_server"] = server
        problems = submission.belongs(e, report, "alice")
        assert any("relay host ran maillab" in p for p in problems) is refused, problems


def test_exercise_run_with_another_relay_runs_the_same_lab_into_its_own_folder(
        tmp_path, capsys, monkeypatch):
    from lab.scenarios import run as scenario_run
    seen = []

    class Verdict:
        ok = True

    def fake_run(s, messages=None, seed=None, report_dir=None, relay_server=None, **kw):
        seen.append((s.name, seed, relay_server, os.path.basename(report_dir)))
        return Verdict(), {}
    monkeypatch.setattr(scenario_run, "run", fake_run)
    monkeypatch.chdir(tmp_path)
    assert maillab_cli.main(["exercise", "16", "--student", "alice"]) == 0
    assert maillab_cli.main(["exercise", "16", "--student", "alice", "--relay", "maillab"]) == 0
    (name, seed, relay, folder), (name2, seed2, relay2, folder2) = seen
    assert name == name2 and seed == seed2            # the same lab
    assert relay is None and relay2 == "maillab"      # None: the exercise's own (postfix)
    assert folder.startswith("exercise-16-postfix-relay-alice")
    assert folder2.startswith("exercise-16-postfix-relay-alice-maillab")
