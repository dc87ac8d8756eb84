"""The queue's retry log: a deferral is one appended line, not a rewrite of
the message's file; a restart (``entries``) sees the latest state."""
import os

from twisted.internet import task

from servers.relay.backoff import RetryPolicy
from servers.relay.queue import RETRIES, Queue
from servers.relay.scheduler import Scheduler
from servers.relay.service import flush_queue
from tests.unit.relay_fakes import FakeNetwork, Recorder

HOP = "10.0.0.1:25"


def queue_with(tmp_path, n, now=1000.0):
    queue = Queue(str(tmp_path / "q"), now=lambda: now)
    entries = queue.enqueue_many([("a@x.org", ["b@lab"], b"Message-ID: <%d@x>\n\nhi\n" % i, HOP)
                                  for i in range(n)])
    return queue, entries


def test_recorded_retries_are_what_a_restart_loads(tmp_path):
    queue, (a, b) = queue_with(tmp_path, 2)
    a.attempts, a.next_attempt, a.last_error, a.first_failure = 1, 1002.0, "refused", 1000.0
    queue.record_retries([a])
    a.attempts, a.next_attempt = 2, 1006.0
    queue.record_retries([a])
    loaded = {e.id: e for e in Queue(queue.directory).entries()}
    assert (loaded[a.id].attempts, loaded[a.id].next_attempt, loaded[a.id].last_error,
            loaded[a.id].first_failure) == (2, 1006.0, "refused", 1000.0)
    assert loaded[b.id].attempts == 0 and loaded[b.id].next_attempt == 1000.0


def test_a_torn_last_line_is_skipped(tmp_path):
    queue, (a,) = queue_with(tmp_path, 1)
    a.attempts, a.next_attempt = 1, 1002.0
    queue.record_retries([a])
    with open(os.path.join(queue.directory, RETRIES), "ab") as f:
        f.write(b"%s\t2\t10" % a.id.encode())          # power lost mid-write
    [loaded] = Queue(queue.directory).entries()
    assert (loaded.attempts, loaded.next_attempt) == (1, 1002.0)


def test_the_file_wins_over_an_older_line(tmp_path):
    """A reroute rewrites the file with the entry's current state; a line
    with fewer attempts is older and ignored."""
    queue, (a,) = queue_with(tmp_path, 1)
    a.attempts, a.next_attempt = 1, 1002.0
    queue.record_retries([a])
    a.attempts, a.next_attempt = 3, 1014.0
    queue.reroute(a, "10.0.0.9:25")
    [loaded] = Queue(queue.directory).entries()
    assert (loaded.next_hop, loaded.attempts, loaded.next_attempt) == ("10.0.0.9:25", 3, 1014.0)


def test_compaction_keeps_only_queued_messages_with_attempts(tmp_path):
    queue, (a, b, c) = queue_with(tmp_path, 3)
    for attempt in range(1, 6):
        for e in (a, b):
            e.attempts, e.next_attempt = attempt, 1000.0 + attempt
        queue.record_retries([a, b])
    queue.remove(b)
    queue.compact_retries([a, c])
    with open(os.path.join(queue.directory, RETRIES)) as f:
        lines = f.read().splitlines()
    assert len(lines) == 1 and lines[0].startswith(a.id + "\t5\t")
    assert sorted((e.id, e.attempts) for e in Queue(queue.directory).entries()) == sorted(
        [(a.id, 5), (c.id, 0)])
    assert not [n for n in os.listdir(queue.directory) if n.startswith(".")]


def test_deferrals_append_to_the_log_and_leave_message_files_alone(tmp_path):
    clock = task.Clock()
    clock.advance(1000)
    queue = Queue(str(tmp_path / "q"), now=clock.seconds)
    net = FakeNetwork(clock)
    net.behaviour[HOP] = "down"
    sched = Scheduler(queue, RetryPolicy(2, 30, 1000), Recorder(), clock, net.resolve,
                      net.open_session, concurrency=2)
    entries = queue.enqueue_many([("a@x.org", ["b@lab"], b"Message-ID: <%d@x>\n\nhi\n" % i, HOP)
                                  for i in range(50)])
    files = {e.path: os.stat(e.path).st_ino for e in entries}
    for entry in entries:
        sched.add(entry)
    for _ in range(7):
        clock.advance(1)            # failed at 1001, 1003 and 1007
    assert {p: os.stat(p).st_ino for p in files} == files      # never rewritten
    with open(os.path.join(queue.directory, RETRIES)) as f:
        assert len(f.read().splitlines()) == 150
    sched.stop()
    loaded = Queue(queue.directory, now=clock.seconds).entries()
    assert {(e.attempts, e.next_attempt) for e in loaded} == {(3, 1015.0)}


def test_offline_flush_records_every_message_due_now(tmp_path, capsys):
    queue, (a, b) = queue_with(tmp_path, 2)
    a.attempts, a.next_attempt = 4, 9_999_999_999.0
    queue.record_retries([a])
    flush_queue(queue.directory)
    loaded = Queue(queue.directory).entries()
    assert all(e.next_attempt < 9_999_999_999.0 for e in loaded)
    assert {e.id: e.attempts for e in loaded} == {a.id: 4, b.id: 0}


def test_a_second_reroute_to_the_same_server_does_nothing(tmp_path):
    events = Recorder()
    queue = Queue(str(tmp_path / "q"), events=events)
    [a] = queue.enqueue_many([("a@x.org", ["b@lab"], b"Message-ID: <1@x>\n\nhi\n", HOP)])
    queue.reroute(a, "10.0.0.9:25")
    inode = os.stat(a.path).st_ino
    assert queue.reroute(a, "10.0.0.9:25") == "10.0.0.9:25"
    assert os.stat(a.path).st_ino == inode
    assert len(events.named("rerouted")) == 1


def test_a_queue_with_nothing_to_remember_has_no_log(tmp_path):
    queue, (a,) = queue_with(tmp_path, 1)
    queue.compact_retries([a])                     # a start with nothing deferred
    assert RETRIES not in os.listdir(queue.directory)
    a.attempts = 1
    queue.record_retries([a])
    queue.remove(a)
    queue.compact_retries([])                      # everything delivered since
    assert RETRIES not in os.listdir(queue.directory)


def test_an_error_text_with_tabs_and_newlines_stays_one_line(tmp_path):
    queue, (a,) = queue_with(tmp_path, 1)
    a.attempts, a.next_attempt, a.last_error = 1, 1002.5, "451 a\tb\nc"
    queue.record_retries([a])
    [loaded] = Queue(queue.directory).entries()
    assert (loaded.attempts, loaded.next_attempt, loaded.last_error,
            loaded.first_failure) == (1, 1002.5, "451 a b c", None)


def test_a_held_message_in_memory_is_its_metadata_only(tmp_path):
    queue, (a,) = queue_with(tmp_path, 1)
    [loaded] = Queue(queue.directory).entries()
    assert not hasattr(loaded, "__dict__")              # __slots__: no per-entry dict
    held = {name: getattr(loaded, name) for name in type(loaded).__slots__}
    assert not any(isinstance(v, (bytes, bytearray)) for v in held.values())
    assert b"hi" in loaded.data()                       # the data is read from its file
