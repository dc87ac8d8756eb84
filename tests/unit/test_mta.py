"""A real MTA in the lab: the role, Postfix's configuration for it, its log read
as events, its queue, and how the verdict judges a Postfix relay (no lab here:
tests/lab/test_postfix.py runs them)."""
import dataclasses
import json
import os
import subprocess

import pytest

from lab.evidence import postfix_log, postfix_queue
from lab.evidence.records import Evidence
from lab.scenarios import model as scenario
from lab.testbed import mta_postfix
from lab.testbed.mta_log import StampedLog
from lab.testbed.mta_role import SHORTEST_BACKOFF, MtaRole, Timing
from lab.verdict import claims as checker
from lab.verdict import counting, retries
from tests.unit.run_fixtures import relay_failover_run

RELAY_ROLE = MtaRole("relay", "relay1.lab.example.org", "10.0.1.3", "10.0.2.53",
                     timing=Timing(0.5, 2.0, 0.5, 0.5, 5.0))


def test_a_real_mta_is_told_whole_seconds_rounded_up():
    t = Timing(0.5, 2.0, 0.5, 1.2, 5.0, 0).whole_seconds()
    assert (t.min_backoff, t.max_backoff, t.queue_run_delay, t.connect_timeout,
            t.command_timeout, t.give_up) == (1, 2, 1, 2, 5, 0)


def test_postfix_is_never_told_a_backoff_shorter_than_it_keeps(tmp_path):
    # qmgr takes a file stamped up to a second ahead as due: a 1 s backoff lets
    # the deferred scan take a message back while its delivery agent still holds
    # it ("skipped, still being delivered"), and the file then waits in incoming
    t = Timing(0.5, 1.0, 1.0, 1.0, 5.0).whole_seconds(SHORTEST_BACKOFF["postfix"])
    assert (t.min_backoff, t.max_backoff) == (3, 3)
    lines = mta_postfix.role_lines(str(tmp_path), RELAY_ROLE)
    assert "minimal_backoff_time = 3s" in lines and "maximal_backoff_time = 3s" in lines
    s = scenario.with_relay_server(scenario.load("relay-failover"), "postfix")
    assert (s.relay.retry_interval, s.relay.max_retry_interval) == (3.0, 3.0)


def test_a_role_is_checked():
    with pytest.raises(ValueError, match="role"):
        MtaRole("gateway", "h", "10.0.0.1", "10.0.0.2")
    with pytest.raises(ValueError, match="Maildir"):
        MtaRole("mx", "h", "10.0.0.1", "10.0.0.2")


