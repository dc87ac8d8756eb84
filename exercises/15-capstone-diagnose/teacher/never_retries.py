"""Never retries: after a failed attempt the next one is an hour away.
Evidence: one deferred event per held message, next_attempt an hour later;
one SYN per message from the relay in the black hole's pcap and none after;
mail still queued at the end."""
from zope.interface import implementer

from servers.relay.interfaces import IRetryPolicy


@implementer(IRetryPolicy)
class Broken:
    def __init__(self, minimum, maximum, give_up):
        self.minimum, self.maximum, self.give_up = minimum, maximum, give_up

    def delay(self, attempts):
        return 3600.0

    def expired(self, arrived, now):
        return now - arrived >= self.give_up


def make_policy(minimum, maximum, give_up):
    return Broken(minimum, maximum, give_up)
