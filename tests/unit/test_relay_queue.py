"""The relay's durable queue: files, corruption, atomic metadata rewrites."""
import os
import time

import pytest

from servers.common.events import EventLog, read_events
from servers.relay import queue as queue_module
from servers.relay.listing import format_queue_listing
from servers.relay.queue import CORRUPT_DIR, END_MARKER, RECYCLE_DIR, Queue

DATA = b"Received: from c\n\tby relay1;\n\tdate\nMessage-ID: <m1@x>\nSubject: s\n\nbody\n"


def queue_files(q):
    return sorted(n for n in os.listdir(q.directory) if n not in (CORRUPT_DIR, RECYCLE_DIR))


def recycled(q):
    return os.listdir(os.path.join(q.directory, RECYCLE_DIR))


@pytest.fixture
def q(tmp_path):
    return Queue(str(tmp_path / "queue"), events=EventLog(str(tmp_path / "events"), service="relay"),
                 now=lambda: 1000.0)


def events(tmp_path):
    return read_events(str(tmp_path / "events"))


def test_enqueue_writes_one_file_and_reads_back(q):
    entry = q.enqueue("a@x", ["u@example.org", "v@example.org"], DATA, "mx:example.org")
    assert queue_files(q) == [entry.id + ".q"]
    [back] = Queue(q.directory).entries()
    assert back.id == entry.id and back.msgid == "<m1@x>"
    assert back.sender == "a@x" and back.recipients == ["u@example.org", "v@example.org"]
    assert back.next_hop == "mx:example.org"
    assert back.arrived == 1000.0 and back.next_attempt == 1000.0
    assert back.attempts == 0 and back.last_error == "" and back.first_failure is None
    assert back.data() == DATA


def test_ids_are_unique_and_filename_safe(q):
    ids = [q.enqueue("", ["u@example.org"], DATA, "mx:example.org").id for _ in range(50)]
    assert len(set(ids)) == 50
    assert all(i.replace("-", "").isalnum() for i in ids)


def test_enqueue_many_and_null_sender(q):
    a, b = q.enqueue_many([("", ["u@example.org"], DATA, "mx:example.org"),
                           ("b@y", ["w@example.com"], b"Subject: none\n\nx\n", "10.0.0.1:25")])
    assert [e.id for e in q.entries()] == sorted([a.id, b.id])
    assert {e.sender for e in q.entries()} == {"", "b@y"}
    assert b.msgid == ""


@pytest.mark.parametrize("cut", [1, len(END_MARKER) - 1, len(END_MARKER), 100])
def test_truncated_file_is_set_aside_never_returned(q, tmp_path, cut):
    good = q.enqueue("a@x", ["u@example.org"], DATA, "mx:example.org")
    bad = q.enqueue("a@x", ["v@example.org"], DATA, "mx:example.org")
    raw = open(bad.path, "rb").read()
    with open(bad.path, "wb") as f:
        f.write(raw[:-cut])
    assert [e.id for e in q.entries()] == [good.id]
    assert os.listdir(os.path.join(q.directory, CORRUPT_DIR)) == [bad.id + ".q"]
    assert queue_files(q) == [good.id + ".q"]
    [ev] = [e for e in events(tmp_path) if e["event"] == "corrupt"]
    assert ev["file"] == bad.id + ".q"


def test_damaged_data_with_an_end_marker_is_corrupt_too(q):
    entry = q.enqueue("a@x", ["u@example.org"], DATA, "mx:example.org")
    raw = bytearray(open(entry.path, "rb").read())
    raw[raw.rindex(b"body")] ^= 0x20
    with open(entry.path, "wb") as f:
        f.write(raw)
    assert q.entries() == []
    with open(os.path.join(q.directory, "garbage.q"), "wb") as f:
        f.write(b"not a queue file")
    assert q.entries() == []
    assert sorted(os.listdir(os.path.join(q.directory, CORRUPT_DIR))) == sorted(
        [entry.id + ".q", "garbage.q"])


