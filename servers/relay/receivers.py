"""More receiving processes on the relay's listening socket (``--receivers N``).

One Python process receives on one core.  With ``--receivers N`` the relay
(which keeps receiving itself, and alone owns delivery: the scheduler)
starts N-1 more processes (``servers/relay/receiver.py``) that inherit its
listening socket: the kernel gives each new connection to whichever of
them accepts it first.  Each does the whole receive side on its own —
SMTP, the durable write (fsync file, rename, fsync directory; commits shared
across its sessions) and the 250 — and then announces the stored message
to the scheduler: one line on its standard output, the queue entry's
metadata as JSON (``announcement``), read here (``ReceiverPool``).  Its
first line, ``ready``, says that it accepts connections
(``receiver_ready`` event).

Nothing acknowledged is lost:

- a message is announced only after its 250 could go out, so the file is
  whole and in place (receivers write ``.ID.tmp`` and rename it);
- a receiver that dies may have stored a message it never announced: when
  one exits, the scheduler rescans the queue directory and adopts every
  message it has never heard of (``Scheduler.adopt``), then a new receiver
  is started;
- receivers die with the relay (``die_with_parent``: the kernel sends them
  SIGKILL when it exits, even by kill -9), and a restarted relay loads every
  queue file.

The receivers append to the relay's event log (``--events``) themselves:
one ``write`` per line on a file opened for appending, so lines of several
processes never mix.
"""
import ctypes
import json
import logging
import os
import signal
import sys

from twisted.application import service
from twisted.internet import defer, protocol

from servers.relay.queue import QueueEntry

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
RESPAWN_DELAY = 1.0       # seconds between a receiver's exit and its successor
STOP_TIMEOUT = 10.0       # seconds a receiver has to exit after SIGTERM, then SIGKILL
READY = b"ready"          # a receiver's first line: it is accepting connections
ANNOUNCED = ("id", "msgid", "sender", "recipients", "next_hop", "arrived", "attempts",
             "next_attempt", "last_error", "first_failure", "body")


def announcement(entry):
    """The line a receiver writes for a stored ``entry``."""
    record = entry.metadata()
    record["path"] = entry.path
    return json.dumps(record, separators=(",", ":")).encode("utf-8") + b"\n"


def entry_from_announcement(line):
    """The QueueEntry a receiver announced (ValueError if the line is not one)."""
    try:
        record = json.loads(line)
        values = [record[k] for k in ANNOUNCED]
        path = record["path"]
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError("not an announcement: %r (%s)" % (line[:80], e)) from None
    entry = QueueEntry(*values, path=path)
    entry.sender = sys.intern(entry.sender)
    entry.next_hop = sys.intern(entry.next_hop)
    return entry


class Lines:
    """Whole lines out of a byte stream; a partial last line waits for the rest
    (and is dropped if the stream ends: its writer died mid-line)."""

    def __init__(self):
        self.partial = b""

    def feed(self, data):
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        return [line for line in lines if line]


def die_with_parent(sig=signal.SIGKILL):
    """Ask the kernel to send ``sig`` to this process when its parent exits
    (Linux ``prctl(PR_SET_PDEATHSIG)``); exit now if the parent is gone already."""
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent:        # it died before the request took effect
        os._exit(1)


class ReceiverProtocol(protocol.ProcessProtocol):
    """The relay's side of one receiver process: its announcements and its end."""

    def __init__(self, pool):
        self.pool = pool
        self.lines = Lines()
        self.ended = defer.Deferred()
        self.pid = None

    def outReceived(self, data):
        for line in self.lines.feed(data):
            if line == READY:
                self.pool.ready(self)
            else:
                self.pool.announced(line)

    def processEnded(self, reason):
        self.pool.exited(self, reason)
        self.ended.callback(None)


class ReceiverPool(service.Service):
    """Starts ``count`` receiver processes on the listening socket ``fileno()``
    returns, hands what they announce to ``scheduler.add``, and replaces one
    that exits, after adopting what it left unannounced."""

    def __init__(self, reactor, count, argv, listening_fd, scheduler, queue, events,
                 run_blocking, executable=sys.executable, respawn_delay=RESPAWN_DELAY):
        """``argv``: the receiver's command line after the interpreter (it gets
        ``--listen-fd 3``); ``listening_fd()``: the socket, once listening."""
        self.reactor = reactor
        self.count = count
        self.argv = list(argv)
        self.listening_fd = listening_fd
        self.scheduler = scheduler
        self.queue = queue
        self.events = events
        self.run_blocking = run_blocking
        self.executable = executable
        self.respawn_delay = respawn_delay
        self.processes = {}           # ReceiverProtocol -> its IProcessTransport
        self.stopping = False
        self.adoptions = defer.succeed(None)
        self.adopted = set()          # ids a rescan adopted before their announcement came

    def startService(self):
        super().startService()
        self.stopping = False
        for _ in range(self.count):
            self.spawn()

    def spawn(self):
        if self.stopping:
            return
        proto = ReceiverProtocol(self)
        argv = [self.executable] + self.argv + ["--listen-fd", "3"]
        transport = self.reactor.spawnProcess(
            proto, self.executable, argv, env=dict(os.environ),
            childFDs={0: "w", 1: "r", 2: 2, 3: self.listening_fd()})
        proto.pid = transport.pid         # the transport forgets it once the process ends
        self.processes[proto] = transport
        log.info("receiver pid %d started", transport.pid)
        self.events.emit("receiver_started", pid=transport.pid)

    def pids(self):
        return [t.pid for t in self.processes.values() if t.pid is not None]

    def ready(self, proto):
        self.events.emit("receiver_ready", pid=proto.pid)

    def announced(self, line):
        try:
            entry = entry_from_announcement(line)
        except ValueError as e:
            log.error("receiver: %s", e)
            return
        if entry.id in self.adopted:
            self.adopted.discard(entry.id)    # a rescan found it first (it may be delivered)
            return
        self.scheduler.add(entry)

    def exited(self, proto, reason):
        self.processes.pop(proto, None)
        if self.stopping:
            return
        pid = proto.pid
        status = getattr(reason.value, "status", None)
        signal_ = getattr(reason.value, "signal", None)
        log.warning("receiver pid %s exited (status %s, signal %s): adopting what it left",
                    pid, status, signal_)
        self.events.emit("receiver_exited", pid=pid, status=status, signal=signal_)
        self.adoptions = self.adopt_orphans()
        self.reactor.callLater(self.respawn_delay, self.spawn)

    @defer.inlineCallbacks
    def adopt_orphans(self):
        """Rescan the queue: every stored message the scheduler has not heard of."""
        try:
            entries = yield self.run_blocking(self.queue.entries)
            adopted = self.scheduler.adopt(entries)
        except Exception:
            log.exception("rescanning the queue after a receiver exited failed")
            return
        # a living receiver may announce one of these yet: it is not added twice
        self.adopted.update(e.id for e in adopted)
        if adopted:
            self.events.emit("adopted", messages=len(adopted), ids=[e.id for e in adopted][:20])

    def stopService(self):
        super().stopService()
        self.stopping = True
        ended = [proto.ended for proto in self.processes]
        for transport in list(self.processes.values()):
            try:
                transport.signalProcess("TERM")
            except Exception:           # exited meanwhile
                pass
        kill = self.reactor.callLater(STOP_TIMEOUT, self._kill)
        d = defer.DeferredList(ended)
        d.addBoth(lambda _: kill.active() and kill.cancel())
        return d

    def _kill(self):
        for transport in list(self.processes.values()):
            try:
                transport.signalProcess("KILL")
            except Exception:
                pass
