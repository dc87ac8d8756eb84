"""Every fault, on real traffic in a small Mininet network: its effect, and
that undoing it restores traffic and leaves nothing behind."""
import os
import shutil
import sys
import tempfile

import pytest
from mininet.topo import Topo

from lab import ROOT
from lab.host import iproute
from lab.host.clean import clean_unlocked, leftovers
from lab.faults.api import FaultRefused, start_fault
from lab.faults.console import run_fault_command
from lab.faults.leftovers import fault_leftovers
from lab.host.lock import lab_lock
from lab.host.net import running_net
from lab.host.waiting import tcp_open_from, wait_until
from servers.common.events import read_events

pytestmark = pytest.mark.lab
HERE = os.path.dirname(os.path.abspath(__file__))
ECHO = os.path.join(HERE, "echo_server.py")
SLOW_CLIENT = os.path.join(HERE, "slow_smtp_client.py")
PROBE = os.path.join(HERE, "connect_probe.py")
PY = sys.executable
H1, H2, H3 = "10.9.0.1", "10.9.0.2", "10.9.0.3"


class ThreeHosts(Topo):
    def build(self):
        s1 = self.addSwitch("s1")
        for i in (1, 2, 3):
            self.addLink(self.addHost("h%d" % i, ip="10.9.0.%d/24" % i), s1)


@pytest.fixture(scope="module")
def net():
    """One network for the module (building one per test costs seconds);
    the lab lock held throughout, the machine proven clean at the end."""
    with lab_lock(timeout=900):
        clean_unlocked()
        try:
            with running_net(ThreeHosts()) as n:
                n.pingAll(timeout=1)   # warm the ARP caches
                yield n
        finally:
            left = leftovers()
            clean_unlocked()
        assert not left, "the faults tests left these behind: %s" % left


class Faults:
    """start_fault into a fresh run directory, remembering what it started."""

    def __init__(self, net):
        self.net = net
        self.run_dir = tempfile.mkdtemp(prefix="maillab-test-faults-")
        self.events = os.path.join(self.run_dir, "events", "faults.jsonl")
        self.handles = []

    def start(self, name, args, **kwargs):
        handle = start_fault(self.net, name, args, self.run_dir, self.events, **kwargs)
        self.handles.append(handle)
        return handle


@pytest.fixture
def faults(net):
    """Faults for one test; afterwards, every fault stopped and nothing left behind."""
    f = Faults(net)
    yield f
    try:
        for handle in f.handles:
            if handle.running:   # a test that failed half-way
                handle.stop()
        assert fault_leftovers(net) == {}
    finally:
        shutil.rmtree(f.run_dir, ignore_errors=True)


def server(net, host, script, port, probe_from="h1"):
    return started(net, host, [PY, script, net[host].IP(), str(port)], port, probe_from)


def mx_server(net, host, port, maildir):
    """The lab's real messaging server, servers.mx."""
    return started(net, host, [PY, "-m", "servers.mx", "--domain", "lab", "--maildir", maildir,
                               "--listen", net[host].IP(), "--port", str(port)], port)


