"""Command-line options turned into the running DNS service."""
import argparse
import functools
import logging
import sys

from twisted.application import service
from twisted.internet import defer, error

from servers.common.config_check import add_check_option, readable_file, writable_file
from servers.common.events import EventLog
from servers.dns import health, tsig
from servers.common.session_limits import SessionTable
from servers.dns.server import (TCP_IDLE_TIMEOUT, TCP_MAX_CONNECTIONS, TCP_MAX_PER_CLIENT,
                                TCP_SESSION_DEADLINE, DNSDatagramProtocol, DNSServer,
                                DNSStreamFactory, replay_state_path)
from servers.dns.zone import load_zone

log = logging.getLogger("maillab.dns")


def build_parser():
    p = argparse.ArgumentParser(prog="python -m servers.dns",
                                description="Authoritative DNS server for the lab zones: "
                                "UDP and TCP, TSIG-signed RFC 2136 updates, health-checked MX.")
    p.add_argument("--zone", action="append", required=True, metavar="FILE",
                   help="zone master file (repeat for more zones); written back on UPDATE")
    p.add_argument("--listen", default="127.0.0.1", metavar="ADDR")
    p.add_argument("--port", type=int, default=53, help="UDP and TCP port (0: any free one)")
    p.add_argument("--tsig-key", metavar="FILE", help="BIND key file; UPDATEs must be signed with it")
    p.add_argument("--tsig-state", metavar="FILE",
                   help="where the last accepted time signed per key is kept, so a restart "
                   "does not reopen a replay window (default: FIRST-ZONE-FILE.tsig-state)")
    p.add_argument("--tsig-min-mac", type=int, default=tsig.MAC_SIZE, metavar="BYTES",
                   help="accept TSIG MACs truncated to BYTES (%d to %d; default %d: whole MACs "
                   "only)" % (tsig.SHORTEST_MAC, tsig.MAC_SIZE, tsig.MAC_SIZE))
    p.add_argument("--events", metavar="FILE", help="append JSON events to FILE")
    p.add_argument("--health", metavar="FILE", help="TOML file of health-checked MX sets")
    p.add_argument("--allow-axfr", nargs="*", default=[], metavar="ADDR",
                   help="addresses or networks allowed to transfer zones (AXFR over TCP)")
    p.add_argument("--tcp-max-connections", type=int, default=TCP_MAX_CONNECTIONS, metavar="N",
                   help="TCP connections held at once (BIND's tcp-clients); at the limit the "
                   "idlest is closed to make room, or the new one closed if all are active "
                   "(default %(default)s)")
    p.add_argument("--tcp-max-connections-per-client", type=int, default=TCP_MAX_PER_CLIENT,
                   metavar="N", help="TCP connections at once from one address; a new one "
                   "takes the place of that address's idlest (default %(default)s)")
    p.add_argument("--tcp-idle-timeout", type=float, default=TCP_IDLE_TIMEOUT, metavar="S",
                   help="close a TCP connection that sends no whole message for this long "
                   "(default %(default)s s)")
    p.add_argument("--tcp-session-deadline", type=float, default=TCP_SESSION_DEADLINE,
                   metavar="S", help="the longest a TCP connection may last "
                   "(default %(default)s s)")
    add_check_option(p)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def check_config(options):
    """What ``--check`` verifies: every zone parses and can be written back (UPDATE),
    the key file, the health file, the replay state and events files."""
    checked = []
    zones = []
    for path in options.zone:
        zone = load_zone(path)
        writable_file(path, "zone file")
        zones.append(zone)
        checked.append("zone %s from %s (%d names)" % (zone.origin, path, len(zone.names)))
    if options.tsig_key:
        readable_file(options.tsig_key, "TSIG key file")
        checked.append("TSIG keys %s" % ", ".join(sorted(str(k) for k in tsig.read_keys(
            options.tsig_key))))
    if options.health:
        readable_file(options.health, "health file")
        config = health.load_config(options.health)
        checked.append("health checks of %d MX targets" % len(config.mx))
    writable_file(options.tsig_state or replay_state_path(zones), "TSIG replay state")
    if options.events:
        writable_file(options.events, "events file")
    if not tsig.SHORTEST_MAC <= options.tsig_min_mac <= tsig.MAC_SIZE:
        raise ValueError("--tsig-min-mac must be between %d and %d"
                         % (tsig.SHORTEST_MAC, tsig.MAC_SIZE))
    _check_tcp_limits(options)
    checked.append("TCP: at most %d connections (%d per client), idle %g s, each at most %g s"
                   % (options.tcp_max_connections, options.tcp_max_connections_per_client,
                      options.tcp_idle_timeout, options.tcp_session_deadline))
    return checked


