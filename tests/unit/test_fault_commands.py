"""Fault plans, decisions and wiring, without root: nothing here touches a network."""
import argparse
import json
import signal
import types

import pytest

import lab.faults as registry
from lab.faults import (blackhole, cut, delay, destroy, dns_outage, fault_process, heal, kill, loss,
                        partition, pause, procs, reset, restore, resume, targets)
from lab.faults.commands import in_ns, link_state, parse_intf

NS = ["nsenter", "-t", "42", "-n", "--"]


# --- plans -------------------------------------------------------------------

def test_cut_downs_both_ends_and_undo_brings_them_up():
    p = cut.plan([(42, "mx1-eth0"), (None, "s1-eth1")], "mx1-s1")
    assert p.apply == [NS + ["ip", "link", "set", "dev", "mx1-eth0", "down"],
                       ["ip", "link", "set", "dev", "s1-eth1", "down"]]
    assert p.undo == [NS + ["ip", "link", "set", "dev", "mx1-eth0", "up"],
                      ["ip", "link", "set", "dev", "s1-eth1", "up"]]
    assert p.lasting and p.capture == [(42, "mx1-eth0"), (None, "s1-eth1")]
    assert p.matched == {"link": "mx1-s1", "interfaces": ["42/mx1-eth0", "s1-eth1"], "routes": []}


def test_restore_and_heal_are_instant_ups_and_partition_is_a_cut():
    r = restore.plan([(42, "mx1-eth0"), (None, "s1-eth1")])
    assert not r.lasting and not r.undo
    assert r.apply[0][-1] == "up" and r.apply[1] == ["ip", "link", "set", "dev", "s1-eth1", "up"]
    ends = [(None, "r1-eth1"), (7, "r2-eth1"), (None, "r1-eth2"), (7, "r3-eth1")]
    part = partition.plan(ends, "dc1|dc2")
    assert part.fault == "partition" and len(part.apply) == 4 and len(part.undo) == 4
    assert heal.plan(ends).fault == "heal" and not heal.plan(ends).lasting
    with pytest.raises(ValueError):
        cut.plan([])


def test_blackhole_drops_silently_and_only_what_it_names():
    p = blackhole.plan("bh-1", [25], "tcp", "mx1")
    tag = "maillab-fault:bh-1"
    spec = ["!", "-i", "lo", "-p", "tcp", "--dport", "25", "-m", "comment", "--comment", tag,
            "-j", "DROP"]
    assert p.apply == [["iptables", "-w", "-I", "INPUT", "1"] + spec]
    assert p.undo == [["iptables", "-w", "-D", "INPUT"] + spec]
    assert "REJECT" not in json.dumps(p.apply)   # DROP: no RST, no ICMP
    whole = blackhole.plan("bh-2")
    assert whole.apply[0][5:] == ["!", "-i", "lo", "-m", "comment", "--comment",
                                  "maillab-fault:bh-2", "-j", "DROP"]
    with pytest.raises(ValueError):
        blackhole.plan("x", [70000])


def test_dns_outage_blackholes_the_dns_port_for_udp_and_tcp():
    p = dns_outage.plan("dns-1", 5353, "dns1")
    protos = [(c[c.index("-p") + 1], c[c.index("--dport") + 1]) for c in p.apply]
    assert protos == [("tcp", "5353"), ("udp", "5353")] and p.fault == "dns-outage"
    assert len(p.undo) == 2


def test_blackhole_counts_what_its_own_rules_dropped():
    save = ('[5:300] -A INPUT ! -i lo -p tcp -m tcp --dport 25 -m comment --comment '
            '"maillab-fault:bh-1" -j DROP\n'
            '[9:900] -A INPUT -m comment --comment "maillab-fault:bh-10" -j DROP\n'
            '[1:60] -A INPUT -j ACCEPT\n')
    assert blackhole.dropped_counts(save, "maillab-fault:bh-1") == {"dropped_packets": 5,
                                                                   "dropped_bytes": 300}


def test_loss_queues_matched_packets_both_ways_with_bypass():
    p = loss.plan("loss-1", "mx1-eth0", 0.3, seed=1, match="-p icmp --icmp-type echo-request",
                  queue=12)
    chains = [(c[3], c[6]) for c in p.apply]
    assert chains == [("INPUT", "mx1-eth0"), ("FORWARD", "mx1-eth0"),
                      ("OUTPUT", "mx1-eth0"), ("FORWARD", "mx1-eth0")]
    assert [c[5] for c in p.apply] == ["-i", "-i", "-o", "-o"]
    for c in p.apply:
        assert c[-5:] == ["-j", "NFQUEUE", "--queue-num", "12", "--queue-bypass"][-5:] or \
            c[-6:] == ["-j", "NFQUEUE", "--queue-num", "12", "--queue-bypass"]
        assert "--icmp-type" in c
    assert [c[2] for c in p.undo] == ["-D"] * 4
    assert len(loss.plan("l", "e0", 0.1, direction="in").apply) == 2
    for bad in ({"rate": 1.5}, {"match": "-p tcp -j ACCEPT"}, {"direction": "sideways"}):
        kw = dict(fault_id="l", intf="e0", rate=0.1)
        kw.update(bad)
        with pytest.raises(ValueError):
            loss.plan(**kw)


