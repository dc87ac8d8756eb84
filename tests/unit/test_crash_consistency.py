"""Power loss at every point of the relay's and the mx's disk work.

kill -9 keeps the page cache, so the kill tests prove "written before 250",
not "on disk before 250".  Here the servers' own code runs with its ``os``
calls recorded (tests/unit/crash_fs.py); for every crash point, every state a
power loss there may leave is built, the server's start-up code is run on it,
and the promises are checked:

- every message that got a 250 (or, for the relay's delivery, was still
  queued) is there, whole, at least once;
- no file is a corrupt or partial message taken for a real one;
- nothing is there twice: the Maildir stores a message resent after a lost
  250 once; the queue holds one entry per accepted message;
- the start-up code does not fail on what it finds.
"""
import email.parser
import json
import os
import shutil

import pytest

from twisted.internet import task

from servers.common.durable import write_data
from servers.mx.maildir import DEDUP_FILE, Maildirs, messages_in, without_trace_headers
from servers.mx.storage import MaildirStorage
from servers.relay.backoff import RetryPolicy
from servers.relay.inbound import build_inbound_factory
from servers.relay.queue import Queue, message_id_of
from servers.relay.scheduler import Scheduler
from servers.smtpd.protocol import ReceiveFactory
from servers.smtpd.recipients import RecipientPolicy
from tests.unit.crash_fs import (FsRecorder, crash_states, durable_sets, every_crash_state,
                                 materialize)
from tests.unit.relay_fakes import FakeNetwork, Recorder
from tests.unit.smtp_dialogue import Session, envelope, message
from tests.unit.thread_runner import ManualThread, run_now

HOST = "mx1.lab"
MESSAGES = [   # (Message-ID, recipients, body): several mailboxes, one shared
    ("<m1@client>", ["u@example.org"], "first\n"),
    ("<m2@client>", ["v@example.org"], "second\n" * 40),
    ("<m3@client>", ["u@example.org", "w@example.org"], "third\n"),
    ("<m4@client>", ["u@example.org"], ".leading dot\nfourth\n"),
]


def client_bytes(msgid, rcpts, body):
    return envelope(rcpts) + message(body=body, msgid=msgid)


class Client:
    """One SMTP client session; marks the recording when it gets a 250."""

    def __init__(self, factory, recorder=None):
        self.session = Session(factory=factory)
        self.recorder = recorder
        self.waiting = None
        self.acked = []
        self.refused = []

    def submit(self, msgid, rcpts, body):
        self.waiting = msgid
        self.poll(self.session.send(client_bytes(msgid, rcpts, body)))

    def poll(self, lines=None):
        lines = self.session.take() if lines is None else lines
        if not self.waiting:
            return
        if any(line.startswith("250 2.0.0 Ok: stored as") for line in lines):
            self.acked.append(self.waiting)
            if self.recorder is not None:
                self.recorder.mark(("ack", self.waiting))
            self.waiting = None
        elif any(line[:1] in ("4", "5") for line in lines):
            self.refused.append(self.waiting)
            self.waiting = None


def run_sessions(factory, recorder, thread, messages=MESSAGES):
    """Concurrent sessions (so the group commit batches them), one message
    each, then one more message on the first session; the Message-IDs that
    got a 250."""
    *first, last = messages
    clients = [Client(factory, recorder) for _ in first]
    for client, m in zip(clients, first):
        client.submit(*m)
    _drain(thread, clients)
    clients[0].submit(*last)
    _drain(thread, clients)
    return [msgid for c in clients for msgid in c.acked]


def resend(factory, messages, acked):
    """What a client does after the restart: send again each message it
    got no 250 for."""
    client = Client(factory)
    for m in messages:
        if m[0] not in acked:
            client.submit(*m)
    assert not client.refused, "resending %s after the restart failed" % client.refused


def _drain(thread, clients):
    while thread.calls:
        thread.run_next()
        for client in clients:
            client.poll()


def acked_before(recording, point):
    return {label[1] for label in recording.markers_before(point) if label[0] == "ack"}


def explore(recording, scratch, check):
    """Run ``check(root, point, label)`` on every crash state; the number of
    crash points and of distinct states explored."""
    states = 0
    for point, label, tree in every_crash_state(recording):
        root = str(scratch / ("crash-%d" % states))
        materialize(tree, root)
        try:
            check(root, point, label)
            shutil.rmtree(root)
        except AssertionError as e:
            raise AssertionError("power loss after operation %d of %d (%s): %s\n%s\n%s" % (
                point, len(recording.ops), label, e,
                "\n".join("%4d %s" % (i, op) for i, op in enumerate(recording.ops[:point])),
                "---- the power goes out here"))
        states += 1
    return len(recording.ops) + 1, states


