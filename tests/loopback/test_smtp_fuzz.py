"""Hostile SMTP sessions against the real mx and relay processes on loopback.

Each server gets mutated sessions (tests/loopback/smtp_fuzz.py: Hypothesis,
seeded) while slow clients dribble their sessions alongside.  Throughout, a
session left valid gets its messages in.  Afterwards: the server is alive, a
real client's transaction still succeeds, it stops cleanly without having
logged a traceback, and every message it answered ``250 ... stored as ID``
is on disk (the mx: in a Maildir; the relay: in its queue or delivered to
the mx), in an example.org mailbox only.

MAILLAB_FUZZ=full sends each server 10,000 sessions (the figures are
printed); MAILLAB_FUZZ_SEED changes the seed.
"""
import email.parser
import os
import re
import smtplib
import socket
import threading
import time
import zlib

from hypothesis import HealthCheck, Phase, given, seed, settings

from lab.host.waiting import wait_until
from servers.mx.maildir import messages_under
from servers.relay.queue import CORRUPT_DIR, Queue
from tests.loopback.relay_support import start_mx, start_relay
from tests.loopback.smtp_fuzz import STORED, fuzz_sessions, play
from tests.smtp_clients import ClientThreads
from tests.support import fuzz_inputs, fuzz_seed

EVERYDAY_SESSIONS = 200
SLOW_CLIENTS = 4
RECEIVED_ID = re.compile(rb"by (\S+) \(maillab\) with E?SMTP id (\S+?);?$", re.MULTILINE)


def received_ids(data):
    """[(host, id)] of the maillab Received: headers of a stored message, top first."""
    head = data.split(b"\n\n", 1)[0]
    return RECEIVED_ID.findall(head)


class SlowClients(ClientThreads):
    """Clients that send a valid message a byte at a time, alongside the fuzz,
    and finish it when told to; ``stored`` gets the ids they got a 250 for."""

    def __init__(self, port, count):
        super().__init__(count)
        self.port = port
        self.stored = []
        self.sessions = 0

    def stop(self):
        super().stop(timeout=60)
        assert not self.errors, self.errors

    def _run(self, n):
        try:
            for k in range(10 ** 6):
                data = (b"EHLO slow.test\r\nMAIL FROM:<s@example.net>\r\n"
                        b"RCPT TO:<u@example.org>\r\nDATA\r\n"
                        b"Message-ID: <slow-%d-%d@client>\r\nSubject: slow\r\n\r\n"
                        b"one byte at a time\r\n.\r\nQUIT\r\n" % (n, k))
                with socket.create_connection(("127.0.0.1", self.port), timeout=60) as s:
                    for i in range(len(data)):
                        if self._stop.is_set():
                            s.sendall(data[i:])
                            break
                        s.sendall(data[i:i + 1])
                        time.sleep(0.02)     # wait: a slow client is the input under test
                    received = b""
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        received += chunk
                self.sessions += 1
                replies = received.split(b"\r\n")
                assert replies[-2].startswith(b"221 "), received
                self.stored += [m.group(1) for m in map(STORED.match, replies) if m]
                if self._stop.is_set():
                    return
        except Exception as e:          # reported by stop()
            self.errors.append(repr(e))


def fuzz(port, count, run):
    """Play ``count`` Hypothesis-made sessions; (stored ids, figures)."""
    stored, figures = [], {"sessions": 0, "valid": 0, "replies": 0, "cut": 0}
    slow = SlowClients(port, SLOW_CLIENTS).start()
    started = time.monotonic()

    @seed(fuzz_seed() + zlib.crc32(run.encode()))     # each server its own sessions
    @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(fuzz_sessions())
    def one(session):
        outcome = play(port, session, run)
        if session.must_accept is not None:
            assert len(outcome.stored) >= session.must_accept, \
                "a valid session got %d of its %d messages in" % (
                    len(outcome.stored), session.must_accept)
            figures["valid"] += 1
        figures["sessions"] += 1
        figures["replies"] += outcome.replies
        figures["cut"] += session.ending == "cut"
        stored.extend(outcome.stored)

    try:
        one()
    finally:
        slow.stop()
    figures["slow sessions"] = slow.sessions
    figures["seconds"] = round(time.monotonic() - started, 1)
    return stored + slow.stored, figures


