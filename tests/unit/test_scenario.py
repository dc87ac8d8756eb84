import pytest

from lab.scenarios import model as scenario
from lab.scenarios.model import ScenarioError, fault_plan, parse

MINIMAL = """
name = "x"
topology = "one_dc"
claims = ["1", "5"]
"""


def test_every_shipped_scenario_loads():
    names = scenario.names()
    for required in ("direct", "relay-failover", "dns-health", "recreate", "remote-failover",
                     "relay-crash", "reset-storm", "partition", "flapping", "lossy"):
        assert required in names
    covered = set()
    for s in scenario.load_all():
        assert s.description
        covered.update(s.claims)
    assert covered >= {"1a"} | {str(n) for n in range(1, 20)}


def test_defaults_and_renamed_for_key():
    s = parse(MINIMAL + """
[relay]
retry_interval = 2
[[faults]]
name = "blackhole"
args = ["mx1"]
for = 3
""")
    assert s.relay.max_retry_interval == 2.0
    assert s.faults[0].duration == 3.0
    assert s.traffic.count == 10 and s.dns.mode == "mx-preference"


@pytest.mark.parametrize("extra, key, reason", [
    ('[traffic]\ncount = 0\n', "traffic.count", "at least 1"),
    ('[traffic]\ncuont = 3\n', "traffic.cuont", "unknown key"),
    ('[dns]\nmode = "round-robin"\n', "dns.mode", "must be one of"),
    ('[relay]\nprovision_action = "recreate:mx1"\n', "relay.provision_after", "> 0"),
    ('[relay]\nprovision_after = 2\nprovision_action = "explode"\n', "relay.provision_action",
     "recreate:NAME"),
    ('[[faults]]\nname = "meteor"\nargs = []\n', "faults[0].name", "unknown fault"),
    ('[[faults]]\nname = "cut"\n', "faults[0].args", "missing"),
    ('[[faults]]\nname = "cut"\nargs = ["a", "b"]\nfor = 2\nevery = 1\ntimes = 3\n',
     "faults[0].for", "shorter than every"),
    ('[[faults]]\nname = "cut"\nargs = ["a"]\nafter = "lunch"\n', "faults[0].after", "one of"),
    ('[traffic]\nrate = "fast"\n', "traffic.rate", "a number"),
])
def test_errors_name_file_key_and_reason(extra, key, reason):
    with pytest.raises(ScenarioError) as e:
        parse(MINIMAL + extra, path="my.toml")
    assert e.value.key == key
    assert reason in e.value.reason
    assert str(e.value).startswith("my.toml: " + key + ": ")


def test_unknown_claim_and_topology():
    with pytest.raises(ScenarioError, match="claims: unknown claim '20'"):
        parse(MINIMAL.replace('["1", "5"]', '["20"]'))
    with pytest.raises(ScenarioError, match="topology: must be one of"):
        parse(MINIMAL.replace("one_dc", "moon"))
    with pytest.raises(ScenarioError, match=r"\(syntax\)"):
        parse("name = ")


def test_unknown_scenario_name_lists_known_ones():
    with pytest.raises(ScenarioError, match="relay-failover"):
        scenario.load("no-such-thing")


def test_fault_plan_is_seeded_and_repeats():
    s = scenario.load("flapping")
    a, b, c = fault_plan(s, 1), fault_plan(s, 1), fault_plan(s, 2)
    assert a == b
    assert [p.start for p in a] != [p.start for p in c]
    assert len(a) == 3
    f = s.faults[0]
    for n, p in enumerate(a):
        assert f.at + n * f.every <= p.start <= f.at + n * f.every + f.jitter
        assert p.stop == pytest.approx(p.start + f.duration, abs=0.002)


def test_seeded_fault_gets_the_seed():
    plan = fault_plan(scenario.load("lossy"), 7)
    assert plan[0].args[-2:] == ["--seed", "7"]
