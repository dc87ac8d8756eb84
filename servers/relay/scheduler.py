"""The relay's delivery scheduler: retries, bounces, flushes and re-routing.

Every destination (a ``next_hop``) has one timer, not one per message: its
waiting entries sit in a heap ordered by their ``next_attempt``, and the
timer is set to the earliest of them.  When it fires, every entry then due
joins the destination's ready line (a whole failed line, deferred together,
becomes due in one wake-up); up to ``concurrency`` workers per destination
take entries from that line and deliver them one after another over reused
SMTP sessions, up to ``pipeline`` at a time (smtpclient ``send_many``: with
PIPELINING, each message's data and the next one's MAIL, RCPT and DATA in
one write).
Each destination has its own workers, so a long backlog for one does not
delay another.  Removals of delivered messages are batched: the removals of
all workers share one directory fsync.

- 4xx or a connection failure: retry after ``policy.delay(attempts)``;
  past ``policy.give_up``: bounce.  5xx: bounce at once.  A bounce is an RFC
  3464 report sent with an empty sender; a message with an empty sender is
  dropped, never bounced.
- Dead-destination cache: a server that refused or timed out a connection
  is not tried again for ``dead_ttl`` seconds; messages due meanwhile are
  deferred at once instead of each waiting out a connect timeout.
- On a delivery after an outage, every other message for that destination
  is made due at once (flush), instead of waiting out its backoff.
- Re-routing: ``provision_after`` seconds into an outage the scheduler emits
  ``provision_requested`` and calls ``provision()`` once for that outage;
  on ``{"ok": true, "ip", "port"}`` it rewrites the next hop of every stored
  message bound for the dead destination to "IP:PORT" (``queue.reroute``)
  and delivers there.  Later arrivals for the old destination are rerouted too,
  while the pin lasts (``routes``: servers/relay/routes.py, kept beside the
  queue, with a lifetime).  This is the fixed ``--provision-action``.
- Recovery policy (``recovery``: servers/relay/recovery.py), the default: the
  scheduler tells it which servers fail and which answer; it decides, per
  server, between re-creation in place and a server in another data center,
  and calls back ``replace_server`` (re-route), ``server_back`` (flush) and
  ``restore_routes`` (undo pins).
  A message that was being delivered (or whose retry was being recorded) when
  the answer came is attempted at the new destination as soon as that ends,
  not after its backoff.  While the request is in flight (``awaiting``) the
  destination's mail waits: the provisioner updates DNS before it answers,
  and the mail must go by its rewritten next hop, not by the new MX record.
- A deferral is recorded in the queue's retry log (queue.py), deferrals of
  all workers together: one append and one fsync per batch, not a rewrite of
  each message's file.
- A queue file that cannot be read (EIO, vanished, corrupt since it was
  loaded) is tried again after ``policy.delay(failures)``; after
  ``max_read_failures`` it is moved to the queue's corrupt/ directory and
  bounced (without its content, which is unreadable).  A message is never
  left marked busy without a timer.
- The disk operations on one message's queue file (save, reroute, remove) run
  one after another: two threads rewriting the same file at once share its
  temporary file, and one of them fails.
"""
import collections
import heapq
import itertools
import logging
import os
import sys

from twisted.internet import defer
from twisted.python import failure

from servers.common import smtpclient
from servers.common.ratelimited_log import RateLimitedLog
from servers.relay.bounce import build_dsn
from servers.relay.routes import Routes
from servers.smtpd.batch import GroupCommit

log = logging.getLogger(__name__)

COMPACT_AFTER = 1 << 20   # bytes of retry log beyond what the queued messages need
RETRY_LINE = 150          # bytes, about, of one message's line in the retry log
SMALL = 64 * 1024         # bytes: a queue file read whole to go in a pipelined run
PIPELINE = 10             # messages a session sends in one pipelined run, at most
MAX_READ_FAILURES = 5     # reads of a queue file before it is set aside: 2+4+8+16 s in the lab


def _run_now(f, *args, **kwargs):
    return defer.maybeDeferred(f, *args, **kwargs)


class Destination:
    """Delivery state of one next hop."""

    def __init__(self, key):
        self.key = key
        self.ready = collections.deque()
        self.workers = 0
        self.parked = []             # Deferreds of idle workers holding a session
        self.outage_since = None
        self.provision_timer = None
        self.provisioning = False
        self.failed_servers = set()  # "host:port" that failed during this outage
        self.awaiting = None         # what a replacement was asked for (its mail waits)
        self.waiting = []            # heap of (due time, ticket, entry)
        self.timer = None            # the one IDelayedCall: the earliest due time


