"""The layers of lab/ (docs/design.md, "Architecture"), kept by import-linter's
contracts in setup.cfg: a wrong-way import fails the suite, naming the import."""
import os
import shutil
import subprocess
import sys

import grimp
import pytest

from lab import ROOT

LINT = os.path.join(os.path.dirname(sys.executable), "lint-imports")
MAX_CHAIN = 8      # modules in the longest chain of imports among the project's own


def lint(root):
    env = dict(os.environ, PYTHONPATH=root)
    return subprocess.run([LINT, "--no-cache", "--config", os.path.join(root, "setup.cfg")],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)


def copy_of_the_tree(tmp_path):
    for package in ("lab", "servers", "topologies"):
        shutil.copytree(os.path.join(ROOT, package), tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(ROOT, "setup.cfg"), tmp_path / "setup.cfg")
    return tmp_path


def add_import(path, line):
    with open(path, "a", encoding="utf-8") as f:
        f.write("\n%s\n" % line)


def test_the_layer_contracts_hold():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize("module, line, named", [
    ("lab/evidence/records.py", "from lab.cli import maillab", "lab.evidence.records -> lab.cli.maillab"),
    ("lab/host/lock.py", "from lab.testbed import zone", "lab.host.lock -> lab.testbed.zone"),
    ("lab/verdict/model.py", "from lab.report import files", "lab.verdict.model -> lab.report.files"),
    ("servers/relay/queue.py", "import lab.evidence.records", "servers.relay.queue -> lab.evidence.records"),
])
def test_a_wrong_way_import_breaks_a_contract_and_is_named(tmp_path, module, line, named):
    root = copy_of_the_tree(tmp_path)
    assert lint(str(root)).returncode == 0           # the copy is as good as the tree
    add_import(root / module, line)
    result = lint(str(root))
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and named in result.stdout, result.stdout


def longest_chain(graph):
    best = {}

    def chain(module):
        if module not in best:
            best[module] = ()                         # a cycle would end here (none is allowed)
            below = [chain(m) for m in graph.find_modules_directly_imported_by(module)]
            best[module] = (module,) + max(below, key=len, default=())
        return best[module]
    return max((chain(m) for m in graph.modules), key=len)


def test_the_longest_chain_of_imports_is_short():
    graph = grimp.build_graph("lab", "servers", "topologies", include_external_packages=False,
                              cache_dir=None)
    found = longest_chain(graph)
    assert len(found) <= MAX_CHAIN, " -> ".join(found)


def test_the_chain_measure_sees_a_long_chain(tmp_path):
    """The measure above can fail: a chain of ten modules is ten long."""
    pkg = tmp_path / "chainpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for i in range(10):
        (pkg / ("m%d.py" % i)).write_text("import chainpkg.m%d\n" % (i + 1) if i < 9 else "")
    sys.path.insert(0, str(tmp_path))
    try:
        graph = grimp.build_graph("chainpkg", include_external_packages=False, cache_dir=None)
    finally:
        sys.path.remove(str(tmp_path))
    assert len(longest_chain(graph)) == 10
