"""A lab spread over servers, on one machine: the "second server" is a private
sshd on 127.0.0.2 (tests/cluster_sshd.py), logged in to with a key made for
the run. What this proves and what not: docs/lab.md, "A lab over several
servers"."""
import io
import json
import os
import pathlib
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile

import pytest
from mininet.clean import Cleanup

from lab import ROOT
from lab.chaos.runs import chaos
from lab.cli.cluster import cmd_cluster
from lab.cli.maillab import build_parser
from lab.host import cluster_net
from lab.host import cleanup_records as state
from lab.host.clean import clean_unlocked, leftovers
from lab.host.lock import LOCK_FD_ENV, LOCK_PATH, lab_lock
from lab.host.cluster_net import Cluster
from lab.host.ssh import Access, Server, generate_key
from lab.host.waiting import tcp_open_from, wait_until
from lab.scenarios import model as scenario
from lab.scenarios.run import Run
from lab.testbed.mail_lab import make_topology
from tests.cluster_sshd import PrivateSSHD

pytestmark = [pytest.mark.lab, pytest.mark.needs_cmd("ssh", "ssh-keygen", "/usr/sbin/sshd")]


def _fake_dpkg_query(bin_dir, hidden):
    """A dpkg-query that says ``hidden`` is not installed and asks the real one
    about every other package: a server lacking one package, made in test code."""
    os.makedirs(bin_dir)
    path = os.path.join(bin_dir, "dpkg-query")
    with open(path, "w") as f:
        f.write('#!/bin/sh\nfor a; do [ "$a" = %s ] && { echo "dpkg-query: no packages '
                'found matching $a" >&2; exit 1; }; done\nexec /usr/bin/dpkg-query "$@"\n'
                % hidden)
    os.chmod(path, stat.S_IRWXU)


def _check(server, access):
    out = io.StringIO()
    args = build_parser().parse_args(["cluster", "check", str(server)])
    return cmd_cluster(args, out=out, access=access), out.getvalue().splitlines()


def test_cluster_check_names_the_one_package_a_server_lacks(tmp_path):
    _fake_dpkg_query(str(tmp_path / "bin"), "openvswitch-switch")
    with PrivateSSHD(tmp_path / "sshd", extra_config='SetEnv PATH=%s:/usr/sbin:/usr/bin:'
                     '/sbin:/bin\n' % (tmp_path / "bin")) as sshd:
        status, lines = _check(sshd.server, sshd.access)
    assert lines == ["%s: missing Debian package openvswitch-switch "
                     "(lab/provision.sh --cluster-node installs it)" % sshd.server]
    assert status == 1


def test_cluster_check_says_ready_and_a_failing_login_says_why(tmp_path):
    stranger = str(tmp_path / "stranger_ed25519")
    generate_key(stranger)          # a key the server never authorized
    with PrivateSSHD(tmp_path / "sshd") as sshd:
        assert _check(sshd.server, sshd.access) == (0, ["%s: ready" % sshd.server])
        status, lines = _check(sshd.server, Access(key=stranger,
                                                   known_hosts=sshd.known_hosts))
    assert lines == ["%s: cannot log in: root@127.0.0.2: Permission denied (publickey)."
                     % sshd.server]
    assert status == 1


def test_cluster_check_says_when_the_servers_sshd_refuses_tunnels(tmp_path):
    from lab.host.cluster_check import TUNNEL_HINT
    # Debian's own sshd_config: PermitTunnel no (a Match block overrides the test sshd's yes)
    with PrivateSSHD(tmp_path / "sshd", extra_config="Match all\n    PermitTunnel no\n") as sshd:
        status, lines = _check(sshd.server, sshd.access)
    assert lines == ["%s: missing an SSH Ethernet tunnel: Tunnel forwarding failed %s"
                     % (sshd.server, TUNNEL_HINT)]
    assert status == 1


# --- the network over two "servers" ----------------------------------------------------
@pytest.fixture
def two_servers(clean_machine, tmp_path):
    """This machine and a private sshd's "server" on 127.0.0.2; the lab lock held."""
    with PrivateSSHD(tmp_path / "sshd") as sshd:
        yield [Server("localhost"), sshd.server], sshd
    assert not state.recorded("remote")


def _taps():
    return [n for n in os.listdir("/sys/class/net") if n.startswith("tap")]