def report(name, recording, points, states):
    print("crash points explored, %s: %d operations, %d crash points, %d distinct crash states"
          % (name, len(recording.ops), points, states))


# -- the mx: receive -> Maildir ------------------------------------------------

def maildir_contents(root):
    """{(Message-ID, mailbox): [file contents]} of every message in the Maildirs."""
    parser = email.parser.BytesHeaderParser()
    found = {}
    for box in sorted(os.listdir(root)):
        if not os.path.isdir(os.path.join(root, box)):
            continue
        for path in messages_in(os.path.join(root, box)):
            with open(path, "rb") as f:
                data = f.read()
            msgid = parser.parsebytes(data)["Message-ID"]
            found.setdefault((msgid, box), []).append(data)
    return found


def mx_factory(root, clock, thread):
    storage = MaildirStorage(Maildirs(root, HOST, now=clock.seconds), Recorder(),
                             run_in_thread=thread)
    return ReceiveFactory(RecipientPolicy(["example.org"]), storage, HOST, clock=clock)


def record_mx(root, messages=MESSAGES, kill_at=None):
    """The mx receives ``messages``; with ``kill_at``, its process dies at
    that operation (nothing more reaches the disk), a new one starts on what
    the dead one left and the client resends what got no 250."""
    clock = task.Clock()
    clock.advance(1_700_000_000)
    thread = ManualThread()
    mail = os.path.join(root, "mail")
    with FsRecorder(root) as recorder:
        recorder.failing_after = kill_at
        acked = []
        try:
            factory = mx_factory(mail, clock, thread)
        except OSError:
            pass                          # died while starting
        else:
            acked = run_sessions(factory, recorder, thread, messages)
        if kill_at is not None:
            recorder.failing_after = None
            client = Client(mx_factory(mail, clock, run_now), recorder)
            for m in messages:
                if m[0] not in acked:
                    client.submit(*m)
            acked += client.acked
    assert sorted(acked) == sorted(m[0] for m in messages)
    return recorder.recording


def mx_check(recording, root, messages=MESSAGES):
    """The checks of a crash state of the mx."""
    stored = maildir_contents(os.path.join(root, "mail"))   # what a run without a crash leaves
    expected = {(m[0], r) for m in messages for r in m[1]}
    assert set(stored) == expected and all(len(v) == 1 for v in stored.values())

    def check(state, point, label):
        mail = os.path.join(state, "mail")
        acked = acked_before(recording, point)
        if not os.path.isdir(mail):
            assert not acked, "the Maildir root is gone"
            return
        factory = mx_factory(mail, task.Clock(), run_now)      # the restart
        found = maildir_contents(mail)
        for key, copies in found.items():
            assert key in expected, "a file that is no message we sent: %r" % (key,)
            for data in copies:
                assert data == stored[key][0], "a partial or corrupt message for %r" % (key,)
            assert len(copies) == 1, "%r stored %d times" % (key, len(copies))
        for msgid, rcpts, _ in messages:
            if msgid in acked:
                for rcpt in rcpts:
                    assert (msgid, rcpt) in found, "%s got a 250 but is not in %s" % (msgid, rcpt)
        # The client resends what it got no 250 for; nothing may be stored twice.
        resend(factory, messages, acked)
        after = maildir_contents(mail)
        assert set(after) == expected
        assert all(len(v) == 1 for v in after.values()), \
            {k: len(v) for k, v in after.items() if len(v) > 1}
    return check


def mx_scenario(ram_path):
    root = str(ram_path / "disk")
    os.mkdir(root)
    recording = record_mx(root)
    return recording, explore(recording, ram_path, mx_check(recording, root))


def test_mx_power_loss_at_every_point_of_receive_to_maildir(ram_path):
    recording, (points, states) = mx_scenario(ram_path)
    report("mx receive -> Maildir", recording, points, states)


def test_mx_dedup_record_survives_a_power_loss_once_every_message_is_acknowledged(ram_path):
    root = str(ram_path / "disk")
    os.mkdir(root)
    messages = [MESSAGES[0], MESSAGES[3]]      # one mailbox, made before the record is
    recording = record_mx(root, messages)
    *_, (point, durable) = durable_sets(recording.ops)
    tree = crash_states(recording, point, durable)["synced only"]
    assert "mail/" + DEDUP_FILE in tree, "the dedup record's name was never made durable"
    records = [json.loads(line) for line in tree["mail/" + DEDUP_FILE].splitlines()]
    assert len(records) == len(messages)


