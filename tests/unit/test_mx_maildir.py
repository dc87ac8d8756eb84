"""Maildir delivery: durable order, exactly once, across restarts."""
import json
import os

from servers.common.events import EventLog, read_events
from servers.mx.maildir import DEDUP_FILE, Maildirs, delivery_id, messages_in
from servers.mx.storage import MaildirStorage
from servers.smtpd.received import ReceivedMessage, build_message
from servers.smtpd.recipients import RecipientPolicy
from servers.smtpd.protocol import ReceiveFactory
from tests.unit.smtp_dialogue import Session, envelope, message
from tests.unit.thread_runner import ManualThread


def msg(msgid="<m1@x>", rcpts=("u@example.org",), data=b"Subject: s\n\nbody\n"):
    return ReceivedMessage(id="Q1", sender="a@x", recipients=list(rcpts), msgid=msgid,
                           data=data, peer="127.0.0.1")


def received(msgid, body, when, peer="10.0.1.26"):
    """The message as the mx stores it after one reception: its own Received: on top."""
    lines = [b"Message-ID: " + msgid.encode(), b"Subject: s", b"", body]
    return build_message(lines, hostname="mx1", msg_id="Q%d" % when, sender="a@x",
                         recipients=["u@example.org"], helo="relay1", peer=peer,
                         esmtp=True, when=when)


def stored(root, rcpt="u@example.org"):
    return [open(p, "rb").read() for p in messages_in(str(root / rcpt))]


def seen(boxes, msgid="<m1@x>", data=b"Subject: s\n\nbody\n", rcpt="u@example.org"):
    return boxes.already_delivered(delivery_id(msgid, data), rcpt)


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
    assert json.loads((tmp_path / DEDUP_FILE).read_text()) == [
        delivery_id("<m1@x>", b"Subject: s\n\nbody\n"), "u@example.org"]
    restarted = Maildirs(str(tmp_path), "mx1")
    assert restarted.deliver_batch([msg()]) == [{"u@example.org": None}]
    assert len(messages_in(str(tmp_path / "u@example.org"))) == 1


def test_dedup_survives_a_crash_before_the_dedup_record_and_a_torn_line(tmp_path):
    boxes = Maildirs(str(tmp_path), "mx1")
    boxes.deliver_batch([msg("<a@x>"), msg("<b@x>")])
    # Crash after the rename, before the record: the file name remembers.
    os.unlink(tmp_path / DEDUP_FILE)
    b, c = (delivery_id(m, b"Subject: s\n\nbody\n") for m in ("<b@x>", "<c@x>"))
    (tmp_path / DEDUP_FILE).write_text('["%s", "u@example.org"]\n["%s", "u@exa' % (b, c))
    restarted = Maildirs(str(tmp_path), "mx1")
    assert seen(restarted, "<a@x>") and seen(restarted, "<b@x>")
    assert not seen(restarted, "<c@x>")
    [outcome] = restarted.deliver_batch([msg("<d@x>")])   # must not join the torn line
    assert json.loads((tmp_path / DEDUP_FILE).read_text().splitlines()[-1]) == [
        delivery_id("<d@x>", b"Subject: s\n\nbody\n"), "u@example.org"]
    os.unlink(outcome["u@example.org"])                  # a reader deleted it
    assert seen(Maildirs(str(tmp_path), "mx1"), "<d@x>")
    # A message moved to cur/ by a reader still counts.
    [path] = [p for p in messages_in(str(tmp_path / "u@example.org"))][:1]
    os.rename(path, path.replace("/new/", "/cur/") + ":2,S")
    assert seen(Maildirs(str(tmp_path), "mx1"), "<a@x>")


def test_two_different_messages_with_one_message_id_are_both_stored(tmp_path):
    boxes = Maildirs(str(tmp_path), "mx1")
    boxes.deliver_batch([received("<same@x>", b"the real message", when=1000)])
    boxes.deliver_batch([received("<same@x>", b"another message", when=1001)])
    bodies = sorted(m.rsplit(b"\n\n", 1)[1] for m in stored(tmp_path))
    assert bodies == [b"another message\n", b"the real message\n"]


def test_a_redelivery_after_a_lost_250_is_stored_once_also_after_a_restart(tmp_path):
    # The relay sends the same bytes again; only the mx's own Received: differs.
    first, again, later = (received("<m1@x>", b"body", when=t) for t in (1000, 1060, 5000))
    assert first.data != again.data
    boxes = Maildirs(str(tmp_path), "mx1")
    assert boxes.deliver_batch([first])[0]["u@example.org"] is not None
    assert boxes.deliver_batch([again]) == [{"u@example.org": None}]
    assert Maildirs(str(tmp_path), "mx1").deliver_batch([later]) == [{"u@example.org": None}]
    assert stored(tmp_path) == [first.data]


def test_the_dedup_record_is_bounded_and_forgets_the_least_recent(tmp_path):
    boxes = Maildirs(str(tmp_path), "mx1", dedup_limit=3)
    for n in range(10):
        boxes.deliver_batch([msg("<%d@x>" % n)])
    lines = (tmp_path / DEDUP_FILE).read_text().splitlines()
    assert len(lines) <= 2 * 3
    for n in range(10):
        os.unlink(messages_in(str(tmp_path / "u@example.org"))[0])     # read and deleted
    restarted = Maildirs(str(tmp_path), "mx1", dedup_limit=3)
    assert [n for n in range(10) if seen(restarted, "<%d@x>" % n)] == [7, 8, 9]


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
