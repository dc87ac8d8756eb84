"""python -m servers.relay: the backup relay (store, retry, re-route)."""
import argparse
import logging
import os
import signal
import sys

from servers.common.events import EventLog, default_host
from servers.relay import backoff, routes
from servers.common.endpoints import parse_host_port
from servers.common.provision_proto import parse_action
from servers.relay.service import flush_queue, list_queue, make_service, pid_path, write_pid

log = logging.getLogger("servers.relay")


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
    p.add_argument("--list", action="store_true", help="print the queue and exit")
    p.add_argument("--flush", action="store_true",
                   help="make every queued message due now (signals a running relay) and exit")
    # test only: forget each message right after its 250, so a test can watch the checker fail
    p.add_argument("--test-drop-queued", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def check_args(p, args):
    if args.list or args.flush:
        return
    if not args.domain:
        p.error("at least one --domain is required")
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


def main(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    check_args(p, args)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.list:
        return list_queue(args.queue)
    if args.flush:
        return flush_queue(args.queue)

    from twisted.internet import reactor
    from servers.relay.queue import Queue

    hostname = args.hostname or default_host()
    events = EventLog(args.events, service="relay")
    queue = Queue(args.queue, events=events)
    top = make_service(args, reactor, queue, events, hostname)
    top.startService()
    bound = top.listener._port.getHost()
    write_pid(args.queue)
    signal.signal(signal.SIGUSR1,
                  lambda *_: reactor.callFromThread(top.scheduler.flush))
    print("listening on %s:%d" % (bound.host, bound.port), file=sys.stderr, flush=True)
    events.emit("started", port=bound.port, listen=bound.host, domains=args.domain,
                queue=os.path.abspath(args.queue))
    reactor.addSystemEventTrigger("before", "shutdown", top.stopService)
    reactor.run()
    try:
        os.unlink(pid_path(args.queue))
    except OSError:
        pass
    events.emit("stopped")
    events.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
