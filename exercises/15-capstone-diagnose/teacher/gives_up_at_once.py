"""Gives up at once: every held message has waited "too long".
Evidence: bounced events from the relay after the first failed attempt; the
held messages never reach mx1 (lost for the verdict)."""
from zope.interface import implementer

from servers.relay.interfaces import IRetryPolicy


@implementer(IRetryPolicy)
class Broken:
    def __init__(self, minimum, maximum, give_up):
        self.minimum, self.maximum, self.give_up = minimum, maximum, give_up

    def delay(self, attempts):
        return self.minimum * 2 ** (attempts - 1)

    def expired(self, arrived, now):
        return True


def make_policy(minimum, maximum, give_up):
    return Broken(minimum, maximum, give_up)
