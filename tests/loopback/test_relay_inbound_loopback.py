"""The relay's inbound side with real clients: swaks and smtp-source into
the durable queue (served alone by a test-only runner)."""

import pytest

from servers.common.events import read_events
from servers.relay.queue import Queue
from lab.host.waiting import wait_until
from tests.smtp_clients import AckingSender, smtp_source, swaks
from tests.support import ServerProcess, running_server

pytestmark = pytest.mark.needs_cmd("swaks", "smtp-source")

def runner_args(tmp_path):
    return ["--domain", "example.org", "--queue", tmp_path / "queue", "--port", 0,
            "--events", tmp_path / "events.jsonl"]


def test_swaks_to_relay_domain_is_queued_and_others_refused(tmp_path):
    with running_server("tests.loopback.relay_inbound_runner", runner_args(tmp_path)) as relay:
        port = relay.listening[0][1]
        ok = swaks(port, "u@example.org", msgid="<relay-1@test>")
        assert ok.returncode == 0, ok.stdout
        for rcpt in ["u@other.org", "u%other.org@example.org", "@example.org:u@other.org",
                     '"u@other.org"@example.org']:
            refused = swaks(port, rcpt, sender="postmaster@example.org")
            assert refused.returncode != 0, rcpt
            assert "550 5.7.1" in refused.stdout, (rcpt, refused.stdout)
    [entry] = Queue(str(tmp_path / "queue")).entries()
    assert entry.msgid == "<relay-1@test>"
    assert entry.recipients == ["u@example.org"] and entry.next_hop == "mx:example.org"
    assert entry.data().startswith(b"Received: from client.test ([127.0.0.1])\n\tby relay1.lab")
    queued = [e for e in read_events(str(tmp_path / "events.jsonl")) if e["event"] == "queued"]
    assert [(e["msgid"], e["rcpt"]) for e in queued] == [("<relay-1@test>", "u@example.org")]


def test_smtp_source_into_the_relay_queue_every_message_once(tmp_path):
    with running_server("tests.loopback.relay_inbound_runner", runner_args(tmp_path)) as relay:
        result = smtp_source(relay.listening[0][1], 100, sessions=5, size=4096,
                             to="u@example.org")
        assert result.returncode == 0, result.stderr
    entries = Queue(str(tmp_path / "queue")).entries()
    assert len(entries) == 100 and len({e.msgid for e in entries}) == 100
    assert all(len(e.data()) > 4096 for e in entries)


def test_kill_9_under_load_every_acknowledged_message_is_in_the_queue_whole(tmp_path):
    relay = ServerProcess("tests.loopback.relay_inbound_runner", runner_args(tmp_path))
    port = relay.wait_listening()
    load = smtp_source(port, 100000, sessions=3, size=4096, to="u@example.org",
                       background=True)
    sender = AckingSender(port, threads=3, prefix="relay").start()
    try:
        wait_until(lambda: len(sender.acked) >= 60, 30, "60 acknowledged messages")
        relay.kill9()
    finally:
        sender.stop()
        load.kill()
        load.wait()
    entries = Queue(str(tmp_path / "queue")).entries()      # sets aside any torn file
    queued = {e.msgid for e in entries}
    missing = set(sender.acked) - queued
    assert not missing, "acknowledged but not queued: %s" % sorted(missing)[:5]
    assert len(entries) >= len(sender.acked)
    for entry in entries:
        assert entry.data().endswith(b"\n") and entry.recipients == ["u@example.org"]
