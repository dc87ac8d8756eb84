"""Retry policy: when to try a deferred message again, and when to give up.

Exponential backoff from ``minimum``, doubled per failed attempt, clamped to
``maximum``; ``jitter`` (a function returning a factor, default none) spreads
retries so that a queue does not stampede a recovering host.

Lab defaults are seconds (2 s, 30 s, 10 min).  Real-world MTAs use about
5 minutes minimum, 1 hour maximum and 5 days before giving up (Postfix:
minimal_backoff_time 300s, maximal_backoff_time 4000s,
maximal_queue_lifetime 5d).
"""
from zope.interface import implementer

from servers.relay.interfaces import IRetryPolicy

LAB_MINIMUM = 2.0
LAB_MAXIMUM = 30.0
LAB_GIVE_UP = 600.0
REAL_MINIMUM = 300.0
REAL_MAXIMUM = 3600.0
REAL_GIVE_UP = 5 * 86400.0


@implementer(IRetryPolicy)
class RetryPolicy:
    def __init__(self, minimum=LAB_MINIMUM, maximum=LAB_MAXIMUM, give_up=LAB_GIVE_UP,
                 jitter=None):
        if minimum <= 0 or maximum < minimum:
            raise ValueError("need 0 < minimum <= maximum")
        self.minimum = minimum
        self.maximum = maximum
        self.give_up = give_up
        self.jitter = jitter or (lambda: 1.0)

    def delay(self, attempts):
        """Seconds to wait after the ``attempts``-th failed attempt (1-based)."""
        base = self.minimum * (2 ** min(max(attempts - 1, 0), 32))
        return min(max(base * self.jitter(), self.minimum), self.maximum)

    def expired(self, arrived, now):
        return now - arrived >= self.give_up
