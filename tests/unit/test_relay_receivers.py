"""More receiving processes (``--receivers``): what they announce, how the relay
reads it, and what it does when one of them exits (servers/relay/receivers.py)."""
import pytest
from hypothesis import given, strategies as st
from twisted.internet import defer, task
from twisted.python.failure import Failure
from twisted.internet.error import ProcessTerminated

from lab.faults.procs import names_service
from servers.relay.queue import QueueEntry
from servers.relay.receivers import (Lines, ReceiverPool, announcement,
                                     entry_from_announcement)
from tests.unit.relay_fakes import Recorder
from tests.unit.test_scheduler import make, put


def entry(n=1, **kw):
    fields = dict(id="%016x-abcd" % n, msgid="<m%d@x>" % n, sender="a@x.org",
                  recipients=["u@lab", "v@lab"], next_hop="127.0.0.1:2525", arrived=1000.5,
                  next_attempt=1000.5, body="8BITMIME", path="/q/%016x-abcd.q" % n)
    fields.update(kw)
    return QueueEntry(**fields)


def test_an_announcement_is_one_line_and_gives_the_entry_back():
    e = entry(first_failure=None, last_error="")
    line = announcement(e)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    back = entry_from_announcement(line[:-1])
    assert back == e and back.path == e.path


@given(sender=st.text(max_size=40), rcpts=st.lists(st.text(max_size=20), max_size=4),
       error=st.text(max_size=40))
def test_any_text_survives_the_announcement(sender, rcpts, error):
    e = entry(sender=sender, recipients=rcpts, last_error=error, attempts=3,
              first_failure=999.0)
    line = announcement(e)
    assert line.count(b"\n") == 1          # JSON escapes every line break
    assert entry_from_announcement(line) == e


@pytest.mark.parametrize("line", [b"", b"not json", b"[]", b'{"id": "x"}', b"null"])
def test_what_is_not_an_announcement_is_refused(line):
    with pytest.raises(ValueError):
        entry_from_announcement(line)


@given(st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), max_size=6),
       st.data())
def test_lines_are_whole_however_the_stream_is_cut(lines, data):
    stream = b"".join(line + b"\n" for line in lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=5)))
    reader, got, start = Lines(), [], 0
    for cut in cuts + [len(stream)]:
        got += reader.feed(stream[start:cut])
        start = cut
    assert got == [line for line in lines if line] and reader.partial == b""


def test_a_partial_last_line_waits_for_its_end():
    reader = Lines()
    assert reader.feed(b'{"a": 1}\n{"b"') == [b'{"a": 1}']
    assert reader.feed(b": 2}\n") == [b'{"b": 2}']


def test_the_kill_fault_finds_the_receivers_as_the_relay():
    argv = ["/usr/bin/python3", "-m", "servers.relay.receiver", "--domain", "lab",
            "--listen-fd", "3"]
    assert names_service(argv, "relay")


# -- the scheduler adopts what it never heard of ------------------------------

def test_adopt_takes_only_the_unknown_that_still_exist():
    sched, queue, net, events, clock = make()
    net.behaviour["10.0.0.1:25"] = "down"       # nothing leaves: the state stays to look at
    [known] = put(sched, queue)
    new, gone = entry(2, next_hop="10.0.0.1:25"), entry(3, next_hop="10.0.0.1:25")
    adopted = sched.adopt([known, new, gone], exists=lambda path: path != gone.path)
    assert adopted == [new]
    assert set(sched.entries) == {known.id, new.id}


def test_a_message_being_removed_is_not_adopted_again():
    sched, queue, net, events, clock = make()
    removals = []
    sched._removals.submit = lambda e: removals.append(defer.Deferred()) or removals[-1]
    [done] = put(sched, queue)
    clock.advance(0)                              # delivered; its removal waits
    assert events.named("delivered") and done.id in sched.finishing
    assert sched.adopt([done], exists=lambda path: True) == []
    removals[0].callback(None)
    assert done.id not in sched.finishing


# -- the pool ----------------------------------------------------------------

class FakeTransport:
    def __init__(self, pid):
        self.pid = pid
        self.signals = []

    def signalProcess(self, sig):
        self.signals.append(sig)


class FakeReactor(task.Clock):
    def __init__(self):
        super().__init__()
        self.spawned = []

    def spawnProcess(self, proto, executable, args, env=None, childFDs=None):
        transport = FakeTransport(100 + len(self.spawned))
        self.spawned.append((proto, args, childFDs))
        proto.makeConnection(transport)
        return transport


