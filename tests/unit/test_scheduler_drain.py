"""Draining a backlog: sessions reused for many messages, a bounded number
of them per destination, destinations served side by side, one timer per
destination, removals sharing a directory fsync.  Effects are asserted
(connections attempted, messages delivered, files removed), under task.Clock."""
from twisted.internet import defer, task

from servers.common import smtpclient
from servers.relay.backoff import RetryPolicy
from servers.relay.queue import Queue
from servers.relay.scheduler import Scheduler
from tests.unit.relay_fakes import FakeNetwork, FakeQueue, Recorder

A, B = "10.0.0.1:25", "10.0.0.2:25"


class SlowNetwork(FakeNetwork):
    """Every message takes ``per_message`` clock seconds to deliver; counts
    the sessions open at once."""

    def __init__(self, clock, per_message=0.01):
        super().__init__(clock)
        self.per_message = per_message
        self.open = {}               # server -> sessions open now
        self.most_open = {}

    def open_session(self, host, port):
        d = super().open_session(host, port)
        d.addCallback(self._slow)
        return d

    def _slow(self, session):
        net, server = self, session.server
        net.open[server] = net.open.get(server, 0) + 1
        net.most_open[server] = max(net.most_open.get(server, 0), net.open[server])
        send, quit = session.send, session.quit

        def slow_send(sender, recipients, data, body=""):
            d = defer.Deferred()
            net.clock.callLater(net.per_message, lambda: send(sender, recipients, data, body)
                                .chainDeferred(d))
            return d

        def counted_quit():
            net.open[server] -= 1
            return quit()
        session.send, session.quit = slow_send, counted_quit
        return session


def make(net_class=FakeNetwork, queue=None, concurrency=10, **kw):
    clock = task.Clock()
    clock.advance(1000)
    events = Recorder()
    queue = queue if queue is not None else FakeQueue(clock, events)
    net = net_class(clock)
    sched = Scheduler(queue, RetryPolicy(minimum=2, maximum=30, give_up=10_000), events, clock,
                      net.resolve, net.open_session, concurrency=concurrency, **kw)
    return sched, queue, net, events, clock


def put(sched, queue, n, hop):
    entries = []
    for i in range(n):
        data = b"Message-ID: <%s-%d@x>\r\n\r\nbody\r\n" % (hop.encode(), i)
        entry = queue.enqueue("alice@x.org", ["bob@lab"], data, hop)
        sched.add(entry)
        entries.append(entry)
    return entries


def test_a_held_backlog_costs_one_timer_per_destination_not_one_per_message():
    sched, queue, net, events, clock = make()
    net.behaviour[A] = net.behaviour[B] = "down"
    put(sched, queue, 500, A)
    put(sched, queue, 300, B)
    clock.advance(0)
    assert len(events.named("deferred")) == 800
    pending = [c for c in clock.getDelayedCalls() if c.func == sched._fire]
    assert len(pending) == 2                 # one per destination
    assert len(clock.getDelayedCalls()) <= 2 + 2 * 10     # + idle timers of workers
    # the retry of the whole backlog: one wake-up, one connection per destination
    connects = len(net.connects)
    clock.advance(2)
    assert len(net.connects) - connects == 2
    assert len(events.named("deferred")) == 1600


def test_the_backlog_drains_over_a_few_reused_sessions_once_the_hop_is_back():
    sched, queue, net, events, clock = make(net_class=SlowNetwork, concurrency=4)
    net.behaviour[A] = "down"
    put(sched, queue, 200, A)
    clock.advance(0)
    net.behaviour[A] = 250
    connects = len(net.connects)
    sched.flush()
    for _ in range(100):
        clock.advance(0.01)
    assert not queue.stored and len(net.delivered) == 200
    assert len(net.connects) - connects == 4          # sessions reused, never more than 4
    assert net.most_open[A] == 4


def test_destinations_are_served_side_by_side():
    """A long backlog for A does not hold back B's mail, queued after it."""
    sched, queue, net, events, clock = make(net_class=SlowNetwork, concurrency=2)
    put(sched, queue, 400, A)
    put(sched, queue, 10, B)
    for _ in range(10):
        clock.advance(0.01)
    done_b = [t for server, *_, t in net.delivered if server == B]
    done_a = [t for server, *_, t in net.delivered if server == A]
    assert len(done_b) == 10 and len(done_a) < 400
    for _ in range(300):
        clock.advance(0.01)
    assert not queue.stored


