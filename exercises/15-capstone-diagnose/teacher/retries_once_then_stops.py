"""Retries once then stops: the second wait is an hour.
Evidence: two attempts per held message (deferred with attempts 1 and 2), the
second deferral an hour long; mail still queued at the end."""
from zope.interface import implementer

from servers.relay.interfaces import IRetryPolicy


@implementer(IRetryPolicy)
class Broken:
    def __init__(self, minimum, maximum, give_up):
        self.minimum, self.maximum, self.give_up = minimum, maximum, give_up

    def delay(self, attempts):
        return self.minimum if attempts <= 1 else 3600.0

    def expired(self, arrived, now):
        return now - arrived >= self.give_up


def make_policy(minimum, maximum, give_up):
    return Broken(minimum, maximum, give_up)
