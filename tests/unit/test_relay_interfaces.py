"""The relay's seams (servers/relay/interfaces.py): each implementation, and each
stand-in the tests use, provides its interface as declared."""
import pytest
from twisted.internet import task
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer
from zope.interface.exceptions import Invalid
from zope.interface.verify import verifyObject

from servers.relay.backoff import RetryPolicy
from servers.relay.interfaces import IProber, IProvisionerClient, IQueueStore, IRetryPolicy
from servers.relay.queue import Queue
from servers.relay.recovery import tcp_probe
from servers.relay.service import build_parser, provisioner_client
from tests.unit.relay_fakes import FakeQueue, Recorder


def test_the_retry_policy():
    assert verifyObject(IRetryPolicy, RetryPolicy(0.5, 4.0))


def test_the_queue_and_its_stand_in(tmp_path):
    assert verifyObject(IQueueStore, Queue(str(tmp_path / "q")))
    assert verifyObject(IQueueStore, FakeQueue(task.Clock(), Recorder()))


def test_the_prober_and_the_clock():
    clock = task.Clock()
    assert verifyObject(IProber, tcp_probe(clock))
    assert verifyObject(IReactorTime, clock)


def test_the_provisioner_client(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("00112233445566778899aabbccddeeff\n")
    args = build_parser().parse_args(["--domain", "example.org", "--queue", str(tmp_path / "q"),
                                      "--next-hop", "127.0.0.1:25", "--provisioner",
                                      "unix:" + str(tmp_path / "p.sock"),
                                      "--provisioner-secret", str(secret)])
    assert verifyObject(IProvisionerClient, provisioner_client(args, task.Clock(), "relay1", 5))


def test_an_implementation_that_lacks_a_method_is_caught():
    @implementer(IRetryPolicy)
    class NoExpiry:
        minimum, maximum, give_up = 1.0, 2.0, 10.0

        def delay(self, attempts):
            return self.minimum
    with pytest.raises(Invalid):
        verifyObject(IRetryPolicy, NoExpiry())
