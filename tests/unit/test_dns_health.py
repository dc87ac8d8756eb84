"""Health-checked MX answers, driven by task.Clock and a fake prober."""
import pytest
from dnslib import QTYPE
from twisted.internet import defer, task

from servers.common.events import EventLog, read_events
from servers.dns.answer import answer
from servers.dns.health import HealthChecker, load_config
from tests.dns_support import query, zone

CONFIG = """\
interval = 1.0
timeout = 0.5
ttl = 5
[[mx]]
name = "example.org."
port = 2525
"""


class FakeProber:
    """Answers probes from ``up`` (ip -> bool); records what was probed."""

    def __init__(self):
        self.up = {"10.0.1.25": True, "10.0.1.26": True}
        self.calls = []
        self.hang = False

    def __call__(self, ip, port, timeout):
        self.calls.append((ip, port, timeout))
        if self.hang:
            return defer.Deferred()     # never answers: the checker's timeout must end it
        return defer.succeed(self.up[ip])


@pytest.fixture
def setup(tmp_path):
    path = tmp_path / "health.toml"
    path.write_text(CONFIG)
    clock, prober = task.Clock(), FakeProber()
    events_path = str(tmp_path / "events.jsonl")
    zones = [zone()]
    checker = HealthChecker(load_config(str(path)), zones, prober, clock,
                            EventLog(events_path, service="dns", now=clock.seconds))
    checker.startService()
    yield checker, clock, prober, zones, events_path
    checker.stopService()


def mx_answer(checker, zones):
    reply = answer(query("example.org", "MX"), zones, mx_filter=checker.filter)
    return [str(rr.rdata.label) for rr in reply.rr], {rr.ttl for rr in reply.rr}


def test_config_is_read(tmp_path):
    path = tmp_path / "h.toml"
    path.write_text(CONFIG)
    config = load_config(str(path))
    assert (config.interval, config.timeout, config.ttl) == (1.0, 0.5, 5)
    assert {str(k): v for k, v in config.mx.items()} == {"example.org.": 2525}
    path.write_text("interval = 0\n[[mx]]\nname = 'x.'\n")
    with pytest.raises(ValueError, match="interval"):
        load_config(str(path))


def test_probes_start_at_once_and_repeat_every_interval(setup):
    checker, clock, prober, zones, _ = setup
    assert sorted(prober.calls) == [("10.0.1.25", 2525, 0.5), ("10.0.1.26", 2525, 0.5)]
    clock.advance(1.0)
    assert len(prober.calls) == 4
    assert mx_answer(checker, zones) == (["mx1.example.org.", "relay.example.org."], {5})


def test_a_failing_target_leaves_and_comes_back_with_events(setup):
    checker, clock, prober, zones, events_path = setup
    prober.up["10.0.1.25"] = False
    clock.advance(1.0)
    assert mx_answer(checker, zones)[0] == ["relay.example.org."]
    clock.advance(1.0)      # still down: no second event
    prober.up["10.0.1.25"] = True
    clock.advance(1.0)
    assert mx_answer(checker, zones)[0] == ["mx1.example.org.", "relay.example.org."]
    changes = [e for e in read_events(events_path) if e["event"] == "answer_changed"]
    assert [(e["ts"], e["answer"], e["down"]) for e in changes] == [
        (1.0, ["relay.example.org."], ["mx1.example.org."]),
        (3.0, ["mx1.example.org.", "relay.example.org."], [])]


def test_when_every_target_fails_all_are_answered(setup):
    checker, clock, prober, zones, events_path = setup
    prober.up = {"10.0.1.25": False, "10.0.1.26": False}
    clock.advance(1.0)
    assert mx_answer(checker, zones)[0] == ["mx1.example.org.", "relay.example.org."]
    assert {str(t) for t in checker.down} == {"mx1.example.org.", "relay.example.org."}


def test_a_hanging_probe_counts_as_failed_and_is_not_stacked(setup):
    checker, clock, prober, zones, _ = setup
    prober.hang = True
    clock.advance(1.0)          # probes sent, none answered yet
    calls = len(prober.calls)
    clock.advance(0.5)
    clock.advance(0.5)          # timeout (2 x 0.5 s) has passed: both failed
    assert {str(t) for t in checker.down} == {"mx1.example.org.", "relay.example.org."}
    assert len(prober.calls) == calls + 2   # the t=2 round probed again, once per target


def test_other_names_and_types_are_not_touched(setup):
    checker, clock, prober, zones, _ = setup
    prober.up["10.0.1.25"] = False
    clock.advance(1.0)
    reply = answer(query("mx1.example.org", "A"), zones, mx_filter=checker.filter)
    assert reply.rr and QTYPE.get(reply.rr[0].rtype) == "A" and reply.rr[0].ttl == 300


def test_a_target_added_by_update_is_probed(setup):
    checker, clock, prober, zones, _ = setup
    from dnslib import RR
    from servers.dns.zone import parse_rdata
    z = zones[0]
    z.add(RR("example.org.", QTYPE.MX, ttl=300, rdata=parse_rdata("MX", ["30", "web"], z.origin)))
    prober.up["10.0.0.80"] = True
    clock.advance(1.0)
    assert ("10.0.0.80", 2525, 0.5) in prober.calls
