"""The messaging server with real clients on loopback: swaks, Postfix's
smtp-source, and kill -9 under load."""
import os
import signal
import smtplib
import time

import pytest

from lab.host.waiting import wait_until
from servers.common.events import read_events
from servers.mx.maildir import messages_in
from tests.smtp_clients import AckingSender, maildir_message_ids, smtp_source, swaks
from tests.support import ServerProcess, running_server

pytestmark = pytest.mark.needs_cmd("swaks", "smtp-source")

MAILBOX = "u@example.org"


def mx_args(tmp_path, *extra):
    return ["--domain", "example.org", "--domain", "example.com",
            "--maildir", tmp_path / "mail", "--listen", "127.0.0.1", "--port", 0,
            "--events", tmp_path / "events.jsonl", "--hostname", "mx1.lab"] + list(extra)


def events(tmp_path, name):
    return [e for e in read_events(str(tmp_path / "events.jsonl")) if e["event"] == name]


def test_swaks_accepted_lands_in_maildir_and_wrong_domain_is_refused(tmp_path):
    with running_server("servers.mx", mx_args(tmp_path)) as mx:
        port = mx.listening[0][1]
        ok = swaks(port, MAILBOX, msgid="<swaks-1@test>")
        assert ok.returncode == 0, ok.stdout
        assert "250 2.0.0 Ok: stored as" in ok.stdout
        piped = swaks(port, "W@Example.COM", msgid="<swaks-2@test>", extra=["--pipeline"])
        assert piped.returncode == 0, piped.stdout
        refused = swaks(port, "u@other.org", msgid="<swaks-3@test>")
        assert refused.returncode != 0
        assert "550 5.7.1" in refused.stdout
        relay_hack = swaks(port, "u%other.org@example.org", msgid="<swaks-4@test>")
        assert "550 5.7.1" in relay_hack.stdout
    assert maildir_message_ids(str(tmp_path / "mail" / MAILBOX)) == ["<swaks-1@test>"]
    assert maildir_message_ids(str(tmp_path / "mail" / "w@example.com")) == ["<swaks-2@test>"]
    assert sorted(os.listdir(tmp_path / "mail")) == [".delivered", "u@example.org", "w@example.com"]
    [path] = messages_in(str(tmp_path / "mail" / MAILBOX))
    assert open(path, "rb").read().startswith(b"Received: from client.test ([127.0.0.1])\n\tby mx1.lab")
    delivered = events(tmp_path, "delivered")
    assert [(e["msgid"], e["rcpt"]) for e in delivered] == [
        ("<swaks-1@test>", MAILBOX), ("<swaks-2@test>", "w@example.com")]
    assert [e["event"] for e in read_events(str(tmp_path / "events.jsonl"))][::len(delivered) + 1] \
        == ["started", "stopped"]


def test_sigterm_stops_cleanly(tmp_path):
    mx = ServerProcess("servers.mx", mx_args(tmp_path))
    mx.wait_listening()
    started = events(tmp_path, "started")
    assert started and started[0]["port"] == mx.listening[0][1]
    mx.stop(signal.SIGTERM)
    assert mx.proc.returncode == 0
    assert events(tmp_path, "stopped")


def test_smtp_source_load_every_message_delivered_exactly_once(tmp_path):
    count = 200
    with running_server("servers.mx", mx_args(tmp_path)) as mx:
        started = time.monotonic()
        result = smtp_source(mx.listening[0][1], count, sessions=5, size=4096, to=MAILBOX)
        elapsed = time.monotonic() - started
        assert result.returncode == 0, result.stderr
    ids = maildir_message_ids(str(tmp_path / "mail" / MAILBOX))
    assert len(ids) == count and len(set(ids)) == count
    delivered = events(tmp_path, "delivered")
    assert len(delivered) == count and len({e["msgid"] for e in delivered}) == count
    print("mx under smtp-source: %d messages of 4 KiB, 5 sessions: %.0f messages/s"
          % (count, count / elapsed))


def test_kill_9_under_load_loses_nothing_acknowledged_and_restart_dedups(tmp_path):
    maildir = str(tmp_path / "mail" / MAILBOX)
    mx = ServerProcess("servers.mx", mx_args(tmp_path))
    port = mx.wait_listening()
    load = smtp_source(port, 100000, sessions=3, size=4096, to=MAILBOX, background=True)
    sender = AckingSender(port, threads=3).start()
    try:
        wait_until(lambda: len(sender.acked) >= 60, 30, "60 acknowledged messages")
        mx.kill9()
    finally:
        sender.stop()
        load.kill()
        load.wait()
    acked = list(sender.acked)
    on_disk = maildir_message_ids(maildir)
    assert len(on_disk) >= len(acked)
    missing = set(acked) - set(on_disk)
    assert not missing, "acknowledged but not in the Maildir: %s" % sorted(missing)[:5]
    assert len(set(on_disk)) == len(on_disk)          # nothing written twice
    print("kill -9 under load: %d acknowledged, %d in the Maildir" % (len(acked), len(on_disk)))

    # Restarted on the same Maildir, a client resending what it had sent
    # (as an MTA does when unsure) gets 250s and nothing is written twice.
    with running_server("servers.mx", mx_args(tmp_path)) as mx2:
        resend = AckingSender(mx2.listening[0][1])
        with smtplib.SMTP("127.0.0.1", mx2.listening[0][1], timeout=10) as smtp:
            for msgid in acked:
                smtp.sendmail("a@example.net", [MAILBOX], resend.message(msgid))
    assert sorted(maildir_message_ids(maildir)) == sorted(on_disk)
    dups = {e["msgid"] for e in events(tmp_path, "duplicate")}
    assert set(acked) <= dups
