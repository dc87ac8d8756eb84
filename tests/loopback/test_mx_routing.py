"""MX routing on loopback through the lab's DNS server: the sender's
preference order and fallback, and the relay's MX delivery without looping
to itself.  Each mail server has its own loopback address, all on one port."""
import json
import subprocess
import sys

import pytest

from lab.host.waiting import wait_until
from servers.common.events import read_events
from tests.loopback.relay_support import (events_of, maildir_files, queue_files, start_mx,
                                          start_relay)
from tests.smtp_clients import swaks
from tests.support import ROOT, ServerProcess, free_port

pytestmark = pytest.mark.needs_cmd("swaks")

ZONE = """\
$ORIGIN lab.
$TTL 60
@       IN SOA ns1 hostmaster ( 1 3600 600 86400 60 )
        IN NS  ns1
        IN MX  10 mx1
        IN MX  20 relay
ns1     IN A   127.0.0.1
mx1     IN A   127.0.0.2
relay   IN A   127.0.0.3
"""


@pytest.fixture
def dns(tmp_path):
    zone = tmp_path / "lab.lab_zone"
    zone.write_text(ZONE)
    server = ServerProcess("servers.dns", ["--zone", zone, "--listen", "127.0.0.1",
                                           "--port", 0])
    server.port = server.wait_listening(count=2)
    yield server
    server.stop()


def run_sender(tmp_path, dns_port, smtp_port, count, *extra):
    ledger = tmp_path / "ledger.jsonl"
    events = tmp_path / "sender-events.jsonl"
    argv = [sys.executable, "-m", "servers.sender", "--dns", "127.0.0.1:%d" % dns_port,
            "--to", "user@lab", "--count", str(count), "--ledger", str(ledger),
            "--events", str(events), "--seed", "7", "--msgid-prefix", "t",
            "--smtp-port", str(smtp_port), "--connect-timeout", "1"] + list(extra)
    r = subprocess.run(argv, cwd=ROOT, env={"PYTHONPATH": ROOT, "PATH": "/usr/bin:/bin"},
                       capture_output=True, text=True, timeout=60)
    ledger_lines = [json.loads(l) for l in ledger.read_text().splitlines()] \
        if ledger.exists() else []
    return r, ledger_lines, read_events(str(events))


def test_sender_uses_the_preferred_mx(tmp_path, dns, procs):
    port = free_port()
    mx1 = start_mx(tmp_path, port=port, name="mx1", listen="127.0.0.2")
    procs.append(mx1)
    r, ledger, events = run_sender(tmp_path, dns.port, port, 5)
    assert r.returncode == 0, r.stderr
    assert sorted(l["msgid"] for l in ledger) == sorted("<t-7-%d@maillab>" % n
                                                        for n in range(1, 6))
    assert {(l["server"], l["mx"], l["code"]) for l in ledger} == {
        ("127.0.0.2:%d" % port, "mx1.lab.", 250)}
    assert len([e for e in events if e["event"] == "sent"]) == 5
    assert len(maildir_files(mx1.maildir)) == 5


def test_sender_falls_back_to_the_next_mx(tmp_path, dns, procs):
    port = free_port()
    backup = start_mx(tmp_path, port=port, name="backup", listen="127.0.0.3")
    procs.append(backup)
    r, ledger, events = run_sender(tmp_path, dns.port, port, 3)
    assert r.returncode == 0, r.stderr
    assert {l["server"] for l in ledger} == {"127.0.0.3:%d" % port}
    assert {l["mx"] for l in ledger} == {"relay.lab."}
    assert len(maildir_files(backup.maildir)) == 3


def test_sender_gives_up_after_rounds_and_exits_1(tmp_path, dns):
    port = free_port()
    r, ledger, events = run_sender(tmp_path, dns.port, port, 2, "--rounds", "2",
                                   "--round-backoff", "0.1")
    assert r.returncode == 1
    assert ledger == []
    failed = [e for e in events if e["event"] == "send_failed"]
    assert len(failed) == 2
    assert failed[0]["tried"] == ["127.0.0.2:%d" % port, "127.0.0.3:%d" % port] * 2


@pytest.mark.parametrize("knows_itself_by", ["name", "address"])
def test_relay_delivers_by_mx_and_never_to_itself(tmp_path, dns, procs, knows_itself_by):
    port = free_port()
    options = ["--dns", "127.0.0.1:%d" % dns.port, "--smtp-port", str(port),
               "--retry-interval", "0.5", "--max-retry-interval", "1"]
    if knows_itself_by == "name":
        relay = start_relay(tmp_path, extra=options + ["--self-name", "relay.lab"])
    else:
        # listening where relay.lab's A record and the SMTP port point: the relay
        # would take its own mail if it did not recognise its address
        relay = start_relay(tmp_path, extra=options, listen="127.0.0.3", port=port)
    procs.append(relay)
    assert swaks(relay.port, msgid="<bymx@test>",
                 server=relay.listening[0][0]).returncode == 0
    # mx1 is down: the relay must not fall back to relay.lab (itself) but retry
    wait_until(lambda: len(events_of(relay, "deferred")) >= 2, 10, "deferrals")
    assert not events_of(relay, "delivered")
    mx1 = start_mx(tmp_path, port=port, name="mx1", listen="127.0.0.2")
    procs.append(mx1)
    wait_until(lambda: events_of(relay, "delivered"), 10, "delivered to mx1")
    assert events_of(relay, "delivered")[0]["server"] == "127.0.0.2:%d" % port
    assert events_of(relay, "attempt")[-1]["next_hop"] == "mx:lab"
    wait_until(lambda: not queue_files(relay.queue), 10, "queue empty")
    assert len(maildir_files(mx1.maildir)) == 1
