import os
import pathlib
import shutil
import signal
import tempfile

import pytest

from tests.support import require_cmd


def _lab_unavailable():
    if os.geteuid() != 0:
        return "lab tests need root (Mininet creates namespaces); run as root, as CI does"
    if not shutil.which("mnexec"):
        return "Mininet is not installed (run lab/provision.sh)"
    return None


def _as_ctrl_c(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def pytest_configure(config):
    """A CI job that times out (SIGTERM) or a closed terminal (SIGHUP) stops the
    tests as Ctrl-C does: the running test's lab and the fixtures are torn down."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _as_ctrl_c)


def pytest_collection_modifyitems(config, items):
    reason = _lab_unavailable()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "lab" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _required_commands(request):
    """``@pytest.mark.needs_cmd("swaks", ...)``: skip (fail under CI) before the test
    starts anything when a tool is missing."""
    for mark in request.node.iter_markers("needs_cmd"):
        require_cmd(*mark.args)


@pytest.fixture
def ram_path(tmp_path):
    """A scratch directory in memory (/dev/shm) where the machine has one,
    else under tmp_path: for tests whose thousands of fsyncs are not the
    point. Removed afterwards. Not named maillab-*: `maillab clean` kills the
    processes whose command line names such a directory."""
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else str(tmp_path)
    path = tempfile.mkdtemp(prefix="pytest-ram-", dir=base)
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)
