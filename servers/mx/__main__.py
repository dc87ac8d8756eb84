"""python -m servers.mx: the messaging server."""
import argparse
import logging
import os
import sys

from servers.common.events import EventLog, default_host
from servers.mx.maildir import Maildirs
from servers.mx.storage import MaildirStorage
from servers.smtpd.recipients import RecipientPolicy, read_recipients_file
from servers.smtpd.protocol import DEFAULT_MAX_SIZE, ReceiveFactory

log = logging.getLogger("servers.mx")


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m servers.mx",
        description="The messaging server: accepts mail for its domains over ESMTP and "
                    "delivers it to one Maildir per recipient, durably, before the 250.")
    p.add_argument("--domain", action="append", required=True, metavar="D",
                   help="a domain this server accepts mail for (repeatable)")
    p.add_argument("--maildir", required=True, metavar="DIR",
                   help="root of the Maildirs: DIR/<local@domain>/{tmp,new,cur}")
    p.add_argument("--listen", default="127.0.0.1", metavar="ADDR",
                   help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=25, help="TCP port (0: any free port)")
    p.add_argument("--events", metavar="FILE", help="append JSON-line events to FILE")
    p.add_argument("--recipients", metavar="FILE",
                   help="accept only the addresses listed in FILE (one a line)")
    p.add_argument("--hostname", default=None,
                   help="name in the greeting and Received: headers (default: host name)")
    p.add_argument("--max-size", type=int, default=DEFAULT_MAX_SIZE, metavar="BYTES",
                   help="largest message accepted (default %(default)s)")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from twisted.internet import reactor
    from twisted.python import log as twisted_log
    twisted_log.PythonLoggingObserver(loggerName="twisted").start()

    hostname = args.hostname or default_host()
    events = EventLog(args.events, service="mx")
    recipients = read_recipients_file(args.recipients) if args.recipients else None
    policy = RecipientPolicy(args.domain, recipients)
    storage = MaildirStorage(Maildirs(args.maildir, hostname), events)
    factory = ReceiveFactory(policy, storage, hostname, max_size=args.max_size)
    port = reactor.listenTCP(args.port, factory, interface=args.listen)
    bound = port.getHost()
    print("listening on %s:%d" % (bound.host, bound.port), file=sys.stderr, flush=True)
    events.emit("started", port=bound.port, listen=bound.host,
                domains=sorted(policy.domains), maildir=os.path.abspath(args.maildir))
    reactor.run()      # SIGTERM and SIGINT stop it (Twisted's own handlers)
    events.emit("stopped")
    events.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
