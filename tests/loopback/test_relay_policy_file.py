"""The real relay running a retry policy from a file (the workbook's capstones):
the starter waits its minimum after every failure and delivers once the mx is
back; a broken one from the diagnose set does what its name says; a file that
is not a policy keeps the relay from starting, saying why."""
import subprocess
import sys

import pytest

from lab.host.waiting import wait_until
from lab.workbook import catalog
from tests.loopback.relay_support import events_of, maildir_files, start_mx, start_relay
from tests.smtp_clients import swaks
from tests.support import free_port

pytestmark = pytest.mark.needs_cmd("swaks")

STARTER = catalog.load(14).scenario.relay.retry_policy
BROKEN = catalog.load(15).diagnosis


def waits(relay):
    return [round(d["next_attempt"] - d["ts"], 1) for d in events_of(relay, "deferred")]


def test_the_starter_policy_retries_at_its_minimum_then_delivers(tmp_path, procs):
    mx_port = free_port()
    relay = start_relay(tmp_path, "127.0.0.1:%d" % mx_port, extra=[
        "--retry-interval", "0.3", "--max-retry-interval", "2", "--retry-policy", STARTER])
    procs.append(relay)
    assert swaks(relay.port, msgid="<p@test>").returncode == 0
    wait_until(lambda: len(events_of(relay, "deferred")) >= 3, 10, "three deferrals")
    assert waits(relay)[:3] == [0.3, 0.3, 0.3]         # no backoff: the starter's own rule
    mx = start_mx(tmp_path, port=mx_port)
    procs.append(mx)
    wait_until(lambda: events_of(relay, "delivered"), 10, "delivered after the mx came back")
    assert len(maildir_files(mx.maildir)) == 1


def test_a_broken_policy_from_the_diagnose_set_does_what_its_name_says(tmp_path, procs):
    relay = start_relay(tmp_path, "127.0.0.1:%d" % free_port(), extra=[
        "--retry-interval", "0.3", "--retry-policy", BROKEN.file_of("never retries")])
    procs.append(relay)
    assert swaks(relay.port, msgid="<n@test>").returncode == 0
    wait_until(lambda: events_of(relay, "deferred"), 10, "a deferral")
    assert waits(relay) == [3600.0]


def test_a_file_that_is_no_policy_keeps_the_relay_from_starting(tmp_path):
    bad = tmp_path / "policy.py"
    bad.write_text("def make_policy(minimum, maximum, give_up):\n    return 42\n")
    r = subprocess.run([sys.executable, "-m", "servers.relay", "--check", "--domain", "lab",
                        "--queue", str(tmp_path / "q"), "--next-hop", "127.0.0.1:25",
                        "--retry-policy", str(bad)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "does not provide IRetryPolicy" in r.stdout + r.stderr
