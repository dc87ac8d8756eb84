"""Options -> the relay service: inbound listener + delivery scheduler.

``make_service`` turns parsed options into a MultiService; ``flush_queue``
and ``list_queue`` are the teaching commands (``--flush``, ``--list``).
"""
import argparse
import logging
import os
import signal
import sys
import time

from twisted.application import service
from twisted.application.internet import TCPServer
from twisted.internet import defer, threads
from zope.interface import provider

from servers.common import smtpclient
from servers.common.config_check import (add_check_option, readable_file, writable_dir,
                                         writable_file)
from servers.common.events import EventLog, default_host
from servers.common.durable import write_atomic
from servers.common.mx_lookup import MXError, MXResolver
from servers.common.endpoints import parse_host_port
from servers.common.provision_proto import parse_action, read_secret, request_provision
from servers.relay import backoff, routes
from servers.relay.backoff import RetryPolicy
from servers.relay.interfaces import IProvisionerClient
from servers.relay.recovery import Recovery, Sites, tcp_probe
from servers.relay.routes import FILE_NAME as ROUTES_FILE, Routes
from servers.relay.scheduler import Scheduler
from servers.smtpd.limits import (LISTEN_BACKLOG, add_limit_options, check_limit_options,
                                  session_table)

log = logging.getLogger(__name__)

PID_FILE = "relay.pid"


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m servers.relay",
        description="The backup relay: accepts mail for its relay domains, stores it durably, "
                    "retries delivery with backoff, and re-routes it to a new messaging server "
                    "when the old one stays down.",
        epilog="Retry defaults are lab-sized (seconds). Real MTAs use about 300 s minimum, "
               "3600 s maximum and 5 days (432000 s) before giving up.")
    p.add_argument("--domain", action="append", default=[], metavar="D",
                   help="a domain this relay is backup MX for (repeatable)")
    p.add_argument("--queue", required=True, metavar="DIR", help="the queue directory")
    p.add_argument("--listen", default="127.0.0.1", metavar="ADDR")
    p.add_argument("--port", type=int, default=25, help="TCP port (0: any free port)")
    route = p.add_mutually_exclusive_group()
    route.add_argument("--dns", metavar="ADDR:PORT", help="DNS server for MX lookups")
    route.add_argument("--next-hop", metavar="HOST:PORT",
                       help="deliver everything to this server instead of looking MX up")
    p.add_argument("--smtp-port", type=int, default=25, metavar="N",
                   help="SMTP port of MX hosts found through --dns (default 25)")
    p.add_argument("--retry-interval", type=float, default=backoff.LAB_MINIMUM, metavar="S",
                   help="minimum backoff (default %(default)s s; real world 300)")
    p.add_argument("--max-retry-interval", type=float, default=backoff.LAB_MAXIMUM, metavar="S",
                   help="maximum backoff (default %(default)s s; real world 3600)")
    p.add_argument("--give-up", type=float, default=backoff.LAB_GIVE_UP, metavar="S",
                   help="bounce after this long undelivered (default %(default)s s; "
                        "real world 5 days)")
    p.add_argument("--retry-policy", metavar="FILE", help="a Python file whose "
                   "make_policy(minimum, maximum, give_up) returns the IRetryPolicy to use "
                   "instead of exponential backoff (servers/relay/policy_file.py)")
    p.add_argument("--events", metavar="FILE", help="append JSON-line events to FILE")
    p.add_argument("--provisioner", metavar="unix:PATH|tcp:HOST:PORT",
                   help="where to ask for a new messaging server")
    p.add_argument("--provisioner-secret", metavar="FILE", help="hex secret shared with it")
    p.add_argument("--provision-after", type=float, default=None, metavar="S",
                   help="decide how to recover a messaging server once it has been down "
                        "this long")
    p.add_argument("--sites", metavar="FILE",
                   help="the data centers (JSON: name, subnet, router and hosts to probe): "
                        "what the recovery policy probes and where it may ask for a server")
    p.add_argument("--recreate-deadline", type=float, default=10.0, metavar="S",
                   help="a provisioner request, and a re-created server answering, must "
                        "take less than this, or the policy looks elsewhere (default %(default)s)")
    p.add_argument("--probe-timeout", type=float, default=1.0, metavar="S",
                   help="a router or host that neither accepts nor refuses a connection "
                        "within this is down (default %(default)s)")
    p.add_argument("--route-lifetime", type=float, default=routes.DEFAULT_LIFETIME, metavar="S",
                   help="a learned route (mail for a dead server sent to its replacement) "
                        "expires after this (default %(default)s s)")
    p.add_argument("--keep-routes", action="store_true",
                   help="keep learned routes when the replaced server is back (default: undo them)")
    p.add_argument("--provision-action", default=None, metavar="recreate:NAME|create:DC",
                   help="override the recovery policy: always ask for this")
    p.add_argument("--self-name", metavar="NAME",
                   help="this relay's MX host name: its MX level and worse are never used")
    p.add_argument("--recipients", metavar="FILE", help="accept only these addresses")
    p.add_argument("--hostname", help="greeting/EHLO name (default: host name)")
    p.add_argument("--concurrency", type=int, default=10, metavar="N",
                   help="SMTP sessions per destination (default %(default)s)")
    p.add_argument("--connect-timeout", type=float, default=3.0, metavar="S")
    p.add_argument("--command-timeout", type=float, default=30.0, metavar="S")
    p.add_argument("--receivers", type=int, default=1, metavar="N",
                   help="processes receiving on the listening socket: the relay and N-1 "
                        "more (servers/relay/receivers.py), each on its own core; the "
                        "relay alone delivers. Session limits apply per process "
                        "(default %(default)s)")
    add_limit_options(p)
    p.add_argument("--list", action="store_true", help="print the queue and exit")
    p.add_argument("--flush", action="store_true",
                   help="make every queued message due now (signals a running relay) and exit")
    add_check_option(p)
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def check_args(p, args):
    if args.list or args.flush:
        return
    if not args.domain:
        p.error("at least one --domain is required")
    if args.receivers < 1:
        p.error("--receivers must be at least 1")
    if not (args.dns or args.next_hop):
        p.error("one of --dns or --next-hop is required")
    try:
        if args.next_hop:
            parse_host_port(args.next_hop)
        if args.dns:
            parse_host_port(args.dns)
        if args.provision_action:
            parse_action(args.provision_action)
        if args.provisioner:
            if not args.provisioner_secret or args.provision_after is None:
                p.error("--provisioner needs --provisioner-secret and --provision-after")
            if not args.provision_action and not args.sites:
                p.error("the recovery policy needs --sites (or --provision-action to override it)")
    except ValueError as e:
        p.error(str(e))


