"""Logging under a failure that repeats: one line per condition per interval.

The first occurrence of a condition is logged at once (with its traceback,
the first time that condition has one); later ones within the interval are
only counted, and when the interval ends one line gives the count and the
latest text. A condition that keeps happening thus costs one line per
interval, however often it happens: a full disk does not fill the log too.
"""

DEFAULT_INTERVAL = 60.0


class RateLimitedLog:
    """``report(condition, level, message, *args, exc_info=None)``; ``clock`` is an
    IReactorTime (task.Clock in tests)."""

    def __init__(self, logger, clock, interval=DEFAULT_INTERVAL):
        self.logger = logger
        self.clock = clock
        self.interval = interval
        self._open = {}             # condition -> [count since the line, latest text, level, call]
        self._traced = set()        # conditions whose traceback was logged

    def report(self, condition, level, message, *args, exc_info=None):
        text = message % args if args else message
        state = self._open.get(condition)
        if state is not None:
            state[0] += 1
            state[1], state[2] = text, level
            return
        if exc_info and condition not in self._traced:
            self._traced.add(condition)
        else:
            exc_info = None
        self.logger.log(level, "%s", text, exc_info=exc_info)
        self._start(condition, text, level)

    def _start(self, condition, text, level):
        call = self.clock.callLater(self.interval, self._interval_over, condition)
        self._open[condition] = [0, text, level, call]

    def _interval_over(self, condition):
        count, text, level, _ = self._open.pop(condition)
        if count:
            self.logger.log(level, "%s (%d more time%s in the last %g s)", text, count,
                            "" if count == 1 else "s", self.interval)
            self._start(condition, text, level)     # still happening: keep counting

    def stop(self):
        """Cancel the pending interval timers (a service stopping)."""
        for state in self._open.values():
            if state[3].active():
                state[3].cancel()
        self._open.clear()