def test_save_persists_the_retry_state(q):
    entry = q.enqueue("a@x", ["u@example.org", "v@example.org"], DATA, "mx:example.org")
    entry.attempts = 3
    entry.next_attempt = 1600.0
    entry.last_error = "421 4.3.2 try later"
    entry.first_failure = 1010.0
    entry.recipients = ["v@example.org"]
    q.save(entry)
    [back] = Queue(q.directory).entries()
    assert (back.attempts, back.next_attempt, back.last_error, back.first_failure,
            back.recipients) == (3, 1600.0, "421 4.3.2 try later", 1010.0, ["v@example.org"])
    assert back.data() == DATA
    assert queue_files(q) == [entry.id + ".q"]


def test_reroute_rewrites_the_next_hop_on_disk_and_logs_it(q, tmp_path):
    entry = q.enqueue("a@x", ["u@example.org"], DATA, "mx:example.org")
    assert q.reroute(entry, "10.0.2.10:25") == "mx:example.org"
    assert entry.next_hop == "10.0.2.10:25"
    assert b'"next_hop": "10.0.2.10:25"' in open(entry.path, "rb").read()
    [back] = Queue(q.directory).entries()
    assert back.next_hop == "10.0.2.10:25" and back.data() == DATA
    [ev] = [e for e in events(tmp_path) if e["event"] == "rerouted"]
    assert (ev["old"], ev["new"], ev["msgid"]) == ("mx:example.org", "10.0.2.10:25", "<m1@x>")


def test_remove_forgets_the_message(q):
    entry = q.enqueue("a@x", ["u@example.org"], DATA, "mx:example.org")
    q.remove(entry)
    q.remove(entry)                     # twice is harmless
    assert q.entries() == [] and queue_files(q) == []
    assert recycled(q) == [entry.id]


def test_a_new_message_overwrites_a_recycled_file(q):
    first = q.enqueue("a@x", ["u@example.org"], DATA + b"long body\n" * 500, "mx:example.org")
    inode = os.stat(first.path).st_ino
    q.remove(first)
    second = q.enqueue("b@x", ["v@example.org"], DATA, "mx:example.org")
    assert os.stat(second.path).st_ino == inode and recycled(q) == []
    [back] = Queue(q.directory).entries()          # cut to its new length, checked whole
    assert back.data() == DATA and back.sender == "b@x"
    assert second.open_data().size == len(DATA)
    third = q.enqueue("c@x", ["w@example.org"], DATA, "mx:example.org")   # none left: a new file
    assert os.stat(third.path).st_ino != inode
    assert sorted(e.sender for e in Queue(q.directory).entries()) == ["b@x", "c@x"]


def test_a_batch_takes_what_is_recycled_and_makes_the_rest(q):
    entries = q.enqueue_many([("a@x", ["u@example.org"], DATA, "mx:example.org")] * 3)
    q.remove_many(entries[:2])
    batch = q.enqueue_many([("b@x", ["u@example.org"], DATA + b"%d\n" % i, "mx:example.org")
                            for i in range(3)])
    assert recycled(q) == [] and len(queue_files(q)) == 4
    assert sorted(e.data() for e in Queue(q.directory).entries() if e.sender == "b@x") == \
        sorted(DATA + b"%d\n" % i for i in range(3))
    assert [b.id for b in batch] == [e.id for e in Queue(q.directory).entries()[1:]]


def test_a_large_file_is_unlinked_not_recycled(q):
    big = q.enqueue("a@x", ["u@example.org"], DATA + b"x" * (queue_module.RECYCLE_FILE_MAX + 1),
                    "mx:example.org")
    small = q.enqueue("a@x", ["u@example.org"], DATA, "mx:example.org")
    q.remove_many([big, small])
    assert recycled(q) == [small.id] and queue_files(q) == []


def test_recycled_files_are_capped(q, monkeypatch):
    monkeypatch.setattr(queue_module, "RECYCLE_MAX", 2)
    entries = q.enqueue_many([("a@x", ["u@example.org"], DATA, "mx:example.org")] * 3)
    q.remove_many(entries)
    assert len(recycled(q)) == 2 and queue_files(q) == []