def check_config(args):
    """What ``--check`` verifies (beyond ``check_args``); raises with the file and the fault."""
    from servers.relay.queue import SUFFIX, parse
    writable_dir(args.queue, "queue directory")
    checked = ["queue directory %s writable" % args.queue]
    if os.path.isdir(args.queue):
        bad = []
        names = sorted(n for n in os.listdir(args.queue)
                       if n.endswith(SUFFIX) and not n.startswith("."))
        for name in names:
            try:
                with open(os.path.join(args.queue, name), "rb") as f:
                    parse(f.read())
            except (OSError, ValueError) as e:
                bad.append("%s (%s)" % (name, e))
        checked.append("%d queued messages" % len(names)
                       + (", %d unreadable, to be set aside at start: %s"
                          % (len(bad), ", ".join(bad[:3])) if bad else ""))
    if args.provisioner:
        readable_file(args.provisioner_secret, "provisioner secret")
        try:
            read_secret(args.provisioner_secret)
        except ValueError:
            raise ValueError("provisioner secret %s: not hex text" % args.provisioner_secret) \
                from None
        if args.sites:
            readable_file(args.sites, "sites file")
            try:
                Sites.load(args.sites)
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError("sites file %s: %s" % (args.sites, e)) from None
        checked.append("provisioner %s (%s)" % (args.provisioner,
                                                args.provision_action or "recovery policy"))
    if args.recipients:
        readable_file(args.recipients, "recipients file")
        checked.append("recipients file %s" % args.recipients)
    if args.events:
        writable_file(args.events, "events file")
        checked.append("events file %s writable" % args.events)
    if args.retry_interval <= 0 or args.give_up <= 0:
        raise ValueError("--retry-interval and --give-up must be > 0")
    if args.retry_policy:
        _policy(args)
        checked.append("retry policy %s" % args.retry_policy)
    checked += check_limit_options(args)
    return checked


