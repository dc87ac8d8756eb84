"""First retry far too late: eight seconds after the first failure, then backoff.
Evidence: the first deferral is 8 s long; one SYN per message in the black
hole, then a long silence; delivery comes seconds after mx1 is back."""
from zope.interface import implementer

from servers.relay.interfaces import IRetryPolicy


@implementer(IRetryPolicy)
class Broken:
    def __init__(self, minimum, maximum, give_up):
        self.minimum, self.maximum, self.give_up = minimum, maximum, give_up

    def delay(self, attempts):
        return 8.0 if attempts == 1 else min(self.minimum * 2 ** (attempts - 1), self.maximum)

    def expired(self, arrived, now):
        return now - arrived >= self.give_up


def make_policy(minimum, maximum, give_up):
    return Broken(minimum, maximum, give_up)
