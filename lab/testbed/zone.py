"""The lab's DNS zone, generated from the topology's address plan.

One zone, ``example.org.``: the mail domain's SOA, NS and MX records (MX 10
for the plan's primary messaging server, MX 20 for the relay) and an A
record for every server under ``lab.example.org.``
(``mx1.lab.example.org.``). Senders look up ``MX example.org``; hosts are
named inside the same zone, so one authoritative server answers everything
without delegation. The zone is built and written by the DNS server's own
zone module (``servers.dns.zone``), so the file is the server's format.
"""
from dnslib import MX, NS, QTYPE, RR, SOA, A, DNSLabel

from servers.dns import tsig
from servers.dns.zone import Zone, zone_text as master_file_text
from topologies.addressing import HOST_SUFFIX, MAIL_DOMAIN

TTL = 60
MX_TTL = 5          # short, so that a change of mail server shows within a scenario
PRIMARY_PREF = 10
RELAY_PREF = 20


def fqdn(name):
    return "%s.%s." % (name, HOST_SUFFIX)


def mx_set(plan):
    """The zone's MX records for the mail domain: [(preference, target)]: the
    plan's primary messaging server (and any other mail exchangers a scenario
    lists) at the primary preference, then the relay."""
    names = plan.mail_exchangers or [plan.primary_mx]
    mx = [(PRIMARY_PREF, fqdn(name)) for name in names if name in plan.hosts]
    return sorted(mx) + [(RELAY_PREF, fqdn(plan.relay.name))]


def mx_record(name, pref=PRIMARY_PREF, ttl=MX_TTL):
    """``name``'s MX record for the mail domain, as dnsupdate's --add takes it
    (``ttl=None``: as its --delete takes it)."""
    if ttl is None:
        return "%s. MX %d %s" % (MAIL_DOMAIN, pref, fqdn(name))
    return "%s. %d MX %d %s" % (MAIL_DOMAIN, ttl, pref, fqdn(name))


def build_zone(plan, serial=1, ttl=TTL):
    """The lab zone as a ``servers.dns.zone.Zone``."""
    origin = DNSLabel(MAIL_DOMAIN + ".")
    zone = Zone(origin)
    ns = fqdn(plan.dns.name)
    zone.add(RR(origin, QTYPE.SOA, ttl=ttl, rdata=SOA(
        ns, "hostmaster." + MAIL_DOMAIN + ".", (serial, 60, 30, 600, ttl))))
    zone.add(RR(origin, QTYPE.NS, ttl=ttl, rdata=NS(ns)))
    for pref, target in mx_set(plan):
        zone.add(RR(origin, QTYPE.MX, ttl=min(ttl, MX_TTL), rdata=MX(target, pref)))
    for info in sorted(plan.hosts.values(), key=lambda h: h.name):
        if info.role != "client":
            zone.add(RR(fqdn(info.name), QTYPE.A, ttl=ttl, rdata=A(info.ip)))
    return zone


def zone_text(plan, serial=1, ttl=TTL):
    """The zone file text (master format, fully qualified names)."""
    return master_file_text(build_zone(plan, serial, ttl))


def write_zone(plan, path, **kwargs):
    """Write the lab zone to ``path`` (atomically, durably); returns ``path``."""
    zone = build_zone(plan, **kwargs)
    zone.path = path
    zone.save()
    return path


def generate_key_file(path, name="maillab-key"):
    """A fresh TSIG key (hmac-sha256) in BIND's format, as tsig-keygen writes it;
    returns ``path``."""
    tsig.generate_key_file(path, name=name)
    return path
