"""Every program in examples/ runs to the end on a real lab and leaves nothing behind."""
import importlib
import os

import pytest

from lab import ROOT

pytestmark = pytest.mark.lab

EXAMPLES = sorted(name[:-3] for name in os.listdir(os.path.join(ROOT, "examples"))
                  if name.endswith(".py") and not name.startswith("_"))


def test_there_are_examples():
    assert {"send_mail", "cut_a_link", "watch_the_queue", "recreate_a_server"} <= set(EXAMPLES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs(clean_machine, name, capsys):
    """In this process, so that it shares the lab lock clean_machine holds."""
    example = importlib.import_module("examples." + name)
    assert example.__doc__ and example.main() == 0
    assert capsys.readouterr().out.strip()