class BatchCountingQueue(FakeQueue):
    def __init__(self, clock, events):
        super().__init__(clock, events)
        self.remove_batches = []

    def remove_many(self, entries):
        self.remove_batches.append(len(entries))
        for entry in entries:
            del self.stored[entry.id]


class Threads:
    """``run_blocking`` whose work runs when the test says."""

    def __init__(self):
        self.calls = []

    def __call__(self, f, *args):
        d = defer.Deferred()
        self.calls.append((f, args, d))
        return d

    def run_all(self):
        while self.calls:
            f, args, d = self.calls.pop(0)
            d.callback(f(*args))


def test_removals_of_concurrent_workers_share_one_batch():
    clock = task.Clock()
    threads = Threads()
    events = Recorder()
    queue = BatchCountingQueue(clock, events)
    net = FakeNetwork(clock)
    sched = Scheduler(queue, RetryPolicy(2, 30, 1000), events, clock, net.resolve,
                      net.open_session, run_blocking=threads, concurrency=5)
    put(sched, queue, 5, A)
    clock.advance(0)
    assert len(net.delivered) == 5
    threads.run_all()            # the first removal, then the four that waited for it
    assert queue.remove_batches == [1, 4] and not queue.stored


def test_delivered_files_leave_the_real_queue_with_one_directory_fsync_per_batch(
        tmp_path, monkeypatch):
    from servers.relay import queue as queue_module
    synced = []
    real = queue_module.fsync_dir
    monkeypatch.setattr(queue_module, "fsync_dir", lambda p: synced.append(p) or real(p))
    clock = task.Clock()
    clock.advance(1000)
    queue = Queue(str(tmp_path / "q"), now=clock.seconds)
    events = Recorder()
    net = FakeNetwork(clock)
    threads = Threads()
    sched = Scheduler(queue, RetryPolicy(2, 30, 1000), events, clock, net.resolve,
                      net.open_session, run_blocking=threads, concurrency=3)
    entries = queue.enqueue_many([("a@x.org", ["b@lab"], b"Message-ID: <%d@x>\n\nhi\n" % i, A)
                                  for i in range(3)])
    for entry in entries:
        sched.add(entry)
    synced.clear()
    clock.advance(0)
    threads.run_all()
    assert len(net.delivered) == 3
    assert [n for n in (tmp_path / "q").iterdir() if n.suffix == ".q"] == []
    assert synced == [queue.directory] * 2          # batches of 1 and 2


class PipeliningNetwork(FakeNetwork):
    """Sessions with ``send_many``: each run takes 0.01 clock seconds."""

    def __init__(self, clock):
        super().__init__(clock)
        self.runs = []

    def open_session(self, host, port):
        d = super().open_session(host, port)

        def pipelining(session):
            send = session.send        # the fake's own: answers at once

            def send_many(messages):
                self.runs.append(len(messages))
                done = defer.Deferred()

                def deliver():
                    results = []
                    for m in messages:
                        send(*m).addCallback(results.append)
                    done.callback(results)
                self.clock.callLater(0.01, deliver)
                return done
            session.send_many = send_many

            def send_one(sender, recipients, data, body=""):
                return send_many([(sender, recipients, data, body)]).addCallback(lambda r: r[0])
            session.send = send_one
            return session
        return d.addCallback(pipelining)


def test_a_session_sends_the_ready_line_in_pipelined_runs():
    sched, queue, net, events, clock = make(net_class=PipeliningNetwork, concurrency=1)
    put(sched, queue, 25, A)
    for _ in range(10):
        clock.advance(0.01)
    assert not queue.stored and len(net.delivered) == 25
    assert len(net.connects) == 1
    assert net.runs == [1, 10, 10, 4]        # the first alone, then what had queued up
    assert len(events.named("attempt")) == 25


def test_a_pipelined_run_settles_each_message_on_its_own_result():
    sched, queue, net, events, clock = make(net_class=PipeliningNetwork, concurrency=1)
    net.behaviour[A] = 451
    put(sched, queue, 12, A)
    for _ in range(5):
        clock.advance(0.01)
    assert len(events.named("deferred")) == 12 and len(queue.stored) == 12
    assert all(e.attempts == 1 for e in queue.stored.values())
