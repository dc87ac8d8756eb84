"""The live page's state from the lab's events: pure, no browser, no lab."""
from lab.netview.live_state import LiveState
from lab.netview.drawing import drawing, intf_index, link_id
from topologies.addressing import build_plan

T0 = 1000.0
MX = [(10, "mx1.lab.example.org."), (20, "relay1.lab.example.org.")]
NET_LINKS = [("r0", "r0-eth0", "s0", "s0-eth1"), ("r1", "r1-eth0", "s1", "s1-eth1"),
             ("r0", "r0-eth1", "r1", "r1-eth1"), ("client1", "client1-eth0", "s0", "s0-eth2"),
             ("client2", "client2-eth0", "s0", "s0-eth3"), ("dns1", "dns1-eth0", "s1", "s1-eth2"),
             ("relay1", "relay1-eth0", "s1", "s1-eth3"), ("mx1", "mx1-eth0", "s1", "s1-eth4")]


def new_state(links=NET_LINKS):
    return LiveState(drawing(build_plan(), links), "relay-failover", mx=MX, started=T0)


def ev(t, event, host="lab", service="fault", **fields):
    return dict(ts=T0 + t, host=host, service=service, event=event, **fields)


def cut_start(fid="cut-1", interfaces=("4242/mx1-eth0", "s1-eth4"), label="mx1-s1"):
    return ev(1, "fault_start", fault="cut", id=fid, summary="cut %s" % label, duration=30,
              matched={"link": label, "interfaces": list(interfaces)})


def test_drawing_groups_nodes_and_links_come_from_the_plan():
    d = drawing(build_plan(dcs=2, mx_per_dc=(1, 1)))
    assert [g["name"] for g in d["groups"]] == ["site", "dc1", "dc2"]
    names = {n["name"]: n for n in d["nodes"]}
    assert names["mx2"]["dc"] == "dc2" and names["mx2"]["ip"] == "10.0.2.10"
    assert names["r1"]["kind"] == "router" and names["s2"]["kind"] == "switch"
    ids = {l["id"]: l for l in d["links"]}
    assert ids["r1|r2"]["kind"] == "wan" and ids["r0|r1"]["kind"] == "access"
    assert ids[link_id("s1", "mx1")]["kind"] == "lan"
    # every node lies inside its group's box
    for n in d["nodes"]:
        g = d["groups"][n["group"]]
        assert g["x"] < n["x"] < g["x"] + g["w"] and g["y"] < n["y"] < g["y"] + g["h"]


def test_a_wan_link_that_skips_a_data_center_bends_over_it():
    d = drawing(build_plan(dcs=3, mx_per_dc=(1, 1, 1)))
    ids = {l["id"]: l for l in d["links"]}
    assert ids["r1|r2"]["bend"] == 0 and ids["r1|r3"]["bend"] < 0
    assert min(g["y"] for g in d["groups"]) > -ids["r1|r3"]["bend"]


def test_interfaces_of_a_running_net_name_its_links():
    d = drawing(build_plan(), NET_LINKS)
    assert intf_index(d)["mx1-eth0"] == "mx1|s1" and intf_index(d)["s1-eth4"] == "mx1|s1"


def test_a_cut_draws_the_link_cut_until_it_ends():
    s = new_state()
    assert s.snapshot()["links"]["mx1|s1"]["state"] == "up"
    v = s.version
    assert s.apply(cut_start()) and s.version > v
    snap = s.snapshot(T0 + 2)
    assert snap["links"]["mx1|s1"] == {"state": "cut", "faults": ["cut-1"]}
    assert snap["links"]["relay1|s1"]["state"] == "up"
    assert [(f["id"], f["name"], f["label"]) for f in snap["faults"]] == [("cut-1", "cut", "mx1-s1")]
    s.apply(ev(5, "fault_end", fault="cut", id="cut-1", ok=True))
    snap = s.snapshot()
    assert snap["links"]["mx1|s1"]["state"] == "up" and snap["faults"] == []
    assert snap["ended"][0]["until"] == 5.0
    assert [x["kind"] for x in snap["story"]] == ["fault", "recover"]


def test_without_interface_names_the_links_are_found_from_the_ends():
    s = new_state(links=None)       # a drawing from the plan alone
    s.apply(cut_start())
    assert s.snapshot()["links"]["mx1|s1"]["state"] == "cut"


