"""The pure parts of a lab's network over several servers: where each node goes,
which links become tunnels, and the scripts that signal and clean a server."""
import os
import subprocess

import pytest

from lab.host import cluster_net
from lab.host.ssh import Server
from lab.testbed.mail_lab import make_topology

HERE, THERE = Server("localhost"), Server("127.0.0.2", port=2222)


def test_each_place_with_its_switch_and_router_goes_to_one_server():
    topo = make_topology("one_dc")
    where = cluster_net.node_servers(topo.plan, [HERE, THERE])
    assert set(where) == set(topo.nodes())
    assert {n for n, s in where.items() if s == HERE} == {"client1", "client2", "r0", "s0"}
    # the only link between the servers is the one between the places' routers
    assert cluster_net.tunnels(topo, where) == [("r0", "r1")]


def test_places_are_dealt_round_the_servers_and_can_be_named():
    topo = make_topology("n_dc", dcs=3, mx_per_dc=2)
    plan = topo.plan
    assert cluster_net.place_by_dc(plan, [HERE, THERE]) == {
        "site": HERE, "dc1": THERE, "dc2": HERE, "dc3": THERE}
    where = cluster_net.node_servers(plan, [HERE, THERE], placement={"dc2": THERE})
    assert where["r2"] == where["s2"] == THERE
    assert sorted(cluster_net.tunnels(topo, where)) == [("r0", "r1")]
    one = cluster_net.node_servers(plan, [HERE])
    assert set(one.values()) == {HERE} and cluster_net.tunnels(topo, one) == []


def test_the_placer_answers_mininet_from_the_table():
    placer = cluster_net.placer_for({"h1": "127.0.0.2:2222"})(servers=["localhost"])
    assert isinstance(placer, cluster_net.mncluster.Placer)
    assert placer.place("h1") == "127.0.0.2:2222"


def test_a_server_is_cleaned_of_this_labs_things_only_and_never_with_mn_c():
    script = cluster_net.remote_clean_script([("tag", "abc"), ("shell", 4242),
                                             ("link", "tap700"), ("bridge", "s1")])
    subprocess.run(["sh", "-n"], input=script, text=True, check=True)
    assert "mn -c" not in script and "mn " not in script
    assert "MAILLAB_CLUSTER_RUN=abc" in script and "kill -9" in script
    assert "grep -q 'mininet:'" in script      # a reused pid is not killed
    assert "ip link del tap700" in script and "ip link del s1" in script
    with pytest.raises(ValueError):
        cluster_net.remote_clean_script([("everything", "*")])


def test_a_tagged_process_gets_the_signal_and_an_untagged_one_does_not(tmp_path):
    """The signal script, run here for real on two sleeping processes."""
    tagged = subprocess.Popen(["sleep", "60"], env={cluster_net.PROC_TAG: "t1"})
    other = subprocess.Popen(["sleep", "60"], env={cluster_net.PROC_TAG: "t2"})
    try:
        subprocess.run(["sh", "-c", cluster_net.signal_tagged_script(
            cluster_net.PROC_TAG, "t1", 15)], check=True)
        assert tagged.wait(10) == -15
        assert other.poll() is None
    finally:
        for p in (tagged, other):
            p.kill()
            p.wait()


def test_links_get_distinct_tap_numbers_at_each_end():
    a, b = cluster_net.TunnelLink._tap_pair()
    c, d = cluster_net.TunnelLink._tap_pair()
    assert len({a, b, c, d}) == 4 and min(a, b, c, d) >= cluster_net.TAP_BASE


def test_the_run_directory_goes_and_comes_back_as_pax_tar_streams(tmp_path):
    """push_command and gather_command run here with sh (no ssh): what one end
    packs, the other unpacks, sub-second file times kept."""
    src, dst = tmp_path / "run", tmp_path / "copy"
    for name in ("mx1", "mx1.gen2", "relay1", "client1"):
        (src / name).mkdir(parents=True)
        (src / name / "events.jsonl").write_text(name)
    os.utime(src / "mx1" / "events.jsonl", (1e9 + 0.25, 1e9 + 0.25))
    pack = subprocess.run(cluster_net.gather_command(str(src), ["mx1", "relay1", "dns1"]),
                          capture_output=True, check=True)
    (dst / "relay1").mkdir(parents=True)
    (dst / "relay1" / "events.jsonl").write_text("the server's own")
    subprocess.run(cluster_net.push_command(str(dst)), input=pack.stdout, check=True)
    assert sorted(os.listdir(dst)) == ["mx1", "mx1.gen2", "relay1"]
    assert (dst / "relay1" / "events.jsonl").read_text() == "the server's own"   # left alone
    assert os.stat(dst / "mx1" / "events.jsonl").st_mtime == 1e9 + 0.25
    nothing = subprocess.run(cluster_net.gather_command(str(src), ["dns1"]),
                             capture_output=True, check=True)
    assert nothing.stdout.strip(b"\0") == b""           # an empty archive, not an error


def test_maillab_run_takes_its_servers_and_says_when_one_is_wrong(capsys):
    from lab.cli.maillab import build_parser
    from lab.cli.cluster import cluster_of
    from lab.cli.run import _cmd_run
    args = build_parser().parse_args(["run", "relay-failover", "--cluster",
                                      "localhost,127.0.0.2:2222", "--ssh-key", "/k",
                                      "--ssh-option", "UserKnownHostsFile=/kh"])
    cluster = cluster_of(args)
    assert cluster.servers == [HERE, THERE]
    assert cluster.access.key == "/k" and "UserKnownHostsFile=/kh" in \
        cluster.access.options(THERE)
    assert cluster_of(build_parser().parse_args(["run", "relay-failover"])) is None
    bad = build_parser().parse_args(["run", "relay-failover", "--cluster", "lab2,lab2"])
    assert _cmd_run(bad, None) == 2
    assert "listed twice" in capsys.readouterr().err


def test_a_fetch_on_demand_takes_the_hosts_files_or_only_those_named(tmp_path):
    """view_command (the far end of a console's fetch) run here with sh: every
    generation of the named hosts, or only their files named like the patterns;
    an empty archive when none is there; a log still growing is no failure."""
    src = tmp_path / "run"
    for name in ("mx1", "mx1.gen2", "relay1"):
        (src / name / "Maildir" / "new").mkdir(parents=True)
        (src / name / "events.jsonl").write_text(name)
        (src / name / "Maildir" / "new" / "1").write_text("m")

    def listing(names, patterns=()):
        p = subprocess.run(cluster_net.view_command(str(src), names, patterns),
                           capture_output=True, check=True)
        return sorted(subprocess.run(["tar", "-tf", "-"], input=p.stdout, capture_output=True,
                                     check=True).stdout.decode().split())

    assert [n for n in listing(["mx1"]) if not n.endswith("/")] == [
        "mx1.gen2/Maildir/new/1", "mx1.gen2/events.jsonl", "mx1/Maildir/new/1",
        "mx1/events.jsonl"]
    assert listing(["mx1", "relay1", "dns1"], ("*events.jsonl",)) == [
        "mx1.gen2/events.jsonl", "mx1/events.jsonl", "relay1/events.jsonl"]
    assert listing(["dns1"]) == []
    assert "|| [ $? -eq 1 ]" in cluster_net.view_command("/r", ["mx1"])[2]