def test_loss_decisions_are_reproducible_from_the_seed():
    def pattern(seed, n=1000):
        d = loss.LossDecider(0.3, seed)
        return [d.drop() for _ in range(n)], d
    a, da = pattern(1)
    b, db = pattern(1)
    c, _ = pattern(2)
    assert a == b and a != c
    assert 250 < sum(a) < 350
    assert da.fingerprint() == db.fingerprint() and da.dropped[:3] == [i + 1 for i, x in
                                                                        enumerate(a) if x][:3]


def test_delay_uses_netem_where_there_is_one_and_nfqueue_otherwise():
    assert delay.choose_method("auto", True) == "netem"
    assert delay.choose_method("auto", False) == "nfqueue"
    with pytest.raises(fault_process.Refused, match="sch_netem"):
        delay.choose_method("netem", False)
    n = delay.plan("d-1", "mx1-eth0", 40, 5, "netem", peer=(None, "s1-eth1"))
    assert n.apply == [["tc", "qdisc", "add", "dev", "mx1-eth0", "root", "netem", "delay", "40ms",
                        "5ms"],
                       ["tc", "qdisc", "add", "dev", "s1-eth1", "root", "netem", "delay", "40ms",
                        "5ms"]]
    assert n.undo[1] == ["tc", "qdisc", "del", "dev", "s1-eth1", "root"]
    q = delay.plan("d-1", "mx1-eth0", 40, method="nfqueue", queue=9)
    assert all("NFQUEUE" in c for c in q.apply) and len(q.apply) == 4
    with pytest.raises(ValueError):
        delay.plan("d", "e0", 10, jitter=20)


def test_delay_hold_queue_releases_in_time_order():
    now = [100.0]
    hq = delay.HoldQueue(40, 0, seed=1, now=lambda: now[0])
    hq.hold("a")
    now[0] += 0.01
    hq.hold("b")
    assert hq.due() == [] and abs(hq.next_in() - 0.03) < 1e-6
    now[0] += 0.031
    assert hq.due() == ["a"]
    now[0] += 0.01
    assert hq.due() == ["b"] and hq.next_in() is None
    hq.hold("c")
    assert hq.drain() == ["c"]
    jittered = delay.HoldQueue(40, 10, seed=3, now=lambda: 0.0)
    for i in range(50):
        jittered.hold(i)
    assert all(0.03 <= t <= 0.05 for t, _, _ in jittered.heap)


def test_kill_pause_resume_plans_signal_the_matched_processes():
    targets_ = [(101, ["python", "-m", "servers.mx"]), (102, ["python", "-m", "servers.mx"])]
    k = kill.plan("mx", targets_, "KILL", "mx@mx1")
    assert k.apply == [["kill", "-s", "KILL", "101", "102"]] and not k.lasting and not k.undo
    assert kill.plan("mx", targets_, "9").matched["signal"] == "KILL"
    p = pause.plan("mx", targets_)
    assert p.apply == [["kill", "-s", "STOP", "101", "102"]]
    assert p.undo == [["kill", "-s", "CONT", "101", "102"]] and p.lasting
    assert resume.plan("mx", targets_).apply == [["kill", "-s", "CONT", "101", "102"]]
    with pytest.raises(ValueError, match="no process"):
        kill.plan("mx", [], label="mx@mx1")
    with pytest.raises(ValueError, match="signal"):
        kill.plan("mx", targets_, "NOSUCH")


def test_processes_match_by_namespace_and_service():
    table = [(1, "net:[1]", ["bash", "--norc", "-is", "mininet:mx1"]),
             (2, "net:[1]", ["/venv/bin/python", "-m", "servers.mx", "--port", "25"]),
             (3, "net:[2]", ["/venv/bin/python", "-m", "servers.mx"]),
             (4, "net:[1]", ["/venv/bin/python", "tests/lab/echo_server.py", "10.0.0.1", "7"]),
             (5, "net:[1]", ["/venv/bin/python", "-m", "servers.mxfoo"])]
    assert [p for p, _ in procs.matching(table, "net:[1]", "mx")] == [2]
    assert [p for p, _ in procs.matching(table, "net:[1]", "echo_server")] == [4]
    assert [p for p, _ in procs.matching(table, "net:[1]", None, exclude={1})] == [2, 4, 5]


