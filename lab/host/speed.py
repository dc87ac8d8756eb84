"""How much slower than an ordinary machine this one runs Python.

The lab's start-up deadlines (a server's ``--check``, its readiness) are
sized for a laptop or a server core. Under emulation (an arm64 VM under
qemu's TCG on an amd64 host, or the reverse) or on a small board, starting
one Python server can take ten times as long, and a deadline that is
generous at home fails a healthy lab. ``slowness()`` is the factor such a
deadline is multiplied by: 1 on an ordinary machine, the measured ratio on a
slower one (at most ``CEILING``). ``MAILLAB_SLOWNESS=F`` sets it instead.

It only lengthens how long the lab waits for something that should happen;
it never shortens a wait, and it changes no timing that a scenario
prescribes.
"""
import functools
import os
import time

REFERENCE_S = 0.015     # the loop below on an ordinary core, with room to spare
CEILING = 50.0


def _loop():
    started = time.perf_counter()
    x = 0
    for i in range(200_000):
        x += i * i % 7
    return time.perf_counter() - started


def factor(seconds, reference=REFERENCE_S):
    """The slowness that a loop time of ``seconds`` means."""
    return min(max(seconds / reference, 1.0), CEILING)


@functools.lru_cache(maxsize=None)
def slowness():
    forced = os.environ.get("MAILLAB_SLOWNESS")
    if forced:
        try:
            return min(max(float(forced), 1.0), CEILING)
        except ValueError:
            raise SystemExit("MAILLAB_SLOWNESS=%r: expected a number such as 5" % forced)
    # the best of three: a busy moment makes a machine look slow, never fast
    return factor(min(_loop() for _ in range(3)))


def deadline(seconds):
    """``seconds`` for this machine."""
    return seconds * slowness()
