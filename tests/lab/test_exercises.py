"""Every exercise of the workbook, run for real through ``maillab exercise N``:
its verdict holds, every checkable answer is in the run's evidence, and
``maillab exercise check`` accepts the computed answers and refuses wrong ones."""
import pytest

from lab.cli import maillab as maillab_cli
from lab.workbook import catalog
from lab.workbook import grading
from lab.evidence import saved_run

pytestmark = pytest.mark.lab


def wrong(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value + 1000
    return "%s-not" % value


def toml_value(value):
    return repr(value) if isinstance(value, (int, float)) else '"%s"' % value


def check(number, report, answers, path):
    path.write_text("".join("%s = %s\n" % (k, toml_value(v)) for k, v in answers.items()))
    return maillab_cli.main(["exercise", "check", str(number), "--report", report,
                             "--answers", str(path)])


@pytest.mark.parametrize("number", [e.number for e in catalog.load_all()])
def test_exercise_runs_and_its_answers_are_checked_from_the_evidence(number, clean_machine,
                                                                      tmp_path, capsys):
    exercise = catalog.load(number)
    report = str(tmp_path / exercise.name)
    code = maillab_cli.main(["exercise", str(number), "--report", report])
    out = capsys.readouterr().out
    print(out)
    assert code == 0, open(report + "/report.md").read()
    assert "maillab exercise check %d --report" % number in out

    computed = grading.solve(exercise, saved_run.load(report))
    assert [k for k, v in computed.items() if v is None] == [], computed

    assert check(number, report, computed, tmp_path / "right.toml") == 0
    assert "%d of %d right" % (len(computed), len(computed)) in capsys.readouterr().out
    assert check(number, report, {k: wrong(v) for k, v in computed.items()},
                 tmp_path / "wrong.toml") == 1
    lines = capsys.readouterr().out.splitlines()
    assert sum(1 for line in lines if line.startswith("WRONG")) == len(computed)
