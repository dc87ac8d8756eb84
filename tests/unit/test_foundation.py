import contextlib
import fcntl
import os
import subprocess
import sys

import pytest

from lab import ROOT
from lab.host import cleanup_records as state
from lab.cli.maillab import build_parser, main
from lab.host.lock import LabBusy, lab_lock
from lab.host.waiting import NotReady, wait_until



def test_parser_knows_the_contract_commands():
    p = build_parser()
    args = p.parse_args(["run", "relay-failover", "--messages", "5", "--seed", "3",
                         "--report", "/tmp/r"])
    assert (args.scenario, args.messages, args.seed, args.report) == \
        ("relay-failover", 5, 3, "/tmp/r")
    args = p.parse_args(["bench", "relay", "--messages", "10", "--sessions", "2", "--size", "100"])
    assert (args.messages, args.sessions, args.size) == (10, [2], 100)
    args = p.parse_args(["bench", "relay", "--sessions", "10,50", "--backlog", "1000"])
    assert (args.sessions, args.backlog) == ([10, 50], 1000)
    for cmd in (["scenarios"], ["up", "one_dc"], ["clean"], ["demo"]):
        assert p.parse_args(cmd).command == cmd[0]


@contextlib.contextmanager
def lock_held_by_another_process(path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | "
         "os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); "
         "sys.stdin.read()", path],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)


def test_lock_is_exclusive_between_processes(tmp_path):
    path = str(tmp_path / "lock")
    with lock_held_by_another_process(path):
        with pytest.raises(LabBusy):
            with lab_lock(timeout=0.1, path=path):
                pass
    with lab_lock(timeout=1, path=path):
        pass


def test_clean_refuses_while_a_lab_holds_the_lock(tmp_path, monkeypatch, capsys):
    path = str(tmp_path / "lock")
    monkeypatch.setattr("lab.host.lock.LOCK_PATH", path)
    from lab.host import clean as lab_clean
    monkeypatch.setattr(lab_clean, "lab_lock",
                        lambda timeout: lab_lock(timeout=timeout, path=path))
    with lock_held_by_another_process(path):
        assert main(["clean"]) == 1
    assert "another maillab lab is running" in capsys.readouterr().err


def test_state_records_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(state, "STATE_DIR", str(tmp_path / "st"))
    state.record("bridges", "s1")
    state.record("bridges", "s2")
    assert state.recorded("bridges") == ["s1", "s2"]
    state.forget("bridges")
    assert state.recorded("bridges") == []
    with pytest.raises(ValueError):
        state.record("nonsense", "x")


def test_wait_until_returns_value_or_names_what_timed_out():
    calls = iter([0, 0, 7])
    assert wait_until(lambda: next(calls), 5, "thing", interval=0) == 7
    with pytest.raises(NotReady, match="the mx"):
        wait_until(lambda: False, 0.05, "the mx", interval=0.01)


@pytest.mark.needs_cmd("vagrant")      # CI installs it (lab/provision.sh --vagrant)
def test_vagrantfile_validates():
    env = dict(os.environ, VAGRANT_CHECKPOINT_DISABLE="1")
    res = subprocess.run(["vagrant", "validate"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env=env)
    if any(m in res.stdout + res.stderr for m in ("No usable default provider",
                                                   "Error while connecting to Libvirt")):
        # No VirtualBox/libvirt on this machine (or vagrant-libvirt without a running
        # libvirtd): validate all but the provider blocks.
        res = subprocess.run(["vagrant", "validate", "--ignore-provider"], cwd=ROOT,
                             capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "validated successfully" in res.stdout


def test_provision_script_is_valid_bash():
    for script in ("lab/provision.sh", "lab.sh", ".ci/run"):
        res = subprocess.run(["bash", "-n", os.path.join(ROOT, script)], capture_output=True)
        assert res.returncode == 0, (script, res.stderr)


def test_lock_is_reentrant_in_one_process(tmp_path):
    path = str(tmp_path / "lock")
    with lab_lock(path=path):
        with lab_lock(timeout=0, path=path):
            pass
        with lab_lock(timeout=0, path=path):
            pass


def test_clean_matches_lab_programs_not_a_reader_of_the_run_dir(tmp_path):
    from lab.host.clean import PROCESS_PATTERNS, _pids_matching
    run_dir = tmp_path / "maillab-run-unittest"
    run_dir.mkdir()
    reader = subprocess.Popen(["cat", "-", str(run_dir / "events.jsonl")], stdin=subprocess.PIPE)
    server = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()",
                               "--queue", str(run_dir)], stdin=subprocess.PIPE)
    try:
        matched = set()
        for pattern in PROCESS_PATTERNS:
            matched.update(_pids_matching(pattern))
        assert server.pid in matched
        assert reader.pid not in matched
    finally:
        for p in (reader, server):
            p.stdin.close()
            p.wait(timeout=10)