def test_destroy_freezes_deletes_interfaces_then_kills_everything_but_the_shell():
    # frozen first: a server left running while its link goes stores a message
    # whose 250 never reaches the sender, who then sends it again elsewhere
    p = destroy.plan(42, ["mx1-eth0"], [(50, ["python", "-m", "servers.mx"])], "mx1")
    assert p.apply == [["kill", "-s", "STOP", "50"],
                       NS + ["ip", "link", "del", "dev", "mx1-eth0"], ["kill", "-s", "KILL", "50"]]
    assert not p.lasting and not p.undo


def test_reset_plan_queues_the_sessions_both_ways_and_undoes_it():
    p = reset.plan("10.0.1.10:25", "mx1-eth0", after_bytes=200, client="10.0.1.20",
                   fault_id="reset-7", queue=12)
    assert p.matched["filter"] == "tcp and host 10.0.1.10 and port 25"
    assert p.lasting and len(p.apply) == len(p.undo) == 4     # INPUT, FORWARD, OUTPUT, FORWARD
    text = [" ".join(a) for a in p.apply]
    assert any("-I INPUT 1 -i mx1-eth0 -p tcp -d 10.0.1.10 --dport 25" in t for t in text)
    assert any("-I OUTPUT 1 -o mx1-eth0 -p tcp -s 10.0.1.10 --sport 25" in t for t in text)
    assert all("--queue-num 12" in t and "--queue-bypass" in t for t in text)
    assert [a[3] for a in p.undo] == [a[3] for a in p.apply] and all(a[2] == "-D" for a in p.undo)
    for bad in ("10.0.1.10", "mx1:25", "10.0.1.10:99999"):
        with pytest.raises(ValueError):
            reset.plan(bad, "e0")
    with pytest.raises(ValueError):
        reset.plan("10.0.1.10:25", "e0", client="client1")


def _tracker_feed(t):
    C, S = ("10.0.0.1", 40000), ("10.0.0.2", 25)
    return lambda src, dst, seq, flags, n: t.segment(src[0], src[1], dst[0], dst[1], seq, flags, n), C, S


def test_reset_tracker_holds_the_segment_that_crosses_the_threshold_and_resets_both_ends():
    t = reset.SessionTracker("10.0.0.2", 25, after_bytes=100)
    seg, C, S = _tracker_feed(t)
    assert seg(C, S, 1000, reset.SYN, 0) == (True, [])
    assert seg(S, C, 5000, reset.SYN | 0x10, 0) == (True, [])   # SYN-ACK: server next = 5001
    assert seg(C, S, 1001, 0x10, 60) == (True, [])               # 60 bytes: not yet
    assert seg(S, C, 5001, 0x18, 20) == (True, [])               # server next = 5021
    assert seg(C, S, 1001, 0x10, 60) == (True, [])               # a retransmission: still 60
    deliver, rsts = seg(C, S, 1061, 0x18, 50)                    # 110 bytes > 100: held back
    assert deliver is False
    to_client, to_server = rsts
    assert to_client == {"to": "client", "src": "10.0.0.2", "sport": 25, "dst": "10.0.0.1",
                         "dport": 40000, "seq": 5021}
    # the server never got the held segment: it expects its first byte, 1061
    assert to_server == {"to": "server", "src": "10.0.0.1", "sport": 40000, "dst": "10.0.0.2",
                         "dport": 25, "seq": 1061}
    assert seg(C, S, 1111, 0x18, 50) == (False, [])              # the rest of it: dropped
    assert seg(S, C, 5021, 0x10, 0) == (False, [])               # the server's ACKs too
    assert t.segment("10.0.0.2", 25, "10.0.0.1", 40000, 5021, reset.RST, 0) == (True, [])
    assert t.resets == [{"client": "10.0.0.1:40000", "client_bytes": 110, "bytes_delivered": 60,
                         "rst_to_client_seq": 5021, "rst_to_server_seq": 1061}]
    assert t.dropped == 3


def test_reset_tracker_gives_the_same_verdicts_for_the_same_segments():
    """No clock in the decision: the same segments, the same resets (exercise 9)."""
    def run():
        t = reset.SessionTracker("10.0.0.2", 25, after_bytes=1500, max_resets=2, client="10.0.0.1")
        out = []
        for n, client in enumerate(["10.0.0.1", "10.0.0.3", "10.0.0.1", "10.0.0.1"]):
            port = 40000 + n
            out.append(t.segment(client, port, "10.0.0.2", 25, 100, reset.SYN, 0))
            out.append(t.segment("10.0.0.2", 25, client, port, 900, reset.SYN | 0x10, 0))
            for k in range(20):
                out.append(t.segment(client, port, "10.0.0.2", 25, 101 + k * 1000, 0x18, 1000))
        return out, t.resets
    first, second = run(), run()
    assert first == second
    assert [r["client"] for r in first[1]] == ["10.0.0.1:40000", "10.0.0.1:40002"]  # not .3, max 2
    assert all(r["client_bytes"] == 2000 for r in first[1])


