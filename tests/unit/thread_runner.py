"""A stand-in for deferToThread that runs the work when the test says so."""
from twisted.internet import defer


class ManualThread:
    def __init__(self):
        self.calls = []       # (function, args, deferred)

    def __call__(self, function, *args):
        d = defer.Deferred()
        self.calls.append((function, args, d))
        return d

    def run_next(self):
        function, args, d = self.calls.pop(0)
        try:
            result = function(*args)
        except Exception as e:
            d.errback(e)
        else:
            d.callback(result)


def run_now(function, *args):
    return defer.maybeDeferred(function, *args)