def started(net, host, argv, port, probe_from="h1"):
    proc = net[host].popen(argv, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    wait_until(lambda: tcp_open_from(net[probe_from], net[host].IP(), port), 10,
               "%s on %s" % (" ".join(argv[1:3]), host))
    return proc


def connect(host, ip, port, timeout=1.0):
    """'open', 'refused' or 'timeout': what a TCP connect from ``host`` got."""
    return host.cmd("%s %s %s %d %s" % (PY, PROBE, ip, port, timeout)).strip()


def echo_reply(host, ip, port, timeout=1):
    # in a child bash: an fd opened by the host's own shell would outlive the test
    return "maillab" in host.cmd("timeout %s bash -c 'exec 3<>/dev/tcp/%s/%d; echo maillab >&3; "
                                 "head -n1 <&3'" % (timeout, ip, port))


def rsts_in(pcap):
    from scapy.all import TCP, rdpcap
    return [p for p in rdpcap(pcap) if TCP in p and p[TCP].flags & 0x04]


def syns_in(pcap):
    from scapy.all import TCP, rdpcap
    return [p for p in rdpcap(pcap) if TCP in p and p[TCP].flags == 0x02]


def routes(host):
    """The host's routes as ``ip route`` lines, read as JSON (never coloured)."""
    found = iproute.on_host(host, "route", "show")
    return iproute.route_texts(found) + [r["dst"] for r in found]


def stop(proc):
    proc.terminate()
    proc.wait(timeout=10)


def test_cut_takes_both_ends_down_and_stop_restores(net, faults):
    echo = server(net, "h2", ECHO, 7001)
    route = "10.99.0.0/24 via %s" % H1      # a static route the kernel drops with the link
    net["h2"].cmd("ip route add %s" % route)
    try:
        cut = faults.start("cut", ["h2", "s1"])
        assert "10.99.0.0/24" not in routes(net["h2"])
        assert connect(net["h1"], H2, 7001) != "open"
        ev = cut.stop()
        assert ev["ok"] and ev["operstate_during"] == {"h2-eth0": "down", "s1-eth2": "down"}
        wait_until(lambda: tcp_open_from(net["h1"], H2, 7001), 10, "echo after the cut ends")
        assert route in routes(net["h2"]) and ev["matched"]["routes"]

        cut = faults.start("cut", ["h2-eth0"])
        assert connect(net["h1"], H2, 7001) != "open"
        faults.start("restore", ["h2", "s1"])   # the standalone undo
        wait_until(lambda: tcp_open_from(net["h1"], H2, 7001), 10, "echo after restore")
        cut.stop()
        net["h2"].cmd("ip route del 10.99.0.0/24")
        kinds = [(e["event"], e["fault"]) for e in read_events(faults.events)]
        assert kinds.count(("fault_start", "cut")) == 2 and ("fault_end", "restore") in kinds
    finally:
        stop(echo)


def test_partition_cuts_every_listed_link_and_heal_restores(net, faults):
    part = faults.start("partition", ["h1:s1", "h3:s1", "--label", "dc1|dc2"])
    assert "0 received" in net["h2"].cmd("ping -c1 -W1 %s" % H1)
    assert "0 received" in net["h2"].cmd("ping -c1 -W1 %s" % H3)
    heal = faults.start("heal", ["h1:s1", "h3:s1"])
    assert heal.evidence()["ok"]
    wait_until(lambda: " 0% packet loss" in net["h2"].cmd("ping -c1 -W1 %s" % H3), 10, "heal")
    ev = part.stop()
    assert ev["matched"]["link"] == "dc1|dc2" and len(ev["matched"]["interfaces"]) == 4


def test_blackhole_makes_connects_time_out_without_rst(net, faults):
    echo = server(net, "h2", ECHO, 7002)
    try:
        bh = faults.start("blackhole", ["h2", "--port", "7002"])
        assert connect(net["h1"], H2, 7002, timeout=1) == "timeout"
        assert "1 received" in net["h1"].cmd("ping -c1 -W1 %s" % H2)   # only the port vanished
        ev = bh.stop()
        assert ev["dropped_packets"] >= 1
        [pcap] = bh.pcaps
        assert syns_in(pcap) and not rsts_in(pcap)
        assert connect(net["h1"], H2, 7002) == "open"
    finally:
        stop(echo)


def test_dns_outage_silences_the_dns_port(net, faults):
    dns = net["h3"].popen([PY, "-m", "dnslib.fixedresolver", "-r", ". 60 IN A 10.9.9.9",
                           "-a", H3, "-p", "53"])
    dig = "dig @%s -p 53 +time=1 +tries=1 +short maillab.test A" % H3
    try:
        wait_until(lambda: "10.9.9.9" in net["h1"].cmd(dig), 10, "fixed resolver on h3")
        outage = faults.start("dns-outage", ["h3"])
        answer = net["h1"].cmd(dig)
        assert "10.9.9.9" not in answer and "timed out" in answer
        ev = outage.stop()
        assert ev["dropped_packets"] >= 1 and ev["fault"] == "dns-outage"
        assert "10.9.9.9" in net["h1"].cmd(dig)
    finally:
        stop(dns)


def test_reset_breaks_smtp_data_with_a_sequenced_rst(net, faults):
    sink = mx_server(net, "h2", 2525, os.path.join(faults.run_dir, "maildir"))
    try:
        assert net["h1"].cmd("%s %s %s 2525 5" % (PY, SLOW_CLIENT, H2)).startswith("OK 250")
        reset = faults.start("reset", ["h2:2525", "--after-bytes", "600"])
        out = net["h1"].cmd("%s %s %s 2525 50" % (PY, SLOW_CLIENT, H2)).strip()
        assert out.startswith("FAILED") and ("ConnectionReset" in out or "Disconnected" in out), out
        ev = reset.stop()
        assert ev["rsts_injected"] == 2 and ev["resets"][0]["client_bytes"] > 600
        wire, loopback = reset.pcaps
        assert [p["IP"].dst for p in rsts_in(wire)] == [H1]       # to the client, on the wire
        assert [p["IP"].src for p in rsts_in(loopback)] == [H1]   # to the server, as if from it
        # both sides reset (the server's kernel handles the injected RST a moment later)
        wait_until(lambda: "2525" not in net["h2"].cmd("ss -tn state established"), 5,
                   "the server's session gone")
        assert net["h1"].cmd("%s %s %s 2525 5" % (PY, SLOW_CLIENT, H2)).startswith("OK 250")
        delivered = os.listdir(os.path.join(faults.run_dir, "maildir", "b@lab", "new"))
        assert len(delivered) == 2     # before and after the fault; the reset one never landed
    finally:
        stop(sink)


def _ping_loss_run(net, faults):
    loss = faults.start("loss", ["h2:s1", "--rate", "0.3", "--seed", "1", "--direction", "in",
                                 "--match", "-p icmp --icmp-type echo-request"])
    out = net["h1"].cmd("ping -q -n -c 1000 -i 0.002 -W 0.3 %s" % H2)
    ev = loss.stop()
    received = int(out.split(" received")[0].rsplit(" ", 1)[1])
    return received, ev


def test_loss_drops_a_seeded_fraction_the_same_way_twice(net, faults):
    received1, ev1 = _ping_loss_run(net, faults)
    received2, ev2 = _ping_loss_run(net, faults)
    assert ev1["matched_packets"] == 1000
    assert 250 <= ev1["dropped_packets"] <= 350
    assert received1 == 1000 - ev1["dropped_packets"]
    assert (received2, ev2["dropped_packets"], ev2["drop_pattern"]) == \
        (received1, ev1["dropped_packets"], ev1["drop_pattern"])
    assert " 0% packet loss" in net["h1"].cmd("ping -c 3 -i 0.01 -W 1 %s" % H2)


def _rtt_ms(host, ip):
    out = host.cmd("ping -q -n -c 4 -i 0.05 -W 2 %s" % ip)
    return float(out.split("rtt min/avg/max/mdev = ")[1].split("/")[1])


def test_delay_holds_packets_both_ways_or_refuses(net, faults):
    from lab.faults.delay import netem_available
    if not netem_available():
        with pytest.raises(FaultRefused, match="sch_netem"):
            faults.start("delay", ["h2:s1", "--ms", "40", "--method", "netem"])
    before = _rtt_ms(net["h1"], H2)
    delay = faults.start("delay", ["h2:s1", "--ms", "40"])
    during = _rtt_ms(net["h1"], H2)
    ev = delay.stop()
    assert during >= 80 > before      # 40 ms each way
    assert ev["matched"]["method"] == ("netem" if netem_available() else "nfqueue")
    assert _rtt_ms(net["h1"], H2) < 20


def test_kill_stops_the_service_and_closes_its_port(net, faults):
    mx = mx_server(net, "h2", 2526, os.path.join(faults.run_dir, "maildir"))
    try:
        kill = faults.start("kill", ["mx@h2"])
        ev = kill.evidence()
        assert ev["exited"] == [mx.pid] and mx.wait(timeout=5) is not None
        assert connect(net["h1"], H2, 2526) == "refused"
    finally:
        if mx.poll() is None:
            stop(mx)


def test_pause_hangs_the_service_and_resume_brings_it_back(net, faults):
    echo = server(net, "h2", ECHO, 7004)
    try:
        pause = faults.start("pause", ["echo_server@h2"])
        assert pause.evidence()["matched"]["signal"] == "STOP"
        assert not echo_reply(net["h1"], H2, 7004)       # the kernel accepts, nobody answers
        faults.start("resume", ["echo_server@h2"])
        assert echo_reply(net["h1"], H2, 7004, timeout=3)
        ev = pause.stop()
        assert ev["states"][str(echo.pid)] == "S"    # resumed already: sleeping, not stopped
        assert [os.path.basename(p) for p in pause.pcaps] == ["%s-h2-eth0.pcap" % pause.id]
        pause = faults.start("pause", ["echo_server@h2"], duration=0.5)
        assert pause.wait(timeout=10)["ok"]       # undone by its duration
        assert echo_reply(net["h1"], H2, 7004, timeout=3)
    finally:
        stop(echo)


def test_cli_list_start_clear_and_sweep(net, faults):

    class Lab:
        def __init__(self):
            self.net, self.run_dir = net, faults.run_dir

        def events_path(self, host):
            return os.path.join(self.run_dir, "events", "%s.jsonl" % host)

        def partition_links(self, a, b):
            return [("h1", "s1")] if (a, b) == ("dc1", "dc2") else []

    lab = Lab()
    assert "blackhole" in run_fault_command(lab, "fault list")
    out = run_fault_command(lab, "fault cut h3 s1")
    assert "in force" in out and "h3-s1" in run_fault_command(lab, "fault list")
    assert "in force" in run_fault_command(lab, "fault partition dc1 dc2")
    assert "0 received" in net["h2"].cmd("ping -c1 -W1 %s" % H1)
    assert "done" in run_fault_command(lab, "fault heal dc1 dc2")
    assert " 0% packet loss" in net["h2"].cmd("ping -c1 -W1 %s" % H1)
    assert "no node" in run_fault_command(lab, "fault cut nosuch s1")
    out = run_fault_command(lab, "fault blackhole h2 --port 9 --for 30")
    fid = out.split()[0]
    assert "(for 30 s)" in out and fid in run_fault_command(lab, "fault list")
    assert "stopped %s" % fid in run_fault_command(lab, "fault stop %s" % fid)
    assert fid not in run_fault_command(lab, "fault list")
    # a fault process killed outright cannot undo: clear sweeps what it left
    bh = start_fault(net, "blackhole", ["h3"], lab.run_dir, lab.events_path("faults"))
    bh.proc.kill()
    bh.proc.wait()
    assert "rules" in fault_leftovers(net)
    out = run_fault_command(lab, "fault clear")
    assert "stopped cut-" in out and "swept leftovers" in out and "rules" in out
    assert fault_leftovers(net) == {}
    assert " 0% packet loss" in net["h1"].cmd("ping -c1 -W1 %s" % H3)


def test_destroy_takes_the_host_off_the_network(net, faults):
    """Last: h3 is gone afterwards."""
    echo = server(net, "h3", ECHO, 7005)
    destroy = faults.start("destroy", ["h3"])
    ev = destroy.evidence()
    assert echo.wait(timeout=5) is not None
    assert ev["matched"]["interfaces"] == ["h3-eth0"]
    assert echo.pid in [p["pid"] for p in ev["matched"]["processes"]]
    assert "h3-eth0" not in iproute.interface_names(iproute.on_host(net["h3"], "link", "show"))
    assert not os.path.exists("/sys/class/net/s1-eth3")
    assert "0 received" in net["h1"].cmd("ping -c1 -W1 %s" % H3)
