"""Learned routes (a destination pinned to the server that replaced it): they
expire, they are kept beside the queue across a restart, and they are undone
when the server they replaced is back."""
from twisted.internet import defer

from servers.relay.routes import Routes
from tests.unit.relay_fakes import Recorder
from tests.unit.test_scheduler import HOP, make, put

NEW = "10.0.2.10:25"


def provision():
    return defer.succeed({"ok": True, "name": "mx2", "ip": "10.0.2.10", "port": 25,
                          "dc": "dc2"})


def reroute_all(sched, queue, net, clock, n=2):
    net.behaviour[HOP] = "down"
    put(sched, queue, n=n)
    for _ in range(4):
        clock.advance(1)
    clock.advance(0)
    assert not queue.stored


def test_a_pinned_route_expires(tmp_path):
    sched, queue, net, events, clock = make(
        provision=provision, provision_after=3.0,
        routes=Routes(str(tmp_path / "routes.json"), lifetime=60))
    reroute_all(sched, queue, net, clock)
    put(sched, queue)                       # within the lifetime: follows the pin
    clock.advance(0)
    assert net.delivered[-1][0] == NEW
    clock.advance(61)
    net.behaviour[HOP] = 250                # the old destination works again
    put(sched, queue)
    clock.advance(0)
    assert net.delivered[-1][0] == HOP
    assert [e["old"] for e in events.named("route_expired")] == [HOP]


def test_a_pinned_route_survives_a_restart(tmp_path):
    path = str(tmp_path / "routes.json")
    sched, queue, net, events, clock = make(provision=provision, provision_after=3.0,
                                            routes=Routes(path, lifetime=60))
    reroute_all(sched, queue, net, clock)
    sched.stop()
    # a new relay process on the same queue directory
    again, queue2, net2, _, clock2 = make(routes=Routes(path, lifetime=60))
    clock2.advance(clock.seconds() - clock2.seconds() + 10)
    put(again, queue2)
    clock2.advance(0)
    assert net2.delivered[-1][0] == NEW


def test_unpin_for_a_returned_server_and_the_file_follows(tmp_path):
    path = str(tmp_path / "routes.json")
    clock = make()[4]
    events = Recorder()
    routes = Routes(path, lifetime=60)
    routes.bind(clock, events)
    routes.pin("mx:example.org", NEW, cause="10.0.1.10:25")
    routes.pin(NEW, "10.0.3.10:25")           # the replacement died too: follow the chain
    assert routes.get("mx:example.org") == "10.0.3.10:25"
    assert routes.unpin_cause("10.0.1.10:25") == [("mx:example.org", "10.0.3.10:25")]
    assert routes.get("mx:example.org") == "mx:example.org"
    reread = Routes(path, lifetime=60)
    reread.bind(clock, events)
    assert reread.get("mx:example.org") == "mx:example.org"
    assert reread.get(NEW) == "10.0.3.10:25"
    assert [e["event"] for e in events.events] == ["route_pinned", "route_pinned",
                                                   "route_restored"]


def test_a_damaged_routes_file_is_ignored_not_fatal(tmp_path):
    path = tmp_path / "routes.json"
    path.write_text("{not json")
    routes = Routes(str(path), lifetime=60)
    routes.bind(make()[4], Recorder())
    assert routes.get(HOP) == HOP


def test_by_default_a_pin_does_not_outlive_a_day():
    """#12 defect 6 as first written, with only the scheduler's old options: on
    the code before routes.py the destination stayed pinned forever."""
    sched, queue, net, events, clock = make(provision=provision, provision_after=3.0)
    reroute_all(sched, queue, net, clock)
    clock.advance(86400)
    net.behaviour[HOP] = 250
    put(sched, queue)
    clock.advance(0)
    assert net.delivered[-1][0] == HOP, "still pinned to %s a day later" % net.delivered[-1][0]
