import pytest


@pytest.fixture
def procs():
    """Servers a test starts; stopped in reverse order however the test ends."""
    started = []
    yield started
    for p in reversed(started):
        p.stop()