def test_crash_before_the_rename_of_a_rewrite_leaves_the_old_file_whole(q, monkeypatch):
    entry = q.enqueue("a@x", ["u@example.org"], DATA, "mx:example.org")
    old_bytes = open(entry.path, "rb").read()

    def crash(*args):
        raise OSError("power cut")
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        q.reroute(entry, "10.0.2.10:25")
    monkeypatch.undo()
    assert entry.next_hop == "mx:example.org"
    assert open(entry.path, "rb").read() == old_bytes
    assert queue_files(q) == [entry.id + ".q"]


def test_a_half_written_temporary_after_a_crash_is_ignored_and_cleaned(q):
    entry = q.enqueue("a@x", ["u@example.org"], DATA, "mx:example.org")
    # kill -9 in the middle of a rewrite: the temporary is half written.
    entry.next_hop = "10.0.2.10:25"
    half = queue_module.serialize(entry, entry.data())[:40]
    with open(os.path.join(q.directory, "." + entry.id + ".tmp"), "wb") as f:
        f.write(half)
    # kill -9 in the middle of an enqueue: a temporary for a new message.
    with open(os.path.join(q.directory, ".18ecbc00000000-deadbeef.tmp"), "wb") as f:
        f.write(b"maillab-queue 1\n{")
    # Opened at once (say by --list beside a running relay): ignored, kept.
    [back] = Queue(q.directory).entries()
    assert back.next_hop == "mx:example.org" and back.data() == DATA
    assert len(queue_files(q)) == 3
    # Opened after a restart: the old temporaries are cleaned away.
    for name in os.listdir(q.directory):
        if name.endswith(".tmp"):
            old = time.time() - queue_module.STALE_TEMPORARY_AGE - 1
            os.utime(os.path.join(q.directory, name), (old, old))
    restarted = Queue(q.directory)
    [back] = restarted.entries()
    assert back.next_hop == "mx:example.org" and back.data() == DATA
    assert queue_files(restarted) == [entry.id + ".q"]


def test_a_rewrite_after_a_recent_crash_mid_rewrite_still_works(q):
    entry = q.enqueue("a@x", ["u@example.org"], DATA, "mx:example.org")
    with open(os.path.join(q.directory, "." + entry.id + ".tmp"), "wb") as f:
        f.write(b"maillab-queue 1\n{\"half")
    [back] = Queue(q.directory).entries()     # restarted within a minute
    Queue(q.directory).reroute(back, "10.0.2.10:25")
    assert [e.next_hop for e in Queue(q.directory).entries()] == ["10.0.2.10:25"]
    assert queue_files(q) == [entry.id + ".q"]


def test_a_completed_rewrite_is_the_new_file_whole(q):
    entry = q.enqueue("a@x", ["u@example.org"], DATA, "mx:example.org")
    q.reroute(entry, "10.0.2.10:25")
    q.reroute(entry, "10.0.3.10:25")
    [back] = Queue(q.directory).entries()
    assert back.next_hop == "10.0.3.10:25"
    assert queue_module.parse(open(back.path, "rb").read())[1] == DATA


def test_listing_shows_what_a_student_needs(q):
    entry = q.enqueue("a@x", ["u@example.org"], DATA, "mx:example.org")
    entry.attempts, entry.next_attempt, entry.last_error = 2, 1060.0, "connection refused"
    q.save(entry)
    text = format_queue_listing(q.entries(), now=1000.0)
    for expected in (entry.id, "<m1@x>", "<u@example.org>", "mx:example.org",
                     "attempts:     2", "in 60s", "connection refused", "1 message, 1 recipient"):
        assert expected in text
    assert format_queue_listing([], now=0).endswith("0 messages, 0 recipients in the queue")


def test_the_body_type_is_kept_with_the_message(q):
    q.enqueue("a@x", ["u@example.org"], b"Subject: caf\xc3\xa9\n\nx\n", "mx:example.org",
              body="8BITMIME")
    q.enqueue("a@x", ["u@example.org"], DATA, "mx:example.org")
    assert sorted(e.body for e in Queue(q.directory).entries()) == ["", "8BITMIME"]
