"""Group commit: blocking storage work done in a thread, many messages per
fsync round.

While one batch is being written, new submissions wait; when it finishes
they all go in the next batch. With N concurrent sessions a batch holds up
to N messages, so the fsync cost is shared, and the reactor never blocks.
"""
from twisted.internet import defer, threads
from twisted.python.failure import Failure


class GroupCommit:
    """``commit(items) -> results`` runs in a thread, one call per batch;
    ``results[i]`` is the value for ``items[i]``, or an exception instance
    to fail only that item."""

    def __init__(self, commit, run_in_thread=threads.deferToThread, max_batch=256):
        self._commit = commit
        self._run_in_thread = run_in_thread
        self._max_batch = max_batch
        self._waiting = []
        self._running = False

    def submit(self, item):
        d = defer.Deferred()
        self._waiting.append((item, d))
        self._start_next()
        return d

    @property
    def busy(self):
        return self._running

    def _start_next(self):
        if self._running or not self._waiting:
            return
        batch = self._waiting[:self._max_batch]
        del self._waiting[:self._max_batch]
        self._running = True
        d = self._run_in_thread(self._commit, [item for item, _ in batch])
        d.addBoth(self._finished, batch)

    def _finished(self, results, batch):
        try:
            if isinstance(results, Failure):
                for _, d in batch:
                    d.errback(results)
            else:
                for (_, d), result in zip(batch, results):
                    if isinstance(result, BaseException):
                        d.errback(Failure(result))
                    else:
                        d.callback(result)
        finally:
            self._running = False
            self._start_next()