def test_require_cmd_skips_with_the_reason_but_fails_under_ci(monkeypatch):
    from tests.support import require_cmd
    monkeypatch.delenv("CI", raising=False)
    require_cmd("sh")                                   # present: nothing happens
    with pytest.raises(pytest.skip.Exception, match="no-such-tool-here"):
        require_cmd("sh", "no-such-tool-here")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI: needs no-such-tool-here"):
        require_cmd("no-such-tool-here")


def test_a_command_locks_through_the_descriptor_its_caller_holds(tmp_path):
    """MAILLAB_LOCK_FD: a child of the lock's holder gets the lock at once; a
    process without the descriptor still finds it busy."""
    path = str(tmp_path / "lock")
    probe = ("import sys; from lab.host.lock import lab_lock, LabBusy\n"
             "try:\n    with lab_lock(timeout=0.2, path=sys.argv[1]): print('got it')\n"
             "except LabBusy: print('busy')")
    env = dict(os.environ, PYTHONPATH=ROOT)
    with open(path, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)      # as the shell's `exec 9>>lock; flock 9`
        other = subprocess.run([sys.executable, "-c", probe, path], env=env,
                               capture_output=True, text=True, timeout=30)
        child = subprocess.run([sys.executable, "-c", probe, path], pass_fds=(f.fileno(),),
                               env=dict(env, MAILLAB_LOCK_FD=str(f.fileno())),
                               capture_output=True, text=True, timeout=30)
    assert other.stdout.strip() == "busy"
    assert child.stdout.strip() == "got it"


def test_ovs_switches_without_open_vswitch_say_how_to_get_it(monkeypatch):
    from lab.host import ovs
    monkeypatch.setattr(ovs.shutil, "which", lambda name: None)
    with pytest.raises(ovs.OVSUnavailable) as missing:
        ovs.ensure_daemons()
    assert "lab/provision.sh" in str(missing.value) and "--switch lxbr" in str(missing.value)


def test_ovs_userspace_datapath_without_a_tun_device_says_so(monkeypatch, tmp_path):
    from lab.host import ovs
    monkeypatch.setattr(ovs.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(ovs, "kernel_datapath", lambda: False)
    monkeypatch.setattr(ovs, "TUN_DEVICE", str(tmp_path / "no-tun"))
    monkeypatch.setattr(ovs, "daemon_running", lambda name: pytest.fail("went on to the daemons"))
    with pytest.raises(ovs.OVSUnavailable) as missing:
        ovs.ensure_daemons()
    assert "no-tun" in str(missing.value) and "--switch lxbr" in str(missing.value)


def test_the_machine_name_is_found_in_hosts_files_as_debian_writes_them():
    from lab.host.net import named_in_hosts
    hosts = ("127.0.0.1\tlocalhost\n127.0.1.1\tlabvm.example.org labvm\n"
             "# 10.0.0.5 ghost\n::1 localhost ip6-localhost\n")
    assert named_in_hosts(hosts, "labvm") and named_in_hosts(hosts, "labvm.example.org")
    assert not named_in_hosts(hosts, "ghost")        # commented out
    assert not named_in_hosts(hosts, "127.0.1.1")    # an address is not a name
    assert not named_in_hosts("127.0.0.1 localhost\n", "labvm")


def test_a_machine_name_missing_from_hosts_is_reported(tmp_path, caplog, monkeypatch):
    from lab.host import net
    monkeypatch.setattr(net.socket, "gethostname", lambda: "labvm")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    assert net.warn_if_machine_name_needs_dns(str(hosts)) is True
    assert "'labvm' is not in" in caplog.text and "127.0.1.1 labvm" in caplog.text
    hosts.write_text("127.0.0.1 localhost\n127.0.1.1 labvm\n")
    assert net.warn_if_machine_name_needs_dns(str(hosts)) is False
