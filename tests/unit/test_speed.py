"""The start-up deadlines stretch on a slow machine, never shrink."""
import pytest

from lab.host import speed


def test_an_ordinary_or_faster_machine_keeps_the_deadlines():
    assert speed.factor(0.001) == 1.0
    assert speed.factor(speed.REFERENCE_S) == 1.0


def test_a_slower_machine_stretches_them_in_proportion_up_to_a_ceiling():
    assert speed.factor(10 * speed.REFERENCE_S) == pytest.approx(10.0)
    assert speed.factor(1000 * speed.REFERENCE_S) == speed.CEILING


def test_the_environment_sets_the_factor(monkeypatch):
    speed.slowness.cache_clear()
    monkeypatch.setenv("MAILLAB_SLOWNESS", "8")
    try:
        assert speed.slowness() == 8.0
        assert speed.deadline(20) == 160.0
        monkeypatch.setenv("MAILLAB_SLOWNESS", "0.1")     # never shorter than written
        speed.slowness.cache_clear()
        assert speed.deadline(20) == 20.0
        monkeypatch.setenv("MAILLAB_SLOWNESS", "fast")
        speed.slowness.cache_clear()
        with pytest.raises(SystemExit, match="MAILLAB_SLOWNESS"):
            speed.slowness()
    finally:
        speed.slowness.cache_clear()


def test_the_measurement_is_at_least_one():
    speed.slowness.cache_clear()
    try:
        assert 1.0 <= speed.slowness() <= speed.CEILING
    finally:
        speed.slowness.cache_clear()
