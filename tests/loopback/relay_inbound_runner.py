"""Test-only: serve the relay's inbound side (build_inbound_factory) alone,
so real clients can talk to it without the relay's scheduler.

python -m tests.loopback.relay_inbound_runner --domain D --queue DIR --port 0 [--events FILE]
"""
import argparse
import sys

from twisted.internet import reactor

from servers.common.events import EventLog
from servers.relay.inbound import build_inbound_factory
from servers.relay.queue import Queue


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--domain", action="append", required=True)
    p.add_argument("--queue", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--events")
    p.add_argument("--next-hop")
    args = p.parse_args(argv)
    events = EventLog(args.events, service="relay", host="relay1")
    queue = Queue(args.queue, events)
    factory = build_inbound_factory(args.domain, queue, events, on_queued=None,
                                    hostname="relay1.lab", next_hop=args.next_hop)
    port = reactor.listenTCP(args.port, factory, interface="127.0.0.1")
    print("listening on 127.0.0.1:%d" % port.getHost().port, file=sys.stderr, flush=True)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
