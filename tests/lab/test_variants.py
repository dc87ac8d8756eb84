"""A broken system for every claim: each variant (tests/variants) runs in a real
lab, tiny, and the verdict must fail the claim it breaks, saying why.

Each row: the variant, the scenario it runs in (with its message count,
deadline and fault made small), the claims whose checks must fail and a
phrase of the reason. The variants change one thing each; a variant that
keeps mail from being delivered also fails the drain checks, which is
expected and not what the row asserts.
"""
import io
import json

import pytest

from lab.scenarios import model as scenario
from lab.scenarios.run import Run
from tests.variants import labs

pytestmark = pytest.mark.lab


def relay(name):
    return {"relay_module": "tests.variants." + name}


VARIANTS = [
    # id, scenario, lab options, changes to the scenario, {claim: reason}
    ("relay-drops-queued", "relay-failover", relay("relay_drops_queued"),
     {"count": 6, "rate": 4.0, "fault_for": 2.0}, {"": "accepted (250) but in no Maildir"}),
    ("dns-hides-mx1", "direct", {"dns_module": "tests.variants.dns_hides_mx1_from_senders"},
     {"count": 4}, {"1a": "0 messages straight to mx1"}),
    ("relay-refuses-mail", "relay-failover", relay("relay_refuses_mail"),
     {"count": 6, "rate": 4.0, "fault_for": 2.0}, {"1": "handed nothing to the relay"}),
    ("relay-never-retries", "relay-failover", relay("relay_never_retries"),
     {"count": 6, "rate": 4.0, "deadline": 4.0}, {"1": "never reached mx1", "5": "had fewer",
                                     "13": "had fewer"}),
    ("relay-retries-once", "relay-failover", relay("relay_retries_once"),
     {"count": 6, "rate": 4.0, "deadline": 4.0}, {"5": "had fewer", "13": "had fewer"}),
    ("relay-without-backoff", "relay-failover", relay("relay_without_backoff"),
     {"count": 6, "rate": 4.0}, {"5": "earlier than the scenario's backoff",
                    "13": "earlier than the scenario's backoff"}),
    ("relay-first-try-late", "relay-failover", relay("relay_first_try_late"),
     {"count": 6, "rate": 4.0, "fault_for": 2.0},
     {"7": "no failed attempt", "15": "no failed attempt"}),
    ("dns-ignores-health", "dns-health", {"dns_module": "tests.variants.dns_ignores_health"},
     {"count": 6}, {"9": "no answer without mx1 inside a fault window"}),
    ("relay-through-router", "relay-failover", {"lab_class": labs.RoutesRelayThroughTheRouter},
     {"count": 6, "rate": 4.0, "fault_for": 2.0}, {"17": "at the router's port"}),
    ("relay-provisions-at-once", "recreate", relay("relay_provisions_at_once"),
     {"count": 4, "claims": ["2", "6", "10", "14"]},
     {"2": "sooner than provision_after", "6": "before the relay had retried the server",
      "10": "sooner than provision_after", "14": "sooner than provision_after"}),
    ("relay-sticks-to-the-dead-server", "remote-failover",
     relay("relay_sticks_to_the_dead_server"),
     {"count": 4, "deadline": 4.0},
     {"3": "no connection from the relay", "11": "no connection from the relay",
      "8": "not in", "16": "not in"}),
    ("relay-keeps-old-hop-on-disk", "remote-failover", relay("relay_keeps_old_hop_on_disk"),
     {"count": 4}, {"4": "never seen on disk changing", "12": "never seen on disk changing"}),
    ("provisioner-same-dc", "remote-failover", {"lab_class": labs.CreatesInTheSameDC},
     {"count": 4}, {"18": "dc1 by the address plan"}),
    ("provisioner-other-mac", "recreate", {"lab_class": labs.RecreatesWithAnotherMac},
     {"count": 4}, {"19": labs.OTHER_MAC}),
    # a component that writes the right words without doing the thing (issue 24)
    ("relay-heartbeat-perfect-log", "relay-failover", relay("relay_heartbeat_perfect_log"),
     {"count": 6, "rate": 4.0},
     {"5": ("match no failure in its log", "no failed connection attempt"),
      "13": ("match no failure in its log", "no failed connection attempt")}),
    # (its queue never empties: a short deadline, the wire has said it all by then)
    ("relay-bypasses-smtp", "relay-failover", relay("relay_bypasses_smtp"),
     {"count": 6, "rate": 4.0, "fault_for": 2.0, "deadline": 4.0},
     {"1": "not on the wire", "7": "not on the wire", "15": "not on the wire"}),
    ("provisioner-same-dc-says-other", "remote-failover",
     {"lab_class": labs.CreatesInTheSameDCAndSaysOther},
     {"count": 4}, {"18": "which is not where its address is"}),
    # (this DNS server stays silent once it has been: the relay never resolves
    # mx1 again, so nothing is won by waiting for its queue)
    ("dns-silent-during-the-fault", "dns-health",
     {"dns_module": "tests.variants.dns_silent_during_the_fault"},
     {"count": 6, "deadline": 2.0}, {"9": "no answer without mx1 inside a fault window"}),
    ("relay-tries-once-then-asks", "recreate", relay("relay_tries_once_then_asks"),
     {"count": 4, "claims": ["6"]}, {"6": "before the relay had retried the server"}),
    ("relay-forges-an-event", "relay-failover", relay("relay_forges_an_event"),
     {"count": 6, "rate": 4.0, "fault_for": 2.0},
     {"": "claim to be provisioner on provisioner"}),
]


def small(name, count, rate=None, deadline=None, fault_for=None, claims=None):
    s = scenario.load(name)
    s.traffic.count = count
    if rate is not None:
        s.traffic.rate = rate
    if deadline is not None:
        s.expect.deadline = deadline
    if fault_for is not None:
        s.faults[0].duration = fault_for
    if claims is not None:
        s.claims = claims
    return s


@pytest.mark.parametrize("variant, name, options, changes, fails", VARIANTS,
                         ids=[v[0] for v in VARIANTS])
def test_the_verdict_fails_the_claim_a_variant_breaks(variant, name, options, changes, fails,
                                                      clean_machine, tmp_path):
    out = io.StringIO()
    _, paths = Run(small(name, **changes), seed=1, report_dir=str(tmp_path / variant), out=out,
                   lab_options=options).execute()
    print(out.getvalue())
    with open(paths["report.json"]) as f:
        rep = json.load(f)
    assert rep["ok"] is False
    for claim, why in fails.items():
        failed = [c for c in rep["checks"] if c["claim"] == claim and not c["ok"]]
        assert failed, "claim %s held: %s" % (claim, open(paths["report.md"]).read())
        whys = why if isinstance(why, tuple) else (why,)
        assert any(w in c["detail"] for c in failed for w in whys), failed


def test_every_claim_has_a_variant_that_fails_it():
    covered = {claim for *_, fails in VARIANTS for claim in fails}
    covered |= {"1b", "1c"} if "1" in covered else set()
    assert set(scenario.CLAIMS) - {"1b", "1c"} <= covered | {"1a"}
    assert {str(n) for n in range(1, 20)} <= covered