class FakeScanQueue:
    def __init__(self, entries=()):
        self.stored = list(entries)

    def entries(self):
        return list(self.stored)


def make_pool(count=2, stored=()):
    reactor = FakeReactor()
    sched, _, net, _, _ = make()
    net.behaviour["127.0.0.1:2525"] = "down"
    events = Recorder()
    pool = ReceiverPool(reactor, count, ["-m", "servers.relay.receiver", "--domain", "lab"],
                        lambda: 7, sched, FakeScanQueue(stored), events,
                        run_blocking=defer.maybeDeferred, executable="python3")
    pool.startService()
    return pool, reactor, sched, events


def test_the_pool_starts_its_receivers_on_the_listening_socket():
    pool, reactor, sched, events = make_pool(count=2)
    assert len(reactor.spawned) == 2
    _, args, fds = reactor.spawned[0]
    assert args == ["python3", "-m", "servers.relay.receiver", "--domain", "lab",
                    "--listen-fd", "3"]
    assert fds == {0: "w", 1: "r", 2: 2, 3: 7}
    assert [e["pid"] for e in events.named("receiver_started")] == [100, 101]


def test_a_receiver_says_when_it_accepts_connections():
    pool, reactor, sched, events = make_pool(count=1)
    reactor.spawned[0][0].childDataReceived(1, b"ready\n")
    assert [e["pid"] for e in events.named("receiver_ready")] == [100]
    assert sched.entries == {}


def test_what_a_receiver_announces_goes_to_the_scheduler_once():
    pool, reactor, sched, events = make_pool(count=1)
    proto = reactor.spawned[0][0]
    line = announcement(entry(1))
    proto.childDataReceived(1, line[:10])
    assert sched.entries == {}
    proto.childDataReceived(1, line[10:] + b"garbage\n")     # the bad line is logged, skipped
    assert list(sched.entries) == [entry(1).id]


def on_disk(tmp_path, *entries):
    for e in entries:
        e.path = str(tmp_path / (e.id + ".q"))
        open(e.path, "wb").close()
    return entries


def test_a_receiver_that_dies_leaves_nothing_unannounced_and_is_replaced(tmp_path):
    orphan, announced = on_disk(tmp_path, entry(1), entry(2))
    pool, reactor, sched, events = make_pool(count=1, stored=[orphan, announced])
    proto = reactor.spawned[0][0]
    proto.childDataReceived(1, announcement(announced))
    proto.childDataReceived(1, announcement(orphan)[:20])    # it died mid-line
    proto.processEnded(Failure(ProcessTerminated(signal=9)))
    # the rescan adopts the one it never heard of, and only it
    assert set(sched.entries) == {orphan.id, announced.id}
    assert events.named("adopted")[0]["messages"] == 1
    assert events.named("receiver_exited")[0]["signal"] == 9
    assert len(reactor.spawned) == 1
    reactor.advance(pool.respawn_delay)
    assert len(reactor.spawned) == 2


def test_an_announcement_after_a_rescan_adopted_it_is_not_added_again(tmp_path):
    [late] = on_disk(tmp_path, entry(1))
    pool, reactor, sched, events = make_pool(count=2, stored=[late])
    first, second = reactor.spawned[0][0], reactor.spawned[1][0]
    first.processEnded(Failure(ProcessTerminated(exitCode=1)))
    assert list(sched.entries) == [late.id]
    sched.entries.clear()                  # delivered and removed meanwhile
    second.childDataReceived(1, announcement(late))
    assert sched.entries == {}


def test_stopping_the_relay_stops_its_receivers_and_starts_none():
    pool, reactor, sched, events = make_pool(count=2)
    transports = list(pool.processes.values())
    d = pool.stopService()
    assert [t.signals for t in transports] == [["TERM"], ["TERM"]]
    for proto, _, _ in reactor.spawned:
        proto.processEnded(Failure(ProcessTerminated(signal=15)))
    assert d.called and not events.named("receiver_exited")
    reactor.advance(60)
    assert len(reactor.spawned) == 2 and all(t.signals == ["TERM"] for t in transports)


def test_a_receiver_that_ignores_sigterm_is_killed():
    pool, reactor, sched, events = make_pool(count=1)
    [transport] = pool.processes.values()
    d = pool.stopService()
    reactor.advance(10)
    assert transport.signals == ["TERM", "KILL"] and not d.called
