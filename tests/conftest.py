import os
import shutil

import pytest


def _lab_unavailable():
    if os.geteuid() != 0:
        return "lab tests need root (Mininet creates namespaces); run as root, as CI does"
    if not shutil.which("mnexec"):
        return "Mininet is not installed (run lab/provision.sh)"
    return None


def pytest_collection_modifyitems(config, items):
    reason = _lab_unavailable()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "lab" in item.keywords:
            item.add_marker(skip)
