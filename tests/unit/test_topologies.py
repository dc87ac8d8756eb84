"""Topologies are pure graphs: inspected without root."""
import ipaddress

import pytest

from topologies.n_dc import NDC
from topologies.one_dc import OneDC
from topologies.addressing import build_plan, mac_for
from topologies.two_dc import TwoDC


def link_pairs(topo):
    return {tuple(sorted(link)) for link in topo.links()}


def test_one_dc_hosts_switches_and_routed_links():
    t = OneDC()
    assert set(t.hosts()) == {"client1", "client2", "dns1", "mx1", "relay1", "r0", "r1"}
    assert set(t.switches()) == {"s0", "s1"}
    links = link_pairs(t)
    for h in ("dns1", "mx1", "relay1", "r1"):
        assert (h, "s1") in links
    for h in ("client1", "client2", "r0"):
        assert (h, "s0") in links
    assert ("r0", "r1") in links
    # no host of the sender site shares a LAN with the data center
    assert ("client1", "s1") not in links


def test_two_dc_has_a_second_dc_behind_a_wan_link():
    t = TwoDC(wan_bw=10)
    assert {"r2", "mx2", "s2"} <= set(t.hosts()) | set(t.switches())
    assert ("mx2", "s2") in link_pairs(t)
    wan = [info for a, b, info in t.links(withInfo=True) if {a, b} == {"r1", "r2"}]
    assert len(wan) == 1
    assert wan[0]["bw"] == 10 and "delay" not in wan[0]
    assert t.plan.host("mx2").dc == "dc2"
    assert t.plan.host("mx1").dc == t.plan.host("relay1").dc == "dc1"


def test_wan_delay_only_when_asked():
    t = TwoDC(wan_bw=10, wan_delay="20ms")
    wan = [info for a, b, info in t.links(withInfo=True) if {a, b} == {"r1", "r2"}][0]
    assert wan["delay"] == "20ms"
    plain = [info for a, b, info in TwoDC().links(withInfo=True) if {a, b} == {"r1", "r2"}][0]
    assert "cls" not in plain


def test_addresses_are_in_their_dc_subnets_and_routes_via_gateway():
    t = TwoDC()
    for name, info in t.plan.hosts.items():
        params = t.nodeInfo(name)
        net = ipaddress.IPv4Network("10.0.0.0/24" if info.dc == "site"
                                    else str(t.plan.dc(info.dc).subnet))
        assert ipaddress.IPv4Address(info.ip) in net
        assert params["ip"] == info.ip + "/24"
        assert params["defaultRoute"] == "via " + str(net.network_address + 1)


def test_macs_are_fixed_and_unique():
    t = NDC(3, 2)
    macs = [t.nodeInfo(h)["mac"] for h in t.hosts()]
    assert len(macs) == len(set(macs))
    assert t.nodeInfo("mx1")["mac"] == mac_for("10.0.1.10") == "02:00:0a:00:01:0a"
    # the same topology built again gives the same MACs (a re-created host keeps its MAC)
    assert [NDC(3, 2).nodeInfo(h)["mac"] for h in t.hosts()] == macs


def test_router_routes_reach_every_subnet():
    plan = build_plan(dcs=3, mx_per_dc=(1, 1, 1))
    assert dict(plan.routes("r0")) == {
        "10.0.1.0/24": "10.255.0.2", "10.0.2.0/24": "10.255.0.2", "10.0.3.0/24": "10.255.0.2",
        "10.255.0.4/30": "10.255.0.2", "10.255.0.8/30": "10.255.0.2"}
    r1 = dict(plan.routes("r1"))
    assert r1["10.0.0.0/24"] == "10.255.0.1"
    assert r1["10.0.2.0/24"] == "10.255.0.6" and r1["10.0.3.0/24"] == "10.255.0.10"
    r3 = dict(plan.routes("r3"))
    assert r3["10.0.0.0/24"] == r3["10.255.0.0/30"] == r3["10.255.0.4/30"] == "10.255.0.9"


def test_n_dc_4x4():
    t = NDC(4, 4)
    plan = t.plan
    assert len(plan.by_role("mx")) == 16
    for k in range(1, 5):
        members = plan.by_role("mx", dc="dc%d" % k)
        assert len(members) == 4
        assert all(t.nodeInfo(m.name)["dc"] == "dc%d" % k for m in members)
        assert ("r1", "r%d" % k) in link_pairs(t) or k == 1
    assert len({h.ip for h in plan.hosts.values()}) == len(plan.hosts)
    with pytest.raises(ValueError):
        NDC(0, 1)


def test_reserved_capacity_for_created_servers():
    plan = TwoDC().plan
    new = plan.plan_new_mx("dc2")
    assert (new.name, new.ip, new.dc, new.gateway) == ("mx3", "10.0.2.11", "dc2", "10.0.2.1")
    assert plan.plan_new_mx("dc1").ip == "10.0.1.11"
    with pytest.raises(KeyError):
        plan.plan_new_mx("dc9")


def test_router_interfaces_lan_first():
    plan = build_plan(dcs=2, mx_per_dc=(1, 1))
    assert plan.router_interfaces("r1") == [("10.0.1.1/24", "s1"), ("10.255.0.2/30", "r0"),
                                            ("10.255.0.5/30", "r2")]
    assert plan.router_interfaces("r0") == [("10.0.0.1/24", "s0"), ("10.255.0.1/30", "r1")]


def test_links_between_data_centers():
    plan = build_plan(dcs=3, mx_per_dc=(1, 1, 1))
    assert plan.links_between("dc1", "dc2") == [("r1", "r2")]
    assert plan.links_between("dc2", "dc3") == [("r1", "r2"), ("r1", "r3")]
    assert plan.links_between("site", "dc3") == [("r0", "r1"), ("r1", "r3")]
    assert plan.links_between("dc1", "dc1") == []
    with pytest.raises(KeyError):
        plan.links_between("dc1", "dc9")


def test_a_topology_script_runs_the_lab_in_the_virtualenvs_python(monkeypatch):
    """``sudo python3 topologies/one_dc.py``: Debian's python3 has no Twisted, so the
    script goes on in the virtualenv's python, not in the interpreter it started in."""
    import topologies.base as base
    calls = []
    monkeypatch.setattr(base.os, "access", lambda path, mode: path.endswith("/.venv/bin/python"))
    monkeypatch.setattr(base.os, "execv", lambda prog, argv: calls.append((prog, argv)))
    monkeypatch.setattr(base.sys, "argv", ["topologies/one_dc.py", "--web"])
    base.run_as_script("one_dc")
    (prog, argv), = calls
    assert prog.endswith("/.venv/bin/python") and argv[0] == prog
    assert argv[1:] == ["-m", "lab.cli.up", "one_dc", "--web"]
