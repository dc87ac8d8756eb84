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
from servers.dns.server import (DNSDatagramProtocol, DNSServer, DNSStreamFactory,
                                replay_state_path)
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
    return checked


class ListeningService(service.Service):
    """UDP and TCP on one port; with port 0, the first port free for both."""

    def __init__(self, server, interface, port, reactor, events):
        self.server, self.interface, self.port = server, interface, port
        self.reactor, self.events = reactor, events
        self.ports = []

    def startService(self):
        super().startService()
        for _ in range(50):
            udp = self.reactor.listenUDP(self.port, DNSDatagramProtocol(self.server),
                                         interface=self.interface)
            port = udp.getHost().port
            try:
                tcp = self.reactor.listenTCP(port, DNSStreamFactory(self.server),
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
    ListeningService(server, options.listen, options.port, reactor, events).setServiceParent(top)
    if checker:
        checker.setServiceParent(top)
    return top
