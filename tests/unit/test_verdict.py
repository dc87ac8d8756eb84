"""The verdict judged on synthetic histories: good runs pass, and each way a
claim can be broken fails that claim with the reason (one test per failure mode)."""
import os

import pytest

from lab.evidence import records
from lab.scenarios import model as scenario
from lab.evidence.queries import message_paths
from lab.verdict import claims as checker
from lab.verdict import retries
from lab.verdict import wire as verdict_wire     # "wire" names the tests' own Wire()s
from tests.unit.run_fixtures import (MAC, MX1_IP, MX2_IP, RELAY_IP, T0, Wire, arp_request, ev,
                                     recreate_run, relay_failover_run, remote_run, write_mail)


def by_name(verdict):
    return {(c.claim, c.name): c for c in verdict.checks}


def failing(verdict):
    return [(c.claim, c.name, c.detail) for c in verdict.checks if not c.ok]


def claim_check(evidence, claim, name):
    return by_name(checker.check(evidence))[(claim, name)]


def _set(evidence, event, **fields):
    """Change every ``event`` of the history."""
    for e in evidence.events:
        if e["event"] == event:
            e.update(fields)


PERIODIC = "periodic retry to the messaging server"
AFTER_RETRY = "relay sends to the messaging server once it is back"
INVOKE = "relay invokes another messaging server"
SAME = "re-created with the same name, IP and MAC"
CHANGED = "stored messages' server information changed"
ON_SWITCH = "relay-mx1 traffic stays on the data center's switch"


# -- good runs ---------------------------------------------------------------------