def test_one_dc_placed_by_place_talks_across_an_ssh_tunnel(two_servers, tmp_path):
    servers, sshd = two_servers
    topo = make_topology("one_dc")
    table = cluster_net.node_servers(topo.plan, servers)
    assert {table[n] for n in ("client1", "r0", "s0")} == {servers[0]}
    assert {table[n] for n in ("dns1", "relay1", "mx1", "r1", "s1")} == {servers[1]}
    with cluster_net.running_cluster_net(topo, servers, sshd.access, table) as net:
        r0, r1, mx1 = net.get("r0"), net.get("r1"), net.get("mx1")
        assert not r0.isRemote and r1.isRemote and mx1.isRemote
        # Mininet's cluster code registers `ssh SERVER sudo mn -c` for mininet.clean; gone
        assert not [c for c in Cleanup.callbacks
                    if getattr(c, "__self__", None) is cluster_net.mncluster.ClusterCleanup]
        # the r0-r1 link is the tunnel: a tap at each end, checksum offload off
        for router in (r0, r1):
            intf = router.intfNames()[1]
            info = json.loads(router.cmd("ip -j -d link show %s" % intf))[0]["linkinfo"]
            assert (info["info_kind"], info["info_data"]["type"]) == ("tun", "tap")
            assert "tx-checksumming: off" in router.cmd("ethtool -k %s" % intf)
        # a remote process gets its working directory and environment over ssh
        workdir = tmp_path / "www"
        workdir.mkdir()
        (workdir / "index.txt").write_text("across the tunnel\n" * 2000)
        server = mx1.popen([sys.executable, "-m", "http.server", "8080", "--bind", mx1.IP()],
                           cwd=str(workdir), env=dict(os.environ, MAILLAB_PROBE="1"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            client = net.get("client1")
            wait_until(lambda: tcp_open_from(client, mx1.IP(), 8080), 20,
                       "a web server on mx1, on the other server")
            got = client.cmd("python3 -c 'import urllib.request,sys; sys.stdout.write("
                             "str(len(urllib.request.urlopen(\"http://%s:8080/index.txt\","
                             " timeout=10).read())))'" % mx1.IP())
            assert got.strip() == str(len("across the tunnel\n") * 2000)   # TCP, 36 kB
        finally:
            server.kill()
            server.wait()
    assert not _taps()
    assert not state.recorded("remote")


def _start_runner(sshd):
    """tests/lab/cluster_net_runner.py: a lab network over this machine and the
    sshd's "server", held up until a signal; it prints "up" once it is."""
    return subprocess.Popen([sys.executable, "-m", "tests.lab.cluster_net_runner",
                             str(sshd.port), sshd.dir], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)


def test_sigterm_leaves_neither_server_with_anything(two_servers):
    servers, sshd = two_servers
    proc = _start_runner(sshd)
    try:
        assert proc.stdout.readline().strip() == "up"
        assert len(_taps()) == 0 and len(state.recorded("remote")) > 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not _taps()
    assert not state.recorded("remote")
    assert not leftovers()


def test_maillab_clean_after_a_kill_9_cleans_the_other_server_through_its_records(
        two_servers):
    """kill -9 leaves the lab's shells, taps and bridges; the clean-up records name
    them, and `maillab clean`'s work removes them on the server through SSH."""
    servers, sshd = two_servers
    proc = _start_runner(sshd)
    try:
        assert proc.stdout.readline().strip() == "up"
    finally:
        proc.kill()
        proc.wait()
    kinds = {json.loads(line)["kind"] for line in state.recorded("remote")}
    assert {"tag", "shell", "link", "bridge"} <= kinds
    counts = clean_unlocked()
    assert counts["remote things"] >= len(kinds)
    assert not state.recorded("remote")
    assert not _taps()
    assert not leftovers()


# --- a scenario over two "servers" ----------------------------------------------------
# relay-failover and remote-failover with dc1 on the other server run below, with
# that server on a disk of its own (test_a_scenario_passes_with_the_other_server_...)
@pytest.mark.parametrize("name, counts, where, there", [
    # dc2 alone on the other server: the provisioner creates mx3 there
    ("remote-failover", (12, 12, 0, 0), "site on localhost, dc1 on localhost, dc2 on {}",
     "dc2"),
], ids=["remote-failover-created-there"])
def test_a_scenario_over_two_servers_passes_on_evidence_gathered_through_ssh(
        two_servers, tmp_path, name, counts, where, there):
    """The same verdict as on one machine (tests/lab/test_scenarios.py), the hosts
    of a place (``there``) on the sshd's "server"; their files fetched through
    ssh before the verdict read them."""
    servers, sshd = two_servers
    out = io.StringIO()
    placement = {"dc1": servers[0], there: servers[1]} if there else None
    run = Run(scenario.load(name), report_dir=str(tmp_path / "report"), out=out,
              lab_options={"cluster": Cluster(servers, sshd.access, placement)})
    verdict, _ = run.execute()
    assert verdict.outcome == "PASS", out.getvalue()
    assert (verdict.sent, verdict.delivered, verdict.lost, verdict.duplicates) == counts
    assert "over 2 servers (%s)" % where.format(sshd.server) in out.getvalue()
    assert run.lab.gathered[str(sshd.server)] > 0
    if there:       # the provisioner's new server came up on the other server
        with open(tmp_path / "report" / "events.jsonl") as f:
            created = [e for e in map(json.loads, f) if e.get("event") == "created"]
        assert [(e["name"], e["dc"]) for e in created] == [("mx3", there)]
    assert not _taps()


def test_a_short_chaos_run_over_two_servers_passes(two_servers, tmp_path):
    """Seed 1's 10 s schedule on two_dc: a partition of the site and dc2 from dc1,
    both of its links tunnels here; the verdict the same seed gets on one machine."""
    servers, sshd = two_servers
    outcome = chaos(make_topology("two_dc"), 1, str(tmp_path / "chaos"), duration=10.0,
                    shrink_runs=0, out=io.StringIO(),
                    lab_options={"cluster": Cluster(servers, sshd.access)})
    v = outcome.verdict
    assert (v.outcome, v.sent, v.delivered, v.lost, v.duplicates) == ("PASS", 20, 20, 0, 0)
    assert not _taps()


@pytest.fixture
def inherited_lock(monkeypatch):
    """The lab lock held on a descriptor a maillab command inherits (MAILLAB_LOCK_FD),
    as tests/lab/test_signals.py holds it; a clean start and a clean end."""
    with open(LOCK_PATH, "a") as lock:
        monkeypatch.setenv(LOCK_FD_ENV, str(lock.fileno()))
        with lab_lock(timeout=900):
            clean_unlocked()
            yield lock.fileno()
            left = leftovers()
            clean_unlocked()
        assert not left, "the test left these behind: %s" % left


def test_maillab_run_cluster_stopped_by_sigterm_cleans_both_servers(inherited_lock, tmp_path):
    with PrivateSSHD(tmp_path / "sshd") as sshd:
        argv = [sys.executable, "-m", "lab.cli.maillab", "run", "relay-failover",
                "--messages", "200", "--report", str(tmp_path / "report"), "--cluster",
                "localhost,%s" % sshd.server, "--ssh-key", sshd.client_key,
                "--ssh-option", "UserKnownHostsFile=%s" % sshd.known_hosts]
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, pass_fds=(inherited_lock,))
        seen = []
        try:
            for line in proc.stdout:    # until mail flows over the tunnel
                seen.append(line)
                if "] traffic" in line:
                    break
            assert any("over 2 servers" in line for line in seen), "".join(seen)
            assert state.recorded("remote"), "the run recorded nothing on the other server"
            proc.send_signal(signal.SIGTERM)
            rest = proc.communicate(timeout=120)[0]
            assert proc.returncode == 128 + signal.SIGTERM, "".join(seen) + rest
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert "stopped by SIGTERM" in rest
    assert not _taps()
    assert not state.recorded("remote")
    assert not leftovers()


@pytest.fixture
def runs_dir(monkeypatch):
    """The directory the lab makes its run directory in, short (a Unix socket's
    path, the provisioner's, has at most 107 bytes), given to the "server" as a
    disk of its own by the test; removed after."""
    runs = tempfile.mkdtemp(prefix="cluster-disk-")
    os.chmod(runs, 0o755)
    monkeypatch.setattr(tempfile, "tempdir", runs)
    yield pathlib.Path(runs)
    shutil.rmtree(runs, ignore_errors=True)


def test_the_console_reads_a_remote_hosts_files_on_its_server_and_kill_runs_there(
        clean_machine, tmp_path, runs_dir):
    """The "server" on 127.0.0.2 has PIDs of its own and a disk of its own under the
    runs' directory (a tmpfs in its mount namespace): what dc1's hosts write there,
    this machine sees only by fetching it, as with a real second server. The
    console's mail, queue and events read it there; a kill fault on mx1 runs there
    and ends mx1's server, no other."""
    from lab.evidence import provenance
    from lab.faults.leftovers import fault_leftovers
    from lab.testbed.mail_lab import Lab
    from servers.mx.maildir import messages_under
    from servers.relay.queue import Queue
    with PrivateSSHD(tmp_path / "sshd", private_dirs=[runs_dir]) as sshd:
        cluster = Cluster([Server("localhost"), sshd.server], sshd.access)
        with Lab("one_dc", cluster=cluster, provisioner=False) as lab:
            assert lab.server_of("mx1") == sshd.server and lab.server_of("client1") is None
            assert lab.server_of("relay1") == sshd.server
            rows = lab.send(3)
            assert len(rows) == 3
            wait_until(lambda: len(lab.messages("mx1")) == 3, 30, "3 messages in mx1's Maildir")
            assert all(p.startswith(lab.maildir("mx1")) for p in lab.messages("mx1"))
            assert list(messages_under(lab.maildir("mx1"))) == []     # this machine's copy
            mine = [e for e in provenance.read_run_events(lab.rundir, lab.roles())
                    if e["host"] == "mx1"]
            theirs = [e for e in lab.events() if e["host"] == "mx1"]
            assert mine == [] and len([e for e in theirs if e["event"] == "delivered"]) == 3
            # kill, run on mx1's server with its PIDs: mx1's server ends, the relay's not
            handle = lab.fault("kill", "mx@mx1")
            end = handle.evidence()
            assert end["ok"], end
            killed = [p["pid"] for p in end["matched"]["processes"]]
            assert len(killed) == 1 and end["exited"] == killed
            assert "servers.mx" in end["matched"]["processes"][0]["cmd"]
            services = lab.status()["services"]
            assert services["mx1/mx"] == "down" and services["relay1/relay"] == "up", services
            # mail for mx1 waits in the relay's queue, on the relay's server
            assert len(lab.send(2)) == 2
            wait_until(lambda: len(lab.queue_entries()) == 2, 30, "2 messages queued")
            here = os.path.join(lab.rundir, "relay1", "queue")
            assert not os.path.isdir(here) or Queue(here).entries() == []
            # what a fault leaves is found (and swept) on its server; its pcap comes here
            hole = lab.fault("blackhole", "mx1")
            assert list(fault_leftovers(lab.net)["rules"]) == ["mx1"]
            # packets for it to hold (mx1 is down: nothing else may come its way)
            lab.net.get("relay1").cmd("ping -c 3 -i 0.2 -W 1 %s" % lab.plan.hosts["mx1"].ip)
            hole.stop()
            assert fault_leftovers(lab.net) == {}
            assert hole.pcaps and all(os.path.getsize(p) > 24 for p in hole.pcaps)
    assert not _taps()


@pytest.mark.parametrize("name, counts, fault", [
    ("relay-failover", (20, 20, 0, 0), "blackhole"),
    ("remote-failover", (12, 12, 0, 0), "destroy"),
])
def test_a_scenario_passes_with_the_other_server_on_a_disk_of_its_own(
        clean_machine, tmp_path, runs_dir, name, counts, fault):
    """As a real second server: its own PIDs and its own disk under the runs'
    directory (the run directory and the report's, where the faults write their
    pcaps); dc1 (DNS, relay, mx1) there. The fault on mx1 runs on its server (a
    blackhole in mx1; destroy in that server's root namespace, with its PIDs), a
    blackhole's pcaps come back, the relay's queue is watched there, the wire
    captured on s1 there, the relay reaches the provisioner through a forwarded
    socket (remote-failover's mx3, in dc2 here), and the hosts' files are
    fetched: the same verdict as on one machine."""
    report = runs_dir / "report"
    with PrivateSSHD(tmp_path / "sshd", private_dirs=[runs_dir]) as sshd:
        out = io.StringIO()
        run = Run(scenario.load(name), report_dir=str(report), out=out,
                  lab_options={"cluster": Cluster([Server("localhost"), sshd.server],
                                                  sshd.access)})
        verdict, _ = run.execute()
    assert verdict.outcome == "PASS", out.getvalue()
    assert (verdict.sent, verdict.delivered, verdict.lost, verdict.duplicates) == counts
    assert "dc1 on %s" % sshd.server in out.getvalue()
    assert run.lab.gathered[str(sshd.server)] > 0
    # the run saw the deliveries while it ran (mx1's Maildir is on the other disk):
    # it ended because all was delivered, not on an empty-looking queue
    assert "nothing is left to deliver them" not in out.getvalue(), out.getvalue()
    assert re.search(r"done +sent %d/%d +delivered %d +queued 0" % (
        counts[0], counts[0], counts[1]), out.getvalue()), out.getvalue()
    with open(report / "events.jsonl") as f:
        ends = [e for e in map(json.loads, f) if e.get("event") == "fault_end"]
    assert [(e["fault"], e["ok"]) for e in ends] == [(fault, True)]
    pcaps = os.listdir(report / "pcaps")
    if fault == "blackhole":
        held = [p for p in pcaps if p.startswith("blackhole-")]
        assert held and all(os.path.getsize(report / "pcaps" / p) > 24 for p in held)
    wire = [p for p in pcaps if p.startswith("wire-")]      # streamed from s1's server
    assert len(wire) == 2 and all(os.path.getsize(report / "pcaps" / p) > 24 for p in wire)
    assert not _taps()