def test_mx_killed_at_every_point_restarted_then_power_loss(ram_path):
    """kill -9 at each operation, a restart on what it left (the page cache:
    the unsynced work of the dead process is still pending), the client
    resends, then a power loss at every point of the whole story."""
    messages = MESSAGES[:3]
    os.mkdir(ram_path / "full")
    full = record_mx(str(ram_path / "full"), messages)
    total_points = total_states = 0
    for kill_at in range(len(full.ops)):
        run = ram_path / ("kill-%d" % kill_at)
        os.mkdir(run)
        os.mkdir(run / "disk")
        recording = record_mx(str(run / "disk"), messages, kill_at)
        points, states = explore(recording, run, mx_check(recording, str(run / "disk"), messages))
        total_points += points
        total_states += states
    print("crash points explored, mx killed at each of %d operations and restarted: "
          "%d crash points, %d distinct crash states" % (len(full.ops), total_points, total_states))


# -- the relay: receive -> queue -----------------------------------------------

NEXT_HOP = "192.0.2.25:25"


def queued(directory):
    """{Message-ID: [entries]} as the relay loads its queue at start."""
    found = {}
    for entry in Queue(directory).entries():
        found.setdefault(entry.msgid, []).append(entry)
    return found


def relay_factory(directory, clock, thread):
    return build_inbound_factory(["example.org"], Queue(directory, now=clock.seconds),
                                 Recorder(), None, hostname="relay.lab", next_hop=NEXT_HOP,
                                 clock=clock, run_in_thread=thread)


def relay_receive_scenario(ram_path, recycled=0):
    """``recycled``: delivered messages' files waiting in the queue's recycle/
    (an older message, whole), for the new ones to overwrite."""
    root = ram_path / "disk"
    root.mkdir()
    clock = task.Clock()
    clock.advance(1_700_000_000)
    thread = ManualThread()
    if recycled:
        old = Queue(str(root / "queue"), now=clock.seconds)
        old.remove_many([old.enqueue("a@example.net", ["u@example.org"],
                                     b"Message-ID: <old%d@client>\n\n%s" % (i, b"old\n" * 60),
                                     NEXT_HOP) for i in range(recycled)])
    with FsRecorder(str(root)) as recorder:
        factory = relay_factory(str(root / "queue"), clock, thread)
        acked = run_sessions(factory, recorder, thread)
    recording = recorder.recording
    assert sorted(acked) == sorted(m[0] for m in MESSAGES)
    stored = {msgid: entry.data() for msgid, [entry] in queued(str(root / "queue")).items()}
    assert sorted(stored) == sorted(m[0] for m in MESSAGES)

    def check(state, point, label):
        directory = os.path.join(state, "queue")
        acked = acked_before(recording, point)
        if not os.path.isdir(directory):
            assert not acked, "the queue directory is gone"
            return
        found = queued(directory)                 # the restart loads the queue
        for msgid, entries in found.items():
            assert msgid in stored, "an entry that is no message we sent: %r" % msgid
            assert len(entries) == 1, "%s accepted once, queued %d times" % (msgid, len(entries))
            assert entries[0].data() == stored[msgid], "a partial or corrupt entry for " + msgid
            assert entries[0].next_hop == NEXT_HOP
        assert acked <= set(found), "got a 250, not in the queue: %s" % sorted(acked - set(found))

    return recording, explore(recording, ram_path, check)


def test_relay_power_loss_at_every_point_of_receive_into_recycled_files(ram_path):
    """Two of the four messages overwrite recycled files: no crash leaves the
    older message, or a mix of the two, taken for a queued one."""
    recording, (points, states) = relay_receive_scenario(ram_path, recycled=2)
    assert any(op.kind == "rename" and "recycle/" in op.path for op in recording.ops)
    assert any(op.kind == "trunc" for op in recording.ops)
    assert points > 10 and states >= points


def test_relay_power_loss_at_every_point_of_receive_to_queue(ram_path):
    recording, (points, states) = relay_receive_scenario(ram_path)
    report("relay receive -> queue", recording, points, states)


# -- the relay: deliver -> remove ----------------------------------------------

