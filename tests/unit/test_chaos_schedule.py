"""Chaos schedules: seeded, bounded, aimed at what the topology has, and a
scenario file that reads back as the same schedule."""
import pytest

from lab.chaos import schedule as chaos_schedule
from lab.chaos.schedule import KINDS, ChaosError, generate, to_toml
from lab.testbed.mail_lab import make_topology
from lab.scenarios.model import parse


@pytest.fixture(scope="module", params=["one_dc", "two_dc"])
def topo(request):
    return make_topology(request.param)


def _named(f):
    """(hosts, links) a fault's arguments name, read the way the fault's usage says."""
    first = f.args[0]
    if f.name in ("kill", "pause"):
        return [first.split("@")[1]], []
    if f.name == "reset":
        return [first.split(":")[0]], []
    if f.name in ("cut", "loss", "delay"):
        return [], [first]
    if f.name == "partition":
        return [], f.args[:f.args.index("--label")]
    return [first], []


def test_same_seed_same_schedule_other_seed_other_schedule(topo):
    a, b = generate(topo, 7), generate(topo, 7)
    assert to_toml(a) == to_toml(b)
    assert to_toml(generate(topo, 8)) != to_toml(a)


@pytest.mark.parametrize("seed", range(1, 41))
def test_every_fault_names_real_hosts_links_and_services(topo, seed):
    s = generate(topo, seed, duration=60, intensity=2.0)
    hosts, links = set(topo.hosts()), {frozenset(l) for l in topo.links()}
    servers = {name: h.role for name, h in topo.plan.hosts.items()}
    destroyed = {}
    for f in s.faults:
        assert f.name in KINDS
        named_hosts, named_links = _named(f)
        for h in named_hosts:
            assert h in hosts, f
            assert servers[h] in ("mx", "relay", "dns"), f
        for l in named_links:
            assert frozenset(l.split(":")) in links, f
        if f.name in ("kill", "pause"):
            service, host = f.args[0].split("@")
            assert service == servers[host]
        if f.name == "kill":
            assert f.restart == f.args[0] and f.duration > 0
        if f.name == "destroy":
            assert servers[f.args[0]] == "mx"
            destroyed[f.args[0]] = f.at
        # f.at, f.duration: seconds the seeded plan says, not measured: no clock is read
        for h, at in destroyed.items():   # nothing aims at a destroyed host afterwards
            if f.name != "destroy" or f.args[0] != h:
                assert h not in chaos_schedule.hosts_named(f) or f.at + f.duration <= at, f
    assert s.relay.provision_after > 0 if destroyed else s.relay.provision_after == 0


@pytest.mark.parametrize("duration, intensity", [(10, 1.0), (60, 1.0), (60, 3.0), (30, 0)])
def test_bounded_by_duration_and_intensity(topo, duration, intensity):
    for seed in range(1, 11):
        s = generate(topo, seed, duration=duration, intensity=intensity)
        assert len(s.faults) <= round(intensity * duration / 10)
        for f in s.faults:              # planned seconds, not measured
            assert 0 <= f.at <= 0.75 * duration
            assert f.duration <= max(1.0, min(10.0, duration / 4)) or f.name == "destroy"
        assert s.traffic.count == round(2 * duration)
        assert s.traffic.count / s.traffic.rate == pytest.approx(duration, rel=0.01)
        assert set(s.traffic.clients) == {c.name for c in topo.plan.clients}


def test_fault_kinds_and_messages_are_honoured(topo):
    s = generate(topo, 3, kinds=("blackhole", "kill"), messages=17, intensity=3)
    assert {f.name for f in s.faults} <= {"blackhole", "kill"} and s.faults
    assert s.traffic.count == 17
    with pytest.raises(ChaosError, match="unknown fault kind meteor"):
        generate(topo, 3, kinds=("meteor",))


def test_the_schedule_file_reads_back_as_the_same_scenario(topo):
    s = generate(topo, 5, intensity=2)
    again = parse(to_toml(s, header="seed 5\nreplay: maillab run schedule.toml"), "x.toml")
    assert again.faults == s.faults and again.traffic == s.traffic
    assert again.relay == s.relay and again.dns == s.dns and again.expect == s.expect
