"""Command-line options turned into the running DNS service."""
import argparse
import functools
import logging
import sys

from twisted.application import service
from twisted.internet import defer, error
from twisted.logger import STDLibLogObserver, globalLogBeginner

from servers.common.events import EventLog
from servers.dns import health, tsig
from servers.dns.server import DNSDatagramProtocol, DNSServer, DNSStreamFactory
from servers.dns.zone import ZoneError, load_zone

log = logging.getLogger("maillab.dns")


def parse_args(argv=None):
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
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


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


def main(argv=None):
    options = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if options.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # Twisted's own log (unhandled errors included) goes to the same place.
    globalLogBeginner.beginLoggingTo([STDLibLogObserver()], redirectStandardIO=False)
    from twisted.internet import reactor
    try:
        top = make_service(options, reactor)
    except (ZoneError, ValueError, OSError) as e:
        print("servers.dns: %s" % e, file=sys.stderr)
        return 2
    try:
        top.startService()
    except error.CannotListenError as e:
        print("servers.dns: %s" % e, file=sys.stderr)
        return 1
    reactor.addSystemEventTrigger("before", "shutdown", top.stopService)
    reactor.run()
    return 0
