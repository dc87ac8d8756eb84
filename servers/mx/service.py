"""Options -> the messaging server's service (the shape of servers.dns and
servers.relay): ``build_parser``, ``check_config`` (``--check``) and
``make_service(options, reactor)``."""
import argparse
import os

from twisted.application import service
from twisted.application.internet import TCPServer

from servers.common.config_check import add_check_option, readable_file, writable_dir, \
    writable_file
from servers.common.events import EventLog, default_host
from servers.mx.maildir import Maildirs
from servers.mx.storage import MaildirStorage
from servers.smtpd.limits import (LISTEN_BACKLOG, add_limit_options, check_limit_options,
                                  session_table)
from servers.smtpd.protocol import DEFAULT_MAX_SIZE, ReceiveFactory
from servers.smtpd.recipients import RecipientPolicy, read_recipients_file


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
    add_limit_options(p)
    add_check_option(p)
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def check_config(options):
    """What ``--check`` verifies; raises with the file and the fault."""
    checked = ["domains %s" % ", ".join(sorted(RecipientPolicy(options.domain).domains))]
    writable_dir(options.maildir, "Maildir root")
    checked.append("Maildir root %s writable" % options.maildir)
    if options.recipients:
        readable_file(options.recipients, "recipients file")
        checked.append("%d recipients in %s" % (len(read_recipients_file(options.recipients)),
                                                options.recipients))
    if options.events:
        writable_file(options.events, "events file")
        checked.append("events file %s writable" % options.events)
    if options.max_size <= 0:
        raise ValueError("--max-size must be > 0")
    checked += check_limit_options(options)
    return checked


def make_service(options, reactor):
    """The listening messaging server for parsed ``options`` (``.events``,
    ``.listener``)."""
    events = EventLog(options.events, service="mx")
    hostname = options.hostname or default_host()
    recipients = read_recipients_file(options.recipients) if options.recipients else None
    policy = RecipientPolicy(options.domain, recipients)
    storage = MaildirStorage(Maildirs(options.maildir, hostname), events)
    factory = ReceiveFactory(policy, storage, hostname, max_size=options.max_size, clock=reactor,
                             sessions=session_table(options, reactor, "mx"),
                             deadline=options.session_deadline)
    top = service.MultiService()
    listener = TCPServer(options.port, factory, interface=options.listen, reactor=reactor,
                         backlog=LISTEN_BACKLOG)
    listener.setServiceParent(top)
    top.listener = listener
    top.events = events
    top.domains = sorted(policy.domains)
    top.maildir = os.path.abspath(options.maildir)
    return top
