"""Maildir delivery: durable order, exactly once, across restarts."""
import json
import os

from servers.common.events import EventLog, read_events
from servers.mx.maildir import DEDUP_FILE, Maildirs, messages_in
from servers.mx.storage import MaildirStorage
from servers.smtpd.received import ReceivedMessage
from servers.smtpd.recipients import RecipientPolicy
from servers.smtpd.protocol import ReceiveFactory
from tests.unit.smtp_dialogue import Session, envelope, message
from tests.unit.thread_runner import ManualThread


def msg(msgid="<m1@x>", rcpts=("u@example.org",), data=b"Subject: s\n\nbody\n"):
    return ReceivedMessage(id="Q1", sender="a@x", recipients=list(rcpts), msgid=msgid,
                           data=data, peer="127.0.0.1")


def all_files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)


def test_delivery_lands_in_new_with_exact_content_and_no_temporaries(tmp_path):
    boxes = Maildirs(str(tmp_path), "mx1")
    [outcome] = boxes.deliver_batch([msg(rcpts=["u@example.org", "v@example.org"])])
    for rcpt in ("u@example.org", "v@example.org"):
        [path] = messages_in(str(tmp_path / rcpt))
        assert outcome[rcpt] == path and "/new/" in path
        assert open(path, "rb").read() == b"Subject: s\n\nbody\n"
        assert os.listdir(tmp_path / rcpt / "tmp") == []
        assert os.path.isdir(tmp_path / rcpt / "cur")


def test_write_fsync_rename_fsync_dir_then_dedup_record(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_rename, real_open = os.fsync, os.rename, os.open
    opened = {}

    def fsync(fd):
        calls.append(("fsync", opened.get(fd, "dir?")))
        return real_fsync(fd)

    def rename(a, b):
        calls.append(("rename", os.path.basename(os.path.dirname(b))))
        return real_rename(a, b)

    def open_(path, flags, *a):
        fd = real_open(path, flags, *a)
        opened[fd] = os.path.basename(path) if not os.path.isdir(path) else "dir:" + os.path.basename(path)
        return fd

    boxes = Maildirs(str(tmp_path), "mx1")
    boxes.deliver_batch([msg(msgid="<warmup@x>")])      # creates the directories
    calls.clear()
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(os, "open", open_)
    boxes.deliver_batch([msg(rcpts=["u@example.org", "v@example.org"]), msg("<m2@x>")])
    kinds = [c[0] if c[0] == "rename" else c[1].split(":")[0] if c[1].startswith("dir:") else
             ("dedup" if c[1] == DEDUP_FILE else "file") for c in calls]
    # v's Maildir is new: its directories are made durable before anything else.
    assert kinds[:2] == ["dir", "dir"]
    assert kinds[2:] == ["file"] * 3 + ["rename"] * 3 + ["dir"] * 2 + ["dedup"]


def test_same_message_id_and_recipient_is_delivered_once(tmp_path):
    boxes = Maildirs(str(tmp_path), "mx1")
    boxes.deliver_batch([msg()])
    [again, other] = boxes.deliver_batch([msg(), msg(rcpts=["v@example.org"])])
    assert again == {"u@example.org": None}
    assert other["v@example.org"] is not None
    [same_batch_1, same_batch_2] = boxes.deliver_batch([msg("<m2@x>"), msg("<m2@x>")])
    assert same_batch_2 == {"u@example.org": None}
    assert len(messages_in(str(tmp_path / "u@example.org"))) == 2


def test_dedup_survives_restart(tmp_path):
    Maildirs(str(tmp_path), "mx1").deliver_batch([msg()])
    assert json.loads((tmp_path / DEDUP_FILE).read_text()) == ["<m1@x>", "u@example.org"]
    restarted = Maildirs(str(tmp_path), "mx1")
    assert restarted.deliver_batch([msg()]) == [{"u@example.org": None}]
    assert len(messages_in(str(tmp_path / "u@example.org"))) == 1


def test_dedup_survives_a_crash_before_the_dedup_record_and_a_torn_line(tmp_path):
    boxes = Maildirs(str(tmp_path), "mx1")
    boxes.deliver_batch([msg("<a@x>"), msg("<b@x>")])
    # Crash after the rename, before the record: the file name remembers.
    os.unlink(tmp_path / DEDUP_FILE)
    (tmp_path / DEDUP_FILE).write_text('["<b@x>", "u@example.org"]\n["<c@x>", "u@exa')
    restarted = Maildirs(str(tmp_path), "mx1")
    assert restarted.already_delivered("<a@x>", "u@example.org")
    assert restarted.already_delivered("<b@x>", "u@example.org")
    assert not restarted.already_delivered("<c@x>", "u@example.org")
    [outcome] = restarted.deliver_batch([msg("<d@x>")])   # must not join the torn line
    assert (tmp_path / DEDUP_FILE).read_text().splitlines()[-1] == '["<d@x>", "u@example.org"]'
    os.unlink(outcome["u@example.org"])                  # a reader deleted it
    assert Maildirs(str(tmp_path), "mx1").already_delivered("<d@x>", "u@example.org")
    # A message moved to cur/ by a reader still counts.
    [path] = [p for p in messages_in(str(tmp_path / "u@example.org"))][:1]
    os.rename(path, path.replace("/new/", "/cur/") + ":2,S")
    assert Maildirs(str(tmp_path), "mx1").already_delivered("<a@x>", "u@example.org")


def test_nothing_is_written_before_the_thread_runs_and_250_comes_after(tmp_path):
    thread = ManualThread()
    events_path = tmp_path / "events"
    events = EventLog(str(events_path), service="mx", host="mx1")
    root = tmp_path / "mail"
    storage = MaildirStorage(Maildirs(str(root), "mx1"), events, run_in_thread=thread)
    s = Session(factory=ReceiveFactory(RecipientPolicy(["example.org"]), storage, "mx1"))
    s.send(envelope())
    assert s.codes(message()) == [354]
    assert all_files(str(root)) == []
    assert read_events(str(events_path)) == []
    thread.run_next()
    assert s.take()[0].startswith("250 ")
    [path] = messages_in(str(root / "u@example.org"))
    assert b"Message-ID: <m1@example.net>" in open(path, "rb").read()
    [event] = read_events(str(events_path))
    assert event["event"] == "delivered" and event["msgid"] == "<m1@example.net>"
    assert event["rcpt"] == "u@example.org" and event["sender"] == "a@example.net"
    assert event["peer"] == "192.168.1.1"


def test_concurrent_sessions_share_one_commit(tmp_path):
    thread = ManualThread()
    storage = MaildirStorage(Maildirs(str(tmp_path), "mx1"), EventLog(), run_in_thread=thread)
    factory = ReceiveFactory(RecipientPolicy(["example.org"]), storage, "mx1")
    sessions = [Session(factory=factory) for _ in range(3)]
    for i, s in enumerate(sessions):
        s.send(envelope())
        s.send(message(msgid="<s%d@x>" % i))
    assert len(thread.calls) == 1            # first session's batch running
    thread.run_next()
    assert len(thread.calls) == 1            # the other two, together
    _, (batch,), _ = thread.calls[0]
    assert [m.msgid for m in batch] == ["<s1@x>", "<s2@x>"]
    thread.run_next()
    assert all(s.take()[0].startswith("250 ") for s in sessions)
    assert len(messages_in(str(tmp_path / "u@example.org"))) == 3
