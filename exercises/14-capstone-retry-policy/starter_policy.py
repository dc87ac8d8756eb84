"""A retry policy for the relay: copy this file, change ``delay``, and run it
with ``sudo maillab exercise 14 --student ID --policy YOUR_FILE.py``.

The relay calls ``make_policy(minimum, maximum, give_up)`` once, with the
scenario's retry interval (0.5 s), ceiling (2 s) and give-up time, and then
``delay(attempts)`` after each failed attempt of a message: how many
seconds to wait before the next one. ``expired(arrived, now)`` says when a
message has waited too long and is bounced. The interface is
``IRetryPolicy`` in servers/relay/interfaces.py.

This starter waits ``minimum`` seconds, always: no backoff. It delivers the
mail, and the verdict fails it on retry with backoff (claims 5 and 13).
"""
from zope.interface import implementer

from servers.relay.interfaces import IRetryPolicy


@implementer(IRetryPolicy)
class StarterPolicy:
    def __init__(self, minimum, maximum, give_up):
        self.minimum = minimum
        self.maximum = maximum
        self.give_up = give_up

    def delay(self, attempts):
        """Seconds to wait after the ``attempts``-th failed attempt (1, 2, 3 ...)."""
        return self.minimum

    def expired(self, arrived, now):
        return now - arrived >= self.give_up


def make_policy(minimum, maximum, give_up):
    return StarterPolicy(minimum, maximum, give_up)
