"""The relay's recovery policy, branch by branch, with a fake clock, fake
probes and a fake provisioner (servers/relay/recovery.py)."""
import ipaddress

from twisted.internet import defer, task

from servers.common.tcp_probe import ACCEPTED, REFUSED, TIMEOUT
from servers.relay.recovery import Recovery, Site, Sites, judge
from tests.unit.relay_fakes import Recorder
from tests.unit.test_scheduler import put

MX1 = "10.0.1.10:25"
MX2 = "10.0.2.10:25"
SITES = Sites([
    Site("dc1", ipaddress.ip_network("10.0.1.0/24"), "10.0.1.1:25",
         {"dns1": "10.0.1.2:53", "mx1": MX1}),
    Site("dc2", ipaddress.ip_network("10.0.2.0/24"), "10.0.2.1:25", {"mx2": MX2}),
    Site("dc3", ipaddress.ip_network("10.0.3.0/24"), "10.0.3.1:25", {}),
])
ALL_UP = {"10.0.1.1:25": REFUSED, "10.0.1.2:53": ACCEPTED, "10.0.2.1:25": REFUSED,
          "10.0.3.1:25": REFUSED, MX2: ACCEPTED}


class FakeScheduler:
    def __init__(self):
        self.replaced, self.back, self.restored, self.held = [], [], [], []

    def hold_for_replacement(self, server, hold=True):
        self.held.append((server, hold))

    def held_for(self, server):
        return 4

    def replace_server(self, server, new_hop):
        self.replaced.append((server, new_hop))
        return defer.succeed(4)

    def server_back(self, server):
        self.back.append(server)

    def restore_routes(self, server):
        self.restored.append(server)
        return [("mx:example.org", "10.0.2.11:25")]


class FakeProvisioner:
    """``replies[action]``: a reply dict, "hang" (never answers), or an exception;
    ``on_recreate``: called on a successful recreate (the server comes up)."""

    def __init__(self, replies, on_recreate=None):
        self.replies = replies
        self.on_recreate = on_recreate
        self.calls = []

    def __call__(self, action, **fields):
        self.calls.append(dict(fields, action=action))
        reply = self.replies[action]
        if callable(reply):
            reply = reply(**fields)
        if reply == "hang":
            return defer.Deferred()
        if isinstance(reply, Exception):
            return defer.fail(reply)
        if action == "recreate" and reply.get("ok") and self.on_recreate:
            self.on_recreate()
        return defer.succeed(reply)


RETURNED = {"ok": True, "name": "mx1", "ip": "10.0.1.10", "dc": "dc1", "mx_restored": True}
CREATED_DC2 = {"ok": True, "name": "mx3", "ip": "10.0.2.11", "port": 25, "dc": "dc2"}
RECREATED = {"ok": True, "name": "mx1", "ip": "10.0.1.10", "port": 25, "dc": "dc1"}


def make(replies, probes=None, **kw):
    clock = task.Clock()
    clock.advance(1000)
    events = Recorder()
    outcomes = dict(ALL_UP, **(probes or {}))
    probed = []

    def probe(host, port, timeout):
        addr = "%s:%d" % (host, port)
        probed.append(addr)
        return defer.succeed(outcomes.get(addr, TIMEOUT))
    prov = FakeProvisioner(replies, on_recreate=lambda: outcomes.__setitem__(MX1, ACCEPTED))
    rec = Recovery(clock, probe, prov, events, SITES, threshold=3.0,
                   recreate_deadline=kw.pop("deadline", 5.0), watch_interval=1.0, **kw)
    sched = FakeScheduler()
    rec.attach(sched)
    return rec, sched, prov, events, clock, outcomes, probed


def decisions(events):
    return [(e["decision"], e.get("dc")) for e in events.named("recovery_decision")]


def test_nothing_is_decided_before_the_threshold_and_a_server_that_answers_ends_it():
    rec, sched, prov, events, clock, *_ = make({})
    rec.failed(MX1, "mx1.lab.example.org.")
    clock.advance(2.9)
    rec.failed(MX1, "mx1.lab.example.org.")          # more failures: still one outage
    rec.succeeded(MX1)
    clock.advance(10)
    assert prov.calls == [] and decisions(events) == []
    assert [(e["name"], e["how"]) for e in events.named("recovered")] == [("mx1", "answered")]
    assert sched.back == [MX1]


