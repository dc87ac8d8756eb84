"""The relay and real mx processes on loopback."""
import collections
import os
import smtplib
import socket
import subprocess

import pytest

from lab.host.waiting import wait_until
from tests.loopback.relay_support import (events_of, maildir_files, queue_files, start_mx,
                                          start_relay)
from tests.smtp_clients import smtp_source, swaks
from tests.support import free_port

pytestmark = pytest.mark.needs_cmd("swaks", "smtp-source")


def test_relay_delivers_to_mx(tmp_path, procs):
    mx = start_mx(tmp_path)
    procs.append(mx)
    relay = start_relay(tmp_path, "127.0.0.1:%d" % mx.port)
    procs.append(relay)
    r = swaks(relay.port, msgid="<one@test>")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_until(lambda: maildir_files(mx.maildir), 10, "message in the maildir")
    wait_until(lambda: not queue_files(relay.queue), 10, "relay queue empty")
    delivered = events_of(relay, "delivered")
    assert [d["msgid"] for d in delivered] == ["<one@test>"]
    assert delivered[0]["server"] == "127.0.0.1:%d" % mx.port
    assert events_of(relay, "attempt")[0]["next_hop"] == "127.0.0.1:%d" % mx.port


def test_relay_refuses_other_domains(tmp_path, procs):
    relay = start_relay(tmp_path, "127.0.0.1:9")
    procs.append(relay)
    r = swaks(relay.port, to="victim@elsewhere.org")
    assert r.returncode != 0 and "550" in r.stdout


def test_mx_down_relay_retries_on_schedule_then_delivers_once(tmp_path, procs):
    mx_port = free_port()
    relay = start_relay(tmp_path, "127.0.0.1:%d" % mx_port,
                        extra=["--retry-interval", "0.5", "--max-retry-interval", "1"])
    procs.append(relay)
    assert swaks(relay.port, msgid="<retry@test>").returncode == 0
    wait_until(lambda: len(events_of(relay, "deferred")) >= 3, 10, "three deferrals")
    deferred = events_of(relay, "deferred")[:3]
    gaps = [b["ts"] - a["ts"] for a, b in zip(deferred, deferred[1:])]
    # backoff 0.5 then 1 (clamped); one timer per retry, no busy loop
    assert 0.4 <= gaps[0] <= 0.9 and 0.9 <= gaps[1] <= 1.5, gaps
    assert all(d["msgid"] == "<retry@test>" for d in deferred)
    assert "refused" in deferred[0]["error"]
    mx = start_mx(tmp_path, port=mx_port)
    procs.append(mx)
    wait_until(lambda: events_of(relay, "delivered"), 10, "delivered after the mx came back")
    wait_until(lambda: not queue_files(relay.queue), 10, "relay queue empty")
    assert len(maildir_files(mx.maildir)) == 1
    assert len(events_of(relay, "delivered")) == 1
    assert len(events_of(mx, "delivered")) == 1


def test_smtp_source_load_all_delivered_none_duplicated(tmp_path, procs):
    mx = start_mx(tmp_path)
    procs.append(mx)
    relay = start_relay(tmp_path, "127.0.0.1:%d" % mx.port)
    procs.append(relay)
    n = 200
    src = smtp_source(relay.port, n, 10, size=2000, background=True)
    out, err = src.communicate(timeout=60)
    assert src.returncode == 0, err
    wait_until(lambda: len(events_of(relay, "delivered")) >= n, 30, "all delivered")
    wait_until(lambda: not queue_files(relay.queue), 10, "relay queue empty")
    queued = [e["msgid"] for e in events_of(relay, "queued")]
    delivered = [e["msgid"] for e in events_of(relay, "delivered")]
    assert len(queued) == n and len(set(queued)) == n
    assert collections.Counter(delivered) == collections.Counter(queued)
    assert len(maildir_files(mx.maildir)) == n
    assert len(events_of(mx, "delivered")) == n


def test_kill9_under_load_then_restart_delivers_everything_acknowledged(tmp_path, procs):
    mx = start_mx(tmp_path)
    procs.append(mx)
    relay = start_relay(tmp_path, "127.0.0.1:%d" % mx.port)
    src = smtp_source(relay.port, 2000, 8, size=2000, background=True)
    wait_until(lambda: len(events_of(relay, "queued")) >= 150, 30, "load under way")
    relay.kill9()
    src.kill()
    src.wait()
    # every message the relay made durable (its 'queued' event comes after the fsync
    # and before the 250) must reach the mailbox
    acknowledged = {e["msgid"] for e in events_of(relay, "queued")}
    again = start_relay(tmp_path, "127.0.0.1:%d" % mx.port)
    procs.append(again)
    wait_until(lambda: acknowledged <= {e["msgid"] for e in events_of(mx, "delivered")}, 30,
               "every acknowledged message delivered")
    wait_until(lambda: not queue_files(again.queue), 10, "relay queue empty")
    assert len(list((tmp_path / "relay-queue").glob("corrupt/*"))) == 0


def _accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.needs_cmd("smtp-sink")
def test_the_relay_declares_body_8bitmime_to_postfix_when_it_was_received_with_it(tmp_path, procs):
    sink_dir = tmp_path / "sink"
    sink_dir.mkdir()
    port = free_port()
    user = ["-u", "root"] if os.geteuid() == 0 else []     # it insists on -u as root
    sink = subprocess.Popen(["smtp-sink"] + user + ["-d", "%s/%%M." % sink_dir,
                                                    "127.0.0.1:%d" % port, "10"])
    try:
        wait_until(lambda: _accepts(port), 10, "smtp-sink listening")
        relay = start_relay(tmp_path, "127.0.0.1:%d" % port)
        procs.append(relay)
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
            client.sendmail("a@x.org", ["u@lab"], b"Subject: caf\xc3\xa9\r\n\r\n8-bit\r\n",
                            mail_options=["BODY=8BITMIME"])
            client.sendmail("a@x.org", ["u@lab"], b"Subject: plain\r\n\r\n7-bit\r\n")
        wait_until(lambda: len(events_of(relay, "delivered")) == 2, 10, "both at the sink")
        mail_args = {}
        for dump in sink_dir.iterdir():
            text = dump.read_bytes()
            args = [l for l in text.split(b"\n") if l.startswith(b"X-Mail-Args:")][0]
            mail_args[b"8-bit" in text] = args
        assert mail_args[True].endswith(b" BODY=8BITMIME")
        assert b"BODY" not in mail_args[False]
    finally:
        sink.terminate()
        sink.wait(timeout=10)