def test_a_partition_cuts_every_link_it_names():
    s = new_state()
    s.apply(ev(1, "fault_start", fault="partition", id="partition-1", summary="partition",
               matched={"link": "site|dc1", "interfaces": ["1/r0-eth1", "2/r1-eth1"]}))
    assert s.snapshot()["links"]["r0|r1"]["state"] == "cut"


def test_loss_and_delay_mark_the_link_without_cutting_it():
    s = new_state()
    s.apply(ev(1, "fault_start", fault="loss", id="loss-1",
               matched={"link": "mx1:s1", "intf": "mx1-eth0", "rate": 0.2}))
    s.apply(ev(1, "fault_start", fault="delay", id="delay-2",
               matched={"link": "relay1:s1", "intf": "relay1-eth0", "peer": "s1-eth3", "ms": 200}))
    links = s.snapshot()["links"]
    assert links["mx1|s1"]["state"] == "up" and links["mx1|s1"]["lossy"] == "mx1:s1"
    assert links["relay1|s1"]["delayed"] == "relay1:s1"


def test_blackhole_pause_and_reset_mark_hosts_and_services():
    s = new_state()
    s.observe_services({"mx1": ("mx", True), "relay1": ("relay", True)}, T0)
    s.apply(ev(1, "fault_start", fault="blackhole", id="blackhole-1", matched={"target": "mx1"}))
    s.apply(ev(1, "fault_start", fault="pause", id="pause-2",
               matched={"service": "relay", "target": "relay@relay1"}))
    s.apply(ev(1, "fault_start", fault="reset", id="reset-3",
               matched={"server": "10.0.1.10:25"}))
    hosts = s.snapshot()["hosts"]
    assert hosts["mx1"]["conditions"] == ["blackholed", "resets"]
    assert hosts["relay1"]["service_state"] == "paused"
    s.apply(ev(2, "fault_end", id="pause-2"))
    assert s.snapshot()["hosts"]["relay1"]["service_state"] == "up"


def test_a_destroyed_host_and_its_link_are_gone_until_it_is_created_again():
    s = new_state()
    s.apply(ev(1, "fault_start", fault="destroy", id="destroy-1",
               matched={"target": "mx1", "interfaces": ["mx1-eth0"]}))
    s.apply(ev(1.1, "fault_end", fault="destroy", id="destroy-1", ok=True))
    snap = s.snapshot()
    assert snap["hosts"]["mx1"]["present"] is False and snap["links"]["mx1|s1"]["state"] == "gone"
    assert snap["faults"] == []        # instant: nothing stays in force
    s.apply(ev(3, "created", service="provisioner", name="mx1", ip="10.0.1.10", dc="dc1",
               action="recreate", seconds=0.4))
    snap = s.snapshot()
    assert snap["hosts"]["mx1"]["present"] is True and snap["links"]["mx1|s1"]["state"] == "up"
    assert snap["story"][-1]["text"] == "mx1 re-created in dc1 (10.0.1.10) in 0.4 s"


def test_counters_of_each_server_and_the_totals():
    s = new_state()
    for i in range(3):
        s.apply(ev(1 + i, "sent", host="client1", service="sender", msgid="m%d" % i))
    s.apply(ev(2, "queued", host="relay1", service="relay", msgid="m1"))
    s.apply(ev(2.5, "deferred", host="relay1", service="relay", msgid="m1"))
    s.apply(ev(3, "delivered", host="relay1", service="relay", msgid="m1"))
    s.apply(ev(3, "delivered", host="mx1", service="mx", msgid="m1"))
    s.apply(ev(3, "delivered", host="mx1", service="mx", msgid="m0"))
    snap = s.snapshot()
    assert snap["totals"] == {"sent": 3, "send_failed": 0, "delivered": 2}
    assert snap["hosts"]["mx1"]["counters"] == {"stored": 2}
    assert snap["hosts"]["relay1"]["counters"] == {"accepted": 1, "deferred": 1, "forwarded": 1}
    assert snap["hosts"]["client1"]["counters"] == {"sent": 3}


def test_queue_depth_is_charted_where_it_changes():
    s = new_state()
    for t, depth in ((0.5, 0), (1.0, 3), (1.5, 3), (2.0, 5), (2.5, 0), (3.0, 0)):
        s.observe_queue(T0 + t, depth)
    snap = s.snapshot()
    assert snap["queue"]["series"] == [[0.5, 0], [1.0, 3], [2.0, 5], [2.5, 0]]
    assert snap["queue"]["depth"] == 0 and snap["hosts"]["relay1"]["counters"]["queued"] == 0
    v = s.version
    assert not s.observe_queue(T0 + 4, 0) and s.version == v   # nothing new: nothing pushed


