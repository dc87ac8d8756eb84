"""``--list`` and ``--flush`` against a real relay's queue."""
import subprocess
import sys

import pytest

from lab.host.waiting import wait_until
from tests.loopback.relay_support import (events_of, maildir_files, queue_files, start_mx,
                                          start_relay)
from tests.smtp_clients import swaks
from tests.support import ROOT, free_port

pytestmark = pytest.mark.needs_cmd("swaks")


def relay_command(queue, *words):
    return subprocess.run([sys.executable, "-m", "servers.relay", "--queue", queue] + list(words),
                          cwd=ROOT, env={"PYTHONPATH": ROOT}, capture_output=True, text=True,
                          timeout=30)


def test_list_then_flush_a_running_relay(tmp_path):
    mx_port = free_port()
    relay = start_relay(tmp_path, "127.0.0.1:%d" % mx_port,
                        extra=["--retry-interval", "60", "--max-retry-interval", "60"])
    mx = None
    try:
        for n in range(2):
            assert swaks(relay.port, msgid="<l%d@test>" % n).returncode == 0
        wait_until(lambda: len(events_of(relay, "deferred")) == 2, 10, "both deferred")
        listing = relay_command(relay.queue, "--list")
        assert listing.returncode == 0
        assert "<l0@test>" in listing.stdout and "<l1@test>" in listing.stdout
        assert "2 messages" in listing.stdout
        mx = start_mx(tmp_path, port=mx_port)
        flushed = relay_command(relay.queue, "--flush")
        assert flushed.returncode == 0 and "pid %d" % relay.proc.pid in flushed.stdout
        # due in 60 s, delivered now: the flush did it
        wait_until(lambda: len(events_of(relay, "delivered")) == 2, 10, "delivered after flush")
        assert len(maildir_files(mx.maildir)) == 2
    finally:
        relay.stop()
        if mx:
            mx.stop()


def test_flush_offline_makes_entries_due_for_the_next_start(tmp_path):
    mx_port = free_port()
    relay = start_relay(tmp_path, "127.0.0.1:%d" % mx_port,
                        extra=["--retry-interval", "60", "--max-retry-interval", "60"])
    assert swaks(relay.port, msgid="<off@test>").returncode == 0
    wait_until(lambda: events_of(relay, "deferred"), 10, "deferred")
    relay.stop()
    flushed = relay_command(relay.queue, "--flush")
    assert "no relay running: 1 queued messages made due now" in flushed.stdout
    mx = start_mx(tmp_path, port=mx_port)
    again = start_relay(tmp_path, "127.0.0.1:%d" % mx_port,
                        extra=["--retry-interval", "60", "--max-retry-interval", "60"])
    try:
        wait_until(lambda: not queue_files(again.queue), 10, "delivered at restart")
        assert len(maildir_files(mx.maildir)) == 1
    finally:
        again.stop()
        mx.stop()
