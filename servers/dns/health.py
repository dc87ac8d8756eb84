"""Health-checked MX answers: targets that fail a TCP probe leave the MX set.

Configured by a TOML side file::

    interval = 1.0        # seconds between probes
    timeout = 0.5         # probe timeout
    ttl = 5               # TTL of MX answers while health-checked
    [[mx]]
    name = "example.org." # the owner of the MX set
    port = 25             # probe this TCP port on each MX target's A record

A target whose probe fails is left out until a probe succeeds; if every
target fails, all are answered (an empty MX set would make senders treat the
domain itself as its mail host).
"""
import collections
import logging
import tomllib

from dnslib import QTYPE, RR, DNSLabel
from twisted.application import service
from twisted.internet import defer, task

from servers.common.tcp_probe import ACCEPTED, connect_outcome
from servers.dns.answer import find_zone

log = logging.getLogger("maillab.dns.health")

HealthConfig = collections.namedtuple("HealthConfig", "interval timeout ttl mx")  # mx: {name: port}


def load_config(path):
    with open(path, "rb") as f:
        data = tomllib.load(f)
    try:
        mx = {DNSLabel(entry["name"]): int(entry.get("port", 25)) for entry in data.get("mx", [])}
        config = HealthConfig(float(data.get("interval", 1.0)), float(data.get("timeout", 0.5)),
                              int(data.get("ttl", 5)), mx)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError("%s: bad health config: %s" % (path, e)) from None
    if config.interval <= 0 or config.timeout <= 0 or config.ttl < 0 or not mx:
        raise ValueError("%s: interval and timeout must be > 0, ttl >= 0, and one [[mx]] given"
                         % path)
    return config


def tcp_probe(reactor, ip, port, timeout):
    """Deferred[bool]: whether a TCP connection to ip:port opens within ``timeout``."""
    return connect_outcome(reactor, ip, port, timeout).addCallback(
        lambda outcome: outcome == ACCEPTED)


class HealthChecker(service.Service):
    """Probes MX targets every ``interval`` and filters MX answers by the result.

    ``prober(ip, port, timeout) -> Deferred[bool]``; ``clock`` is the reactor
    (or a task.Clock in tests).
    """

    def __init__(self, config, zones, prober, clock, events=None):
        self.config, self.zones, self.prober = config, zones, prober
        self.clock, self.events = clock, events
        self.down = set()           # target names whose last probe failed
        self._probing = set()
        self._loop = None

    def startService(self):
        super().startService()
        self._loop = task.LoopingCall(self.probe_all)
        self._loop.clock = self.clock
        self._loop.start(self.config.interval, now=True)

    def stopService(self):
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    def targets(self):
        """(target name, IPv4 address, port) for every health-checked MX target."""
        for name, port in self.config.mx.items():
            zone = find_zone(self.zones, name)
            for mx in zone.rrs(name, QTYPE.MX) if zone else []:
                target = DNSLabel(mx.rdata.label)
                target_zone = find_zone(self.zones, target)
                addresses = target_zone.rrs(target, QTYPE.A) if target_zone else []
                if addresses:
                    yield target, str(addresses[0].rdata), port

    def probe_all(self):
        for target, ip, port in list(self.targets()):
            if target in self._probing:
                continue        # the last probe has not finished yet
            self._probing.add(target)
            d = defer.maybeDeferred(self.prober, ip, port, self.config.timeout)
            d.addTimeout(self.config.timeout * 2, self.clock)
            d.addCallbacks(bool, lambda failure: False)
            d.addCallback(self._result, target, ip, port)

    def _result(self, ok, target, ip, port):
        self._probing.discard(target)
        if ok != (target in self.down):
            return      # no change
        before = self.answers()
        if ok:
            self.down.discard(target)
            log.info("%s (%s:%d) is up again", target, ip, port)
        else:
            self.down.add(target)
            log.info("%s (%s:%d) is down", target, ip, port)
        after = self.answers()
        for name in self.config.mx:
            if before[name] != after[name] and self.events is not None:
                self.events.emit("answer_changed", name=str(name), answer=after[name],
                                 down=sorted(str(t) for t in self.down))

    def answers(self):
        """{MX owner: [target names answered now]}."""
        result = {}
        for name in self.config.mx:
            zone = find_zone(self.zones, name)
            rrs = zone.rrs(name, QTYPE.MX) if zone else []
            result[name] = [str(rr.rdata.label) for rr in self.filter(name, rrs)]
        return result

    def filter(self, name, rrs):
        """The MX records of ``name`` to answer with: healthy targets, short TTL."""
        if DNSLabel(name) not in self.config.mx:
            return rrs
        healthy = [rr for rr in rrs if DNSLabel(rr.rdata.label) not in self.down] or rrs
        return [RR(rr.rname, rr.rtype, ttl=self.config.ttl, rdata=rr.rdata) for rr in healthy]
