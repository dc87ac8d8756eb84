import pytest

from lab.host.clean import clean_unlocked, leftovers
from lab.host.lock import lab_lock


@pytest.fixture
def clean_machine():
    """Hold the lab lock, start from a clean machine, and prove the test left it clean."""
    with lab_lock(timeout=900):
        clean_unlocked()
        yield
        left = leftovers()
        clean_unlocked()
        assert not left, "the test left these behind: %s" % left