def test_reset_tracker_wraps_sequence_numbers_and_honours_max_resets():
    t = reset.SessionTracker("10.0.0.2", 25, after_bytes=20, max_resets=1)
    t.segment("10.0.0.2", 25, "10.0.0.1", 1, 0xFFFFFFFF, 0x10, 1)      # server next = 0
    assert t.segment("10.0.0.1", 1, "10.0.0.2", 25, 0xFFFFFFF0, 0x18, 10) == (True, [])
    deliver, first = t.segment("10.0.0.1", 1, "10.0.0.2", 25, 0xFFFFFFFA, 0x18, 32)   # wraps
    assert not deliver and first[1]["seq"] == 0xFFFFFFFA and first[0]["seq"] == 0
    assert t.resets[0]["client_bytes"] == 42
    t.segment("10.0.0.2", 25, "10.0.0.1", 2, 7, 0x10, 0)
    assert t.segment("10.0.0.1", 2, "10.0.0.2", 25, 9, 0x18, 50) == (True, [])   # max 1


# --- helpers, registry, runner ------------------------------------------------

def test_namespace_and_interface_helpers():
    assert in_ns(None, ["ip", "-j", "link"]) == ["ip", "-j", "link"]
    assert in_ns(42, ["ip"]) == NS + ["ip"]
    assert parse_intf("42/mx1-eth0") == (42, "mx1-eth0") and parse_intf("s1-eth1") == (None, "s1-eth1")
    with pytest.raises(ValueError):
        parse_intf("x/eth0")
    assert link_state('[{"ifname": "h1-eth0", "flags": ["BROADCAST", "MULTICAST"]}]') == "down"
    assert link_state('[{"ifname": "h1-eth0", "flags": ["BROADCAST", "UP", "LOWER_UP"]}]') == "up"
    assert link_state('[{"ifname": "h1", "flags": ["NO-CARRIER", "BROADCAST", "UP"]}]') == "no-carrier"
    assert link_state("") == "missing"


def test_every_registered_fault_is_a_runnable_module_with_a_pure_plan():
    assert set(registry.FAULTS) >= {"cut", "restore", "partition", "heal", "blackhole", "reset",
                                    "loss", "delay", "kill", "pause", "resume", "destroy",
                                    "dns-outage"}
    import importlib
    for spec in registry.FAULTS.values():
        mod = importlib.import_module(spec.module)
        assert callable(mod.plan) and callable(mod.plan_from_args) and callable(mod.main)
        help_text = fault_process.build_parser(mod).format_help()
        assert "--duration" in help_text and "--events" in help_text
    with pytest.raises(targets.TargetError, match="no fault"):
        registry.get("earthquake")


class FakeModule(types.ModuleType):
    def __init__(self, plan, fail_on=None):
        super().__init__("lab.faults.fake")
        self._plan, self.fail_on = plan, fail_on

    def plan_from_args(self, args, fault_id):
        return self._plan


def _args(tmp_path, **kw):
    a = argparse.Namespace(id="fake-1", events=str(tmp_path / "ev.jsonl"), duration=0.0,
                           pcap_dir=None, verbose=0)
    a.__dict__.update(kw)
    return a


def _events(tmp_path):
    return [json.loads(l) for l in open(tmp_path / "ev.jsonl")]