def test_server_answering_the_probe_needs_no_action():
    rec, sched, prov, events, clock, outcomes, _ = make({})
    rec.failed(MX1, "mx1.lab.example.org.")
    outcomes[MX1] = ACCEPTED
    clock.advance(3)
    assert prov.calls == [] and decisions(events) == [("none", None)]
    assert "answers again" in events.named("recovery_decision")[0]["story"]


def test_healthy_dc_recreates_in_place():
    rec, sched, prov, events, clock, _, probed = make({"recreate": RECREATED})
    rec.failed(MX1, "mx1.lab.example.org.")
    clock.advance(3)
    assert prov.calls == [{"action": "recreate", "name": "mx1", "dc": "dc1"}]
    d = events.named("recovery_decision")[0]
    assert d["decision"] == "recreate" and d["dc"] == "dc1" and d["down_seconds"] == 3.0
    assert d["story"] == "mx1 down 3.0 s -> dc1 healthy -> re-create in place"
    assert {p["addr"] for p in d["probes"]} == {MX1, "10.0.1.1:25", "10.0.1.2:53"}
    assert any("dns1 10.0.1.2:53 up" in r for r in d["reasons"])
    req = events.named("provision_requested")[0]
    assert req["action"] == "recreate" and req["messages"] == 4 and req["outage_seconds"] == 3.0
    assert [e["how"] for e in events.named("recovered")] == ["recreated"]
    assert sched.back == [MX1] and sched.replaced == [] and rec.outages == {}


def test_no_capacity_in_place_escalates_to_another_dc():
    rec, sched, prov, events, clock, *_ = make(
        {"recreate": {"ok": False, "error": "dc1 has no capacity"}, "create": CREATED_DC2})
    rec.failed(MX1, "mx1.lab.example.org.")
    clock.advance(3)
    assert [c["action"] for c in prov.calls] == ["recreate", "create"]
    assert prov.calls[1] == {"action": "create", "dc": "dc2", "replaces": "mx1"}
    assert decisions(events) == [("recreate", "dc1"), ("create", "dc2")]
    create = events.named("recovery_decision")[1]
    assert "provisioner refused: dc1 has no capacity" in create["story"]
    assert create["story"].endswith("-> create a server in dc2")
    assert events.named("provision_failed")[0]["error"] == "provisioner refused: dc1 has no capacity"
    assert sched.replaced == [(MX1, "10.0.2.11:25")]
    replaced = events.named("replaced")[0]
    assert (replaced["new_name"], replaced["dc"], replaced["messages"]) == ("mx3", "dc2", 4)


def test_a_silent_provisioner_escalates_after_the_deadline():
    rec, sched, prov, events, clock, *_ = make({"recreate": "hang", "create": CREATED_DC2},
                                               deadline=5.0)
    rec.failed(MX1, "mx1.lab.example.org.")
    clock.advance(3)
    assert decisions(events) == [("recreate", "dc1")]
    clock.advance(5)
    assert decisions(events) == [("recreate", "dc1"), ("create", "dc2")]
    assert "within 5 s" in events.named("provision_failed")[0]["error"]
    assert sched.replaced == [(MX1, "10.0.2.11:25")]


def test_an_unreachable_provisioner_escalates_too():
    rec, sched, prov, events, clock, *_ = make(
        {"recreate": ConnectionError("no socket"), "create": CREATED_DC2})
    rec.failed(MX1, "mx1.lab.example.org.")
    clock.advance(3)
    assert "provisioner unreachable" in events.named("provision_failed")[0]["error"]
    assert sched.replaced == [(MX1, "10.0.2.11:25")]


def test_a_recreated_server_that_never_answers_escalates():
    rec, sched, prov, events, clock, outcomes, _ = make({"recreate": RECREATED,
                                                          "create": CREATED_DC2})
    prov.on_recreate = None                    # the provisioner says ok, the server stays dark
    rec.failed(MX1, "mx1.lab.example.org.")
    clock.advance(3)
    for _ in range(5):
        clock.advance(1)
    assert decisions(events) == [("recreate", "dc1"), ("create", "dc2")]
    assert "re-created mx1 not up within 5 s" in events.named("recovery_decision")[1]["story"]
    assert sched.replaced == [(MX1, "10.0.2.11:25")]