class MarkingNetwork(FakeNetwork):
    """The next hops; marks the recording when one of them answers 250."""

    def __init__(self, clock, recorder=None):
        super().__init__(clock)
        self.recorder = recorder

    def open_session(self, host, port):
        d = super().open_session(host, port)

        def wrap(session):
            send = session.send

            def marking_send(sender, recipients, data, **options):
                result = send(sender, recipients, data, **options)
                result.addCallback(self._mark, data)
                return result
            session.send = marking_send
            return session
        return d.addCallback(wrap)

    def _mark(self, result, data):
        if result.delivered and self.recorder is not None:
            self.recorder.mark(("delivered", message_id_of(data)))
        return result


def deliver_all(directory, clock, network, prepare=None):
    """Start the relay's scheduler on the queue (as the service does at
    start) and let it run until the queue is empty; ``prepare(scheduler)``
    first, if given."""
    queue = Queue(directory, now=clock.seconds)
    scheduler = Scheduler(queue, RetryPolicy(2, 8, 600), Recorder(), clock, network.resolve,
                          network.open_session, run_blocking=run_now)
    if prepare is not None:
        prepare(scheduler)
    for entry in queue.entries():
        scheduler.add(entry)
    for _ in range(10):
        clock.advance(2)
    scheduler.stop()
    return queue


def relay_delivery_scenario(ram_path):
    root = ram_path / "disk"
    root.mkdir()
    clock = task.Clock()
    clock.advance(1_700_000_000)
    queue = Queue(str(root / "queue"), now=clock.seconds)
    sent = {}
    for i, (msgid, rcpts, body) in enumerate(MESSAGES):
        data = ("Message-ID: %s\nSubject: %d\n\n%s" % (msgid, i, body)).encode()
        hop = "10.0.0.2:25" if i == 3 else "10.0.0.1:25"
        queue.enqueue("a@example.net", rcpts, data, hop)
        sent[msgid] = data
    network = MarkingNetwork(clock)
    network.behaviour["10.0.0.2:25"] = 451      # deferred twice: its retry state recorded,
    clock.callLater(5, network.behaviour.pop, "10.0.0.2:25")

    def reroute_later(scheduler):
        # between the two, pinned to another server: at its second deferral its
        # file is rewritten with the new next hop, and it goes there
        clock.callLater(3, scheduler.routes.pin, "10.0.0.2:25", "10.0.0.3:25")
    with FsRecorder(str(root)) as recorder:
        network.recorder = recorder
        queue = deliver_all(str(root / "queue"), clock, network, prepare=reroute_later)
    recording = recorder.recording
    assert queue.entries() == []
    assert sorted(message_id_of(d[3]) for d in network.delivered) == sorted(sent)
    assert [d[0] for d in network.delivered].count("10.0.0.3:25") == 1

    def check(state, point, label):
        directory = os.path.join(state, "queue")
        delivered = {label[1] for label in recording.markers_before(point)
                     if label[0] == "delivered"}
        found = queued(directory)
        for msgid, entries in found.items():
            assert len(entries) == 1, "%s queued %d times" % (msgid, len(entries))
            assert entries[0].data() == sent[msgid], "a partial or corrupt entry for " + msgid
        lost = set(sent) - delivered - set(found)
        assert not lost, "neither delivered nor queued: %s" % sorted(lost)
        # The restarted relay delivers what it holds, and only that: a message
        # delivered before the power loss goes again, byte for byte the same,
        # so the Maildir's dedupe of a redelivery applies to it.
        again = MarkingNetwork(task.Clock())
        again.clock.advance(clock.seconds())
        assert deliver_all(directory, again.clock, again).entries() == []
        assert sorted(message_id_of(d[3]) for d in again.delivered) == sorted(found)
        assert all(d[3] == sent[message_id_of(d[3])] for d in again.delivered)

    return recording, explore(recording, ram_path, check)


def test_relay_power_loss_at_every_point_of_delivery_and_removal(ram_path):
    recording, (points, states) = relay_delivery_scenario(ram_path)
    report("relay deliver -> remove", recording, points, states)


# -- the relay, the whole way: killed, restarted, then power loss --------------

