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
MX_TTL = 5          # short, so that a change of mail server shows within a scenario
PRIMARY_PREF = 10
RELAY_PREF = 20


def fqdn(name):
    return "%s.%s." % (name, HOST_SUFFIX)


def mx_set(plan):
    """The zone's MX records for the mail domain: [(preference, target)]: the
    plan's mail exchangers (mx1 unless a scenario says otherwise), then the relay."""
    mx = [(PRIMARY_PREF, fqdn(name)) for name in plan.mail_exchangers if name in plan.hosts]
    return sorted(mx) + [(RELAY_PREF, fqdn(plan.relay.name))]


def mx_record(name, pref=PRIMARY_PREF, ttl=MX_TTL):
    """``name``'s MX record for the mail domain, as dnsupdate's --add takes it
    (``ttl=None``: as its --delete takes it)."""
    if ttl is None:
        return "%s. MX %d %s" % (MAIL_DOMAIN, pref, fqdn(name))
    return "%s. %d MX %d %s" % (MAIL_DOMAIN, ttl, pref, fqdn(name))


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
        lines.append("%s %d IN MX %d %s" % (origin, min(ttl, MX_TTL), pref, target))
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