def _policy(args):
    """The retry policy: exponential backoff, or the one ``--retry-policy`` names."""
    maximum = max(args.max_retry_interval, args.retry_interval)
    if args.retry_policy:
        from servers.relay import policy_file
        return policy_file.load(args.retry_policy, args.retry_interval, maximum, args.give_up)
    return RetryPolicy(args.retry_interval, maximum, args.give_up)


class SchedulerService(service.Service):
    """Loads the queue at start (a restart resumes every stored message)."""

    def __init__(self, scheduler, queue, events):
        self.scheduler = scheduler
        self.queue = queue
        self.events = events

    def startService(self):
        super().startService()
        entries = self.queue.entries()
        self.queue.compact_retries(entries)
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


def provisioner_client(args, reactor, hostname, timeout):
    """The signed requests to ``--provisioner``, as ``ask(action, **fields)``."""
    secret = read_secret(args.provisioner_secret)

    @provider(IProvisionerClient)
    def ask(action, **fields):
        return request_provision(args.provisioner, secret, action, reactor=reactor,
                                 requester=hostname, timeout=timeout, **fields)
    return ask


def make_service(args, reactor, argv=None):
    """The MultiService: scheduler + the SMTP listener feeding it (``.events``,
    ``.scheduler``, ``.listener``), and with ``--receivers N`` the N-1 more
    receiving processes (``.receivers``), started with ``argv``, the relay's
    own options."""
    from servers.relay.inbound import build_inbound_factory
    from servers.relay.queue import Queue

    hostname = args.hostname or default_host()
    events = EventLog(args.events, service="relay")
    queue = Queue(args.queue, events=events)
    policy = _policy(args)

    def open_session(host, port):
        return smtpclient.connect(reactor, host, port, hostname,
                                  connect_timeout=args.connect_timeout,
                                  command_timeout=args.command_timeout,
                                  data_timeout=args.command_timeout * 2)

    provision = recovery = None
    if args.provisioner and args.provision_action:
        # the fixed action (an exercise's override): one request per outage
        request = parse_action(args.provision_action)
        action = request.pop("action")
        ask = provisioner_client(args, reactor, hostname, timeout=120)

        def provision():
            return ask(action, **request)
    elif args.provisioner:
        ask = provisioner_client(args, reactor, hostname, timeout=args.recreate_deadline)
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
    factory = build_inbound_factory(args.domain, queue, events, scheduler.add,
                                    recipients=recipients, hostname=hostname,
                                    next_hop=args.next_hop, clock=reactor,
                                    sessions=session_table(args, reactor, "relay"),
                                    deadline=args.session_deadline)
    top = service.MultiService()
    SchedulerService(scheduler, queue, events).setServiceParent(top)
    listener = TCPServer(args.port, factory, interface=args.listen, reactor=reactor,
                         backlog=LISTEN_BACKLOG)
    listener.setServiceParent(top)
    top.receivers = None
    if args.receivers > 1:
        from servers.relay.receivers import ReceiverPool
        top.receivers = ReceiverPool(
            reactor, args.receivers - 1, ["-m", "servers.relay.receiver"] + list(argv or ()),
            lambda: listener._port.fileno(), scheduler, queue, events,
            run_blocking=threads.deferToThread)
        top.receivers.setServiceParent(top)     # after the listener: its socket exists
    top.scheduler = scheduler
    top.listener = listener
    top.events = events
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
    queue.record_retries(entries)
    print("no relay running: %d queued messages made due now" % len(entries), file=out)
    return 0


def list_queue(queue_dir, out=sys.stdout):
    from servers.relay.listing import format_queue_listing
    from servers.relay.queue import Queue
    print(format_queue_listing(Queue(queue_dir).entries()), file=out)
    return 0
