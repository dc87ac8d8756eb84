"""MX lookup through a given DNS server, ordered as RFC 5321 §5.1 says.

``order_mx`` is the pure part: preference order, equal preferences shuffled
(with an injectable random generator), and, when the caller is itself one of
the MX hosts (a backup relay), its own level and every worse one dropped so
that mail never loops back to it.  ``MXResolver`` asks a DNS server at
ADDR:PORT (twisted.names) for the MX set and the targets' A records.
"""
import logging
import random

from twisted.internet import defer
from twisted.names import client, dns, error as dns_error

log = logging.getLogger(__name__)


class MXError(Exception):
    """No usable mail server for a domain."""

    def __init__(self, message, permanent=False, unreachable=False):
        super().__init__(message)
        self.permanent = permanent
        # no other MX host to go to (e.g. a health-checked zone lists only us):
        # for the relay that is an outage of the destination
        self.unreachable = unreachable


def normalize(name):
    return name.lower().rstrip(".") + "."


def order_mx(records, self_name=None, rng=random):
    """MX target names in the order to try them.

    ``records`` is a list of (preference, name).  Lower preference first;
    names at the same preference shuffled with ``rng``.  If ``self_name`` (a
    name, or a set of names) is one of the targets, that preference and
    every higher one are dropped.
    """
    records = [(pref, normalize(name)) for pref, name in records]
    if self_name:
        selves = {normalize(n) for n in ([self_name] if isinstance(self_name, str)
                                         else self_name)}
        own = [pref for pref, name in records if name in selves]
        if own:
            records = [(pref, name) for pref, name in records if pref < min(own)]
    by_pref = {}
    for pref, name in records:
        by_pref.setdefault(pref, [])
        if name not in by_pref[pref]:
            by_pref[pref].append(name)
    ordered = []
    for pref in sorted(by_pref):
        level = by_pref[pref]
        rng.shuffle(level)
        ordered.extend(level)
    return ordered


class MXResolver:
    """``lookup(domain)`` -> Deferred list of (mx_name, ip) in try order.

    Fails with MXError: permanent for a domain that does not exist,
    temporary when the DNS server does not answer, or when the only MX hosts
    are this host itself or worse.
    """

    def __init__(self, dns_addr, dns_port, self_name=None, rng=random, reactor=None,
                 timeout=(1, 2, 3), self_addresses=()):
        if reactor is None:
            from twisted.internet import reactor
        self.resolver = client.Resolver(servers=[(dns_addr, dns_port)], reactor=reactor)
        self.self_name = self_name
        self.self_addresses = set(self_addresses)   # an MX host with one of these is us
        self.rng = rng
        self.timeout = timeout

    @defer.inlineCallbacks
    def lookup(self, domain):
        try:
            answers, _, additional = yield self.resolver.lookupMailExchange(
                domain, timeout=self.timeout)
        except dns_error.DomainError:
            raise MXError("domain %s does not exist" % domain, permanent=True)
        except Exception as e:
            raise MXError("MX lookup for %s failed: %s" % (domain, e.__class__.__name__))
        records = [(a.payload.preference, str(a.payload.name)) for a in answers
                   if a.type == dns.MX]
        if not records:
            # RFC 5321 §5.1: no MX records -> the domain itself, preference 0.
            records = [(0, domain)]
        glue = {}
        for rr in additional:
            if rr.type == dns.A:
                glue.setdefault(normalize(str(rr.name)), []).append(rr.payload.dottedQuad())
        addresses = {}
        for _, name in records:
            name = normalize(name)
            if name not in addresses:
                addresses[name] = glue.get(name) or (yield self._addresses(name))
        selves = {name for name, ips in addresses.items() if self.self_addresses & set(ips)}
        if self.self_name:
            selves.add(normalize(self.self_name))
        names = order_mx(records, selves, self.rng)
        if not names and selves:
            raise MXError("this host (%s) is the best MX host for %s: nowhere to relay to"
                          % (", ".join(sorted(selves)), domain), unreachable=True)
        servers = [(name, ip) for name in names for ip in addresses[name]]
        if not servers:
            raise MXError("no address for any MX host of %s" % domain)
        return servers

    @defer.inlineCallbacks
    def _addresses(self, name):
        try:
            answers, _, _ = yield self.resolver.lookupAddress(name, timeout=self.timeout)
        except Exception as e:
            log.info("no address for %s: %s", name, e.__class__.__name__)
            return []
        return [a.payload.dottedQuad() for a in answers if a.type == dns.A]