def test_a_good_failover_run_passes(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    v = checker.check(evidence)
    assert failing(v) == []
    assert v.ok and (v.sent, v.delivered, v.lost, v.duplicates, v.queued) == (6, 6, 0, 0, 0)
    assert v.timings["failover"] == pytest.approx(1.3, abs=0.01)   # fault 1.0 -> first queued 2.3
    assert v.timings["recovery_drain"] == pytest.approx(0.7, abs=0.01)  # fault end 7 -> 7.7
    assert v.timings["recreate"] is None
    assert {"1", "5", "7", "9", "13", "15", "17"} <= {c.claim for c in v.checks}


def test_a_good_remote_failover_passes(tmp_path):
    evidence, _ = remote_run(tmp_path)
    v = checker.check(evidence)
    assert failing(v) == []
    assert v.timings["recreate"] == pytest.approx(0.8, abs=0.01)
    assert {c.claim for c in v.checks} >= {"2", "3", "4", "8", "10", "11", "12", "16", "18"}


def test_a_good_recreate_passes(tmp_path):
    evidence, _ = recreate_run(tmp_path)
    assert failing(checker.check(evidence)) == []


def test_every_check_names_its_kind_and_evidence(tmp_path):
    for make in (relay_failover_run, remote_run, recreate_run):
        evidence, _ = make(tmp_path / make.__name__)
        for c in checker.check(evidence).checks:
            assert c.kind in (checker.OBSERVED, checker.INFO) and c.evidence, c
            if c.kind == checker.INFO:
                assert c.evidence == [records.TOPOLOGY]


def test_a_fact_of_the_set_up_is_info_never_a_pass(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    c = claim_check(evidence, "17", "mx1 and the relay share a data center")
    assert c.kind == "info" and "address plan" in c.detail


def test_a_check_on_the_components_own_words_alone_cannot_pass():
    c = checker._own_words_only(checker.Check("x", "5", True, "the relay says so", "observed",
                                              [records.RELAY_LOG]))
    assert not c.ok and "own words" in c.detail
    c = checker._own_words_only(checker.Check("x", "5", True, "seen", "observed",
                                              [records.RELAY_LOG, records.WIRE]))
    assert c.ok


# -- counting ------------------------------------------------------------------------

def test_a_missing_message_is_lost_and_fails(tmp_path):
    evidence, root = relay_failover_run(tmp_path)
    victim = evidence.mails[-1]
    os.unlink(victim.path)
    evidence.mails = records.read_maildir(root, "mx1")
    v = checker.check(evidence)
    assert v.lost == 1 and not v.ok
    assert v.lost_ids == [victim.msgid]
    assert victim.msgid in by_name(v)[("", "nothing lost")].detail


def test_a_message_stored_twice_is_a_duplicate(tmp_path):
    evidence, root = relay_failover_run(tmp_path)
    other = str(tmp_path / "other")
    write_mail(other, "user@example.org", evidence.mails[0].msgid)
    evidence.mails += records.read_maildir(other, "mx1")
    v = checker.check(evidence)
    assert v.duplicates == 1 and not v.ok
    assert v.duplicate_ids == [evidence.mails[0].msgid]


def test_still_queued_is_not_lost_but_fails(tmp_path):
    evidence, root = relay_failover_run(tmp_path)
    victim = evidence.mails[-1]
    os.unlink(victim.path)
    evidence.mails = records.read_maildir(root, "mx1")
    evidence.queued = [{"file": "/q/abc", "msgid": victim.msgid, "next_hop": "mx:example.org"}]
    v = checker.check(evidence)
    assert (v.lost, v.queued, v.ok) == (0, 1, False)
    assert not by_name(v)[("", "queue drained")].ok


def test_mail_never_sent_is_reported(tmp_path):
    evidence, root = relay_failover_run(tmp_path)
    write_mail(root, "user@example.org", "<forged@elsewhere>")
    evidence.mails = records.read_maildir(root, "mx1")
    v = checker.check(evidence)
    assert v.unexpected == 1 and not v.ok
    assert "<forged@elsewhere>" in by_name(v)[("", "no unknown mail")].detail


def test_no_mail_at_all_fails(tmp_path):
    evidence, _ = relay_failover_run(tmp_path, n_direct=0, n_relayed=0)
    v = checker.check(evidence)
    assert not v.ok and v.sent == 0


def test_direct_run_with_relay_traffic_fails_expectation(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    evidence.scenario = scenario.load("direct")
    assert not by_name(checker.check(evidence))[("", "relay not involved")].ok
    evidence, _ = relay_failover_run(tmp_path / "b", n_relayed=0)
    evidence.scenario = scenario.load("direct")
    evidence.events = [e for e in evidence.events if e["service"] != "fault"]
    v = checker.check(evidence)
    assert failing(v) == [] and v.ok


# -- claim 1 -------------------------------------------------------------------------

def test_1a_fails_when_nothing_went_straight_to_mx1(tmp_path):
    evidence, _ = relay_failover_run(tmp_path, n_direct=0)
    c = claim_check(evidence, "1", "routed to the messaging server")
    assert not c.ok and "0 messages straight to mx1" in c.detail


def test_1b_fails_when_the_relay_took_nothing(tmp_path):
    evidence, _ = relay_failover_run(tmp_path, n_relayed=0)
    c = claim_check(evidence, "1", "undeliverable mail goes to the relay")
    assert not c.ok and "handed nothing to the relay" in c.detail


def test_1c_fails_when_relayed_mail_is_not_in_mx1(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    evidence.mails = [m for m in evidence.mails if m.msgid != "<t-1-4@maillab>"]
    c = claim_check(evidence, "1", "relay re-routes to the messaging server")
    assert not c.ok and "<t-1-4@maillab>" in c.detail


# -- claims 5 and 13: periodic retry, seen on the wire, with backoff --------------------

def test_5_fails_for_a_relay_that_tried_once(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    firsts = {}
    for e in evidence.events:
        if e["event"] == "deferred":
            firsts.setdefault(e["msgid"], e)
    evidence.events = [e for e in evidence.events
                       if e["event"] != "deferred" or firsts[e["msgid"]] is e]
    c = claim_check(evidence, "5", PERIODIC)
    assert not c.ok and "had fewer" in c.detail


def test_5_fails_when_the_attempts_left_nothing_on_the_wire(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    evidence.frames = [f for f in evidence.frames if f.src_ip != RELAY_IP or f.ts > T0 + 7]
    c = claim_check(evidence, "13", PERIODIC)
    assert not c.ok and "no failed connection attempt of the relay on the wire" in c.detail


def _retry_every_0_6_s(evidence):
    for e in evidence.events:                 # every retry 0.6 s after the last failure
        if e["event"] == "deferred":
            i = int(e["msgid"].split("-")[2].split("@")[0])
            n = sum(1 for x in evidence.events if x["event"] == "deferred"
                    and x["msgid"] == e["msgid"] and x["ts"] < e["ts"])
            e["ts"] = T0 + 2.3 + 0.1 * i + 0.6 * n


def test_5_fails_for_retries_faster_than_the_backoff(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    _retry_every_0_6_s(evidence)
    c = claim_check(evidence, "5", PERIODIC)
    assert not c.ok and "earlier than the scenario's backoff" in c.detail


def test_5_needs_an_outage_long_enough_for_three_attempts(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    _set(evidence, "fault_end", ts=T0 + 3.0)
    c = claim_check(evidence, "5", PERIODIC)
    assert not c.ok and "too short" in c.detail


# -- claims 7 and 15: delivered after a failure, after the fault -------------------------

def test_7_fails_for_a_delivery_with_no_failed_attempt(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    evidence.events = [e for e in evidence.events
                       if not (e["event"] == "deferred" and e["msgid"] == "<t-1-3@maillab>")]
    c = claim_check(evidence, "7", AFTER_RETRY)
    assert not c.ok and "no failed attempt" in c.detail and "<t-1-3@maillab>" in c.detail


def test_15_fails_for_a_delivery_during_the_fault(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    _set(evidence, "fault_end", ts=T0 + 7.65)
    c = claim_check(evidence, "15", AFTER_RETRY)
    assert not c.ok and "while a fault was in force" in c.detail


def test_7_fails_when_held_mail_never_reached_mx1(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    evidence.mails = [m for m in evidence.mails if m.msgid != "<t-1-5@maillab>"]
    c = claim_check(evidence, "7", AFTER_RETRY)
    assert not c.ok and "never reached mx1" in c.detail


# -- claim 9: which mode, and a client's view of the DNS ---------------------------------

def test_9_names_the_sender_fallback_mode(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    c = claim_check(evidence, "9", "DNS routes to mx1, then the relay")
    assert c.ok and "mode: the sender's MX fallback" in c.detail


def test_9_health_checked_needs_a_client_to_see_mx1_dropped_then_restored(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    evidence.scenario = scenario.load("dns-health")
    both = ["mx1.lab.example.org.", "relay1.lab.example.org."]
    name = ("9", "DNS health check routes around the outage")
    evidence.dns_answers = [{"ts": T0 + t, "answer": both} for t in (0.5, 2, 6, 8)]
    c = by_name(checker.check(evidence))[name]
    assert not c.ok and "no answer without mx1 inside a fault window" in c.detail
    evidence.dns_answers[1]["answer"] = ["relay1.lab.example.org."]
    c = by_name(checker.check(evidence))[name]
    assert c.ok and "mode: the DNS server's answer changes" in c.detail
    # the DNS server's own events are not what the check reads
    evidence.dns_answers = []
    evidence.events += [ev(1.5, "dns1", "dns", "answer_changed", answer=["relay1.lab."]),
                        ev(7.5, "dns1", "dns", "answer_changed", answer=both)]
    assert not by_name(checker.check(evidence))[name].ok


# -- claim 17: on the switch, not through a router ----------------------------------------

def test_17_fails_when_relay_mx1_traffic_passes_the_router(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    wire = Wire()
    wire.connect(7.3, RELAY_IP, MX1_IP, answered=True, point="router", ttl=63)
    evidence.frames = sorted(evidence.frames + wire.frames, key=lambda f: f.ts)
    c = claim_check(evidence, "17", ON_SWITCH)
    assert not c.ok and "2 at the router's port" in c.detail


def test_17_fails_without_captures(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    evidence.frames, evidence.capture_points = [], {}
    c = claim_check(evidence, "17", ON_SWITCH)
    assert not c.ok and "no capture" in c.detail


# -- claims 2, 6, 10, 14: the causal chain ----------------------------------------------

def _without(evidence, event):
    evidence.events = [e for e in evidence.events if e["event"] != event]


def test_chain_fails_without_failed_attempts_on_the_wire(tmp_path):
    evidence, _ = remote_run(tmp_path)
    evidence.frames = [f for f in evidence.frames if f.proto != "arp"]
    c = claim_check(evidence, "2", INVOKE)
    assert not c.ok and "no unanswered attempt" in c.detail


def test_chain_fails_for_a_request_before_provision_after(tmp_path):
    evidence, _ = remote_run(tmp_path)
    _set(evidence, "provision_requested", ts=T0 + 2.5)
    c = claim_check(evidence, "10", INVOKE)
    assert not c.ok and "sooner than provision_after" in c.detail


def test_chain_fails_without_the_provisioners_created(tmp_path):
    evidence, _ = recreate_run(tmp_path)
    _set(evidence, "created", service="relay")    # the relay claiming it: not the provisioner's log
    c = claim_check(evidence, "14", INVOKE)
    assert not c.ok and "provisioner's log has no `created`" in c.detail


def test_chain_fails_for_a_creation_before_the_request(tmp_path):
    evidence, _ = remote_run(tmp_path)
    _set(evidence, "created", ts=T0 + 3.9)
    c = claim_check(evidence, "2", INVOKE)
    assert not c.ok and "no `created` after the request" in c.detail


def test_chain_fails_when_nothing_reached_the_new_server(tmp_path):
    evidence, _ = remote_run(tmp_path)
    evidence.mails = []
    c = claim_check(evidence, "2", INVOKE)
    assert not c.ok and "none of the messages held when the relay asked reached a new server" \
        in c.detail


def test_a_chain_with_nothing_held_is_inconclusive_not_a_pass(tmp_path):
    """Every held message was stored before the relay asked (t=4.1): the chain
    request -> created -> delivery carries nothing, so it shows nothing (it used
    to PASS with no delivery at all). Two servers down, another outage's chain
    that carried mail makes the claim PASS."""
    evidence, _ = remote_run(tmp_path)
    for m in evidence.mails:
        m.ts = T0 + 3.9                       # all stored before the request at t=4.1
    c = claim_check(evidence, "2", INVOKE)
    assert c.outcome == "INCONCLUSIVE" and not c.ok
    assert "no held message was left undelivered when the relay asked" in c.detail
    assert "no chain carried mail" in c.inconclusive
    evidence.mails = evidence.mails[1:]       # one held message in no Maildir: broken
    c = claim_check(evidence, "2", INVOKE)
    assert not c.ok and "none of the messages held" in c.detail


def test_6_fails_for_a_request_without_a_retry_before_it(tmp_path):
    evidence, _ = recreate_run(tmp_path)
    _set(evidence, "provision_requested", ts=T0 + 1.5)   # after the first attempt only
    evidence.scenario.relay.provision_after = 0.2
    c = claim_check(evidence, "6", "invoked after periodic retries failed")
    assert not c.ok and "before the relay had retried the server" in c.detail


# -- claim 19: same IP and MAC on the wire --------------------------------------------------

def test_19_fails_for_another_mac(tmp_path):
    evidence, _ = recreate_run(tmp_path)
    for f in evidence.frames:
        if f.src_ip == MX1_IP and f.ts > T0 + 4.9:
            f.src_mac = "02:00:de:ad:be:ef"
    c = claim_check(evidence, "19", SAME)
    assert not c.ok and "02:00:de:ad:be:ef" in c.detail and MAC[MX1_IP] in c.detail


def test_19_fails_when_the_address_never_answers_again(tmp_path):
    evidence, _ = recreate_run(tmp_path)
    evidence.frames = [f for f in evidence.frames if not (f.src_ip == MX1_IP and f.ts > T0 + 1)]
    c = claim_check(evidence, "19", SAME)
    assert not c.ok and "nothing seen" in c.detail


def test_19_does_not_take_the_provisioners_word_for_the_ip(tmp_path):
    evidence, _ = recreate_run(tmp_path)
    evidence.frames = [f for f in evidence.frames if f.ts < T0 + 1]   # nothing after
    assert not claim_check(evidence, "19", SAME).ok


# -- claims 3, 11, 8, 16: routed to and delivered at the new server ---------------------------

def test_3_fails_without_a_connection_to_the_new_server(tmp_path):
    evidence, _ = remote_run(tmp_path)
    evidence.frames = [f for f in evidence.frames if MX2_IP not in (f.src_ip, f.dst_ip)]
    c = claim_check(evidence, "3", "relay routes stored mail to the other server")
    assert not c.ok and "no connection from the relay" in c.detail


def test_8_fails_when_held_mail_is_missing_at_the_new_server(tmp_path):
    evidence, _ = remote_run(tmp_path)
    evidence.mails = evidence.mails[1:]
    c = claim_check(evidence, "16", "relay delivers to the other server")
    assert not c.ok and "not in mx2's Maildir" in c.detail


# -- claims 4 and 12: the stored next hop, seen on disk ----------------------------------------

def test_4_fails_when_the_queue_was_not_watched(tmp_path):
    evidence, _ = remote_run(tmp_path)
    evidence.queue_watched, evidence.queue_snapshots = False, []
    c = claim_check(evidence, "4", CHANGED)
    assert not c.ok and "not watched" in c.detail


def test_4_fails_when_the_disk_keeps_the_old_hop_whatever_the_relay_says(tmp_path):
    evidence, _ = remote_run(tmp_path)
    for snap in evidence.queue_snapshots:
        for q in snap["entries"]:
            q["next_hop"] = "mx:example.org"
    c = claim_check(evidence, "12", CHANGED)
    assert not c.ok and "never seen on disk changing to 10.0.2.10:25" in c.detail


def test_12_fails_when_the_file_changed_only_after_delivery(tmp_path):
    evidence, _ = remote_run(tmp_path)
    for snap in evidence.queue_snapshots:
        if snap["entries"][0]["next_hop"] == "10.0.2.10:25":
            snap["ts"] = T0 + 6.0
    c = claim_check(evidence, "12", CHANGED)
    assert not c.ok and "delivered before their file said" in c.detail


# -- claim 18 -------------------------------------------------------------------------------

REMOTE = "the other server is in a remote data center"


def test_18_a_dc1_server_the_provisioner_calls_dc2_fails(tmp_path):
    """The provisioner logs "dc2" for a server it made in dc1 (10.0.1.30), and
    unrelated traffic crosses the WAN: the address plan puts the relay's peer in
    dc1, and its answers come unrouted (TTL 64)."""
    evidence, root = remote_run(tmp_path, wan_bytes=10_000_000)
    fake = "10.0.1.30"
    _set(evidence, "created", ip=fake, dc="dc2")
    for f in evidence.frames:
        if MX2_IP in (f.src_ip, f.dst_ip):
            f.src_ip, f.dst_ip = [fake if a == MX2_IP else a for a in (f.src_ip, f.dst_ip)]
            f.ttl = 64
    c = claim_check(evidence, "18", REMOTE)
    assert not c.ok and "10.0.1.30 (dc1 by the address plan)" in c.detail
    assert "which is not where its address is" in c.detail
    c = claim_check(evidence, "18", "mail crossed the WAN")
    assert not c.ok and "0 of 5 answers" in c.detail


def test_18_mail_crossed_the_wan_needs_routed_answers(tmp_path):
    evidence, _ = remote_run(tmp_path, wan_bytes=None)
    c = claim_check(evidence, "18", "mail crossed the WAN")
    assert c.ok and "5 of 5 answers" in c.detail and "routed: 62" in c.detail
    assert "messages matched on the wire: 4/4" in c.detail
    for f in evidence.frames:
        f.ttl = 64
    assert not claim_check(evidence, "18", "mail crossed the WAN").ok


def test_18_fails_for_a_server_in_the_same_dc(tmp_path):
    evidence, _ = remote_run(tmp_path)
    _set(evidence, "created", dc="dc1")
    assert not claim_check(evidence, "18", "the other server is in a remote data center").ok


# -- reading and paths ------------------------------------------------------------------------

def test_read_helpers(tmp_path):
    path = write_mail(str(tmp_path / "md"), "User@Example.org", "<a@b>")
    (tmp_path / "md" / ".delivered").write_text("x")
    mails = records.read_maildir(str(tmp_path / "md"), "mx1")
    assert [(m.msgid, m.rcpt, m.host, m.path) for m in mails] == \
        [("<a@b>", "user@example.org", "mx1", path)]
    ledger = tmp_path / "ledger"
    ledger.write_text('{"msgid": "<a@b>", "to": "u@x", "code": 250}\n{"msgid": "<torn')
    assert records.read_ledger(str(ledger)) == [{"msgid": "<a@b>", "to": "u@x", "code": 250}]
    q = tmp_path / "q"
    (q / "corrupt").mkdir(parents=True)
    (q / "m1.q").write_text("x")
    (q / ".m2.q.tmp").write_text("x")
    (q / "relay.pid").write_text("1")
    assert [e["file"] for e in records.read_queue(str(q))] == [str(q / "m1.q")]


def test_message_paths_follow_each_message(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    paths = message_paths(evidence)
    steps = [w for _, w, _ in paths["<t-1-4@maillab>"]]
    assert "relay_deferred" in steps and steps[-1] in ("stored", "relay_delivered")
    assert paths["<t-1-4@maillab>"][-1][2] == "mx1"


def test_arp_requests_count_as_attempts_towards_a_host_without_a_mac(tmp_path):
    evidence, _ = remote_run(tmp_path)
    assert verdict_wire._wire_attempts(evidence, MX1_IP)[0] == pytest.approx(T0 + 1.0)
    assert arp_request(1, RELAY_IP, MX1_IP).arp_op == 1


def test_mail_our_sender_sent_without_getting_its_250_is_not_a_stranger(tmp_path):
    evidence, root = relay_failover_run(tmp_path)
    write_mail(root, "user@example.org", "<t-1-99@maillab>")    # 250 lost on the way back
    evidence.mails = records.read_maildir(root, "mx1")
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


def test_each_outage_has_its_own_chain(tmp_path):
    """Two servers down, two requests: each is judged from its own server's first
    unanswered attempt (two-servers-down), not from the run's first failure."""
    evidence, _ = remote_run(tmp_path)
    req = next(e for e in evidence.events if e["event"] == "provision_requested")
    req["server"] = "10.0.1.10:25"
    other = dict(req, ts=T0 + 3.0, server="10.0.1.77:25")   # asked 3 s into the run,
    evidence.events.append(other)                           # with nothing seen for it
    c = claim_check(evidence, "2", INVOKE)
    assert not c.ok and "chain broken for 10.0.1.77:25: no unanswered attempt" in c.detail
    assert "mx1 unanswered on the wire from" in c.detail     # mx1's own chain is whole


def test_7_counts_only_what_the_relay_took_during_the_fault(tmp_path):
    """A sender whose attempt at mx1 timed out during the fault may reach the relay
    after it ended: delivered at once, that message proves nothing either way."""
    evidence, root = relay_failover_run(tmp_path)
    m = "<t-1-9@maillab>"
    evidence.ledger.append({"ts": T0 + 7.1, "msgid": m, "to": "user@example.org",
                            "server": "10.0.1.20:25", "mx": "relay1.lab.", "code": 250})
    write_mail(root, "user@example.org", m, ts=7.15)
    evidence.mails = records.read_maildir(root, "mx1")
    c = claim_check(evidence, "7", AFTER_RETRY)
    assert c.ok and "1 more came to the relay after the fault ended" in c.detail, c.detail


# -- INCONCLUSIVE: runs that prove nothing are neither PASS nor FAIL ------------------------

def _outcomes(verdict):
    return {(c.claim, c.name): c.outcome for c in verdict.checks}


def test_a_black_hole_that_dropped_nothing_makes_the_claims_inconclusive(tmp_path):
    """The slow VM: all mail reached mx1 before the black hole was in force; the
    fault dropped 0 packets. The claims are not the relay's FAIL."""
    evidence, _ = relay_failover_run(tmp_path, n_relayed=0)
    _set(evidence, "fault_end", dropped_packets=0, summary="blackhole mx1")
    v = checker.check(evidence)
    out = _outcomes(v)
    assert out[("", "relay took mail")] == "INCONCLUSIVE"
    assert out[("7", AFTER_RETRY)] == "INCONCLUSIVE"
    assert out[("", "nothing lost")] == "PASS"          # the mail itself is still judged
    c = by_name(v)[("5", PERIODIC)]
    assert "blackhole mx1 had no effect (0 packets dropped)" in c.inconclusive
    assert not v.ok and v.outcome == "INCONCLUSIVE"
    _set(evidence, "fault_end", dropped_packets=12)
    v = checker.check(evidence)
    assert _outcomes(v)[("", "relay took mail")] == "FAIL" and v.outcome == "FAIL"


def test_a_reset_fault_that_sent_no_rst_is_named(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    _set(evidence, "fault_end", rsts_injected=0, summary="reset mx1")
    assert "reset mx1 had no effect (no RST sent)" in checker.idle_faults(evidence)


def test_capture_drops_make_a_wire_failure_inconclusive(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    evidence.frames = [f for f in evidence.frames if f.src_ip != RELAY_IP or f.ts > T0 + 7]
    assert claim_check(evidence, "5", PERIODIC).outcome == "FAIL"
    evidence.capture_dropped = {"relay": 40, "router": 0}
    c = claim_check(evidence, "5", PERIODIC)
    assert c.outcome == "INCONCLUSIVE" and "40 at relay" in c.inconclusive
    # claim 17 rests on an absence (nothing at the router): a drop voids its PASS
    assert claim_check(evidence, "17", ON_SWITCH).outcome == "INCONCLUSIVE"


def test_a_queue_watch_that_missed_versions_makes_claim_4_inconclusive(tmp_path):
    evidence, _ = remote_run(tmp_path)
    evidence.queue_snapshots = [s for s in evidence.queue_snapshots
                                if s["entries"][0]["next_hop"] == "mx:example.org"]
    assert claim_check(evidence, "4", CHANGED).outcome == "FAIL"
    evidence.queue_missed = 4
    c = claim_check(evidence, "4", CHANGED)
    assert c.outcome == "INCONCLUSIVE" and "missed 4 file versions" in c.inconclusive


def test_outcomes_are_counted_apart():
    from lab.verdict.model import Check, not_applicable, tally
    checks = [Check("a", "1", True, ""), Check("b", "1", False, ""),
              Check("c", "1", True, "").make_inconclusive("why"),
              Check("d", "17", True, "", kind="info"), not_applicable("e", "4", "because")]
    assert [c.outcome for c in checks] == ["PASS", "FAIL", "INCONCLUSIVE", "INFO",
                                           "NOT APPLICABLE"]
    assert tally(checks) == {"PASS": 1, "FAIL": 1, "INCONCLUSIVE": 1, "INFO": 1,
                             "NOT APPLICABLE": 1}
    assert checks[2].as_dict()["outcome"] == "INCONCLUSIVE" and not checks[2].as_dict()["ok"]


# -- claims 5, 13, 6: attempts are the relay's connections; expectations from the scenario ----

def _relay_syns_to_mx1_removed(evidence, before):
    pair = {(RELAY_IP, MX1_IP), (MX1_IP, RELAY_IP)}
    evidence.frames = [f for f in evidence.frames
                       if not ((f.src_ip, f.dst_ip) in pair and f.ts < T0 + before)]


def test_5_fails_for_a_heartbeat_and_a_perfect_log(tmp_path):
    """The relay's log tells the backoff to the letter, but its only SYNs to mx1
    during the outage come from a steady 1.2 s heartbeat (another process): failed
    attempts that no failure of its log accounts for."""
    evidence, _ = relay_failover_run(tmp_path)
    _relay_syns_to_mx1_removed(evidence, 7.0)
    wire = Wire()
    for k in range(6):
        wire.connect(1.0 + 1.2 * k, RELAY_IP, MX1_IP, answered=False)
    evidence.frames = sorted(evidence.frames + wire.frames, key=lambda f: f.ts)
    c = claim_check(evidence, "5", PERIODIC)
    assert not c.ok and "match no failure in its log" in c.detail


def test_5_fails_for_retries_far_later_than_the_backoff(tmp_path):
    """Periodic means an upper bound too: a relay that retries every 5 s where the
    scenario says 0.5, 1, 2 s fails, however many attempts it makes."""
    evidence, _ = relay_failover_run(tmp_path)
    _set(evidence, "fault_end", ts=T0 + 20)
    late = {}
    for e in evidence.events:
        if e["event"] == "deferred":
            n = late.setdefault(e["msgid"], [])
            e["ts"] = T0 + 2.6 + 0.1 * int(e["msgid"].split("-")[2].split("@")[0]) + 5 * len(n)
            n.append(e["ts"])
    _relay_syns_to_mx1_removed(evidence, 8.0)       # the deliveries now come at t=20
    wire = Wire()
    for i in range(3):
        wire.connect(20.05 + 0.1 * i, RELAY_IP, MX1_IP, answered=True)
    for times in late.values():
        for t in times:
            wire.connect(t - T0 - 0.5, RELAY_IP, MX1_IP, answered=False)
    for m in evidence.mails:
        m.ts = max(m.ts, T0 + 20.1)
    evidence.frames = sorted(evidence.frames + wire.frames, key=lambda f: f.ts)
    c = claim_check(evidence, "5", PERIODIC)
    assert not c.ok and "later than the scenario's backoff allows" in c.detail
    # after failure 1: 0.5 s delay + 0.5 s connect timeout + LATE 0.5 s + 50 % of 0.5 s
    assert "failed again 5.00 s after failure 1 (at most 1.75 s)" in c.detail
    assert c.outcome == "FAIL"
    # on a lab machine measured 12x slower (an emulated VM) lateness can't be judged
    evidence.slowness = 12.0
    c = claim_check(evidence, "5", PERIODIC)
    assert c.outcome == "INCONCLUSIVE" and "12x slower" in c.inconclusive


def test_5_an_early_retry_fails_on_a_slow_machine_too(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    evidence.slowness = 12.0
    _retry_every_0_6_s(evidence)
    c = claim_check(evidence, "5", PERIODIC)
    assert c.outcome == "FAIL" and "earlier than the scenario's backoff" in c.detail


def test_5_does_not_time_a_wait_across_a_kill_of_the_relay(tmp_path):
    """A retry wait during which the relay was killed and restarted (exercise 8,
    relay-crash) is not held to the backoff: the new process tries on its own time."""
    evidence, _ = relay_failover_run(tmp_path)
    _set(evidence, "fault_end", ts=T0 + 20)
    late = {}
    for e in evidence.events:
        if e["event"] == "deferred":
            n = late.setdefault(e["msgid"], [])
            e["ts"] = T0 + 2.6 + 0.1 * int(e["msgid"].split("-")[2].split("@")[0]) + 5 * len(n)
            n.append(e["ts"])
    first = min(t for times in late.values() for t in times)
    evidence.events += [ev(first - T0 + 0.2, "relay1", "fault", "fault_start", fault="kill",
                           id="kill-1", args=["relay@relay1"]),
                        ev(19.5, "relay1", "fault", "fault_end", fault="kill", id="kill-1",
                           args=["relay@relay1"])]
    evidence.events.sort(key=lambda e: e["ts"])
    c = claim_check(evidence, "5", PERIODIC)
    assert "later than the scenario's backoff allows" not in c.detail, c.detail


def test_5_expects_the_scenarios_backoff_not_the_relays_code(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    assert claim_check(evidence, "5", PERIODIC).ok
    evidence.scenario.relay.retry_multiplier = 4.0     # 0.5, 2 s: the relay's 1 s is early
    c = claim_check(evidence, "5", PERIODIC)
    assert not c.ok and "(at least 1.75 s)" in c.detail
    assert retries.expected_delay(evidence.scenario.relay, 3) == 2.0   # the ceiling
    verdict = os.path.dirname(checker.__file__)      # none of its modules uses the relay's
    for name in sorted(f for f in os.listdir(verdict) if f.endswith(".py")):
        assert "servers.relay" not in open(os.path.join(verdict, name)).read(), name


def test_6_does_not_count_the_kernels_arp_retries_of_one_connect(tmp_path):
    """mx1's host is gone: one connect of the relay shows as ARP requests 1 s
    apart (the kernel's retries). One connect, then a request, is not 'after
    periodic retries'."""
    evidence, _ = recreate_run(tmp_path)
    evidence.frames = [f for f in evidence.frames if f.proto != "arp"]
    evidence.frames += [arp_request(t, RELAY_IP, MX1_IP) for t in (1.5, 2.5, 3.5)]
    evidence.frames.sort(key=lambda f: f.ts)
    c = claim_check(evidence, "6", "invoked after periodic retries failed")
    assert not c.ok and "came before the relay had retried" in c.detail
    # two connects 2 s apart, each resolved by a single ARP request: two attempts
    evidence.frames = sorted([f for f in evidence.frames if f.proto != "arp"] +
                             [arp_request(t, RELAY_IP, MX1_IP) for t in (1.5, 3.5)],
                             key=lambda f: f.ts)
    assert claim_check(evidence, "6", "invoked after periodic retries failed").ok


def test_the_provisioners_readiness_probe_is_not_from_the_relays_address(monkeypatch):
    """It runs from the new server's data-center router, so it is never taken for
    one of the relay's connection attempts on the wire."""
    from types import SimpleNamespace
    from lab.testbed import mail_lab
    probed = []
    monkeypatch.setattr(mail_lab.svc, "wait_ready",
                        lambda services, probe_from, timeout: probed.append(probe_from))
    ran = []
    router = SimpleNamespace(cmd=ran.append)
    nodes = {"r2": router, "relay1": "the relay"}
    lab = SimpleNamespace(net=SimpleNamespace(get=nodes.get), start_timeout=1,
                          plan=SimpleNamespace(dc=lambda name: SimpleNamespace(router="r2")))
    mail_lab.Lab._wait_ready_from_router(lab, SimpleNamespace(dc="dc2", ip="10.0.2.11"), [])
    assert probed == [router] and ran == ["ip neigh flush to 10.0.2.11"]


def test_6_does_not_count_the_relays_recovery_probes_as_retries(tmp_path):
    """A relay that tries mx1 once (t=1.0), then, past its threshold, probes it
    (its recovery policy, same address, t=3.9) and asks at t=4.1: the probe is
    not a retry (attempts count until the first one's connect timeout plus
    provision_after: t=3.7)."""
    evidence, _ = recreate_run(tmp_path)
    evidence.scenario.relay.provision_after = 2.0     # the fixture's timeline
    evidence.frames = sorted([f for f in evidence.frames if f.proto != "arp"] +
                             [arp_request(t, RELAY_IP, MX1_IP) for t in (1.0, 3.9)],
                             key=lambda f: f.ts)
    c = claim_check(evidence, "6", "invoked after periodic retries failed")
    assert not c.ok and "1 of 1 requests came before the relay had retried" in c.detail


# -- claim 9: no answer is no observation; tied to the fault window --------------------------

HEALTH = ("9", "DNS health check routes around the outage")
BOTH = ["mx1.lab.example.org.", "relay1.lab.example.org."]


def test_9_a_dns_that_stops_answering_is_not_mx1_leaving(tmp_path):
    """dig timing out or getting SERVFAIL gives no MX at all: it used to count as
    "mx1 left the answer". It is no observation: with only those, INCONCLUSIVE;
    never a PASS."""
    evidence, _ = relay_failover_run(tmp_path)
    evidence.scenario = scenario.load("dns-health")
    evidence.dns_answers = [{"ts": T0 + 0.5, "answer": BOTH, "status": "answered"},
                            {"ts": T0 + 2, "answer": [], "status": "no answer"},
                            {"ts": T0 + 8, "answer": BOTH, "status": "answered"}]
    c = by_name(checker.check(evidence))[HEALTH]
    assert not c.ok and c.outcome == "FAIL" and "1 without an answer" in c.detail
    evidence.dns_answers = [{"ts": T0 + t, "answer": []} for t in (2, 4)]   # dig's [] only
    c = by_name(checker.check(evidence))[HEALTH]
    assert c.outcome == "INCONCLUSIVE" and "no client got an MX answer" in c.inconclusive


def test_9_health_checked_needs_the_change_inside_the_fault_window(tmp_path):
    """mx1 missing from the answer only after the fault (t=8, fault from t=1 to
    7: a DNS that noticed late) or before it (t=0.5) is not the health check
    routing around it; the old check took any drop after the fault began."""
    evidence, _ = relay_failover_run(tmp_path)
    evidence.scenario = scenario.load("dns-health")
    evidence.dns_answers = [{"ts": T0 + 0.5, "answer": BOTH},
                            {"ts": T0 + 8, "answer": ["relay1.lab.example.org."]},
                            {"ts": T0 + 9, "answer": BOTH}]
    c = by_name(checker.check(evidence))[HEALTH]
    assert not c.ok and "no answer without mx1 inside a fault window" in c.detail
    evidence.dns_answers = [{"ts": T0 + 0.5, "answer": ["relay1.lab.example.org."]},
                            {"ts": T0 + 3, "answer": BOTH}, {"ts": T0 + 8, "answer": BOTH}]
    c = by_name(checker.check(evidence))[HEALTH]
    assert not c.ok and "no answer without mx1 inside a fault window" in c.detail
    evidence.dns_answers[1]["answer"] = ["relay1.lab.example.org."]
    assert by_name(checker.check(evidence))[HEALTH].ok
    evidence.dns_answers[2]["ts"] = T0 + 6.5          # "back" only inside the fault: not after
    c = by_name(checker.check(evidence))[HEALTH]
    assert not c.ok and "no answer listed it after the fault" in c.detail


def test_9_mx_preference_shows_what_dns_answered(tmp_path):
    """MX-preference mode used to read the ledger alone; now a client's observed
    answer (mx1 first, then the relay) must stand beside the sender's fallback."""
    evidence, _ = relay_failover_run(tmp_path)
    name = ("9", "DNS routes to mx1, then the relay")
    c = by_name(checker.check(evidence))[name]
    assert c.ok and "a client saw DNS answer mx1.lab.example.org. then relay1" in c.detail
    evidence.dns_answers = [dict(a, answer=list(reversed(BOTH))) for a in evidence.dns_answers]
    assert not by_name(checker.check(evidence))[name].ok    # relay first: not the fallback
    evidence.dns_answers = []
    assert by_name(checker.check(evidence))[name].outcome == "INCONCLUSIVE"


def test_the_ledger_counts_a_message_by_the_address_the_sender_connected_to(tmp_path):
    """The DNS under test names the MX; the sender's socket says where the message
    went. A row naming mx1 but connected to the relay's address is the relay's."""
    evidence, _ = relay_failover_run(tmp_path, n_relayed=0)
    for r in evidence.ledger:
        r["server"] = "10.0.1.20:25"          # the relay's address; "mx" still says mx1
    c = claim_check(evidence, "1", "routed to the messaging server")
    assert not c.ok and "0 messages straight to mx1" in c.detail


# -- per-message wire evidence: the relay's DATA to the right server -------------------------

def _without_data(evidence, server_ip):
    """The relay's SMTP payload to ``server_ip`` gone from the wire (SYNs stay)."""
    evidence.frames = [f for f in evidence.frames if not (f.payload and server_ip in
                                                          (f.src_ip, f.dst_ip))]


def test_mail_that_reached_mx1_by_another_path_fails_1c_7_15(tmp_path):
    """The files are in mx1's Maildir and the relay connected, but no DATA carrying
    the messages went from the relay to mx1: they reached the Maildir some other
    way (written there directly). 1(c), 7 and 15 used to pass on the Maildir."""
    evidence, _ = relay_failover_run(tmp_path)
    v = checker.check(evidence)
    for claim, name in (("1", "relay re-routes to the messaging server"), ("7", AFTER_RETRY)):
        c = by_name(v)[(claim, name)]
        assert c.ok and c.wire_matched == [3, 3], claim
    _without_data(evidence, MX1_IP)
    v = checker.check(evidence)
    for claim, name in (("1", "relay re-routes to the messaging server"), ("7", AFTER_RETRY),
                        ("15", AFTER_RETRY)):
        c = by_name(v)[(claim, name)]
        assert not c.ok and c.wire_matched == [0, 3] and "not on the wire" in c.detail, claim


def test_a_delivery_from_another_address_does_not_count(tmp_path):
    """A client's DATA to mx1 carrying the same Message-IDs is not the relay's."""
    evidence, _ = relay_failover_run(tmp_path)
    _without_data(evidence, MX1_IP)
    wire = Wire()
    wire.deliver(7.5, "10.0.1.99", MX1_IP, ["<t-1-3@maillab>", "<t-1-4@maillab>",
                                            "<t-1-5@maillab>"])
    evidence.frames = sorted(evidence.frames + wire.frames, key=lambda f: f.ts)
    assert claim_check(evidence, "7", AFTER_RETRY).wire_matched == [0, 3]


def test_mail_written_into_the_new_servers_maildir_fails_3_and_8(tmp_path):
    evidence, _ = remote_run(tmp_path)
    for claim, name in (("3", "relay routes stored mail to the other server"),
                        ("8", "relay delivers to the other server")):
        assert claim_check(evidence, claim, name).wire_matched == [4, 4]
    _without_data(evidence, MX2_IP)
    for claim, name in (("3", "relay routes stored mail to the other server"),
                        ("8", "relay delivers to the other server"),
                        ("16", "relay delivers to the other server")):
        evidence.scenario.claims = [claim]
        c = claim_check(evidence, claim, name)
        assert not c.ok and c.wire_matched == [0, 4], claim


def test_a_refused_data_is_not_a_delivery(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    _without_data(evidence, MX1_IP)
    wire = Wire()
    wire.deliver(7.5, RELAY_IP, MX1_IP, ["<t-1-3@maillab>"], code=451)
    evidence.frames = sorted(evidence.frames + wire.frames, key=lambda f: f.ts)
    assert claim_check(evidence, "7", AFTER_RETRY).wire_matched == [0, 3]


def test_the_run_prints_messages_matched_on_the_wire(tmp_path):
    from lab.scenarios.run import wire_lines
    evidence, _ = relay_failover_run(tmp_path)
    lines = wire_lines(checker.check(evidence))
    assert "  PASS         claim 7, relay sends to the messaging server once it is back: " \
           "messages matched on the wire / messages claimed: 3/3" in lines


def test_the_storing_servers_received_header_corroborates(tmp_path):
    evidence, root = relay_failover_run(tmp_path)
    c = claim_check(evidence, "7", AFTER_RETRY)
    assert "3 of 3 Maildir copies there say in their Received: header" in c.detail
    for m in evidence.mails:
        m.received_from = "10.0.0.10"        # the client's: written without the relay's hop
    c = claim_check(evidence, "7", AFTER_RETRY)
    assert "0 of 3 Maildir copies" in c.detail


def test_a_maildir_file_is_read_with_its_top_received_peer(tmp_path):
    from tests.unit.run_fixtures import write_mail
    write_mail(str(tmp_path), "u@x", "<m@x>", peer="10.0.1.20")
    [m] = records.read_maildir(str(tmp_path), "mx1")
    assert (m.msgid, m.received_from) == ("<m@x>", "10.0.1.20")


def test_5_fails_for_the_heartbeat_timeline_seen_in_the_lab(tmp_path):
    """The timeline the lab recorded for tests/variants/relay_heartbeat_perfect_log
    (seconds from the fault's start, shifted by 1 s): two real attempts, then only
    a 1.2 s heartbeat's SYNs; the log goes on with failures on the relay's rhythm.
    Its own-attempt failures at 6.57 and 6.58 lie 0.32 s from any SYN's failure."""
    evidence, _ = relay_failover_run(tmp_path)
    _relay_syns_to_mx1_removed(evidence, 7.0)
    evidence.events = [e for e in evidence.events if e["event"] != "deferred"]
    timeout = "cannot connect to 10.0.1.10:25: connect timeout"
    cached = "10.0.1.10:25 down (cached)"
    log = {"<t-1-3@maillab>": [(2.546, timeout), (3.051, cached), (4.059, cached), (6.57, timeout)],
           "<t-1-4@maillab>": [(2.799, timeout), (3.817, timeout), (5.325, timeout),
                               (7.834, timeout)],
           "<t-1-5@maillab>": [(2.561, cached), (3.065, cached), (4.07, cached), (6.582, timeout)]}
    for m, fails in log.items():
        evidence.events += [ev(t, "relay1", "relay", "deferred", m, error=why) for t, why in fails]
    evidence.events.sort(key=lambda e: e["ts"])
    wire = Wire()
    for t in (2.028, 2.285, 3.349, 4.548, 5.749, 6.95):
        wire.connect(t, RELAY_IP, MX1_IP, answered=False)
    evidence.frames = sorted(evidence.frames + wire.frames, key=lambda f: f.ts)
    c = claim_check(evidence, "5", PERIODIC)
    assert not c.ok and "no failed connection attempt of the relay on the wire" in c.detail
    assert "<t-1-3@maillab>, <t-1-5@maillab>" in c.detail
