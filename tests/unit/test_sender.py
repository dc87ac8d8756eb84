from twisted.internet import defer, task

from servers.common.mx_lookup import MXError
from servers.sender.compose import build_message, message_id
from servers.sender.sender import Sender
from tests.unit.relay_fakes import FakeNetwork, Recorder


class ListLedger:
    def __init__(self):
        self.lines = []

    def record(self, **fields):
        self.lines.append(fields)


def make(servers, rounds=3):
    clock = task.Clock()
    net = FakeNetwork(clock, connect_timeout=2.0)
    events = Recorder()
    ledger = ListLedger()
    sender = Sender(lambda domain: defer.succeed(list(servers)), net.open_session, clock,
                    events, ledger, smtp_port=25, rounds=rounds, round_backoff=1.0, sessions=2)
    return sender, net, events, ledger, clock


MXS = [("mx1.lab.", "10.0.0.1"), ("relay.lab.", "10.0.0.2")]


def test_message_ids_are_deterministic_and_size_respected():
    assert message_id("p", 7, 3) == "<p-7-3@maillab>"
    data = build_message("a@x", "b@lab", "<p-7-3@maillab>", 3, 2048, date="d")
    assert b"Message-ID: <p-7-3@maillab>\r\n" in data
    assert 2048 - 80 <= len(data) <= 2048


def test_first_mx_used_and_ledgered():
    sender, net, events, ledger, clock = make(MXS)
    done = []
    sender.send("a@x", "b@lab", "<m1>", b"x\r\n").addCallback(done.append)
    assert done == [True]
    assert ledger.lines[0]["server"] == "10.0.0.1:25" and ledger.lines[0]["mx"] == "mx1.lab."
    assert ledger.lines[0]["code"] == 250
    assert events.named("sent")[0]["server"] == "10.0.0.1:25"


def test_falls_back_on_connect_timeout_and_on_4xx():
    sender, net, events, ledger, clock = make(MXS)
    net.behaviour["10.0.0.1:25"] = "hang"
    done = []
    sender.send("a@x", "b@lab", "<m1>", b"x\r\n").addCallback(done.append)
    assert not done
    clock.advance(2)
    assert done == [True] and ledger.lines[0]["server"] == "10.0.0.2:25"
    net.behaviour["10.0.0.1:25"] = 451
    sender.send("a@x", "b@lab", "<m2>", b"x\r\n").addCallback(done.append)
    assert ledger.lines[1]["server"] == "10.0.0.2:25"


def test_rounds_with_backoff_then_send_failed():
    sender, net, events, ledger, clock = make(MXS, rounds=3)
    net.behaviour["10.0.0.1:25"] = "down"
    net.behaviour["10.0.0.2:25"] = "down"
    done = []
    sender.send("a@x", "b@lab", "<m1>", b"x\r\n").addCallback(done.append)
    assert [t for _, t in net.connects] == [0, 0]
    clock.advance(1)
    assert [t for _, t in net.connects] == [0, 0, 1, 1]
    net.behaviour["10.0.0.2:25"] = 250      # back before the third round (at 1 + 2)
    clock.advance(2)
    assert done == [True] and ledger.lines[0]["server"] == "10.0.0.2:25"
    sender.send("a@x", "b@lab", "<m2>", b"x\r\n").addCallback(done.append)
    assert done == [True, True]


def test_all_down_every_round_gives_send_failed_with_tried():
    sender, net, events, ledger, clock = make(MXS, rounds=2)
    net.behaviour["10.0.0.1:25"] = "down"
    net.behaviour["10.0.0.2:25"] = "down"
    done = []
    sender.send("a@x", "b@lab", "<m1>", b"x\r\n").addCallback(done.append)
    clock.advance(5)
    assert done == [False] and not ledger.lines
    failed = events.named("send_failed")[0]
    assert failed["tried"] == ["10.0.0.1:25", "10.0.0.2:25"] * 2
    assert "refused" in failed["error"]


def test_5xx_is_final():
    sender, net, events, ledger, clock = make(MXS)
    net.behaviour["10.0.0.1:25"] = 550
    done = []
    sender.send("a@x", "b@lab", "<m1>", b"x\r\n").addCallback(done.append)
    assert done == [False] and net.connects == [("10.0.0.1:25", 0)]


def test_dns_failure_retried_nxdomain_final():
    clock = task.Clock()
    events = Recorder()
    answers = [defer.fail(MXError("timeout")), defer.succeed(MXS)]
    net = FakeNetwork(clock)
    sender = Sender(lambda d: answers.pop(0), net.open_session, clock, events, ListLedger())
    done = []
    sender.send("a@x", "b@lab", "<m1>", b"x\r\n").addCallback(done.append)
    clock.advance(1)
    assert done == [True]
    sender = Sender(lambda d: defer.fail(MXError("no such domain", permanent=True)),
                    net.open_session, clock, events, ListLedger())
    sender.send("a@x", "b@nowhere", "<m2>", b"x\r\n").addCallback(done.append)
    assert done == [True, False]
