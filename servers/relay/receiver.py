"""python -m servers.relay.receiver: one more receiving process of a relay.

Started by the relay itself with ``--receivers N`` (servers/relay/receivers.py),
with the relay's own options and ``--listen-fd 3``, the listening socket it
inherits.  It receives, stores durably and answers 250 exactly as the relay
does, and announces each stored message on its standard output, one JSON
line (``receivers.announcement``); it delivers nothing.
"""
import argparse
import logging
import os
import socket
import sys

from servers.common.events import EventLog, default_host
from servers.common.startup import begin
from servers.relay.receivers import READY, announcement, die_with_parent
from servers.relay.service import build_parser

log = logging.getLogger("servers.relay.receiver")


class Announcer:
    """``on_queued(entry)``: the entry's line, in one write, to the relay."""

    def __init__(self, fd):
        self.fd = fd

    def __call__(self, entry):
        self.line(announcement(entry))

    def line(self, data):
        line = memoryview(data)
        while line:
            line = line[os.write(self.fd, line):]


def main(argv=None):
    die_with_parent()
    p = build_parser()
    p.prog = "python -m servers.relay.receiver"
    p.add_argument("--listen-fd", type=int, required=True, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    begin("servers.relay.receiver", args, None)
    # the announcements get standard output to themselves: anything printed
    # by mistake goes to standard error instead
    notify_fd = os.dup(1)
    os.dup2(2, 1)

    from twisted.internet import reactor
    from servers.relay.inbound import build_inbound_factory
    from servers.relay.queue import Queue
    from servers.smtpd.limits import session_table

    hostname = args.hostname or default_host()
    events = EventLog(args.events, service="relay")
    queue = Queue(args.queue, events=events)
    recipients = None
    if args.recipients:
        from servers.smtpd.recipients import read_recipients_file
        recipients = read_recipients_file(args.recipients)
    announce = Announcer(notify_fd)
    factory = build_inbound_factory(args.domain, queue, events, announce,
                                    recipients=recipients, hostname=hostname,
                                    next_hop=args.next_hop, clock=reactor,
                                    sessions=session_table(args, reactor, "relay"),
                                    deadline=args.session_deadline)
    with socket.socket(fileno=os.dup(args.listen_fd)) as probe:
        family = probe.family
    os.set_blocking(args.listen_fd, False)     # shared with the relay's socket: it is already
    reactor.adoptStreamPort(args.listen_fd, family, factory)
    os.close(args.listen_fd)          # adoptStreamPort made its own copy
    log.info("receiver pid %d on the relay's socket", os.getpid())
    reactor.callWhenRunning(announce.line, READY + b"\n")
    reactor.run()
    events.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