def test_runner_applies_holds_and_undoes_writing_start_and_end(tmp_path):
    from lab.faults.commands import Plan
    plan = Plan("fake", "fake it", apply=[["a"], ["b"]], undo=[["-a"], ["-b"]],
                matched={"what": "x"})
    ran = []
    status = fault_process.run(FakeModule(plan), _args(tmp_path), execute=lambda argv: ran.append(argv))
    assert status == 0 and ran == [["a"], ["b"], ["-b"], ["-a"]]
    start, end = _events(tmp_path)
    assert (start["event"], start["service"], start["fault"], start["id"]) == \
        ("fault_start", "fault", "fake", "fake-1")
    assert start["apply"] == ["a", "b"] and start["matched"] == {"what": "x"}
    assert end["event"] == "fault_end" and end["ok"] and end["undone"]
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def test_runner_undoes_everything_when_an_apply_fails(tmp_path):
    from lab.faults.commands import Plan
    plan = Plan("fake", "fake it", apply=[["a"], ["boom"], ["c"]], undo=[["-a"], ["-boom"], ["-c"]])
    ran = []

    def execute(argv):
        ran.append(argv)
        if argv == ["boom"]:
            raise fault_process.CommandFailed("boom: exit 1")
    assert fault_process.run(FakeModule(plan), _args(tmp_path), execute=execute) == fault_process.EXIT_FAILED
    assert ran == [["a"], ["boom"], ["-a"]]     # only what was applied is undone
    [end] = _events(tmp_path)
    assert end["event"] == "fault_end" and not end["ok"] and "boom" in end["error"]
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def test_runner_reports_a_refusal_and_does_nothing(tmp_path):
    class Refusing(FakeModule):
        def plan_from_args(self, args, fault_id):
            raise fault_process.Refused("no netem here")
    ran = []
    assert fault_process.run(Refusing(None), _args(tmp_path), execute=ran.append) == fault_process.EXIT_REFUSED
    assert ran == [] and _events(tmp_path)[0]["event"] == "fault_refused"


# --- lab names to fault arguments (a fake net: no Mininet needed) --------------

class Node:
    def __init__(self, name, pid, ns=True, ip=None):
        self.name, self.pid, self.inNamespace, self._ip = name, pid, ns, ip
        self.intfs = []

    def IP(self):
        return self._ip

    def defaultIntf(self):
        return self.intfs[0] if self.intfs else None

    def intfNames(self):
        return ["lo"] + [i.name for i in self.intfs]


class Intf:
    def __init__(self, node, name):
        self.node, self.name = node, name
        node.intfs.append(self)


class Link:
    def __init__(self, a, ai, b, bi):
        self.intf1, self.intf2 = Intf(a, ai), Intf(b, bi)


class Net:
    def __init__(self):
        mx1 = Node("mx1", 100, ip="10.0.1.10")
        dns1 = Node("dns1", 101, ip="10.0.1.53")
        s1, s2 = Node("s1", 1, ns=False), Node("s2", 2, ns=False)
        self.nameToNode = {n.name: n for n in (mx1, dns1, s1, s2)}
        self.hosts = [mx1, dns1]
        self.links = [Link(mx1, "mx1-eth0", s1, "s1-eth1"), Link(dns1, "dns1-eth0", s1, "s1-eth2"),
                      Link(s1, "s1-eth3", s2, "s2-eth1")]

    def __getitem__(self, name):
        return self.nameToNode[name]

    def linksBetween(self, a, b):
        return [l for l in self.links if {l.intf1.node, l.intf2.node} == {a, b}]


def test_targets_turn_lab_names_into_module_arguments():
    net = Net()
    c = registry.get("cut").launch(net, ["mx1", "s1"])
    assert c.node is None and c.argv == ["--intf", "100/mx1-eth0", "--intf", "s1-eth1",
                                         "--label", "mx1-s1"]
    assert registry.get("restore").launch(net, ["mx1-eth0"]).argv == c.argv
    assert registry.get("cut").launch(net, ["mx1:s1"]).argv == c.argv
    bh = registry.get("blackhole").launch(net, ["mx1", "--port", "25"])
    assert bh.node is net["mx1"] and bh.argv[:2] == ["--port", "25"]
    dns = registry.get("dns-outage").launch(net, [])
    assert dns.node is net["dns1"] and dns.argv[:2] == ["--port", "53"]
    r = registry.get("reset").launch(net, ["mx1:25", "--after-bytes", "200", "--from", "mx1"])
    assert r.node is net["mx1"] and r.argv[:4] == ["--server", "10.0.1.10:25", "--iface", "mx1-eth0"]
    assert r.argv[-2:] == ["--client", "10.0.1.10"] and "--queue" in r.argv
    lo = registry.get("loss").launch(net, ["s1:mx1", "--rate", "0.3"])
    assert lo.node is net["mx1"] and lo.argv[:2] == ["--intf", "mx1-eth0"]
    d = registry.get("delay").launch(net, ["mx1:s1", "--ms", "30"])
    assert d.node is net["mx1"] and d.argv[2:4] == ["--peer", "%d/s1-eth1" % __import__("os").getpid()]
    k = registry.get("kill").launch(net, ["mx@mx1", "--signal", "KILL"])
    assert k.node is None and k.argv == ["--service", "mx", "--netns-pid", "100", "--label", "mx@mx1",
                                         "--signal", "KILL"]
    de = registry.get("destroy").launch(net, ["mx1"])
    assert de.argv == ["--netns-pid", "100", "--intf", "mx1-eth0", "--label", "mx1"]
    p = registry.get("partition").launch(net, ["s1:s2", "--label", "dc1|dc2"])
    assert p.argv == ["--intf", "s1-eth3", "--intf", "s2-eth1", "--label", "dc1|dc2"]