def _small(entry):
    """Whether ``entry``'s file is small enough to read whole (a larger one is
    streamed, alone, so that a session's memory does not grow with it)."""
    path = getattr(entry, "path", None)
    if path is None:                # held in memory (the tests' stand-ins): no file to stream
        return True
    try:
        return os.path.getsize(path) <= SMALL
    except OSError:
        return False


class Scheduler:
    def __init__(self, queue, policy, events, clock, resolve, open_session,
                 run_blocking=_run_now, self_name="relay", bounce_hop=None,
                 provision=None, provision_after=None, concurrency=10,
                 dead_ttl=None, idle_timeout=1.0, max_read_failures=MAX_READ_FAILURES,
                 routes=None, recovery=None, pipeline=PIPELINE):
        """``resolve(next_hop)`` -> Deferred list of (label, host, port) in try order
        (fails with mx_lookup.MXError); ``open_session(host, port)`` -> Deferred of a
        ready smtpclient session (fails with smtpclient.SessionError);
        ``provision()`` -> Deferred of the provisioner's reply dict;
        ``run_blocking(f, *args)`` runs the queue's disk operations (a thread
        in the service, inline in tests); ``bounce_hop(sender)`` is the next hop
        for a bounce to ``sender``; ``routes``: a routes.Routes (default: in
        memory); ``recovery``: a recovery.Recovery, the policy that replaces
        ``provision``; ``pipeline``: how many messages a session that has
        ``send_many`` sends in one run."""
        self.queue = queue
        self.policy = policy
        self.events = events
        self.clock = clock
        self.resolve = resolve
        self.open_session = open_session
        self.run_blocking = run_blocking
        self.self_name = self_name
        self.bounce_hop = bounce_hop or (lambda sender: "mx:" + sender.rpartition("@")[2])
        self.provision = provision
        self.provision_after = provision_after
        self.concurrency = concurrency
        self.pipeline = pipeline
        self.dead_ttl = policy.minimum if dead_ttl is None else dead_ttl
        self.idle_timeout = idle_timeout
        self.max_read_failures = max_read_failures
        self.read_failures = {}      # id -> failed reads of its queue file so far
        self.entries = {}            # id -> QueueEntry still queued
        self.finishing = set()       # ids delivered or bounced whose file is not yet removed
        self.timers = {}             # id -> ticket of its pending attempt (see _schedule)
        self._tickets = itertools.count()
        self.busy = set()            # ids being delivered (or waiting in a ready line)
        self.destinations = {}
        self.dead = {}               # "host:port" -> time until which it is not tried
        self.revived = {}            # "host:port" -> when it was last (re-)created or back
        self.routes = (routes if routes is not None else Routes()).bind(clock, events)
        self.recovery = recovery
        if recovery is not None:
            recovery.attach(self)
        self.disk_tail = {}          # id -> Deferred firing when its last disk operation ends
        self._removals = GroupCommit(self._remove_batch, run_in_thread=run_blocking)
        self._retries = GroupCommit(self._record_batch, run_in_thread=run_blocking)
        self.stopped = False
        # A failure that repeats (a full disk) logs one line a minute, the traceback once.
        self.failure_log = RateLimitedLog(log, clock)

    # -- the queue's side ---------------------------------------------------
    def add(self, entry):
        """Take charge of ``entry`` (at startup, or when the inbound side queued it)."""
        self.entries[entry.id] = entry
        new_hop = self._route(entry.next_hop)
        if new_hop != entry.next_hop:
            d = self._reroute(entry, new_hop)
            d.addCallback(lambda _: self._schedule(entry, entry.next_attempt - self.clock.seconds()))
            return d
        self._schedule(entry, entry.next_attempt - self.clock.seconds())
        return defer.succeed(None)

    def adopt(self, entries, exists=os.path.exists):
        """Take charge of those of ``entries`` (a scan of the queue directory)
        that the scheduler has never heard of: what a receiving process stored
        and acknowledged but died before announcing.  One it has finished with
        is skipped: its file is either still being removed (``finishing``) or
        gone, which ``exists`` tells now, after the scan.  Returns the adopted."""
        adopted = []
        for entry in entries:
            if entry.id in self.entries or entry.id in self.finishing \
                    or not exists(entry.path):
                continue
            self.add(entry)
            adopted.append(entry)
        return adopted

    def flush(self):
        """Make every queued message due now (``--flush``, SIGUSR1)."""
        self.dead.clear()
        for entry in list(self.entries.values()):
            if entry.id not in self.busy:
                self._schedule(entry, 0)
        return len(self.entries)

    def stop(self):
        self.stopped = True
        self.timers.clear()
        for dest in self.destinations.values():
            if dest.timer is not None and dest.timer.active():
                dest.timer.cancel()
            dest.timer = None
            dest.waiting = []
        if self.recovery is not None:
            self.recovery.stop()
        for dest in self.destinations.values():
            if dest.provision_timer is not None and dest.provision_timer.active():
                dest.provision_timer.cancel()
            for parked in dest.parked:
                parked.callback(False)
            dest.parked = []

    # -- timers and ready lines ---------------------------------------------
    def _schedule(self, entry, delay):
        """Make ``entry`` due in ``delay`` seconds (replacing any earlier plan):
        a ticket in its destination's heap, and that destination's one timer
        moved earlier if need be.  A replaced ticket stays in the heap, stale,
        until its time comes (``self.timers`` says which ticket is current)."""
        self.timers.pop(entry.id, None)
        if self.stopped:
            return
        ticket = next(self._tickets)
        self.timers[entry.id] = ticket
        dest = self._destination(entry.next_hop)
        heapq.heappush(dest.waiting, (self.clock.seconds() + max(delay, 0), ticket, entry))
        self._arm(dest)

    def _arm(self, dest):
        """Set ``dest``'s timer to its earliest waiting entry."""
        if not dest.waiting or self.stopped:
            return
        now = self.clock.seconds()
        when = max(dest.waiting[0][0], now)      # a time already past is now
        if dest.timer is not None and dest.timer.active():
            if dest.timer.getTime() <= when:
                return
            dest.timer.cancel()
        dest.timer = self.clock.callLater(when - now, self._fire, dest)

    def _fire(self, dest):
        """``dest``'s timer: every entry due by now goes to the ready lines."""
        dest.timer = None
        now = self.clock.seconds()
        due = []
        while dest.waiting and dest.waiting[0][0] <= now:
            _, ticket, entry = heapq.heappop(dest.waiting)
            if self.timers.get(entry.id) == ticket:
                del self.timers[entry.id]
                due.append(entry)
        for entry in due:
            self._due(entry)
        self._arm(dest)

    def _due(self, entry):
        if entry.id not in self.entries or entry.id in self.busy:
            return
        self.busy.add(entry.id)
        dest = self._destination(entry.next_hop)
        dest.ready.append(entry)
        self._kick(dest)

    def _destination(self, key):
        dest = self.destinations.get(key)
        if dest is None:
            dest = self.destinations[key] = Destination(key)
        return dest

    def _kick(self, dest):
        if dest.parked:
            dest.parked.pop(0).callback(True)
        elif dest.workers < self.concurrency:
            dest.workers += 1
            self._worker(dest)

    def _park(self, dest):
        """A Deferred firing True when more work arrives, False after idle_timeout."""
        d = defer.Deferred()
        dest.parked.append(d)

        def idle():
            if d in dest.parked:
                dest.parked.remove(d)
                d.callback(False)
        timer = self.clock.callLater(self.idle_timeout, idle)
        d.addBoth(lambda woken: (timer.active() and timer.cancel(), woken)[1])
        return d

    # -- delivery -----------------------------------------------------------
    def _more(self, dest):
        """Up to ``pipeline - 1`` more entries from ``dest``'s ready line, each
        with its data, to send in the same pipelined run; it stops at one that
        needs the worker's slower path (moved, held, unreadable)."""
        more = []
        while dest.ready and len(more) < self.pipeline - 1 and dest.awaiting is None:
            entry = dest.ready[0]
            if entry.id not in self.entries or entry.next_hop != dest.key or not _small(entry):
                break
            try:
                data = entry.data()
            except Exception:
                break                       # the worker reads it again, and says why
            dest.ready.popleft()
            self.read_failures.pop(entry.id, None)
            more.append((entry, data))
        return more

    @defer.inlineCallbacks
    def _worker(self, dest):
        session = entry = None
        unsettled = []
        try:
            while not self.stopped:
                entry = None
                if not dest.ready:
                    if session is None or session.broken or not (yield self._park(dest)):
                        break
                    continue
                entry = dest.ready.popleft()
                if entry.id not in self.entries or entry.next_hop != dest.key:
                    self.busy.discard(entry.id)
                    if entry.id in self.entries:
                        self._schedule(entry, 0)
                    continue
                if dest.awaiting is not None:
                    # a replacement was asked for: the mail waits for the answer, then
                    # goes where its rewritten next hop says (not wherever DNS,
                    # updated meanwhile by the provisioner, happens to point)
                    yield self._fail_line(dest, entry, (
                        "waiting for a replacement of %s" % dest.awaiting, False, False))
                    continue
                if session is None or session.broken:
                    session, error = yield self._open(dest, entry)
                    if session is None:
                        yield self._fail_line(dest, entry, error)
                        continue
                # read once there is a session to send it on (a deferral costs no
                # read); a small message whole, with others behind it in one pipelined
                # run, a large one checked whole, then streamed a chunk at a time
                pipelined = hasattr(session, "send_many") and dest.ready and _small(entry)
                try:
                    data = entry.data() if pipelined else entry.open_data()
                except Exception as e:      # EIO, vanished, corrupt since it was loaded
                    yield self._unreadable(entry, e)
                    continue
                self.read_failures.pop(entry.id, None)
                batch = [(entry, data)]
                if pipelined:
                    batch += self._more(dest)
                unsettled = [e for e, _ in batch]
                for e, _ in batch:
                    self.events.emit("attempt", e.msgid, next_hop=e.next_hop,
                                     server=session.server)
                if len(batch) == 1:
                    results = [(yield session.send(entry.sender, list(entry.recipients), data,
                                                   body=entry.body))]
                else:
                    results = yield session.send_many(
                        [(e.sender, list(e.recipients), d, e.body) for e, d in batch])
                for (e, _), result in zip(batch, results):
                    entry = e
                    unsettled.remove(e)
                    yield self._settle(e, dest, result)
                unsettled = []
        except Exception as e:
            self.failure_log.report(("worker", type(e), getattr(e, "errno", None)), logging.ERROR,
                                    "delivery worker for %s failed: %s", dest.key, e,
                                    exc_info=True)
            for e in set(unsettled) | ({entry} if entry is not None else set()):
                self._release(e)
        finally:
            dest.workers -= 1
            if session is not None:
                session.quit()
            if dest.ready and not self.stopped:
                self._kick(dest)

    @defer.inlineCallbacks
    def _unreadable(self, entry, error):
        """Reading ``entry``'s queue file failed: try again later, or set it aside."""
        failures = self.read_failures[entry.id] = self.read_failures.get(entry.id, 0) + 1
        try:
            if failures < self.max_read_failures:
                delay = self.policy.delay(failures)
                self.events.emit("read_failed", entry.msgid, id=entry.id, error=str(error),
                                 failures=failures,
                                 next_attempt=round(self.clock.seconds() + delay, 3))
                self.busy.discard(entry.id)
                self._schedule(entry, delay)
                return
            self.events.emit("read_failed", entry.msgid, id=entry.id, error=str(error),
                             failures=failures)
            log.error("queue file of %s unreadable %d times (%s): setting it aside",
                      entry.id, failures, error)
            yield self._on_disk(entry, self.queue.set_aside, entry, str(error))
            self.entries.pop(entry.id, None)     # only now: if that failed, it is retried
            self.read_failures.pop(entry.id, None)
            reply = smtpclient.Reply(None, "5.3.0 the queued message became unreadable: %s"
                                     % error)
            yield self._bounce(entry, {rcpt: reply for rcpt in entry.recipients}, data=b"")
        finally:
            self._release(entry)

    @defer.inlineCallbacks
    def _open(self, dest, entry):
        """(session, None) or (None, (error text, permanent?))."""
        try:
            servers = yield self.resolve(dest.key)
        except Exception as e:
            return None, (str(e), getattr(e, "permanent", False),
                          getattr(e, "unreachable", False))
        now = self.clock.seconds()
        errors = []
        for label, host, port in servers:
            server = "%s:%d" % (host, port)
            if self.dead.get(server, 0) > now:
                errors.append("%s down (cached)" % server)
                dest.failed_servers.add(server)
                continue
            started = self.clock.seconds()
            try:
                session = yield self.open_session(host, port)
            except smtpclient.SessionError as e:
                errors.append(str(e))
                dest.failed_servers.add(server)
                if started < self.revived.get(server, float("-inf")):
                    continue    # begun before the server was re-created: says nothing of it
                self.dead[server] = self.clock.seconds() + self.dead_ttl
                if self.recovery is not None:
                    self.recovery.failed(server, label)
                continue
            self.dead.pop(server, None)
            if self.recovery is not None:
                self.recovery.succeeded(server)
            return session, None
        return None, ("; ".join(errors) or "no server for %s" % dest.key, False, True)

    @defer.inlineCallbacks
    def _fail_line(self, dest, entry, error):
        """No server of ``dest`` can be reached: defer (or bounce) ``entry`` and
        everything waiting behind it, without a connection attempt each."""
        text, permanent, unreachable = error
        line = [entry] + list(dest.ready)
        dest.ready.clear()
        if unreachable:
            self._outage(dest)
        for e in line:
            result = smtpclient.MessageResult("").fail_all(
                e.recipients, smtpclient.PERMANENT if permanent else smtpclient.TEMPORARY,
                smtpclient.Reply(None, text))
            yield self._settle(e, dest, result)

    @defer.inlineCallbacks
    def _settle(self, entry, dest, result):
        """Record what ``result`` means for ``entry``: remove, bounce or retry."""
        try:
            now = self.clock.seconds()
            if result.delivered:
                self.events.emit("delivered", entry.msgid, server=result.server,
                                 rcpts=list(result.delivered), next_hop=entry.next_hop)
            failures = dict(result.permanent)
            retry = dict(result.temporary)
            if retry and self.policy.expired(entry.arrived, now):
                failures.update(retry)
                retry = {}
            if failures:
                yield self._bounce(entry, failures)
            if not retry:
                self.entries.pop(entry.id, None)
                self.finishing.add(entry.id)
                # The worker goes on to its next message meanwhile: the removal
                # joins the next batch (a failed one leaves the file, delivered again
                # after a restart: a duplicate the Maildir's dedupe absorbs, never a loss)
                removed = self._on_disk(entry, self._removals.submit, entry, runner=_run_now)
                removed.addErrback(self._removal_failed, entry)
                removed.addBoth(self._finished, entry)
            else:
                reply = next(iter(retry.values()))
                entry.recipients = [r for r in entry.recipients if r in retry]
                entry.attempts += 1
                entry.last_error = sys.intern(result.error)   # one text for a failed line
                if entry.first_failure is None:
                    entry.first_failure = now
                entry.next_attempt = now + self.policy.delay(entry.attempts)
                new_hop = self._route(entry.next_hop)
                if new_hop != entry.next_hop:
                    yield self._reroute(entry, new_hop)
                if entry.next_hop != dest.key:     # rerouted while in flight
                    entry.next_attempt = now
                yield self._on_disk(entry, self._retries.submit, entry, runner=_run_now)
                if entry.next_hop != dest.key:
                    # rerouted (by _provision) while the save waited: try the new
                    # destination now, not after the backoff meant for the dead one
                    entry.next_attempt = now = self.clock.seconds()
                self.events.emit("deferred", entry.msgid, error=entry.last_error,
                                 next_attempt=round(entry.next_attempt, 3),
                                 attempts=entry.attempts, code=reply.code)
                self._schedule(entry, entry.next_attempt - now)
            if result.delivered and dest.outage_since is not None:
                self._recovered(dest)
        finally:
            self._release(entry)

    def _finished(self, result, entry):
        self.finishing.discard(entry.id)
        return result

    def _removal_failed(self, failure, entry):
        log.error("removing delivered %s failed: %s", entry.id, failure.getErrorMessage())

    def _release(self, entry):
        """No one works on ``entry`` any more: if it is still queued, it has a timer."""
        self.busy.discard(entry.id)
        if entry.id in self.entries and entry.id not in self.timers and not self.stopped:
            # something failed half-way: never strand a queued message
            self.failure_log.report("release", logging.ERROR,
                                    "handling %s failed: retrying it later", entry.id)
            self._schedule(entry, self.policy.delay(max(entry.attempts, 1)))

    @defer.inlineCallbacks
    def _bounce(self, entry, failures, data=None):
        """Report ``failures`` to the sender; ``data`` is the message (read if None)."""
        diagnostics = [(rcpt, _status(reply), "%s%s" % ("%d " % reply.code if reply.code else "",
                                                         reply.text))
                       for rcpt, reply in failures.items()]
        for rcpt, status, text in diagnostics:
            self.events.emit("bounced", entry.msgid, rcpt=rcpt, error=text,
                             dsn=bool(entry.sender))
        if not entry.sender:
            log.info("not bouncing %s: it is a bounce itself", entry.msgid)
            return
        dsn_msgid = "<dsn-%s-%d@%s>" % (entry.id, entry.attempts, self.self_name)
        if data is None:
            data = yield self.run_blocking(entry.data)
        dsn = build_dsn(self.self_name, entry.sender, entry.msgid, diagnostics, data,
                        entry.arrived, dsn_msgid, now=self.clock.seconds())
        bounce = yield self.run_blocking(self.queue.enqueue, "", [entry.sender], dsn,
                                         self.bounce_hop(entry.sender))
        self.add(bounce)

    # -- outages, recovery, provisioning ------------------------------------
    def _outage(self, dest):
        if dest.outage_since is None:
            dest.outage_since = self.clock.seconds()
            log.info("outage of %s begins", dest.key)
            if self.provision is not None and self.provision_after is not None:
                self._arm_provision(dest)

    def _arm_provision(self, dest):
        if dest.provision_timer is None or not dest.provision_timer.active():
            dest.provision_timer = self.clock.callLater(self.provision_after,
                                                        self._provision, dest)

    def _recovered(self, dest):
        log.info("%s is back: flushing its queue", dest.key)
        dest.outage_since = None
        dest.failed_servers.clear()
        if dest.provision_timer is not None and dest.provision_timer.active():
            dest.provision_timer.cancel()
        dest.provision_timer = None
        for entry in list(self.entries.values()):
            if entry.next_hop == dest.key and entry.id not in self.busy:
                self._schedule(entry, 0)

    def _bound_for(self, key):
        return [e for e in self.entries.values() if e.next_hop == key]

    @defer.inlineCallbacks
    def _provision(self, dest):
        dest.provision_timer = None
        if dest.outage_since is None or dest.provisioning or not self._bound_for(dest.key):
            return
        dest.provisioning = True
        dest.awaiting = dest.key
        self.events.emit("provision_requested", next_hop=dest.key,
                         messages=len(self._bound_for(dest.key)),
                         outage_seconds=round(self.clock.seconds() - dest.outage_since, 3))
        try:
            reply = yield self.provision()
            if not reply.get("ok"):
                raise RuntimeError(reply.get("error") or "provisioner refused")
            new_hop = "%s:%d" % (reply["ip"], int(reply.get("port", 25)))
        except Exception as e:
            log.warning("provisioning for %s failed: %s", dest.key, e)
            self.events.emit("provision_failed", next_hop=dest.key, error=str(e))
            dest.provisioning = False
            dest.awaiting = None
            if dest.outage_since is not None:
                self._arm_provision(dest)   # ask again one period later
            return
        log.info("provisioner answered %s: rerouting %s -> %s", reply, dest.key, new_hop)
        try:
            yield self._reroute_destination(dest, new_hop)
        finally:
            dest.provisioning = False
            dest.awaiting = None
            dest.outage_since = None

    @defer.inlineCallbacks
    def _reroute_destination(self, dest, new_hop, cause=None):
        """Pin ``dest`` to ``new_hop`` and rewrite the next hop of every stored
        message bound for it; the number rewritten."""
        self.routes.pin(dest.key, new_hop, cause=cause)
        self.dead.pop(new_hop, None)
        self.revived[new_hop] = self.clock.seconds()
        moved = 0
        for entry in self._bound_for(dest.key):
            if entry.next_hop != dest.key:
                continue                # rerouted meanwhile (by _settle)
            try:
                yield self._reroute(entry, new_hop)
            except Exception:
                log.exception("rerouting %s failed", entry.id)
                continue                # _settle or add() reroutes it on its next turn
            moved += 1
            # a busy one is rescheduled at once by its worker (_worker, _settle)
            if entry.id not in self.busy:
                self._schedule(entry, 0)
        return moved

    def _route(self, hop):
        return self.routes.get(hop)

    # -- the recovery policy's side -----------------------------------------
    def _failing_destinations(self, server):
        """Destinations in an outage during which ``server`` failed."""
        return [d for d in self.destinations.values()
                if server in d.failed_servers and d.outage_since is not None]

    def held_for(self, server):
        """How many stored messages wait for destinations ``server`` failed."""
        keys = {d.key for d in self.destinations.values() if server in d.failed_servers}
        return sum(1 for e in self.entries.values() if e.next_hop in keys)

    def hold_for_replacement(self, server, hold=True):
        """A replacement of ``server`` was asked for (``hold=False``: refused):
        mail of the destinations it leaves with no server waits for the answer."""
        if not hold:
            self._end_hold(server)
            return
        for dest in self._failing_destinations(server):
            dest.awaiting = server

    def _end_hold(self, server):
        """The answer about ``server`` came: every destination holding its mail
        for it sends again at once, also one whose outage ended meanwhile
        (another of its servers answered)."""
        for dest in self.destinations.values():
            if dest.awaiting == server:
                dest.awaiting = None
                for entry in self._bound_for(dest.key):
                    if entry.id not in self.busy:
                        self._schedule(entry, 0)

    @defer.inlineCallbacks
    def replace_server(self, server, new_hop):
        """``server`` was replaced by ``new_hop`` (another data center): every
        destination that has no server left re-routes its stored mail there.
        A destination that another of its servers still serves keeps its mail."""
        moved = 0
        try:
            for dest in self._failing_destinations(server):
                moved += yield self._reroute_destination(dest, new_hop, cause=server)
                dest.outage_since = None
                dest.failed_servers.clear()
        finally:
            self._end_hold(server)
        return moved

    def server_back(self, server):
        """``server`` answers again (re-created, or returned): try at once
        whatever waits for a destination it failed."""
        self.dead.pop(server, None)
        self.revived[server] = self.clock.seconds()
        keys = {d.key for d in self.destinations.values() if server in d.failed_servers}
        for entry in list(self.entries.values()):
            if entry.next_hop in keys and entry.id not in self.busy:
                self._schedule(entry, 0)

    def restore_routes(self, server):
        """Undo the pins made when ``server`` was replaced; [(old, new)]."""
        return self.routes.unpin_cause(server)

    @defer.inlineCallbacks
    def _reroute(self, entry, new_hop):
        old = yield self._on_disk(entry, self.queue.reroute, entry, new_hop)
        entry.next_hop = new_hop
        return old

    def _remove_batch(self, entries):
        """Remove delivered entries, one directory fsync for all (in a thread)."""
        remove_many = getattr(self.queue, "remove_many", None)
        if remove_many is not None:
            remove_many(entries)
        else:
            for entry in entries:
                self.queue.remove(entry)
        return [None] * len(entries)

    def _record_batch(self, entries):
        """Record the retry state of deferred entries: one append and fsync of
        the queue's retry log for all (in a thread); the log is compacted when
        it has grown to several times what the queued messages need."""
        record = getattr(self.queue, "record_retries", None)
        if record is None:
            for entry in entries:
                self.queue.save(entry)
            return [None] * len(entries)
        record(entries)
        queued = list(self.entries.values())
        if self.queue.retry_log_bytes > COMPACT_AFTER + 2 * RETRY_LINE * len(queued):
            self.queue.compact_retries(queued)
        return [None] * len(entries)

    def _on_disk(self, entry, f, *args, runner=None):
        """``run_blocking(f, *args)`` (or ``runner(f, *args)``) once every earlier
        disk operation on ``entry`` has ended: one queue file is never
        rewritten by two threads at once.  A Deferred of f's result."""
        previous = self.disk_tail.get(entry.id)
        tail = self.disk_tail[entry.id] = defer.Deferred()
        result = defer.Deferred()
        runner = runner or self.run_blocking

        def run(_):
            d = defer.maybeDeferred(runner, f, *args)

            def ended(outcome):
                if self.disk_tail.get(entry.id) is tail:
                    del self.disk_tail[entry.id]
                tail.callback(None)
                if isinstance(outcome, failure.Failure):
                    result.errback(outcome)
                else:
                    result.callback(outcome)
            d.addBoth(ended)
            return None

        if previous is None:
            run(None)
        else:
            previous.addCallback(run)
        return result


def _status(reply):
    """An RFC 3463 status code for the DSN."""
    text = reply.text or ""
    first = text.split(" ", 1)[0]
    if first[:2] in ("5.", "4.") and first.count(".") == 2:
        return first
    # 4.4.7: delivery time expired (a temporary failure that lasted too long)
    return "5.0.0" if reply.code is not None and reply.code >= 500 else "4.4.7"