def record_relay(root, kill_at=None):
    """The relay receives MESSAGES; with ``kill_at`` its process dies at that
    operation.  Then a relay starts on what is there (queue, scheduler,
    listener, as the service does), the client resends what got no 250, and
    the relay delivers everything to the next hop and removes it."""
    clock = task.Clock()
    clock.advance(1_700_000_000)
    thread = ManualThread()
    directory = os.path.join(root, "queue")
    network = MarkingNetwork(clock)
    with FsRecorder(root) as recorder:
        recorder.failing_after = kill_at
        acked = []
        try:
            factory = relay_factory(directory, clock, thread)
        except OSError:
            pass                          # died while starting
        else:
            acked = run_sessions(factory, recorder, thread)
        recorder.failing_after = None
        network.recorder = recorder
        queue = Queue(directory, now=clock.seconds)
        scheduler = Scheduler(queue, RetryPolicy(2, 8, 600), Recorder(), clock, network.resolve,
                              network.open_session, run_blocking=run_now)
        for entry in queue.entries():
            scheduler.add(entry)
        client = Client(build_inbound_factory(
            ["example.org"], queue, Recorder(), scheduler.add, hostname="relay.lab",
            next_hop="10.0.0.1:25", clock=clock, run_in_thread=run_now), recorder)
        for m in MESSAGES:
            if m[0] not in acked:
                client.submit(*m)
        for _ in range(5):
            clock.advance(2)
        scheduler.stop()
    assert sorted(acked + client.acked) == sorted(m[0] for m in MESSAGES)
    assert Queue(directory).entries() == []
    return recording_and_content(recorder.recording, network)


def recording_and_content(recording, network):
    """The recording, and each message's content as the next hop got it
    without the relay's trace header (the same for every copy)."""
    content = {}
    for _, _, _, data, _ in network.delivered:
        content.setdefault(message_id_of(data), set()).add(without_trace_headers(data))
    assert all(len(copies) == 1 for copies in content.values()), content
    return recording, {msgid: copies.pop() for msgid, copies in content.items()}


def relay_check(recording, content):
    def check(state, point, label):
        marks = recording.markers_before(point)
        acked = {m[1] for m in marks if m[0] == "ack"}
        delivered = {m[1] for m in marks if m[0] == "delivered"}
        directory = os.path.join(state, "queue")
        if not os.path.isdir(directory):
            assert not acked - delivered, "the queue directory is gone"
            return
        found = queued(directory)          # the restart loads the queue
        for msgid, entries in found.items():
            for entry in entries:
                assert without_trace_headers(entry.data()) == content[msgid], \
                    "a partial or corrupt entry for " + msgid
        lost = acked - delivered - set(found)
        assert not lost, "got a 250, neither delivered nor queued: %s" % sorted(lost)
    return check


def test_relay_killed_at_every_point_restarted_then_power_loss(ram_path):
    """What the next hop gets twice (a message stored, then resent after a
    250 the kill took) is the same content, which the Maildir's dedupe drops."""
    os.mkdir(ram_path / "full")
    full, _ = record_relay(str(ram_path / "full"))
    total_points = total_states = 0
    for kill_at in range(len(full.ops)):
        run = ram_path / ("kill-%d" % kill_at)
        os.mkdir(run)
        os.mkdir(run / "disk")
        recording, content = record_relay(str(run / "disk"), kill_at)
        points, states = explore(recording, run, relay_check(recording, content))
        total_points += points
        total_states += states
    print("crash points explored, relay killed at each of %d operations and restarted, "
          "then delivering: %d crash points, %d distinct crash states"
          % (len(full.ops), total_points, total_states))


# -- the checks can fail: servers that break the rules, in test code only ------

def write_files_unsynced(files):
    """write_files_synced without the fsync: a rename may then reach the
    disk before the data it names."""
    for path, data in files:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            write_data(fd, data)    # bytes, or a message spooled as it came
        finally:
            os.close(fd)


def write_in_place(path, data, tmp_path=None):
    """write_atomic without the temporary file: a crash can tear the file."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def no_fsync_dirs(paths):
    pass


@pytest.mark.parametrize("scenario, target, broken", [
    (mx_scenario, "servers.mx.maildir.write_files_synced", write_files_unsynced),
    (mx_scenario, "servers.mx.maildir.fsync_dirs", no_fsync_dirs),
    (relay_receive_scenario, "servers.relay.queue.write_files_synced", write_files_unsynced),
    (relay_delivery_scenario, "servers.relay.queue.write_atomic", write_in_place),
], ids=["mx-rename-before-fsync", "mx-no-dir-fsync", "queue-rename-before-fsync",
        "queue-rewrite-in-place"])
def test_the_checks_catch_a_server_that_breaks_the_rules(ram_path, monkeypatch, scenario, target,
                                                          broken):
    monkeypatch.setattr(target, broken)
    with pytest.raises(AssertionError, match="power loss after operation"):
        scenario(ram_path)