def test_targets_refuse_what_the_lab_does_not_have():
    net = Net()
    for name, args, msg in (("cut", ["mx1", "s2"], "no link"), ("cut", ["nosuch", "s1"], "no node"),
                            ("loss", ["s1:s2", "--rate", "0.1"], "root-namespace"),
                            ("kill", ["mx1"], "SERVICE@HOST"), ("reset", ["mx1"], "HOST:PORT"),
                            ("loss", ["mx1:s1"], "rate")):
        with pytest.raises(targets.TargetError, match=msg):
            registry.get(name).launch(net, args)


def test_cli_lists_helps_and_refuses_without_starting_anything():
    from lab.faults.console import events_file, run_fault_command

    class Lab:
        net = Net()
        rundir = "/tmp/maillab-run-x"
    lab = Lab()
    listing = run_fault_command(lab, "fault list")
    assert all(name in listing for name in registry.FAULTS) and "in force: none" in listing
    assert "fault clear" in run_fault_command(lab, "fault help")
    assert "no fault 'earthquake'" in run_fault_command(lab, "fault earthquake mx1")
    assert "name the links" in run_fault_command(lab, "fault partition dc1 dc2")
    assert "no link" in run_fault_command(lab, "fault cut mx1 s2")
    assert events_file(lab) == "/tmp/maillab-run-x/faults/fault-events.jsonl"


def test_partition_links_come_from_the_labs_address_plan():
    from lab.faults.console import partition_links
    NS_ = types.SimpleNamespace
    plan = NS_(dcs=[NS_(name="dc1", router="r1"), NS_(name="dc2", router="r2"),
                    NS_(name="dc3", router="r3")],
               router_links=[NS_(a="r0", b="r1"), NS_(a="r1", b="r2"), NS_(a="r1", b="r3")])
    lab = NS_(plan=plan)
    assert partition_links(lab, "dc2", "dc1") == [("r1", "r2")]
    with pytest.raises(targets.TargetError, match="no direct link"):
        partition_links(lab, "dc2", "dc3")
    with pytest.raises(targets.TargetError, match="no data center"):
        partition_links(lab, "dc9", "dc1")
    assert partition_links(NS_(partition_links=lambda a, b: [("x", "y")]), "a", "b") == [("x", "y")]


def test_cut_puts_back_the_routes_the_kernel_deletes_with_the_link():
    out = [{"dst": "default", "gateway": "10.0.1.1", "flags": []},
           {"dst": "10.0.1.0/24", "protocol": "kernel", "scope": "link", "prefsrc": "10.0.1.10",
            "flags": []},
           {"dst": "10.0.2.0/24", "gateway": "10.255.0.2", "protocol": "static",
            "flags": ["linkdown"]}]
    assert cut.routes_to_keep(out) == ["default via 10.0.1.1", "10.0.2.0/24 via 10.255.0.2 proto static"]
    p = cut.plan([(42, "r1-eth2"), (43, "r2-eth1")], "r1-r2",
                 routes={(42, "r1-eth2"): ["10.0.2.0/24 via 10.255.0.2"]})
    assert p.undo == [NS + ["ip", "link", "set", "dev", "r1-eth2", "up"],
                      ["nsenter", "-t", "43", "-n", "--", "ip", "link", "set", "dev", "r2-eth1", "up"],
                      NS + ["ip", "-4", "route", "replace", "10.0.2.0/24", "via", "10.255.0.2",
                            "dev", "r1-eth2"]]
    assert p.undo_for(2) == p.undo    # not paired with apply: all of it, in order
    assert p.matched["routes"] == ["10.0.2.0/24 via 10.255.0.2 dev r1-eth2"]


