"""SIGTERM, SIGHUP and SIGINT sent to a real ``maillab run`` (twice: once more
during its teardown) and ``maillab up`` at a seeded random moment: the command
stops everything it started, says so in one line, exits 128 + N, and the
machine is clean without ``maillab clean``.

What "clean" means is measured here, not taken from lab.clean: this process is
a child subreaper, so every process the command started and left running would
become its child; network interfaces, network namespaces and run directories
are compared with what there was before.
"""
import ctypes
import glob
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from lab import ROOT
from lab.host import iproute
from lab.host.clean import clean_unlocked, leftovers
from lab.host.lock import LOCK_FD_ENV, LOCK_PATH, lab_lock
from lab.host.waiting import wait_until

pytestmark = pytest.mark.lab

SEED = int(os.environ.get("MAILLAB_SIGNAL_SEED", "18"))
SIGNALS = [signal.SIGTERM, signal.SIGHUP, signal.SIGINT]
PR_SET_CHILD_SUBREAPER = 36


@pytest.fixture
def machine(monkeypatch):
    """The lab lock held on a descriptor the command inherits (MAILLAB_LOCK_FD), a
    clean start, and this process as the subreaper of what the command leaves."""
    with open(LOCK_PATH, "a") as lock:
        monkeypatch.setenv(LOCK_FD_ENV, str(lock.fileno()))
        with lab_lock(timeout=900):
            clean_unlocked()
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
            try:
                yield lock.fileno()
            finally:
                libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
                # processes: the test's own check (orphans) already held; lab.clean's
                # patterns would also match other people's loopback servers
                left = {k: v for k, v in leftovers().items() if k != "processes"}
                clean_unlocked()
                _reap()
            assert not left, "lab.clean finds these left behind: %s" % left


def _reap():
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def _stat(pid):
    with open("/proc/%s/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])        # state, ppid


def orphans():
    """Live processes that came to this process when their parent went."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            st, ppid = _stat(pid)
            if ppid == os.getpid() and st != "Z":
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    found.append("%s %s" % (pid, f.read().replace(b"\0", b" ").decode()))
        except (OSError, IndexError):
            pass
    return found


def links():
    return {link["ifname"] for link in iproute.run(iproute.ip_argv("link", "show"))}


def netns():
    found = set()
    for path in glob.glob("/proc/[0-9]*/ns/net"):
        try:
            found.add(os.readlink(path))
        except OSError:
            pass
    return found


def run_dirs():
    return set(glob.glob("/tmp/maillab-run-*"))


class Command:
    """A maillab command in its own process, its output lines collected as they come."""

    def __init__(self, argv, lock_fd, cwd, program=None):
        env = dict(os.environ, PYTHONPATH=ROOT)
        program = program or [sys.executable, "-m", "lab.cli.maillab"]
        self.proc = subprocess.Popen(program + argv,
                                     cwd=cwd, env=env, pass_fds=(lock_fd,),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def saw(self, text):
        return any(text in line for line in self.lines)

    def wait_for(self, text, timeout=120):
        wait_until(lambda: self.saw(text) or self.proc.poll() is not None, timeout,
                   "%r in the output" % text)
        assert self.saw(text), "\n".join(self.lines)

    def stop(self, signum, again_after=None, timeout=90):
        """Send ``signum`` (and once more ``again_after`` seconds later, as an impatient
        user would, while the command tears down); its exit status."""
        self.proc.send_signal(signum)
        if again_after is not None:
            time.sleep(again_after)     # wait: the second signal must land in the teardown
            if self.proc.poll() is None:
                self.proc.send_signal(signum)
        status = self.proc.wait(timeout=timeout)
        self.proc.stdin.close()
        self.reader.join(10)
        return status

    @property
    def output(self):
        return "\n".join(self.lines)


def signal_at_random_moment(command, progress, signum, spread, again_after=None):
    """Wait for a progress line, then a seeded random extra delay, then the signal."""
    rng = random.Random("%d-%s" % (SEED, signum.name))
    command.wait_for(progress)
    delay = rng.uniform(0, spread)
    print("%s %.2f s after %r (seed %d)" % (signum.name, delay, progress, SEED))
    time.sleep(delay)   # wait: the moment of the signal is the point of the test
    return command.stop(signum, again_after)


def assert_clean(before, command, signum, name):
    assert orphans() == [], "processes left:\n%s" % "\n".join(orphans())
    wait_until(lambda: links() <= before["links"], 5, "no new network interface")
    wait_until(lambda: netns() <= before["netns"], 5, "no new network namespace")
    assert run_dirs() <= before["dirs"]
    out = command.output
    assert "Traceback" not in out, out
    last = command.lines[-1]
    assert re.fullmatch(r"%s: stopped by %s(; .*)?" % (re.escape(name), signum.name), last), out
    return last


def snapshot():
    return {"links": links(), "netns": netns(), "dirs": run_dirs()}


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_a_signal_stops_maillab_run_and_leaves_a_partial_report(signum, machine, tmp_path):
    before = snapshot()
    report_dir = tmp_path / "report"
    command = Command(["run", "relay-failover", "--messages", "300", "--report",
                       str(report_dir)], machine, str(tmp_path))
    # twice: a second signal during the teardown must not abandon it
    status = signal_at_random_moment(command, "] traffic", signum, spread=3.0, again_after=0.3)
    last = assert_clean(before, command, signum, "maillab run")
    assert status == 128 + signum, command.output
    rundir = re.search(r"run dir (\S+)\)", command.output).group(1)
    assert not os.path.exists(rundir)
    assert "run directory removed" in last
    assert str(report_dir / "report.md") in last
    with open(report_dir / "report.json") as f:
        report = json.load(f)
    assert report["interrupted"].startswith(signum.name) and report["ok"] is False
    with open(report_dir / "ledger.jsonl") as f:
        assert report["sent"] == len(f.readlines()) > 0
    assert "partial report (sent %d, delivered %d)" % (report["sent"], report["delivered"]) \
        in last
    assert open(report_dir / "report.md").readline().strip() == "# relay-failover: INTERRUPTED"


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_a_signal_stops_maillab_up(signum, machine, tmp_path):
    before = snapshot()
    command = Command(["up", "one_dc"], machine, str(tmp_path))
    # anywhere from the network being built to the lab idle at its prompt
    status = signal_at_random_moment(command, "*** maillab: bringing one_dc up", signum,
                                     spread=3.0)
    assert_clean(before, command, signum, "maillab up")
    assert status == 128 + signum, command.output


ENTRIES = {   # what a user starts: (program, progress line to wait for, its name in the last line)
    "topology script": (["/usr/bin/python3", os.path.join(ROOT, "topologies", "one_dc.py")],
                        "*** maillab: bringing one_dc up", "topologies/one_dc.py"),
    "lab.sh demo": ([os.path.join(ROOT, "lab.sh"), "demo"], "] traffic", "maillab demo"),
}


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_sigterm_stops_a_topology_script_and_lab_sh(entry, machine, tmp_path):
    """The README's other ways in: ``sudo python3 topologies/one_dc.py`` (plain
    python3, re-run in the virtualenv) and ``./lab.sh demo``."""
    program, progress, name = ENTRIES[entry]
    before = snapshot()
    command = Command([], machine, str(tmp_path), program=program)
    status = signal_at_random_moment(command, progress, signal.SIGTERM, spread=2.0)
    assert_clean(before, command, signal.SIGTERM, name)
    assert status == 128 + signal.SIGTERM, command.output
