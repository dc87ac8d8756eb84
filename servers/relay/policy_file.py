"""A retry policy written by someone else (a student's, in the workbook's build
capstone): a Python file the relay loads with ``--retry-policy FILE``.

The file defines ``make_policy(minimum, maximum, give_up)``, called with the
relay's ``--retry-interval``, ``--max-retry-interval`` and ``--give-up``, and
returns an object that provides ``IRetryPolicy`` (servers/relay/interfaces.py):
``minimum``, ``maximum``, ``give_up``, ``delay(attempts)`` and
``expired(arrived, now)``. The relay checks it with ``verifyObject`` and by
calling ``delay`` for the first attempts before it starts (``--check`` too),
so a broken file is refused with the reason instead of failing mid-run::

    from zope.interface import implementer
    from servers.relay.interfaces import IRetryPolicy

    @implementer(IRetryPolicy)
    class Fixed:
        def __init__(self, minimum, maximum, give_up):
            self.minimum, self.maximum, self.give_up = minimum, maximum, give_up
        def delay(self, attempts):
            return self.minimum
        def expired(self, arrived, now):
            return now - arrived >= self.give_up

    def make_policy(minimum, maximum, give_up):
        return Fixed(minimum, maximum, give_up)
"""
import importlib.util
import math

from zope.interface.exceptions import Invalid
from zope.interface.verify import verifyObject

from servers.relay.interfaces import IRetryPolicy

TRIED_ATTEMPTS = 8


class PolicyFileError(ValueError):
    pass


def load(path, minimum, maximum, give_up):
    """The policy that ``path``'s ``make_policy`` returns, checked."""
    spec = importlib.util.spec_from_file_location("maillab_retry_policy", path)
    if spec is None:
        raise PolicyFileError("retry policy %s: not a Python file" % path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except FileNotFoundError:
        raise PolicyFileError("retry policy %s: no such file" % path) from None
    except Exception as e:            # a student's file: any error is theirs to read
        raise PolicyFileError("retry policy %s: %s: %s" % (path, type(e).__name__, e)) from None
    make = getattr(module, "make_policy", None)
    if not callable(make):
        raise PolicyFileError("retry policy %s: defines no make_policy(minimum, maximum, "
                              "give_up)" % path)
    try:
        policy = make(minimum, maximum, give_up)
        verifyObject(IRetryPolicy, policy)
        delays = [policy.delay(n) for n in range(1, TRIED_ATTEMPTS + 1)]
    except Invalid as e:
        raise PolicyFileError("retry policy %s: does not provide IRetryPolicy: %s"
                              % (path, e)) from None
    except Exception as e:
        raise PolicyFileError("retry policy %s: %s: %s" % (path, type(e).__name__, e)) from None
    for n, d in enumerate(delays, 1):
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not math.isfinite(d) \
                or d < 0:
            raise PolicyFileError("retry policy %s: delay(%d) is %r, not a number of seconds "
                                  ">= 0" % (path, n, d))
    return policy