def still_serves(port, msgid):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.sendmail("a@example.net", ["u@example.org"],
                      b"Message-ID: %s\r\nSubject: after\r\n\r\nstill here\r\n" % msgid.encode())


def stored_in_maildirs(maildir):
    """{(host, id)} of every Received: header in every message in the Maildirs,
    and the ids the mx itself gave (its header is the top one)."""
    everything, own = set(), set()
    for _, path in messages_under(maildir):
        with open(path, "rb") as f:
            ids = received_ids(f.read())
        everything.update(ids)
        if ids:
            own.add(ids[0][1])
    return everything, own


def mailboxes_only_in_our_domain(maildir):
    """Nothing open: every mailbox is an example.org address, whatever the fuzz sent."""
    boxes = {rcpt for rcpt, _ in messages_under(maildir)}
    assert boxes and all(b.rpartition("@")[2].lower() == "example.org" and "%" not in b
                         for b in boxes), sorted(boxes)


def stopped_cleanly(server):
    assert server.proc.poll() is None, "the server died:\n" + "".join(server.output)[-3000:]
    output = server.stop()
    assert server.proc.returncode == 0, output[-3000:]
    assert "Traceback" not in output and "Unhandled" not in output, output[-3000:]


def report(name, count, figures, stored, lost):
    print("fuzz %s: %d sessions asked, %s; %d messages got a 250, %d lost; server crashes: 0"
          % (name, count, ", ".join("%s %s" % kv for kv in figures.items()), len(stored),
             len(lost)))


def test_mx_survives_fuzzed_sessions_and_keeps_every_accepted_message(ram_path):
    count = fuzz_inputs(EVERYDAY_SESSIONS)
    mx = start_mx(ram_path, domain="example.org", extra=["--hostname", "mx1.lab"])
    try:
        stored, figures = fuzz(mx.port, count, "mx")
        assert figures["sessions"] >= count
        still_serves(mx.port, "<after-fuzz@client>")
        assert stored, "no fuzzed session got as far as a 250: the fuzz is too blunt"
    finally:
        stopped_cleanly(mx)
    _, on_disk = stored_in_maildirs(mx.maildir)
    lost = set(stored) - on_disk
    report("mx", count, figures, stored, lost)
    assert not lost, "got a 250, not in any Maildir: %s" % sorted(lost)[:10]
    mailboxes_only_in_our_domain(mx.maildir)
    parser = email.parser.BytesHeaderParser()
    ids = [parser.parse(open(p, "rb"))["Message-ID"] for _, p in messages_under(mx.maildir)]
    assert "<after-fuzz@client>" in ids


def test_relay_survives_fuzzed_sessions_and_keeps_every_accepted_message(ram_path):
    count = fuzz_inputs(EVERYDAY_SESSIONS)
    mx = start_mx(ram_path, domain="example.org", extra=["--hostname", "mx1.lab"])
    relay = start_relay(ram_path, "127.0.0.1:%d" % mx.port, domain="example.org",
                        extra=["--retry-interval", "0.5", "--max-retry-interval", "2"])
    try:
        stored, figures = fuzz(relay.port, count, "relay")
        assert figures["sessions"] >= count
        still_serves(relay.port, "<after-fuzz@client>")
        assert stored, "no fuzzed session got as far as a 250: the fuzz is too blunt"
        # the relay delivers what it took, through the fuzzing, to the mx
        wait_until(lambda: not Queue(relay.queue).entries(), 60, "the relay's queue drained")
    finally:
        stopped_cleanly(relay)
        stopped_cleanly(mx)
    in_mx, _ = stored_in_maildirs(mx.maildir)
    relayed = {i for host, i in in_mx if host == b"relay.lab"}
    queued = set()
    for entry in Queue(relay.queue).entries():
        queued.update(i for host, i in received_ids(entry.data()) if host == b"relay.lab")
    lost = set(stored) - relayed - queued
    report("relay", count, figures, stored, lost)
    assert not lost, "got a 250 from the relay, neither queued nor delivered: %s" % (
        sorted(lost)[:10])
    assert not os.path.exists(os.path.join(relay.queue, CORRUPT_DIR))
    mailboxes_only_in_our_domain(mx.maildir)
