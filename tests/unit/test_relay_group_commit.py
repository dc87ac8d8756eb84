"""Group commit across sessions on the relay's receive side, proved on the
recorded system calls: each session's 250 goes out only after its own
message's file and the directory entry naming it are fsynced, and messages
of concurrent sessions share one directory fsync."""
import os

import pytest

from servers.common import durable
from tests.unit.smtp_dialogue import envelope, message
from tests.unit.test_relay_inbound import Relay
from tests.unit.thread_runner import ManualThread


class Syscalls:
    """Records fsync (of which path), rename and the 250s, in order."""

    def __init__(self, monkeypatch):
        self.log = []
        real_fsync, real_rename = os.fsync, os.rename

        def fsync(fd):
            self.log.append(("fsync", os.readlink("/proc/self/fd/%d" % fd)))
            return real_fsync(fd)

        def rename(src, dst):
            real_rename(src, dst)
            self.log.append(("rename", dst))
        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "rename", rename)

    def watch(self, session, name):
        """Log ``name``'s 250 to the message when the server writes it."""
        write, write_sequence = session.transport.write, session.transport.writeSequence

        def note(data):
            if b"250 2.0.0 Ok: stored" in data:
                self.log.append(("250", name))

        def recording_write(data):
            note(data)
            return write(data)

        def recording_write_sequence(seq):
            note(b"".join(seq))
            return write_sequence(seq)
        session.transport.write = recording_write
        session.transport.writeSequence = recording_write_sequence

    def index(self, item):
        return self.log.index(item)


def start_sessions(relay, names):
    sessions = {}
    for name in names:
        s = relay.session()
        s.send(envelope())
        sessions[name] = s
    return sessions


def stored_reply(session):
    return [line for line in session.take() if line.startswith("250 ")]


def test_concurrent_sessions_share_one_directory_fsync_and_each_250_follows_its_fsyncs(
        tmp_path, monkeypatch):
    thread = ManualThread()
    relay = Relay(tmp_path, thread=thread)
    calls = Syscalls(monkeypatch)
    sessions = start_sessions(relay, ["a", "b", "c", "d"])
    # a's message starts the first commit; b, c and d arrive while it runs
    for name, s in sessions.items():
        s.send(message(msgid="<%s@example.net>" % name))
    assert len(thread.calls) == 1
    thread.run_next()
    assert stored_reply(sessions["a"]) and not any(
        stored_reply(sessions[n]) for n in "bcd")
    calls.log.clear()
    for name in "bcd":
        calls.watch(sessions[name], name)
    thread.run_next()                       # b, c and d: one commit
    queue_dir = relay.queue.directory
    dir_syncs = [i for i, c in enumerate(calls.log) if c == ("fsync", queue_dir)]
    assert len(dir_syncs) == 1, calls.log
    by_msgid = {e.msgid: e for e in relay.queue.entries()}
    for name in "bcd":
        entry = by_msgid["<%s@example.net>" % name]
        tmp = os.path.join(queue_dir, "." + entry.id + ".tmp")
        reply = calls.index(("250", name))
        # the file's data, then its name in the directory, then the 250
        assert calls.index(("fsync", tmp)) < calls.index(("rename", entry.path)) \
            < dir_syncs[0] < reply
    assert not thread.calls


def test_no_250_while_the_directory_fsync_is_pending(tmp_path, monkeypatch):
    """Stopped between the renames and the directory fsync (a power loss
    there loses the names): no session has its 250 yet."""
    thread = ManualThread()
    relay = Relay(tmp_path, thread=thread)
    sessions = start_sessions(relay, ["a", "b"])
    for name, s in sessions.items():
        s.send(message(msgid="<%s@example.net>" % name))
    acknowledged = []                   # at each directory fsync: who has a 250
    real_fsync_dir = durable.fsync_dir

    def fsync_dir(path):
        acknowledged.append(sorted(name for name, s in sessions.items()
                                   if b"250 2.0.0 Ok: stored" in s.transport.value()))
        return real_fsync_dir(path)
    monkeypatch.setattr("servers.relay.queue.fsync_dir", fsync_dir)
    thread.run_next()                   # a's batch
    thread.run_next()                   # b's batch
    assert acknowledged == [[], ["a"]]
    assert all(stored_reply(s) for s in sessions.values())
    assert len(relay.queue.entries()) == 2


def test_a_failed_file_fsync_fails_the_whole_batch_and_sends_no_250(tmp_path, monkeypatch):
    thread = ManualThread()
    relay = Relay(tmp_path, thread=thread)
    sessions = start_sessions(relay, ["a", "b", "c"])
    for name, s in sessions.items():
        s.send(message(msgid="<%s@example.net>" % name))
    thread.run_next()
    real_fsync = os.fsync

    def failing(fd):
        if os.readlink("/proc/self/fd/%d" % fd).endswith(".tmp"):
            raise OSError(5, "I/O error")
        return real_fsync(fd)
    monkeypatch.setattr(os, "fsync", failing)
    thread.run_next()                        # b and c together: both refused
    for name in "bc":
        lines = sessions[name].take()
        assert any(line.startswith("451") for line in lines), lines
        assert not any(line.startswith("250 ") for line in lines)
    assert [e.msgid for e in relay.queue.entries()] == ["<a@example.net>"]
    assert not [n for n in os.listdir(relay.queue.directory) if n.endswith(".tmp")]


@pytest.fixture(autouse=True)
def _single_threaded_fsyncs(monkeypatch):
    """The batch's file fsyncs run one after another, in this thread, so the
    recorded order is the order they were made in."""
    def fsync_all(fds):
        for fd in fds:
            os.fsync(fd)
    monkeypatch.setattr(durable, "_fsync_all", fsync_all)