def test_unreachable_router_skips_recreation():
    rec, sched, prov, events, clock, *_ = make({"create": CREATED_DC2},
                                               probes={"10.0.1.1:25": TIMEOUT})
    rec.failed(MX1, "mx1.lab.example.org.")
    clock.advance(3)
    assert [c["action"] for c in prov.calls] == ["create"]
    d = events.named("recovery_decision")[0]
    assert d["decision"] == "create"
    assert d["story"] == "mx1 down 3.0 s -> dc1 unhealthy -> create a server in dc2"
    assert any("dc1 router 10.0.1.1:25 down (timeout)" in r for r in d["reasons"])


def test_all_other_hosts_down_is_an_unhealthy_dc():
    rec, sched, prov, events, clock, *_ = make({"create": CREATED_DC2},
                                               probes={"10.0.1.2:53": TIMEOUT})
    rec.failed(MX1, "mx1.lab.example.org.")
    clock.advance(3)
    assert decisions(events) == [("create", "dc2")]


def test_unknown_name_cannot_be_recreated_in_place():
    rec, sched, prov, events, clock, *_ = make({"create": CREATED_DC2})
    rec.failed(MX1, MX1)                         # a next hop given as IP:PORT, no name
    clock.advance(3)
    assert [c["action"] for c in prov.calls] == ["create"]
    assert "replaces" not in prov.calls[0]
    assert any("name is unknown" in r for r in events.named("recovery_decision")[0]["reasons"])


def test_unknown_dc_asks_any_dc():
    rec, sched, prov, events, clock, *_ = make({"create": dict(CREATED_DC2, dc="dc1")})
    rec.failed("192.0.2.5:25", "mx9.lab.example.org.")
    clock.advance(3)
    assert prov.calls[0]["dc"] == "dc1"
    assert "data center is unknown" in events.named("recovery_decision")[0]["story"]


def test_refusal_and_dead_router_move_on_to_the_next_dc():
    def create(dc, **_):
        return {"ok": False, "error": "dc2 is full"} if dc == "dc2" else \
            dict(CREATED_DC2, ip="10.0.3.10", dc="dc3")
    rec, sched, prov, events, clock, *_ = make({"create": create},
                                               probes={"10.0.1.1:25": TIMEOUT})
    rec.failed(MX1, "mx1.lab.example.org.")
    clock.advance(3)
    assert [c["dc"] for c in prov.calls] == ["dc2", "dc3"]
    assert decisions(events) == [("create", "dc2"), ("create", "dc3")]
    assert sched.replaced == [(MX1, "10.0.3.10:25")]
    # mail waited during each request; the refusal let it go, the success rerouted it
    assert sched.held == [(MX1, True), (MX1, False), (MX1, True)]


def test_nobody_can_take_over_then_decides_again():
    rec, sched, prov, events, clock, *_ = make(
        {"create": CREATED_DC2},
        probes={"10.0.1.1:25": TIMEOUT, "10.0.2.1:25": TIMEOUT, "10.0.3.1:25": TIMEOUT})
    rec.failed(MX1, "mx1.lab.example.org.")
    clock.advance(3)
    assert prov.calls == [] and decisions(events) == [("wait", None)]
    assert "no data center can take over" in events.named("recovery_decision")[0]["story"]
    clock.advance(3)
    assert decisions(events) == [("wait", None)] * 2


def test_a_replaced_server_that_returns_has_its_routes_undone():
    rec, sched, prov, events, clock, outcomes, _ = make({"create": CREATED_DC2,
                                                          "returned": RETURNED},
                                                         probes={"10.0.1.1:25": TIMEOUT})
    rec.failed(MX1, "mx1.lab.example.org.")
    clock.advance(3)
    clock.advance(5)
    assert sched.restored == []
    outcomes[MX1] = ACCEPTED
    clock.advance(1)
    assert sched.restored == [MX1] and sched.back == [MX1]
    restore = events.named("recovery_decision")[-1]
    assert restore["decision"] == "restore" and "routes to 10.0.2.11:25 undone" in restore["story"]
    assert [e["how"] for e in events.named("recovered")] == ["returned"]
    assert prov.calls[-1] == {"action": "returned", "name": "mx1"}   # DNS lists it again
    clock.advance(10)
    assert rec.outages == {}