def test_capture_sees_listening_written_in_the_same_burst_as_a_warning(caplog):
    """tcpdump -i any writes a warning and "listening on" at once; both must be seen
    at once, not after the timeout (which logs that tcpdump never said so)."""
    import subprocess

    from lab.faults.capture import Captures
    proc = subprocess.Popen(
        ["sh", "-c", "printf 'tcpdump: WARNING: any: no promiscuous mode\\n"
         "tcpdump: listening on any\\n' >&2; exec cat"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        Captures._wait_listening(proc, "x.pcap", timeout=5.0)
        assert "did not report listening" not in caplog.text
    finally:
        proc.stdin.close()
        proc.wait(timeout=5)


# --- a lab over several servers: a fault runs where its target lives -------------------

class RemoteNode(Node):
    """A node on another server (lab.host.cluster_net.PlacedMixin's attributes); its
    PIDs are that server's."""

    def __init__(self, name, pid, place, ns=True, ip=None):
        from lab.host.ssh import Access
        super().__init__(name, pid, ns, ip)
        self.isRemote, self.place, self.access = True, place, Access(key="/k")


def _cluster_net():
    """r0 here; r1, mx1 and s1 on 127.0.0.2:2222; the r0-r1 link is the tunnel."""
    from lab.host.ssh import Server
    there = Server("127.0.0.2", port=2222)
    net = Net.__new__(Net)
    r0 = Node("r0", 100)
    r1, mx1 = RemoteNode("r1", 7, there), RemoteNode("mx1", 9, there, ip="10.0.1.10")
    s1 = RemoteNode("s1", 3, there, ns=False)
    net.nameToNode = {n.name: n for n in (r0, r1, mx1, s1)}
    net.hosts = [mx1]
    net.links = [Link(r0, "r0-eth1", r1, "r1-eth1"), Link(mx1, "mx1-eth0", s1, "s1-eth1")]
    return net, there


def test_a_fault_on_another_server_runs_there_with_that_servers_pids():
    net, there = _cluster_net()
    c = registry.get("cut").launch(net, ["mx1", "s1"])
    # both ends there: the fault runs in that server's root namespace, PIDs as it sees them
    assert c.node is None and c.root_of is net["mx1"] and c.remote and c.ssh == {}
    assert c.argv == ["--intf", "9/mx1-eth0", "--intf", "s1-eth1", "--label", "mx1-s1"]
    k = registry.get("kill").launch(net, ["mx@mx1"])
    assert k.runner is net["mx1"] and k.remote and k.argv[:4] == ["--service", "mx",
                                                                  "--netns-pid", "9"]
    de = registry.get("destroy").launch(net, ["mx1"])
    assert de.root_of is net["mx1"] and de.argv[:2] == ["--netns-pid", "9"]
    pa = registry.get("pause").launch(net, ["mx@mx1"])
    assert pa.remote and pa.argv[-2:] == ["--capture", "9/mx1-eth0"]
    bh = registry.get("blackhole").launch(net, ["mx1"])
    assert bh.runner is net["mx1"] and bh.remote
    # one machine: nothing changes
    assert not registry.get("cut").launch(Net(), ["mx1", "s1"]).remote


def test_a_link_between_two_servers_is_cut_from_here_the_far_end_through_ssh():
    net, there = _cluster_net()
    c = registry.get("cut").launch(net, ["r0", "r1"])
    assert c.node is None and c.root_of is None and not c.remote
    assert c.argv[:4] == ["--intf", "100/r0-eth1", "--intf", "7@127.0.0.2:2222/r1-eth1"]
    access = c.ssh["127.0.0.2:2222"]
    assert access["argv"][0] == "ssh" and access["argv"][-1] == "root@127.0.0.2"
    assert "2222" in access["argv"] and access["sudo"] is False
    # delay over the tunnel runs at the end here, and reaches the peer through ssh
    d = registry.get("delay").launch(net, ["r0:r1", "--ms", "30"])
    assert d.node is net["r0"] and d.argv[:4] == ["--intf", "r0-eth1", "--peer",
                                                   "7@127.0.0.2:2222/r1-eth1"]
    assert list(d.ssh) == ["127.0.0.2:2222"]


def test_a_namespace_on_another_server_is_entered_there_through_ssh(monkeypatch):
    ssh = {"lab2": {"argv": ["ssh", "-p", "22", "root@lab2"], "sudo": False},
           "u@lab3": {"argv": ["ssh", "u@lab3"], "sudo": True}}
    assert parse_intf("7@lab2/r1-eth1") == ("7@lab2", "r1-eth1")
    assert parse_intf("@lab2/s1-eth1") == ("@lab2", "s1-eth1")
    assert parse_intf("7@u@lab3/x") == ("7@u@lab3", "x")
    for bad in ("x@lab2/i", "7@/i", "7@lab2/"):
        with pytest.raises(ValueError):
            parse_intf(bad)
    assert in_ns("7@lab2", ["ip", "link", "set", "dev", "r1 eth1", "down"], ssh) == [
        "ssh", "-p", "22", "root@lab2", "nsenter -t 7 -n -- ip link set dev 'r1 eth1' down"]
    assert in_ns("@u@lab3", ["tc", "-j", "qdisc"], ssh) == ["ssh", "u@lab3", "sudo -n tc -j qdisc"]
    with pytest.raises(ValueError, match="no ssh access to server lab9"):
        in_ns("1@lab9", ["true"], ssh)
    monkeypatch.setenv("MAILLAB_FAULT_SSH", json.dumps(ssh))     # as start_fault sets it
    p = cut.plan([(100, "r0-eth1"), ("7@lab2", "r1-eth1")], "r0-r1")
    assert p.apply[1] == ["ssh", "-p", "22", "root@lab2",
                          "nsenter -t 7 -n -- ip link set dev r1-eth1 down"]
    assert p.matched["interfaces"] == ["100/r0-eth1", "7@lab2/r1-eth1"]
    assert p.capture == [(100, "r0-eth1"), ("7@lab2", "r1-eth1")]
    p = cut.plan([("7@lab2", "r1-eth1")], "r0-r1",
                 routes={("7@lab2", "r1-eth1"): ["10.0.2.0/24 via 10.255.0.2"]})
    assert p.matched["routes"] == ["10.0.2.0/24 via 10.255.0.2 dev r1-eth1"]
    assert p.undo[-1][-1] == ("nsenter -t 7 -n -- ip -4 route replace 10.0.2.0/24 via "
                              "10.255.0.2 dev r1-eth1")


def test_a_capture_on_another_server_streams_its_pcap_here_and_ends_with_its_input():
    from lab.faults.capture import remote_tcpdump_cmd
    argv = remote_tcpdump_cmd("7@lab2", "r1-eth1", ["tcp port 25"],
                              {"lab2": {"argv": ["ssh", "root@lab2"], "sudo": False}})
    assert argv[:2] == ["ssh", "root@lab2"]
    script = argv[2]
    assert script.startswith("sh -c ")
    assert "nsenter -t 7 -n -- tcpdump -i r1-eth1" in script and "-w -" in script
    assert "read _ignored; kill -TERM $p; wait $p" in script


def test_a_fault_on_another_server_reports_its_events_here_through_its_output(tmp_path):
    """The remote path of start_fault, with a "remote" host whose popen runs here
    (the test's stand-in for ssh): the fault's events come back on its standard
    output into the events file here, its other output into its log, and it is
    started in its server's root namespace (no mnexec)."""
    import os
    import shutil
    import subprocess
    import sys
    from lab.faults.api import start_fault
    from lab.host.ssh import Server

    # a program of its own name: the fault signals every process of that name here
    name = "victim%d" % os.getpid()
    os.symlink(shutil.which("sleep"), str(tmp_path / name))
    victim = subprocess.Popen([str(tmp_path / name), "60"])
    seen = {}

    class Here(RemoteNode):
        def popen(self, argv, **kwargs):
            seen.update(kwargs)
            return subprocess.Popen(argv, **{k: v for k, v in kwargs.items() if k != "mncmd"})

    net = Net.__new__(Net)
    h = Here("h1", os.getpid(), Server("lab2"))
    net.nameToNode, net.hosts, net.links = {"h1": h}, [h], []
    events = str(tmp_path / "faults" / "events.jsonl")
    try:
        handle = start_fault(net, "kill", ["%s@h1" % name], str(tmp_path), events)
        assert victim.wait(10) == -signal.SIGTERM
    finally:
        if victim.poll() is None:
            victim.kill()
    assert seen["mncmd"] == [] and seen["stdout"] == subprocess.PIPE
    end = handle.wait(10)
    assert end["ok"] and end["matched"]["processes"][0]["pid"] == victim.pid
    with open(events) as f:
        assert [json.loads(l)["event"] for l in f] == ["fault_start", "fault_end"]
    with open(handle.log_path) as f:
        log = f.read()
    assert "--events -" in log and "fault_start" not in log
    assert sys.executable in log


def test_a_remote_faults_pcaps_are_fetched_to_the_same_paths_once_it_ends(tmp_path):
    """RelayedProcess: the pcaps its fault_start names are copied here from its
    server when it ends (here a stand-in whose "ssh" cats the server's copy)."""
    import subprocess
    import sys
    from lab.faults.api import RelayedProcess
    there = tmp_path / "there.pcap"
    there.write_bytes(b"\xd4\xc3\xb2\xa1 packets")
    here = tmp_path / "pcaps" / "cut-1-r1-eth1.pcap"

    class Access:
        def ssh_argv(self, place, argv):
            assert argv == ["cat", str(here)]
            return ["cat", str(there)]

    node = types.SimpleNamespace(access=Access(), place="lab2")
    start = json.dumps({"event": "fault_start", "id": "cut-1", "pcaps": [str(here)]})
    proc = subprocess.Popen([sys.executable, "-c", "print(%r); print('a log line')" % start],
                            stdout=subprocess.PIPE)
    events, log = tmp_path / "events.jsonl", tmp_path / "cut-1.log"
    relayed = RelayedProcess(proc, node, str(events), str(log))
    assert relayed.wait(10) == 0
    assert here.read_bytes() == there.read_bytes()
    assert json.loads(events.read_text())["event"] == "fault_start"
    assert log.read_text() == "a log line\n"
