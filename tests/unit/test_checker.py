import os

import pytest

from lab import checker, scenario
from tests.unit.run_fixtures import T0, ev, relay_failover_run, remote_run, write_mail


def by_name(verdict):
    return {(c.claim, c.name): c for c in verdict.checks}


def failing(verdict):
    return [(c.claim, c.name, c.detail) for c in verdict.checks if not c.ok]


def test_a_good_failover_run_passes(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    v = checker.check(evidence)
    assert failing(v) == []
    assert v.ok and (v.sent, v.delivered, v.lost, v.duplicates, v.queued) == (6, 6, 0, 0, 0)
    assert v.timings["failover"] == pytest.approx(1.3, abs=0.01)   # fault 1.0 -> first queued 2.3
    assert v.timings["recovery_drain"] == pytest.approx(1.1, abs=0.01)  # fault end 5 -> 6.1
    assert v.timings["recreate"] is None
    claims = {c.claim for c in v.checks}
    assert {"1", "5", "7", "9", "13", "15", "17"} <= claims


def test_a_missing_message_is_lost_and_fails(tmp_path):
    evidence, root = relay_failover_run(tmp_path)
    victim = evidence.mails[-1]
    os.unlink(victim.path)
    evidence.mails = checker.read_maildir(root, "mx1")
    v = checker.check(evidence)
    assert v.lost == 1 and not v.ok
    assert v.lost_ids == [victim.msgid]
    assert not by_name(v)[("", "nothing lost")].ok
    assert victim.msgid in by_name(v)[("", "nothing lost")].detail


def test_a_message_stored_twice_is_a_duplicate(tmp_path):
    evidence, root = relay_failover_run(tmp_path)
    other = str(tmp_path / "other")
    write_mail(other, "user@example.org", evidence.mails[0].msgid)
    evidence.mails += checker.read_maildir(other, "mx1")
    v = checker.check(evidence)
    assert v.duplicates == 1 and not v.ok
    assert v.duplicate_ids == [evidence.mails[0].msgid]


def test_still_queued_is_not_lost_but_fails(tmp_path):
    evidence, root = relay_failover_run(tmp_path)
    victim = evidence.mails[-1]
    os.unlink(victim.path)
    evidence.mails = checker.read_maildir(root, "mx1")
    evidence.queued = [{"file": "/q/abc", "msgid": victim.msgid, "next_hop": "mx:example.org"}]
    v = checker.check(evidence)
    assert (v.lost, v.queued, v.ok) == (0, 1, False)
    assert not by_name(v)[("", "queue drained")].ok


def test_mail_never_sent_is_reported(tmp_path):
    evidence, root = relay_failover_run(tmp_path)
    write_mail(root, "user@example.org", "<forged@elsewhere>")
    evidence.mails = checker.read_maildir(root, "mx1")
    v = checker.check(evidence)
    assert v.unexpected == 1 and not v.ok
    assert "<forged@elsewhere>" in by_name(v)[("", "no unknown mail")].detail


def test_retries_too_close_together_fail_claim_5(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    for e in evidence.events:
        if e["event"] == "attempt":
            e["ts"] = T0 + 3.0   # all at once: not periodic
    v = checker.check(evidence)
    assert not by_name(v)[("5", "periodic retry to the messaging server")].ok
    assert not v.ok


def test_relay_that_never_delivered_to_mx1_fails_claim_1c_and_7(tmp_path):
    evidence, root = relay_failover_run(tmp_path)
    evidence.events = [e for e in evidence.events
                       if not (e["service"] == "relay" and e["event"] == "delivered")]
    v = checker.check(evidence)
    assert not by_name(v)[("7", "relay sends to the messaging server once it is back")].ok


def test_direct_run_with_relay_traffic_fails_expectation(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    evidence.scenario = scenario.load("direct")
    v = checker.check(evidence)
    assert not by_name(v)[("", "relay not involved")].ok
    evidence, _ = relay_failover_run(tmp_path / "b", n_relayed=0)
    evidence.scenario = scenario.load("direct")
    evidence.events = [e for e in evidence.events if e["service"] != "faults"]
    v = checker.check(evidence)
    assert failing(v) == [] and v.ok


def test_claim_17_reads_the_topology(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    evidence.topology["relay1"] = {"ip": "10.0.2.20", "dc": "dc2"}
    v = checker.check(evidence)
    assert not by_name(v)[("17", "mx1 and the relay share a data center")].ok


def test_remote_failover_passes_with_all_evidence(tmp_path):
    evidence, _ = remote_run(tmp_path)
    v = checker.check(evidence)
    assert failing(v) == []
    assert v.timings["recreate"] == pytest.approx(0.8, abs=0.01)
    assert {c.claim for c in v.checks} >= {"2", "3", "4", "8", "10", "11", "12", "16", "18"}


def test_claim_4_needs_a_rerouted_event_for_every_stored_message(tmp_path):
    evidence, _ = remote_run(tmp_path)
    dropped = [e for e in evidence.events if e["event"] == "rerouted"][0]["msgid"]
    evidence.events = [e for e in evidence.events
                       if not (e["event"] == "rerouted" and e["msgid"] == dropped)]
    v = checker.check(evidence)
    c = by_name(v)[("4", "stored messages' server information changed")]
    assert not c.ok and dropped in c.detail


def test_claim_4_fails_when_the_disk_contradicts_the_events(tmp_path):
    evidence, _ = remote_run(tmp_path)
    c = by_name(checker.check(evidence))[("12", "stored messages' server information changed")]
    assert c.ok and "1 queue files read back from disk with the new next hop" in c.detail
    evidence.queue_snapshots = [{"ts": T0 + 4.5, "entries": [
        {"msgid": "<r-1-0@maillab>", "next_hop": "mx:example.org"}]}]
    v = checker.check(evidence)
    c = by_name(v)[("12", "stored messages' server information changed")]
    assert not c.ok and "old next hop" in c.detail


def test_claim_18_needs_bytes_across_the_wan(tmp_path):
    evidence, _ = remote_run(tmp_path, wan_bytes=10)
    v = checker.check(evidence)
    assert not by_name(v)[("18", "mail crossed the WAN")].ok
    evidence.wan_bytes = None
    assert not by_name(checker.check(evidence))[("18", "mail crossed the WAN")].ok


def test_claim_19_same_ip(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    evidence.scenario = scenario.load("recreate")
    evidence.events.append(ev(3.0, "relay1", "relay", "provision_requested", action="recreate"))
    evidence.events.append(ev(3.2, "lab", "provisioner", "created", name="mx1",
                              ip="10.0.1.10", dc="dc1"))
    c = by_name(checker.check(evidence))[("19", "re-created with the same name and IP")]
    assert c.ok, c.detail
    evidence.events[-1]["ip"] = "10.0.1.99"
    c = by_name(checker.check(evidence))[("19", "re-created with the same name and IP")]
    assert not c.ok and "10.0.1.99" in c.detail


def test_no_mail_at_all_fails(tmp_path):
    evidence, _ = relay_failover_run(tmp_path, n_direct=0, n_relayed=0)
    v = checker.check(evidence)
    assert not v.ok and v.sent == 0


def test_read_helpers(tmp_path):
    path = write_mail(str(tmp_path / "md"), "User@Example.org", "<a@b>")
    (tmp_path / "md" / ".delivered").write_text("x")
    mails = checker.read_maildir(str(tmp_path / "md"), "mx1")
    assert [(m.msgid, m.rcpt, m.host, m.path) for m in mails] == \
        [("<a@b>", "user@example.org", "mx1", path)]
    ledger = tmp_path / "ledger"
    ledger.write_text('{"msgid": "<a@b>", "to": "u@x", "code": 250}\n{"msgid": "<torn')
    assert checker.read_ledger(str(ledger)) == [{"msgid": "<a@b>", "to": "u@x", "code": 250}]
    q = tmp_path / "q"
    (q / "corrupt").mkdir(parents=True)
    (q / "m1.q").write_text("x")
    (q / ".m2.q.tmp").write_text("x")
    (q / "relay.pid").write_text("1")
    assert [e["file"] for e in checker.read_queue(str(q))] == [str(q / "m1.q")]


def test_message_paths_follow_each_message(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    paths = checker.message_paths(evidence)
    steps = [w for _, w, _ in paths["<t-1-4@maillab>"]]
    assert steps[0] == "relay_queued" or "accepted" in steps[:2]
    assert "relay_attempt" in steps and steps[-1] in ("stored", "relay_delivered")
    assert paths["<t-1-4@maillab>"][-1][2] == "mx1"


def test_claim_9_health_checked_needs_mx1_dropped_then_restored(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    evidence.scenario = scenario.load("dns-health")
    both = ["mx1.lab.example.org.", "relay1.lab.example.org."]
    evidence.events += [ev(0.5, "dns1", "dns", "answer_changed", answer=["mx1.lab.example.org."]),
                        ev(0.6, "dns1", "dns", "answer_changed", answer=both)]   # start-up noise
    name = ("9", "DNS health check routes around the outage")
    assert not by_name(checker.check(evidence))[name].ok
    evidence.events += [ev(1.5, "dns1", "dns", "answer_changed",
                           answer=["relay1.lab.example.org."]),
                        ev(5.5, "dns1", "dns", "answer_changed", answer=both)]
    c = by_name(checker.check(evidence))[name]
    assert c.ok, c.detail


def test_mail_our_sender_sent_without_getting_its_250_is_not_a_stranger(tmp_path):
    evidence, root = relay_failover_run(tmp_path)
    write_mail(root, "user@example.org", "<t-1-99@maillab>")    # 250 lost on the way back
    evidence.mails = checker.read_maildir(root, "mx1")
    evidence.expected_ids = {"<t-1-%d@maillab>" % n for n in range(100)}
    v = checker.check(evidence)
    c = by_name(v)[("", "no unknown mail")]
    assert v.unexpected == 1 and c.ok, c.detail
    evidence.expected_ids = set()
    assert not by_name(checker.check(evidence))[("", "no unknown mail")].ok


def test_the_expected_provisioning_action_must_be_the_one_taken(tmp_path):
    """dc-failure expects the relay's policy to end in a create elsewhere: a
    re-creation in place does not meet that expectation."""
    evidence, _ = remote_run(tmp_path)
    evidence.scenario = scenario.load("dc-failure")
    created = [e for e in evidence.events if e["event"] == "created"][0]
    created["action"] = "create"
    assert by_name(checker.check(evidence))[("", "provisioner create")].ok
    created["action"] = "recreate"
    c = by_name(checker.check(evidence))[("", "provisioner create")]
    assert not c.ok and "recreate" in c.detail