def test_a_long_chart_keeps_its_whole_span_at_lower_resolution():
    s = new_state()
    for i in range(1000):
        s.observe_queue(T0 + i, i % 7 + 1)
    series = s.snapshot()["queue"]["series"]
    assert len(series) <= 400 and series[0][0] == 0 and series[-1][0] >= 990


def test_service_processes_going_down_and_up_are_told():
    s = new_state()
    s.observe_services({"relay1": ("relay", True)}, T0)
    assert s.story == []                 # the first look is not news
    s.observe_services({"relay1": ("relay", False)}, T0 + 2)
    assert s.snapshot()["hosts"]["relay1"]["service_state"] == "down"
    v = s.version
    assert not s.observe_services({"relay1": ("relay", False)}, T0 + 3) and s.version == v
    s.observe_services({"relay1": ("relay", True)}, T0 + 4)
    assert [x["text"] for x in s.story] == ["relay1: relay down", "relay1: relay up"]


def test_dns_answer_changes_and_updates():
    s = new_state()
    assert s.snapshot()["mx"] == [[10, "mx1"], [20, "relay1"]]
    s.apply(ev(1, "answer_changed", host="dns1", service="dns", name="example.org.",
               answer=["relay1.lab.example.org."], down=["mx1.lab.example.org."]))
    assert s.snapshot()["mx"] == [[20, "relay1"]]
    s.apply(ev(2, "updated", host="dns1", service="dns", zone="example.org.", serial=2,
               changes=["add mx3.lab.example.org. 60 IN A 10.0.2.11",
                        "add example.org. 60 IN MX 10 mx3.lab.example.org."]))
    snap = s.snapshot()
    assert snap["mx"] == [[10, "mx3"], [20, "relay1"]]
    assert snap["dns_log"][0]["text"] == "MX example.org.: relay1"


def test_relay_recovery_is_told_once_per_route_in_host_names():
    s = new_state()
    s.apply(ev(1, "provision_requested", host="relay1", service="relay",
               next_hop="mx:example.org", messages=12))
    for i in range(3):
        s.apply(ev(2, "rerouted", host="relay1", service="relay", msgid="m%d" % i,
                   old="mx:example.org", new="10.0.1.10:25"))
    s.apply(ev(3, "rerouted", host="relay1", service="relay", msgid="m9",
               old="mx1.lab.example.org:25", new="10.0.2.11:25"))
    texts = [x["text"] for x in s.story]
    assert texts == [
        "relay1 asks the provisioner for a server for the MX of example.org (12 messages held)",
        "relay1 re-routes its stored mail: the MX of example.org -> mx1",
        "relay1 re-routes its stored mail: mx1 -> 10.0.2.11"]     # not in this plan


def test_the_relay_s_recovery_decisions_are_told_with_their_reasons():
    s = new_state()
    s.apply(ev(1, "server_down", host="relay1", service="relay", server="10.0.1.10:25", name="mx1"))
    s.apply(ev(4, "recovery_decision", host="relay1", service="relay", server="10.0.1.10:25",
               name="mx1", decision="recreate",
               story="mx1 down 3.0 s -> dc1 healthy -> re-create in place"))
    s.apply(ev(6, "recovered", host="relay1", service="relay", name="mx1", how="recreated"))
    assert [x["text"] for x in s.story] == [
        "relay1: mx1 does not answer",
        "relay1 decides: mx1 down 3.0 s -> dc1 healthy -> re-create in place",
        "relay1: mx1 recovered (recreated)"]


def test_unknown_events_change_nothing():
    s = new_state()
    v = s.version
    assert not s.apply(ev(1, "attempt", host="relay1", service="relay"))
    assert s.version == v


def test_actions_and_the_verdict_are_in_the_snapshot():
    s = new_state()
    s.note_action(1, "fault cut mx1 s1", "running")
    s.note_action(1, "fault cut mx1 s1", "done", "cut-1 in force", ts=T0 + 1)
    s.set_live(False, T0 + 9)
    s.finish({"ok": True, "sent": 3, "delivered": 3, "report": "/report/report.md"})
    snap = s.snapshot(T0 + 100)
    assert snap["actions"] == [{"id": 1, "what": "fault cut mx1 s1", "status": "done",
                                "output": "cut-1 in force"}]
    assert snap["verdict"]["ok"] and snap["live"] is False and snap["elapsed"] == 9.0
