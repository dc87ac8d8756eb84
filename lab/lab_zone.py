"""The lab's DNS zone, generated from the topology's address plan.

One zone, ``example.org.``: the mail domain's SOA, NS and MX records (MX 10
mx1, MX 20 relay1) and an A record for every server under
``lab.example.org.`` (``mx1.lab.example.org.``). Senders look up
``MX example.org``; hosts are named inside the same zone, so one
authoritative server answers everything without delegation.
"""
from servers.dns import tsig
from topologies.addressing import HOST_SUFFIX, MAIL_DOMAIN

TTL = 60
PRIMARY_MX = "mx1"
PRIMARY_PREF = 10
RELAY_PREF = 20


def fqdn(name):
    return "%s.%s." % (name, HOST_SUFFIX)


def mx_set(plan):
    """The zone's MX records for the mail domain: [(preference, target)]."""
    mx = [(PRIMARY_PREF, fqdn(PRIMARY_MX))] if PRIMARY_MX in plan.hosts else []
    return mx + [(RELAY_PREF, fqdn(plan.relay.name))]


def zone_text(plan, serial=1, ttl=TTL):
    """The zone file text (BIND master format, fully qualified names)."""
    origin = MAIL_DOMAIN + "."
    dns = plan.dns
    lines = [
        "$ORIGIN %s" % origin,
        "$TTL %d" % ttl,
        "%s %d IN SOA %s hostmaster.%s %d 60 30 600 %d"
        % (origin, ttl, fqdn(dns.name), origin, serial, ttl),
        "%s %d IN NS %s" % (origin, ttl, fqdn(dns.name)),
    ]
    for pref, target in mx_set(plan):
        lines.append("%s %d IN MX %d %s" % (origin, ttl, pref, target))
    for info in sorted(plan.hosts.values(), key=lambda h: (h.role == "client", h.name)):
        if info.role == "client":
            continue
        lines.append("%s %d IN A %s" % (fqdn(info.name), ttl, info.ip))
    return "\n".join(lines) + "\n"


def write_zone(plan, path, **kwargs):
    with open(path, "w", encoding="ascii") as f:
        f.write(zone_text(plan, **kwargs))
    return path


def generate_key_file(path, name="maillab-key"):
    """A fresh TSIG key (hmac-sha256) in BIND's format, as tsig-keygen writes it;
    returns ``path``."""
    tsig.generate_key_file(path, name=name)
    return path
