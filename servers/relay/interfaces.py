"""The relay's seams: what the scheduler and the recovery policy are given, and what
tests and broken variants give them instead (``zope.interface``, as Twisted declares
its own; ``verifyObject`` in tests/unit/test_relay_interfaces.py holds each
implementation to its interface).

Time is Twisted's ``IReactorTime`` (the reactor, or ``task.Clock`` in tests).
"""
from zope.interface import Attribute, Interface


class IRetryPolicy(Interface):
    """When a deferred message is tried again, and when it is given up."""

    minimum = Attribute("seconds: the first delay, and the shortest")
    maximum = Attribute("seconds: the longest delay")
    give_up = Attribute("seconds a message may stay queued before it is bounced")

    def delay(attempts):
        """Seconds to wait after the ``attempts``-th failed attempt (1-based)."""

    def expired(arrived, now):
        """Whether a message that arrived at ``arrived`` has been queued too long."""


class IQueueStore(Interface):
    """The relay's durable queue as the scheduler uses it; each call blocks on the
    disk (the service runs them in a thread)."""

    def enqueue(sender, recipients, data, next_hop):
        """Store one message durably; its entry (``id``, ``msgid``, ``next_hop`` ...)."""

    def entries():
        """Every message in the queue, as entries."""

    def save(entry):
        """Write ``entry``'s changed metadata (attempts, next try) durably."""

    def reroute(entry, new_next_hop):
        """Change the stored next hop of ``entry`` durably."""

    def remove(entry):
        """Delete ``entry`` once it has been delivered or bounced."""

    def set_aside(entry, why):
        """Move an unreadable entry out of the queue, saying why."""


class IProber(Interface):
    """One TCP connection attempt from the relay, for its recovery decisions."""

    def __call__(host, port, timeout):
        """Deferred[str]: ``accepted``, ``refused``, ``timeout`` or ``unreachable (...)``."""


class IProvisionerClient(Interface):
    """The signed request to the provisioner (servers/common/provision_proto.py)."""

    def __call__(action, **fields):
        """Deferred[dict]: the provisioner's reply to ``action`` (``recreate``,
        ``create``, ``returned``) with ``fields`` (``name``, ``dc``, ``replaces``)."""