def test_the_policy_may_keep_routes_when_a_server_returns():
    rec, sched, prov, events, clock, *_ = make(
        {"create": CREATED_DC2, "returned": {"ok": False, "error": "mx1 is not known"}},
        probes={"10.0.1.1:25": TIMEOUT}, restore_routes=False)
    rec.failed(MX1, "mx1.lab.example.org.")
    clock.advance(3)
    rec.succeeded(MX1)                 # the scheduler reached it itself
    assert sched.restored == [] and sched.back == [MX1]
    assert events.named("provision_failed")[-1]["error"] == "mx1 is not known"
    assert "mail stays with 10.0.2.11:25" in events.named("recovery_decision")[-1]["story"]


def test_replacement_is_known_by_name_when_it_fails_in_turn():
    rec, sched, prov, events, clock, *_ = make({"create": CREATED_DC2, "recreate": RECREATED},
                                               probes={"10.0.1.1:25": TIMEOUT})
    rec.failed(MX1, "mx1.lab.example.org.")
    clock.advance(3)
    rec.failed("10.0.2.11:25", "10.0.2.11:25")
    assert events.named("server_down")[-1]["name"] == "mx3"


def test_each_server_has_its_own_recovery():
    rec, sched, prov, events, clock, outcomes, _ = make(
        {"recreate": RECREATED, "create": dict(CREATED_DC2, ip="10.0.1.11", dc="dc1")},
        probes={"10.0.2.1:25": TIMEOUT, MX2: TIMEOUT})
    rec.failed(MX1, "mx1.lab.example.org.")
    clock.advance(1)
    rec.failed(MX2, "mx2.lab.example.org.")
    clock.advance(3)
    assert [(c["action"], c.get("name") or c.get("dc")) for c in prov.calls] == [
        ("recreate", "mx1"), ("create", "dc1")]
    assert [(e["name"], e["decision"]) for e in events.named("recovery_decision")] == [
        ("mx1", "recreate"), ("mx2", "create")]


def test_stop_cancels_pending_decisions():
    rec, sched, prov, events, clock, *_ = make({"recreate": RECREATED})
    rec.failed(MX1, "mx1.lab.example.org.")
    rec.stop()
    clock.advance(10)
    assert prov.calls == [] and not clock.getDelayedCalls()
    rec.failed(MX2, "mx2")
    assert not events.named("server_down")[1:]


def test_judge_and_sites():
    site = SITES.of(MX1)
    assert site.name == "dc1" and SITES.of("10.9.9.9:25") is None
    assert [s.name for s in SITES.others(site)] == ["dc2", "dc3"]
    up = {"what": "router", "name": "r", "addr": "a:1", "outcome": REFUSED}
    down = {"what": "host", "name": "h", "addr": "b:2", "outcome": TIMEOUT}
    assert judge(site, [up])[0] and not judge(site, [up, down])[0]
    assert judge(site, [up, down, dict(down, outcome=ACCEPTED)])[0]
    assert judge(None, []) == (False, ["no data center is known for this address"])
    loaded = Sites.from_dict({"dcs": [{"name": "dc1", "subnet": "10.0.1.0/24"}]})
    assert loaded.of(MX1).name == "dc1" and loaded.of("junk") is None


# -- with the real scheduler: what happens to the stored mail -------------------
def scheduler_with_policy(replies, probes=None):
    from servers.relay.backoff import RetryPolicy
    from servers.relay.scheduler import Scheduler
    from tests.unit.relay_fakes import FakeNetwork, FakeQueue
    clock = task.Clock()
    clock.advance(1000)
    events = Recorder()
    queue, net = FakeQueue(clock, events), FakeNetwork(clock)
    outcomes = dict(ALL_UP, **(probes or {}))

    def probe(host, port, timeout):
        return defer.succeed(outcomes.get("%s:%d" % (host, port), TIMEOUT))

    def resolve(next_hop):
        if next_hop == "mx:example.org":
            return defer.succeed([("mx1.lab.example.org.", "10.0.1.10", 25)])
        return net.resolve(next_hop)
    prov = FakeProvisioner(replies)
    rec = Recovery(clock, probe, prov, events, SITES, threshold=3.0, recreate_deadline=5.0)
    sched = Scheduler(queue, RetryPolicy(minimum=2, maximum=30, give_up=1000), events, clock,
                      resolve, net.open_session, self_name="relay.lab", recovery=rec)
    return sched, queue, net, events, clock, outcomes, prov


