"""Options -> the sender (the shape of the servers): ``build_parser``,
``check_config`` (``--check``) and ``make_service(options, reactor)``, a
service that sends COUNT messages once started; its ``done`` Deferred fires
with the exit status."""
import argparse
import random
import sys
import time

from twisted.application import service
from twisted.internet import defer, task

from servers.common import smtpclient
from servers.common.config_check import add_check_option, writable_file
from servers.common.endpoints import host_port_arg
from servers.common.events import EventLog, default_host
from servers.common.mx_lookup import MXResolver
from servers.sender.compose import build_message, message_id
from servers.sender.sender import Ledger, Sender


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m servers.sender",
        description="Send COUNT messages to ADDR like an MTA: MX lookup through the lab DNS, "
                    "hosts in preference order, fallback; a ledger line for every 250.")
    p.add_argument("--dns", type=host_port_arg, required=True, metavar="ADDR:PORT",
                   help="the DNS server to ask for MX records")
    p.add_argument("--to", required=True, metavar="ADDR", help="recipient address")
    p.add_argument("--count", type=int, default=1, metavar="N")
    p.add_argument("--from", dest="sender", default="sender@client.lab", metavar="ADDR",
                   help="envelope and header sender (default %(default)s)")
    p.add_argument("--ledger", metavar="FILE", help="append a JSON line per 250 to FILE")
    p.add_argument("--events", metavar="FILE", help="append JSON-line events to FILE")
    p.add_argument("--rate", type=float, default=0, metavar="PER_S",
                   help="start at most this many messages a second (default: no limit)")
    p.add_argument("--seed", default=None, help="seed of the Message-IDs (default: time)")
    p.add_argument("--msgid-prefix", default="msg", metavar="P")
    p.add_argument("--size", type=int, default=1024, metavar="BYTES")
    p.add_argument("--connect-timeout", type=float, default=3.0, metavar="S")
    p.add_argument("--command-timeout", type=float, default=30.0, metavar="S")
    p.add_argument("--smtp-port", type=int, default=25, metavar="N",
                   help="SMTP port on the MX hosts (default 25)")
    p.add_argument("--sessions", type=int, default=4, metavar="N",
                   help="concurrent SMTP sessions at most (default 4)")
    p.add_argument("--rounds", type=int, default=3, metavar="N",
                   help="passes over the MX list before giving up a message (default 3)")
    p.add_argument("--round-backoff", type=float, default=1.0, metavar="S",
                   help="pause before the second pass, doubled after (default 1 s)")
    p.add_argument("--helo", default=None, help="EHLO name (default: host name)")
    add_check_option(p)
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


@defer.inlineCallbacks
def run(reactor, args):
    events = EventLog(args.events, service="sender")
    ledger = Ledger(args.ledger)
    seed = args.seed if args.seed is not None else str(int(time.time()))
    resolver = MXResolver(args.dns[0], args.dns[1], rng=random.Random(seed), reactor=reactor)
    helo = args.helo or default_host()

    def open_session(ip, port):
        return smtpclient.connect(reactor, ip, port, helo, connect_timeout=args.connect_timeout,
                                  command_timeout=args.command_timeout,
                                  data_timeout=args.command_timeout * 2)
    sender = Sender(resolver.lookup, open_session, reactor, events, ledger,
                    smtp_port=args.smtp_port, rounds=args.rounds,
                    round_backoff=args.round_backoff, sessions=args.sessions)
    events.emit("started", count=args.count, to=args.to)
    pending = []
    for n in range(1, args.count + 1):
        if args.rate > 0 and n > 1:
            yield task.deferLater(reactor, 1.0 / args.rate, lambda: None)
        msgid = message_id(args.msgid_prefix, seed, n)
        data = build_message(args.sender, args.to, msgid, n, args.size)
        pending.append(sender.send(args.sender, args.to, msgid, data))
    results = yield defer.gatherResults(pending)
    ledger.close()
    sent = sum(1 for ok in results if ok)
    events.emit("stopped", sent=sent, failed=len(results) - sent)
    events.close()
    print("sent %d of %d" % (sent, len(results)), file=sys.stderr)
    return 0 if sent == len(results) else 1


def check_config(options):
    """What ``--check`` verifies; raises with the file and the fault."""
    checked = ["DNS %s:%d" % options.dns]
    for path, what in ((options.ledger, "ledger"), (options.events, "events file")):
        if path:
            writable_file(path, what)
            checked.append("%s %s writable" % (what, path))
    if options.count < 0 or options.rate < 0 or options.size < 0:
        raise ValueError("--count, --rate and --size must not be negative")
    return checked


class SendingService(service.Service):
    """Sends once started; ``done`` fires with the exit status (0: every message got a 250)."""

    def __init__(self, options, reactor):
        self.options, self.reactor = options, reactor
        self.done = None

    def startService(self):
        super().startService()
        self.done = run(self.reactor, self.options)


def make_service(options, reactor):
    return SendingService(options, reactor)
