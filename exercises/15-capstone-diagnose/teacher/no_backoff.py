"""No backoff: waits the minimum after every failure, never longer.
Evidence: every deferral is the same short wait (next_attempt - ts); SYNs
at a steady rate through the whole black hole; the mail is delivered."""
from zope.interface import implementer

from servers.relay.interfaces import IRetryPolicy


@implementer(IRetryPolicy)
class Broken:
    def __init__(self, minimum, maximum, give_up):
        self.minimum, self.maximum, self.give_up = minimum, maximum, give_up

    def delay(self, attempts):
        return self.minimum

    def expired(self, arrived, now):
        return now - arrived >= self.give_up


def make_policy(minimum, maximum, give_up):
    return Broken(minimum, maximum, give_up)
