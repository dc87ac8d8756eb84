"""``--receivers N`` on loopback: several processes receive on the relay's
socket, the relay alone delivers, every message exactly once, and killing
a receiver (or the relay) loses nothing that got its 250."""
import collections
import email.parser
import os
import signal

import pytest

from lab.host.waiting import wait_until
from tests.loopback.relay_support import events_of, queue_files, start_mx, start_relay
from servers.mx.maildir import messages_under
from tests.smtp_clients import AckingSender, smtp_source

pytestmark = pytest.mark.needs_cmd("smtp-source")


def ids_at(mx):
    """Message-IDs of every message in the mx's Maildirs: the receiving side's count."""
    parser = email.parser.BytesHeaderParser()
    ids = []
    for _, path in messages_under(mx.maildir):
        with open(path, "rb") as f:
            ids.append(parser.parse(f)["Message-ID"])
    return ids


def receiver_pids(relay):
    """The receivers that are accepting connections."""
    return [e["pid"] for e in events_of(relay, "receiver_ready")]


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] not in "ZX"
    except OSError:
        return False


def test_several_receivers_take_the_load_and_the_relay_delivers_each_message_once(
        tmp_path, procs):
    mx = start_mx(tmp_path)
    procs.append(mx)
    relay = start_relay(tmp_path, "127.0.0.1:%d" % mx.port, extra=["--receivers", "3"])
    procs.append(relay)
    wait_until(lambda: len(receiver_pids(relay)) == 2, 10, "two more receivers")
    n = 300
    src = smtp_source(relay.port, n, 20, size=2000)
    assert src.returncode == 0, src.stderr
    wait_until(lambda: len(events_of(relay, "delivered")) >= n, 60, "all delivered")
    wait_until(lambda: not queue_files(relay.queue), 10, "relay queue empty")
    queued = events_of(relay, "queued")
    # they received concurrently: more than one process stored messages
    by_process = collections.Counter(e["pid"] for e in queued)
    assert len(by_process) >= 2, by_process
    assert set(by_process) <= {relay.proc.pid} | set(receiver_pids(relay))
    msgids = [e["msgid"] for e in queued]
    assert len(msgids) == n and len(set(msgids)) == n
    # each one delivered once, counted by the relay and at the receiving side
    delivered = collections.Counter(e["msgid"] for e in events_of(relay, "delivered"))
    assert delivered == collections.Counter(msgids)
    at_mx = ids_at(mx)
    assert sorted(at_mx) == sorted(msgids)


def test_a_receiver_killed_mid_run_loses_nothing_that_got_its_250(tmp_path, procs):
    mx = start_mx(tmp_path)
    procs.append(mx)
    relay = start_relay(tmp_path, "127.0.0.1:%d" % mx.port, extra=["--receivers", "3"])
    procs.append(relay)
    wait_until(lambda: len(receiver_pids(relay)) == 2, 10, "two more receivers")
    receivers = set(receiver_pids(relay))
    sender = AckingSender(relay.port, threads=12, to="user@lab").start()
    try:
        # a receiver holding some of the sessions, in the middle of them
        busy = wait_until(lambda: [e["pid"] for e in events_of(relay, "queued")
                                   if e["pid"] in receivers], 30, "a receiver receiving")
        victim = busy[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: events_of(relay, "receiver_exited"), 10, "the relay saw it go")
        wait_until(lambda: len(receiver_pids(relay)) == 3, 10, "a new receiver")
        at_kill = len(sender.acked)
        wait_until(lambda: len(sender.acked) >= at_kill + 50, 30, "more acknowledged after")
    finally:
        sender.stop()
    acked = list(sender.acked)
    [exited] = events_of(relay, "receiver_exited")
    assert exited["pid"] == victim and exited["signal"] == signal.SIGKILL
    # every message that got its 250 arrives, once
    wait_until(lambda: set(acked) <= set(ids_at(mx)),
               60, "every acknowledged message delivered")
    wait_until(lambda: not queue_files(relay.queue), 10, "relay queue empty")
    delivered = collections.Counter(e["msgid"] for e in events_of(relay, "delivered"))
    assert all(delivered[m] == 1 for m in acked), [m for m in acked if delivered[m] != 1]
    assert max(delivered.values()) == 1
    assert not list((tmp_path / "relay-queue").glob("corrupt/*"))


def test_killing_the_relay_kills_its_receivers(tmp_path, procs):
    relay = start_relay(tmp_path, "127.0.0.1:9", extra=["--receivers", "3"])
    procs.append(relay)
    wait_until(lambda: len(receiver_pids(relay)) == 2, 10, "two more receivers")
    pids = receiver_pids(relay)
    assert all(alive(p) for p in pids)
    relay.kill9()
    wait_until(lambda: not any(alive(p) for p in pids), 10, "the receivers gone with it")


def test_stopping_the_relay_stops_its_receivers(tmp_path, procs):
    relay = start_relay(tmp_path, "127.0.0.1:9", extra=["--receivers", "2"])
    procs.append(relay)
    wait_until(lambda: len(receiver_pids(relay)) == 1, 10, "one more receiver")
    [pid] = receiver_pids(relay)
    relay.stop()
    assert relay.proc.returncode == 0
    assert not alive(pid)
    assert not events_of(relay, "receiver_exited")     # an orderly stop, not a death


def test_the_relay_killed_under_load_then_restarted_delivers_everything_acknowledged(
        tmp_path, procs):
    mx = start_mx(tmp_path)
    procs.append(mx)
    relay = start_relay(tmp_path, "127.0.0.1:%d" % mx.port, extra=["--receivers", "2"])
    wait_until(lambda: len(receiver_pids(relay)) == 1, 10, "one more receiver")
    sender = AckingSender(relay.port, threads=8, to="user@lab").start()
    try:
        wait_until(lambda: len(sender.acked) >= 100, 30, "load under way")
        relay.kill9()
    finally:
        sender.stop()
    acked = list(sender.acked)
    wait_until(lambda: not any(alive(p) for p in receiver_pids(relay)), 10, "receivers gone")
    again = start_relay(tmp_path, "127.0.0.1:%d" % mx.port, extra=["--receivers", "2"])
    procs.append(again)
    wait_until(lambda: set(acked) <= set(ids_at(mx)), 60, "every acknowledged message delivered")
    wait_until(lambda: not queue_files(again.queue), 10, "relay queue empty")
    assert not list((tmp_path / "relay-queue").glob("corrupt/*"))
