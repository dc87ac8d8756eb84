"""The relay's receive side: servers.smtpd with the relay domains' policy and
a storage hook that puts each message in the durable queue.

Recipients are grouped by next hop: "mx:DOMAIN" per recipient domain (MX
lookup at delivery), or the one fixed ``next_hop`` ("HOST:PORT") for all.
The 250 goes out only after ``Queue.enqueue_many`` returned (fsync file,
rename, fsync dir); enqueues of concurrent sessions share one directory
fsync (group commit). Then each entry is announced with a ``queued`` event
per recipient and handed to ``on_queued(entry)`` so the scheduler can try it
at once; a failure of that hand-over is logged with a ``schedule_failed``
event, and the stored message waits for the relay's next start.
"""
import logging
import os

from twisted.internet import defer, threads

from servers.common.events import default_host
from servers.smtpd.batch import GroupCommit
from servers.smtpd.recipients import RecipientPolicy
from servers.smtpd.protocol import DEFAULT_MAX_SIZE, SESSION_DEADLINE, ReceiveFactory

log = logging.getLogger(__name__)


def next_hops(recipients, fixed_next_hop=None):
    """[(next_hop, [recipients])] in first-seen order."""
    groups = {}
    for rcpt in recipients:
        hop = fixed_next_hop or "mx:" + rcpt.rsplit("@", 1)[1]
        groups.setdefault(hop, []).append(rcpt)
    return list(groups.items())


class QueueStorage:
    def __init__(self, queue, events, on_queued=None, next_hop=None,
                 run_in_thread=threads.deferToThread):
        self.queue = queue
        self.events = events
        self.on_queued = on_queued
        self.next_hop = next_hop
        self.spool_dir = queue.directory    # DATA is spooled here as it arrives (unnamed files)
        self.pid = os.getpid()              # which receiving process (--receivers) stored it
        self._commits = GroupCommit(self._enqueue_batch, run_in_thread)

    def store(self, message):
        items = [(message.sender, rcpts, message.content, hop, message.body)
                 for hop, rcpts in next_hops(message.recipients, self.next_hop)]
        d = self._commits.submit(items)
        d.addCallback(self._queued, message)
        return d

    def _enqueue_batch(self, batches):
        """One group commit: every message of every waiting session (in a thread)."""
        entries = self.queue.enqueue_many([item for items in batches for item in items])
        results = []
        for items in batches:
            results.append(entries[:len(items)])
            del entries[:len(items)]
        return results

    def _queued(self, entries, message):
        for entry in entries:
            for rcpt in entry.recipients:
                self.events.emit("queued", msgid=entry.msgid, rcpt=rcpt,
                                 next_hop=entry.next_hop, id=entry.id,
                                 sender=message.sender, peer=message.peer, pid=self.pid)
            if self.on_queued is not None:
                # The 250 does not wait for the hook (the scheduler may first rewrite
                # the entry on disk), but its failure is not dropped: it is logged with
                # an event. The message itself is safe in its queue file, and the
                # relay loads every queue file when it starts. Never a failed 250.
                d = defer.maybeDeferred(self.on_queued, entry)
                d.addErrback(self._hook_failed, entry)
        return entries

    def _hook_failed(self, failure, entry):
        log.error("handing %s to the scheduler failed: %s", entry.id, failure.getTraceback())
        self.events.emit("schedule_failed", id=entry.id, msgid=entry.msgid,
                         error=failure.getErrorMessage())


def build_inbound_factory(domains, queue, events, on_queued, recipients=None,
                          hostname=None, next_hop=None, max_size=DEFAULT_MAX_SIZE,
                          clock=None, run_in_thread=threads.deferToThread, sessions=None,
                          deadline=SESSION_DEADLINE):
    """The Twisted server factory the relay listens with.

    ``domains``: the relay domains (the only ones accepted); ``recipients``:
    optional list of accepted addresses; ``next_hop``: "HOST:PORT" for every
    message instead of "mx:DOMAIN"; ``on_queued(entry)``: called in the
    reactor thread once an entry is durable; ``sessions``, ``deadline``: the
    session limits (see ReceiveFactory).
    """
    policy = RecipientPolicy(domains, recipients)
    storage = QueueStorage(queue, events, on_queued, next_hop, run_in_thread)
    return ReceiveFactory(policy, storage, hostname or default_host(),
                          max_size=max_size, clock=clock, sessions=sessions, deadline=deadline)
