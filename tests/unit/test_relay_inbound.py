"""The relay's receive side: only its relay domains, into the durable queue."""
import os

import pytest

from servers.common.events import EventLog, read_events
from servers.relay.inbound import build_inbound_factory, next_hops
from servers.relay.queue import Queue
from tests.unit.smtp_dialogue import Session, envelope, message
from tests.unit.test_smtpd_protocol import OPEN_RELAY_ATTEMPTS
from tests.unit.thread_runner import ManualThread, run_now


class Relay:
    def __init__(self, tmp_path, thread=run_now, **kwargs):
        self.events_path = str(tmp_path / "events")
        self.queue = Queue(str(tmp_path / "queue"))
        self.queued = []
        self.factory = build_inbound_factory(
            ["example.org", "example.com"], self.queue,
            EventLog(self.events_path, service="relay", host="relay1"),
            self.queued.append, hostname="relay1.lab", run_in_thread=thread, **kwargs)

    def session(self):
        return Session(factory=self.factory)

    def events(self, name):
        return [e for e in read_events(self.events_path) if e["event"] == name]


def test_accepted_message_is_queued_with_mx_next_hop(tmp_path):
    relay = Relay(tmp_path)
    s = relay.session()
    s.send(envelope(rcpts=["u@example.org"]))
    assert s.codes(message()) == [354, 250]
    [entry] = relay.queue.entries()
    assert entry.next_hop == "mx:example.org"
    assert entry.msgid == "<m1@example.net>" and entry.sender == "a@example.net"
    data = entry.data()
    assert data.startswith(b"Received: from client.example.net") and b"by relay1.lab" in data
    assert [e.id for e in relay.queued] == [entry.id]
    [ev] = relay.events("queued")
    assert (ev["msgid"], ev["rcpt"], ev["next_hop"]) == ("<m1@example.net>", "u@example.org",
                                                          "mx:example.org")


def test_recipients_in_two_domains_make_two_entries(tmp_path):
    relay = Relay(tmp_path)
    s = relay.session()
    s.send(envelope(rcpts=["u@example.org", "w@example.com", "v@example.org"]))
    s.send(message())
    by_hop = {e.next_hop: e.recipients for e in relay.queue.entries()}
    assert by_hop == {"mx:example.org": ["u@example.org", "v@example.org"],
                      "mx:example.com": ["w@example.com"]}
    assert len(relay.events("queued")) == 3 and len(relay.queued) == 2


def test_fixed_next_hop_is_used_for_every_recipient(tmp_path):
    relay = Relay(tmp_path, next_hop="10.0.1.10:25")
    s = relay.session()
    s.send(envelope(rcpts=["u@example.org", "w@example.com"]))
    s.send(message())
    [entry] = relay.queue.entries()
    assert entry.next_hop == "10.0.1.10:25" and len(entry.recipients) == 2
    assert next_hops(["a@x.org", "b@y.org", "c@x.org"]) == [
        ("mx:x.org", ["a@x.org", "c@x.org"]), ("mx:y.org", ["b@y.org"])]


def test_250_only_after_enqueue_returned(tmp_path):
    thread = ManualThread()
    relay = Relay(tmp_path, thread=thread)
    s = relay.session()
    s.send(envelope())
    assert s.codes(message() + "QUIT\n") == [354]
    assert relay.queue.entries() == [] and os.listdir(relay.queue.directory) == []
    assert relay.queued == [] and relay.events("queued") == []
    thread.run_next()
    assert [l[:3] for l in s.take()] == ["250", "221"]
    assert len(relay.queue.entries()) == 1 and len(relay.queued) == 1


def test_enqueue_failure_is_451_and_nothing_announced(tmp_path, monkeypatch):
    relay = Relay(tmp_path)

    def full(*a):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(relay.queue, "enqueue_many", full)
    s = relay.session()
    s.send(envelope())
    assert s.send(message())[-1].startswith("451 4.3.0")
    assert relay.queued == [] and relay.events("queued") == []


def test_a_failing_on_queued_hook_does_not_unsay_the_250(tmp_path):
    def broken(entry):
        raise RuntimeError("scheduler bug")
    factory = build_inbound_factory(["example.org"], Queue(str(tmp_path / "q")), EventLog(),
                                    broken, hostname="relay1", run_in_thread=run_now)
    s = Session(factory=factory)
    s.send(envelope())
    assert s.codes(message()) == [354, 250]


@pytest.mark.parametrize("rcpt", OPEN_RELAY_ATTEMPTS)
def test_relay_is_never_an_open_relay(tmp_path, rcpt):
    relay = Relay(tmp_path)
    s = relay.session()
    s.send("EHLO c\nMAIL FROM:<u@example.org>\n")
    [code] = s.codes("RCPT TO:%s\n" % rcpt)
    assert 500 <= code < 600
    s.send(message())
    assert relay.queue.entries() == [] and relay.queued == []


def test_recipient_list_is_checked_at_rcpt(tmp_path):
    relay = Relay(tmp_path, recipients=["alice@example.org"])
    s = relay.session()
    s.send("EHLO c\nMAIL FROM:<a@x.net>\n")
    assert s.codes("RCPT TO:<alice@example.org>\n") == [250]
    assert s.send("RCPT TO:<bob@example.org>\n")[0].startswith("550 5.7.1")


@pytest.mark.parametrize("how", ["raises", "fails later"])
def test_a_failed_hand_over_to_the_scheduler_is_reported_and_still_250(tmp_path, how):
    from twisted.internet import defer

    def on_queued(entry):
        if how == "raises":
            raise OSError("disk gone")
        return defer.fail(OSError("disk gone"))
    relay = Relay(tmp_path)
    relay.factory.storage.on_queued = on_queued
    s = relay.session()
    s.send(envelope())
    assert s.codes(message()) == [354, 250]
    [entry] = relay.queue.entries()                  # the message stays safe on disk
    [ev] = relay.events("schedule_failed")
    assert (ev["id"], ev["msgid"], ev["error"]) == (entry.id, entry.msgid, "disk gone")