def _check_tcp_limits(options):
    if options.tcp_max_connections < 1 or options.tcp_max_connections_per_client < 1:
        raise ValueError("--tcp-max-connections and --tcp-max-connections-per-client "
                         "must be >= 1")
    if options.tcp_idle_timeout <= 0 or options.tcp_session_deadline <= 0:
        raise ValueError("--tcp-idle-timeout and --tcp-session-deadline must be > 0")


class ListeningService(service.Service):
    """UDP and TCP on one port; with port 0, the first port free for both."""

    def __init__(self, server, interface, port, reactor, events, stream_factory=None):
        self.server, self.interface, self.port = server, interface, port
        self.stream_factory = stream_factory or DNSStreamFactory(server, reactor)
        self.reactor, self.events = reactor, events
        self.ports = []

    def startService(self):
        super().startService()
        for _ in range(50):
            udp = self.reactor.listenUDP(self.port, DNSDatagramProtocol(self.server),
                                         interface=self.interface)
            port = udp.getHost().port
            try:
                tcp = self.reactor.listenTCP(port, self.stream_factory, backlog=1024,
                                             interface=self.interface)
            except error.CannotListenError:
                udp.stopListening()
                if self.port:
                    raise
                continue
            break
        else:
            raise error.CannotListenError(self.interface, 0, "no port free for UDP and TCP")
        self.ports = [udp, tcp]
        for kind in ("udp", "tcp"):
            print("listening on %s:%d (%s)" % (self.interface, port, kind), file=sys.stderr,
                  flush=True)
        self.events.emit("started", listen=self.interface, port=port,
                         zones=[str(z.origin) for z in self.server.zones])

    def stopService(self):
        super().stopService()
        ports, self.ports = self.ports, []
        self.events.emit("stopped")
        return defer.gatherResults([defer.maybeDeferred(p.stopListening) for p in ports])


def make_service(options, reactor):
    """The service for parsed ``options``; raises ValueError/ZoneError on bad input."""
    events = EventLog(options.events, service="dns")
    zones = [load_zone(path) for path in options.zone]
    keys = tsig.read_keys(options.tsig_key) if options.tsig_key else {}
    top = service.MultiService()
    checker = None
    if options.health:
        checker = health.HealthChecker(health.load_config(options.health), zones,
                                       functools.partial(health.tcp_probe, reactor),
                                       reactor, events)
    if not tsig.SHORTEST_MAC <= options.tsig_min_mac <= tsig.MAC_SIZE:
        raise ValueError("--tsig-min-mac must be between %d and %d"
                         % (tsig.SHORTEST_MAC, tsig.MAC_SIZE))
    server = DNSServer(zones, keys, checker.filter if checker else None,
                       options.allow_axfr, events, replay_state=options.tsig_state,
                       min_mac_size=options.tsig_min_mac)
    _check_tcp_limits(options)
    sessions = SessionTable(options.tcp_max_connections, options.tcp_max_connections_per_client,
                            reactor, "dns (TCP)", per_client_room=True)
    stream_factory = DNSStreamFactory(server, reactor, sessions, options.tcp_idle_timeout,
                                      options.tcp_session_deadline)
    ListeningService(server, options.listen, options.port, reactor, events,
                     stream_factory).setServiceParent(top)
    if checker:
        checker.setServiceParent(top)
    return top