def test_scheduler_reroutes_stored_mail_when_the_policy_creates_elsewhere():
    sched, queue, net, events, clock, outcomes, prov = scheduler_with_policy(
        {"recreate": {"ok": False, "error": "dc1 has no capacity"}, "create": CREATED_DC2})
    net.behaviour[MX1] = "down"
    put(sched, queue, n=3, hop="mx:example.org")
    for _ in range(4):
        clock.advance(1)
    assert [r["new"] for r in events.named("rerouted")] == ["10.0.2.11:25"] * 3
    assert events.named("provision_requested")[0]["messages"] == 3
    clock.advance(0)
    assert not queue.stored and {s for s, *_ in net.delivered} == {"10.0.2.11:25"}
    put(sched, queue, n=1, hop="mx:example.org")     # later mail follows the pin
    clock.advance(0)
    assert net.delivered[-1][0] == "10.0.2.11:25"
    # mx1 comes back: the pin is undone, new mail goes by MX again
    net.behaviour[MX1] = 250
    outcomes[MX1] = ACCEPTED
    clock.advance(1)
    assert [e["old"] for e in events.named("route_restored")] == ["mx:example.org"]
    put(sched, queue, n=1, hop="mx:example.org")
    clock.advance(0)
    assert net.delivered[-1][0] == MX1


def test_scheduler_flushes_at_once_when_the_server_is_recreated_in_place():
    sched, queue, net, events, clock, outcomes, prov = scheduler_with_policy(
        {"recreate": RECREATED})

    def recreated(**_):
        net.behaviour[MX1] = 250
        outcomes[MX1] = ACCEPTED
        return RECREATED
    prov.replies["recreate"] = recreated
    net.behaviour[MX1] = "down"
    put(sched, queue, n=3, hop="mx:example.org")
    clock.advance(0)
    clock.advance(3)
    clock.advance(0)
    assert not queue.stored and events.named("rerouted") == []
    assert [t for *_, t in net.delivered] == [1003] * 3       # not after the backoff


def test_the_lab_plan_gives_the_sites_the_policy_reads():
    from topologies.addressing import build_plan
    sites = Sites.from_dict(build_plan(dcs=2, mx_per_dc=(1, 1)).sites())
    dc1, dc2 = sites.of(MX1), sites.of(MX2)
    assert (dc1.name, dc1.router, dc1.hosts) == ("dc1", "10.0.1.1:7",
                                                 {"dns1": "10.0.1.2:53", "mx1": MX1})
    assert (dc2.name, dc2.router, dc2.hosts) == ("dc2", "10.0.2.1:7", {"mx2": MX2})


def test_held_mail_waits_for_the_replacement_not_for_dns():
    """The provisioner updates DNS before it answers: a retry in between must not
    deliver by the new MX record, or the stored next hop never changes (claim 4)."""
    sched, queue, net, events, clock, outcomes, prov = scheduler_with_policy(
        {"create": "hang"}, probes={"10.0.1.1:25": TIMEOUT})
    answer = defer.Deferred()
    prov.replies["create"] = lambda **_: answer
    dns = [("mx1.lab.example.org.", "10.0.1.10", 25)]
    sched.resolve = lambda hop: defer.succeed(list(dns)) if hop == "mx:example.org" \
        else net.resolve(hop)
    net.behaviour[MX1] = "down"
    put(sched, queue, n=3, hop="mx:example.org")
    for _ in range(4):
        clock.advance(1)
    assert events.named("provision_requested")[-1]["action"] == "create"
    dns[:] = [("mx3.lab.example.org.", "10.0.2.11", 25)]      # the UPDATE is in
    for _ in range(3):
        clock.advance(1)
    assert net.delivered == [] and len(queue.stored) == 3
    assert "waiting for a replacement of 10.0.1.10:25" in events.named("deferred")[-1]["error"]
    answer.callback(CREATED_DC2)
    clock.advance(0)
    assert [r["new"] for r in events.named("rerouted")] == ["10.0.2.11:25"] * 3
    assert not queue.stored
