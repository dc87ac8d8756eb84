"""Options -> the relay service: inbound listener + delivery scheduler.

``make_service`` turns parsed options into a MultiService; ``flush_queue``
and ``list_queue`` are the teaching commands (``--flush``, ``--list``).
"""
import logging
import os
import signal
import sys
import time

from twisted.application import service
from twisted.application.internet import TCPServer
from twisted.internet import defer, threads

from servers.common import smtpclient
from servers.common.durable import write_atomic
from servers.common.mx_lookup import MXError, MXResolver
from servers.common.endpoints import parse_host_port
from servers.common.provision_proto import parse_action, read_secret, request_provision
from servers.relay.backoff import RetryPolicy
from servers.relay.recovery import Recovery, Sites, tcp_probe
from servers.relay.routes import FILE_NAME as ROUTES_FILE, Routes
from servers.relay.scheduler import Scheduler

log = logging.getLogger(__name__)

PID_FILE = "relay.pid"


class SchedulerService(service.Service):
    """Loads the queue at start (a restart resumes every stored message)."""

    def __init__(self, scheduler, queue, events):
        self.scheduler = scheduler
        self.queue = queue
        self.events = events

    def startService(self):
        super().startService()
        entries = self.queue.entries()
        for entry in entries:
            self.scheduler.add(entry)
        log.info("loaded %d queued messages", len(entries))
        self.events.emit("queue_loaded", messages=len(entries))

    def stopService(self):
        self.scheduler.stop()
        return super().stopService()


def make_resolver(args, reactor):
    mx = None
    if args.dns:
        host, port = parse_host_port(args.dns)
        # its own listening address also marks the relay among the MX hosts
        own = [args.listen] if args.listen not in ("0.0.0.0", "") else []
        mx = MXResolver(host, port, self_name=args.self_name, reactor=reactor,
                        self_addresses=own)

    def resolve(next_hop):
        if next_hop.startswith("mx:"):
            if mx is None:
                return defer.fail(MXError("no --dns to look up %s" % next_hop))
            d = mx.lookup(next_hop[3:])
            d.addCallback(lambda servers: [(name, ip, args.smtp_port) for name, ip in servers])
            return d
        try:
            host, port = parse_host_port(next_hop)
        except ValueError as e:
            return defer.fail(MXError(str(e), permanent=True))
        return defer.succeed([(next_hop, host, port)])
    return resolve


def make_service(args, reactor, queue, events, hostname):
    """The MultiService: scheduler + the SMTP listener feeding it."""
    from servers.relay.inbound import build_inbound_factory

    policy = RetryPolicy(args.retry_interval, max(args.max_retry_interval, args.retry_interval),
                         args.give_up)

    def open_session(host, port):
        return smtpclient.connect(reactor, host, port, hostname,
                                  connect_timeout=args.connect_timeout,
                                  command_timeout=args.command_timeout,
                                  data_timeout=args.command_timeout * 2)

    provision = recovery = None
    if args.provisioner and args.provision_action:
        # the fixed action (an exercise's override): one request per outage
        secret = read_secret(args.provisioner_secret)
        request = parse_action(args.provision_action)
        action = request.pop("action")

        def provision():
            return request_provision(args.provisioner, secret, action, reactor=reactor,
                                     requester=hostname, **request)
    elif args.provisioner:
        secret = read_secret(args.provisioner_secret)

        def ask(action, **fields):
            return request_provision(args.provisioner, secret, action, reactor=reactor,
                                     requester=hostname, timeout=args.recreate_deadline,
                                     **fields)
        recovery = Recovery(reactor, tcp_probe(reactor), ask, events, Sites.load(args.sites),
                            threshold=args.provision_after,
                            recreate_deadline=args.recreate_deadline,
                            probe_timeout=args.probe_timeout,
                            watch_interval=args.retry_interval,
                            restore_routes=not args.keep_routes)

    def bounce_hop(sender):
        return args.next_hop or "mx:" + sender.rpartition("@")[2]

    scheduler = Scheduler(queue, policy, events, reactor, make_resolver(args, reactor),
                          open_session, run_blocking=threads.deferToThread,
                          self_name=args.self_name or hostname, bounce_hop=bounce_hop,
                          provision=provision, provision_after=args.provision_after,
                          concurrency=args.concurrency, recovery=recovery,
                          routes=Routes(os.path.join(queue.directory, ROUTES_FILE),
                                        lifetime=args.route_lifetime))
    recipients = None
    if args.recipients:
        from servers.smtpd.recipients import read_recipients_file
        recipients = read_recipients_file(args.recipients)
    on_queued = scheduler.add
    if getattr(args, "test_drop_queued", False):
        def on_queued(entry):   # a deliberately broken relay: accepted mail vanishes
            return threads.deferToThread(queue.remove, entry)
    factory = build_inbound_factory(args.domain, queue, events, on_queued,
                                    recipients=recipients, hostname=hostname,
                                    next_hop=args.next_hop)
    top = service.MultiService()
    SchedulerService(scheduler, queue, events).setServiceParent(top)
    listener = TCPServer(args.port, factory, interface=args.listen, reactor=reactor)
    listener.setServiceParent(top)
    top.scheduler = scheduler
    top.listener = listener
    return top


# -- the teaching commands ----------------------------------------------------
def pid_path(queue_dir):
    return os.path.join(queue_dir, PID_FILE)


def write_pid(queue_dir):
    write_atomic(pid_path(queue_dir), b"%d\n" % os.getpid())


def running_pid(queue_dir):
    """The pid of the relay running on ``queue_dir``, or None."""
    try:
        with open(pid_path(queue_dir)) as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            if b"servers.relay" not in f.read():
                return None       # a stale file and a recycled pid
    except OSError:
        pass
    return pid


def flush_queue(queue_dir, out=sys.stdout):
    """Signal a running relay to flush, or make every entry due now offline."""
    pid = running_pid(queue_dir)
    if pid is not None:
        os.kill(pid, signal.SIGUSR1)
        print("asked the relay (pid %d) to flush its queue" % pid, file=out)
        return 0
    from servers.relay.queue import Queue
    queue = Queue(queue_dir)
    now = time.time()
    entries = queue.entries()
    for entry in entries:
        entry.next_attempt = now
        queue.save(entry)
    print("no relay running: %d queued messages made due now" % len(entries), file=out)
    return 0


def list_queue(queue_dir, out=sys.stdout):
    from servers.relay.listing import format_queue_listing
    from servers.relay.queue import Queue
    print(format_queue_listing(Queue(queue_dir).entries()), file=out)
    return 0