def write_config(tmp_path, role):
    base = str(tmp_path)
    lines = mta_postfix.common_lines(base, role.hostname, "postfix-test") \
        + mta_postfix.role_lines(base, role)
    os.makedirs(os.path.join(base, "etc"))
    with open(os.path.join(base, "etc", "main.cf"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(mta_postfix.SYSTEM_MASTER_CF) as f:
        master = mta_postfix.master_cf(f.read(), "%s:25" % role.ip)
    with open(os.path.join(base, "etc", "master.cf"), "w") as f:
        f.write(master)
    return os.path.join(base, "etc")


def postconf(etc, *names):
    out = subprocess.run(["postconf", "-c", etc, "-h"] + list(names), capture_output=True,
                         text=True, check=True).stdout
    return out.splitlines()


@pytest.mark.skipif(mta_postfix.missing_tools(), reason="Postfix is not installed")
def test_postfix_reads_the_relay_role_as_a_backup_mx_with_the_scenario_numbers(tmp_path):
    etc = write_config(tmp_path, RELAY_ROLE)
    assert postconf(etc, "relay_domains", "mydestination", "inet_interfaces",
                    "minimal_backoff_time", "maximal_backoff_time", "queue_run_delay",
                    "smtp_connect_timeout", "smtp_data_done_timeout", "maillog_file",
                    "queue_directory", "relayhost") == [
        "example.org", "", "10.0.1.3", "3s", "3s", "1s", "1s", "5s",
        str(tmp_path / "maillog"), str(tmp_path / "queue"), ""]


@pytest.mark.skipif(mta_postfix.missing_tools(), reason="Postfix is not installed")
def test_postfix_reads_the_mx_role_as_maildir_delivery(tmp_path):
    role = dataclasses.replace(RELAY_ROLE, role="mx", maildir=str(tmp_path / "Maildir"))
    etc = write_config(tmp_path, role)
    assert postconf(etc, "virtual_mailbox_domains", "virtual_mailbox_base") == [
        "example.org", str(tmp_path / "Maildir")]


def test_master_cf_keeps_no_chroot_and_listens_where_told():
    system = "smtp      inet  n       -       y       -       -       smtpd\n" \
             "qmgr      unix  n       -       n       300     1       qmgr\n"
    out = mta_postfix.master_cf(system, "10.0.1.3:25").splitlines()
    assert out[0].split()[:5] == ["10.0.1.3:25", "inet", "n", "-", "n"]
    assert out[1].split()[4] == "n"


def test_a_stamped_log_keeps_each_line_with_the_time_it_arrived(tmp_path):
    times = iter([100.25, 101.5])
    log = StampedLog(str(tmp_path / "maillog"), clock=lambda: next(times)).start()
    for line in (b"first line\n", b"second line\n"):
        with open(str(tmp_path / "maillog"), "wb") as f:    # a writer that comes and goes
            f.write(line)
        # wait: until the reader has the line (stopping drains the FIFO anyway)
        from lab.host.waiting import wait_until
        wait_until(lambda: line.strip().decode() in open(log.out_path).read(), 5, "stamped")
    log.stop()
    rows = [json.loads(line) for line in open(log.out_path)]
    assert rows == [{"ts": 100.25, "line": "first line"}, {"ts": 101.5, "line": "second line"}]


LOG = [
    "Dec 06 08:17:08 relay1 postfix-relay1/cleanup[12106]: 5EA0320C433: "
    "message-id=<client1-1-3@maillab>",
    "Dec 06 08:17:08 relay1 postfix-relay1/qmgr[12083]: 5EA0320C433: from=<sender@client.lab>, "
    "size=1158, nrcpt=1 (queue active)",
    "Dec 06 08:17:09 relay1 postfix/relay/smtp[12108]: 5EA0320C433: to=<user@example.org>, "
    "relay=none, delay=1.1, delays=0.01/0.04/1/0, dsn=4.4.1, status=deferred (connect to "
    "mx1.lab.example.org[10.0.1.10]:25: Connection timed out)",
    "Dec 06 08:17:10 relay1 postfix-relay1/qmgr[12083]: 5EA0320C433: to=<user@example.org>, "
    "relay=none, delay=2, delays=2/0/0/0, dsn=4.4.1, status=deferred (delivery temporarily "
    "suspended: connect to mx1.lab.example.org[10.0.1.10]:25: Connection timed out)",
    "Dec 06 08:17:14 relay1 postfix/relay/smtp[12108]: 5EA0320C433: to=<user@example.org>, "
    "relay=mx1.lab.example.org[10.0.1.10]:25, delay=6.1, delays=6.1/0/0/0.01, dsn=2.0.0, "
    "status=sent (250 2.0.0 Ok: stored as 6B151A0A000001)",
    "Dec 06 08:17:14 relay1 postfix-relay1/qmgr[12083]: 5EA0320C433: removed",
]


def test_postfix_log_lines_become_the_relay_events_the_verdict_reads():
    events = postfix_log.events_from_lines([{"ts": 10.0 + i, "line": line}
                                            for i, line in enumerate(LOG)])
    assert [(e["ts"], e["event"], e["msgid"], e.get("cached")) for e in events] == [
        (10.0, "queued", "<client1-1-3@maillab>", None),
        (12.0, "deferred", "<client1-1-3@maillab>", False),
        (13.0, "deferred", "<client1-1-3@maillab>", True),
        (14.0, "delivered", "<client1-1-3@maillab>", None)]
    assert events[3]["server"] == "mx1.lab.example.org[10.0.1.10]:25"
    assert "Connection timed out" in events[1]["error"]
    assert retries._cached(events[2]) and not retries._cached(events[1])


def test_a_postfix_queue_is_its_message_files(tmp_path):
    for sub in ("deferred/A", "active", "incoming", "corrupt"):
        os.makedirs(tmp_path / sub)
    for path in ("deferred/A/A1B2C3", "active/D4E5F6", "corrupt/BAD"):
        (tmp_path / path).write_text("x")
    assert [os.path.relpath(p, tmp_path) for p in postfix_queue.queue_files(str(tmp_path))] == [
        "active/D4E5F6", "deferred/A/A1B2C3"]


def test_a_message_left_in_postfix_says_which_queue_and_when_postfix_tries_it_next(tmp_path):
    for sub in ("deferred/A", "active"):
        os.makedirs(tmp_path / sub)
    (tmp_path / "deferred/A/A1B2C3").write_text("x")
    (tmp_path / "active/D4E5F6").write_text("x")
    os.utime(tmp_path / "deferred/A/A1B2C3", (1000.0, 1002.0))   # Postfix: the next attempt
    left = {os.path.basename(e["file"]): e
            for e in postfix_queue.read_queue(str(tmp_path), clock=lambda: 1000.5)}
    assert (left["A1B2C3"]["queue"], left["A1B2C3"]["next_try_in"]) == ("deferred", 1.5)
    assert (left["D4E5F6"]["queue"], left["D4E5F6"]["next_try_in"]) == ("active", None)
    detail = {c.name: c.detail for c in counting._core_checks(
        Evidence(scenario=None, ledger=[], mails=[], queued=list(left.values()), events=[],
                 topology={}),
        {}, {}, [], [], [])}["queue drained"]
    assert "A1B2C3 (deferred, next attempt in 1.5 s)" in detail
    assert "D4E5F6 (in its active queue)" in detail


def test_a_scenario_names_what_runs_its_relay():
    s = scenario.load("relay-failover-postfix")
    assert s.relay.server == "postfix"
    with pytest.raises(scenario.ScenarioError, match="relay.server"):
        scenario.parse('name = "x"\ntopology = "one_dc"\n[relay]\nserver = "exim"\n')
    p = scenario.with_relay_server(scenario.load("relay-failover"), "postfix")
    assert (p.relay.retry_interval, p.relay.max_retry_interval, p.relay.connect_timeout) == \
        (3.0, 3.0, 1.0)     # rounded up, and no backoff shorter than Postfix keeps
    same = scenario.with_relay_server(scenario.load("relay-failover"), "maillab")
    assert same.relay.retry_interval == 0.5


def test_claims_only_maillabs_relay_can_show_are_not_applicable_for_postfix(tmp_path):
    from lab.report import files as report
    evidence, _ = relay_failover_run(tmp_path)
    evidence.scenario.claims = evidence.scenario.claims + ["4", "12", "2"]
    evidence.relay_server = evidence.scenario.relay.server = "postfix"
    v = checker.check(evidence)
    na = [c for c in v.checks if c.claim in ("2", "4", "12")]
    assert [c.outcome for c in na] == ["NOT APPLICABLE"] * 3
    assert all("runs postfix" in c.not_applicable for c in na)
    assert v.ok and v.outcome == "PASS"        # the claims that apply hold
    assert {c.outcome for c in v.checks if c.claim == "5"} == {"PASS"}
    paths = report.write(str(tmp_path / "r"), evidence.scenario, v, evidence, seed=1)
    html = open(paths["report.html"]).read()
    assert 'class="not-applicable"><td class="verdict">NOT APPLICABLE' in html
    assert "3 not applicable" in html
    md = open(paths["report.md"]).read()
    assert "NOT APPLICABLE **claims 4, 12," in md
    assert "Real MTAs: the relay host runs postfix." in md
    assert json.load(open(paths["report.json"]))["tally"]["NOT APPLICABLE"] == 3


def test_with_maillabs_relay_the_same_claims_are_judged(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    evidence.scenario.claims = evidence.scenario.claims + ["4"]
    v = checker.check(evidence)
    assert {c.outcome for c in v.checks if c.claim == "4"} == {"FAIL"}


def test_a_whole_second_retry_clock_may_retry_up_to_a_second_early():
    relay = scenario.load("relay-failover-postfix").relay
    assert retries.retry_bounds(relay, 1)[0] == pytest.approx(2.65)
    assert retries.retry_bounds(relay, 1, retries.RETRY_CLOCK["postfix"])[0] == \
        pytest.approx(0.65)
    assert retries.retry_bounds(relay, 2, 1.0) == pytest.approx((1.65, 6.0))


def test_a_later_answer_to_a_port_used_again_is_another_connections(tmp_path):
    """Postfix's smtp client may get a port again for a later connection: the
    black-holed SYN failed a connect timeout after it, not when the port's next
    connection was answered."""
    from lab.evidence.records import Frame
    evidence, _ = relay_failover_run(tmp_path)
    relay, mx1 = "10.0.1.3", "10.0.1.10"
    syn = Frame(100.0, "relay", "a", "b", "tcp", relay, mx1, sport=35357, dport=25, flags="S")
    later = Frame(108.0, "relay", "b", "a", "tcp", mx1, relay, sport=25, dport=35357, flags="SA")
    evidence.frames = [syn, later]
    ct = evidence.scenario.relay.connect_timeout
    assert retries._failed_at(evidence, [syn], mx1) == [100.0 + ct]
    answered = dataclasses.replace(later, ts=100.2)
    evidence.frames = [syn, answered]
    assert retries._failed_at(evidence, [syn], mx1) == [100.2]


def test_first_retry_is_the_relays_first_failure_to_its_first_retry(tmp_path):
    """The fixture's relay fails its first message at t=2.6, two more at 2.7 and
    2.8 (first attempts, not retries), and the first one again at 3.6."""
    evidence, _ = relay_failover_run(tmp_path)
    assert checker.timings(evidence)["first_retry"] == pytest.approx(1.0, abs=0.01)
    cached = [dict(e, error="down (cached)") for e in evidence.events
              if e.get("event") == "deferred"][:1]
    cached[0]["ts"] = min(e["ts"] for e in evidence.events if e.get("event") == "deferred") + 0.05
    evidence.events = sorted(evidence.events + cached, key=lambda e: e["ts"])
    assert checker.timings(evidence)["first_retry"] == pytest.approx(1.0, abs=0.01)


SENT_LINE = ("Dec 06 08:17:08 client1 postfix/smtp[9]: 5EA0320C433: to=<user@example.org>, "
             "relay=relay1.lab.example.org[10.0.1.3]:25, delay=1.1, delays=0/0/1/0.01, "
             "dsn=2.0.0, status=sent (250 2.0.0 queued as 1A2B)")


def test_a_sending_postfix_log_is_the_senders_ledger(tmp_path):
    path = tmp_path / ("maillog" + postfix_log.STAMPED_SUFFIX)
    path.write_text("".join(json.dumps({"ts": 5.0 + i, "line": line}) + "\n"
                            for i, line in enumerate([LOG[0], SENT_LINE])))
    assert postfix_log.ledger_rows(str(path)) == [
        {"ts": 6.0, "msgid": "<client1-1-3@maillab>", "to": "user@example.org",
         "server": "10.0.1.3:25", "mx": "relay1.lab.example.org.", "code": 250}]
    assert [e["event"] for e in postfix_log.read_events(str(path), "sender")] == ["queued",
                                                                                  "sent"]
    assert [e["event"] for e in postfix_log.read_events(str(path))] == ["queued", "delivered"]


def test_a_sending_mta_that_drops_what_it_accepted_fails(tmp_path):
    evidence, _ = relay_failover_run(tmp_path)
    accepted = [{"ts": r["ts"] - 0.5, "event": "queued", "msgid": r["msgid"], "host": "client1",
                 "service": "sender"} for r in evidence.ledger]
    evidence.events = evidence.events + accepted
    check = next(c for c in checker.check(evidence).checks
                 if c.name == "the sending MTA handed on what it accepted")
    assert check.outcome == "PASS"
    evidence.events.append({"ts": evidence.started + 1, "event": "queued", "host": "client1",
                            "service": "sender", "msgid": "<dropped@maillab>"})
    v = checker.check(evidence)
    check = next(c for c in v.checks if c.name == "the sending MTA handed on what it accepted")
    assert check.outcome == "FAIL" and "<dropped@maillab>" in check.detail and not v.ok


def test_a_scenario_names_what_sends_from_its_clients():
    s = scenario.load("relay-failover-postfix-sender")
    assert s.traffic.server == "postfix"
    with pytest.raises(scenario.ScenarioError, match="traffic.server"):
        scenario.parse('name = "x"\ntopology = "one_dc"\n[traffic]\nserver = "exim"\n')
    s = scenario.load("relay-failover")
    s.traffic.connect_timeout = 0.4
    assert scenario.with_sender_server(s, "postfix").traffic.connect_timeout == 1.0


def test_the_submitter_hands_over_the_senders_messages(monkeypatch):
    from lab.testbed import mta_submit
    given = []
    monkeypatch.setattr(mta_submit, "submit",
                        lambda etc, sender, to, message: given.append((etc, to, message)) or 0)
    assert mta_submit.main(["--etc", "/x/etc", "--to", "user@example.org", "--count", "2",
                            "--seed", "4", "--msgid-prefix", "client1"]) == 0
    assert [m for _, _, m in given][1].count(b"Message-ID: <client1-4-2@maillab>") == 1
    assert {(etc, to) for etc, to, _ in given} == {("/x/etc", "user@example.org")}
