"""SMTP session limits: per client, in total (the idlest session makes room),
an absolute deadline besides the idle timer; refusals logged once per burst."""
import logging

from twisted.internet import task
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from servers.common.session_limits import SessionTable
from servers.smtpd.protocol import IDLE_TIMEOUT, ReceiveFactory
from servers.smtpd.recipients import RecipientPolicy
from tests.unit.smtp_dialogue import HeldStorage, envelope, message


class Client:
    def __init__(self, factory, host):
        address = IPv4Address("TCP", host, 40000)
        self.transport = StringTransport(peerAddress=address)
        self.protocol = factory.buildProtocol(address)
        self.protocol.makeConnection(self.transport)

    def take(self):
        out = self.transport.value().decode("ascii")
        self.transport.clear()
        return out.splitlines()

    def send(self, text):
        self.protocol.dataReceived(text.replace("\n", "\r\n").encode("ascii"))
        return self.take()

    @property
    def closed(self):
        return self.transport.disconnecting

    def hang_up(self):
        self.protocol.connectionLost(None)


def factory(clock, max_total=4, per_client=2, deadline=1800, storage=None):
    sessions = SessionTable(max_total, per_client, clock, "mx")
    return ReceiveFactory(RecipientPolicy(["example.org"]), storage or HeldStorage(), "mx1.lab",
                          clock=clock, sessions=sessions, deadline=deadline)


def test_a_client_over_its_per_client_limit_gets_421_and_others_are_still_served():
    clock = task.Clock()
    f = factory(clock)
    first, second = Client(f, "127.0.0.2"), Client(f, "127.0.0.2")
    third = Client(f, "127.0.0.2")
    assert third.take() == ["421 4.7.0 mx1.lab Too many connections from your address, "
                            "try again later"] and third.closed
    assert not first.closed and not second.closed
    other = Client(f, "127.0.0.3")
    assert other.take()[0].startswith("220 ")
    first.hang_up()
    assert Client(f, "127.0.0.2").take()[0].startswith("220 ")     # room again


def test_at_the_total_limit_the_idlest_session_is_closed_to_make_room():
    clock = task.Clock()
    f = factory(clock, max_total=3, per_client=3)
    idle = [Client(f, "127.0.0.%d" % i) for i in (2, 3, 4)]
    for c in idle:
        c.take()
    clock.advance(5)
    idle[1].send("NOOP\n")      # active again: no longer the idlest
    clock.advance(5)
    real = Client(f, "127.0.0.1")
    assert real.take()[0].startswith("220 ")
    assert idle[0].take() == ["421 4.7.0 mx1.lab Server busy, closing idle connection"]
    assert idle[0].closed and not idle[1].closed and not idle[2].closed
    idle[0].hang_up()
    assert len(f.sessions) == 3
    assert real.send(envelope())[-1].startswith("250 ")
    assert real.send(message())[-1].startswith("250 2.0.0 Ok: stored")


def test_when_every_session_is_storing_a_message_a_new_one_gets_421():
    clock = task.Clock()
    storage = HeldStorage(hold=True)
    f = factory(clock, max_total=2, per_client=2, storage=storage)
    for host in ("127.0.0.2", "127.0.0.3"):
        c = Client(f, host)
        c.send(envelope())
        c.send(message())       # its store is under way: not to be cut off
    clock.advance(60)
    late = Client(f, "127.0.0.4")
    assert late.take() == ["421 4.7.0 mx1.lab Too many connections, try again later"]
    assert late.closed


def test_a_burst_of_new_connections_cannot_crowd_out_a_client_that_talks():
    clock = task.Clock()
    f = factory(clock, max_total=50, per_client=50)
    crowd = [Client(f, "127.0.0.2") for _ in range(50)]
    real = Client(f, "127.0.0.1")           # pushes out the oldest of the crowd
    assert real.take()[0].startswith("220 ")
    for i in range(500):                    # a new connection every 10 ms, for 5 s
        clock.advance(0.01)
        crowd.append(Client(f, "127.0.1.%d" % (i % 200)))
        if i % 5 == 0:                      # the real client talks every 50 ms
            assert real.send("NOOP\n") == ["250 2.0.0 Ok"]
    assert not real.closed
    assert real.send(envelope())[-1].startswith("250 ")


def test_a_session_storing_a_message_is_never_the_one_closed():
    clock = task.Clock()
    storage = HeldStorage(hold=True)
    f = factory(clock, max_total=1, per_client=1, storage=storage)
    sending = Client(f, "127.0.0.2")
    sending.send(envelope())
    sending.send(message())        # the store is under way
    clock.advance(60)
    assert Client(f, "127.0.0.3").closed
    storage.pending[0].callback(None)
    assert sending.take()[-1].startswith("250 2.0.0 Ok: stored")


def test_a_slow_drip_is_cut_off_at_the_session_deadline():
    clock = task.Clock()
    f = factory(clock, deadline=600)
    c = Client(f, "127.0.0.2")
    c.send(envelope())
    c.send("DATA\n")
    for _ in range(590):            # a line a second keeps the idle timer from firing
        clock.advance(1)
        c.send("x\n")
        assert not c.closed
    assert 590 < IDLE_TIMEOUT * 2
    clock.advance(10)
    assert c.take() == ["421 4.4.2 mx1.lab Session too long, closing connection"]
    assert c.closed


def test_the_deadline_waits_for_the_reply_owed_to_a_message_being_stored():
    clock = task.Clock()
    storage = HeldStorage(hold=True)
    f = factory(clock, deadline=60, storage=storage)
    c = Client(f, "127.0.0.2")
    c.send(envelope())
    c.send(message())
    clock.advance(61)
    assert not c.closed
    storage.pending[0].callback(None)
    lines = c.take()
    assert lines[0].startswith("250 2.0.0 Ok: stored")
    assert lines[1] == "421 4.4.2 mx1.lab Session too long, closing connection" and c.closed


def test_refusals_are_logged_once_per_burst_with_a_count(caplog):
    clock = task.Clock()
    f = factory(clock, max_total=2, per_client=1)
    Client(f, "127.0.0.2")
    with caplog.at_level(logging.WARNING, logger="servers.common.session_limits"):
        for _ in range(500):
            Client(f, "127.0.0.2")
        assert len(caplog.records) == 1
        clock.advance(60)
        assert len(caplog.records) == 2
        assert "499 more times in the last 60 s" in caplog.records[1].getMessage()
        clock.advance(60)
        assert len(caplog.records) == 2      # the burst is over: nothing more
    assert f.sessions.refused["per-client"] == 500


def test_a_closed_session_whose_client_reads_nothing_is_cut_after_a_grace():
    clock = task.Clock()
    f = factory(clock, deadline=60)
    c = Client(f, "127.0.0.2")
    clock.advance(60)
    assert c.closed and not c.transport.disconnected    # 421 written, waiting to leave
    clock.advance(10)
    assert c.transport.disconnected                     # aborted
