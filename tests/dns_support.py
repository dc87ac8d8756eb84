"""A lab zone and small helpers shared by the DNS tests."""
from dnslib import DNSRecord, EDNS0

from servers.dns.zone import parse_zone

BIG_TXT = " ".join('"%s"' % (chr(ord("a") + i) * 250) for i in range(6))   # ~1.5 kB

ZONE = """\
$ORIGIN example.org.
$TTL 300
@       IN SOA ns1 hostmaster (
            2024010101 ; serial
            3600 600 86400 60 )
        IN NS  ns1
        IN MX  10 mx1
        IN MX  20 relay
        IN TXT "v=spf1 -all"
ns1     IN A    10.0.0.53
mx1     IN A    10.0.1.25
relay   IN A    10.0.1.26
relay   IN AAAA 2001:db8::26
www     IN CNAME web
web     IN A    10.0.0.80
ext     IN CNAME www.example.com.
loop1   IN CNAME loop2
loop2   IN CNAME loop1
a.b.c   IN A    10.0.0.9
big     IN TXT %s
""" % BIG_TXT


def zone(text=ZONE, filename="example.org.zone"):
    return parse_zone(text, filename)


def query(name, qtype="A", edns=None):
    q = DNSRecord.question(name, qtype)
    if edns is not None:
        q.add_ar(EDNS0(udp_len=edns))
    return q


def dig(port, name, qtype="A", *options):
    """Ask the server with the real ``dig``; returns (status, flags, answer, authority).

    answer and authority are lists of (name, ttl, type, rdata text)."""
    import re
    import subprocess
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), name, qtype, "+norec",
                          "+time=2", "+tries=1", "+noall", "+comments", "+answer",
                          "+authority"] + list(options),
                         capture_output=True, text=True, timeout=20).stdout
    status = re.search(r"status: (\w+)", out)
    flags = re.search(r";; flags: ([\w ]*);", out)
    sections = {"ANSWER": [], "AUTHORITY": []}
    current = None
    for line in out.splitlines():
        header = re.match(r";; (\w+) SECTION:", line)
        if header:
            current = header.group(1)
        elif line and not line.startswith(";") and current in sections:
            fields = line.split(None, 4)
            sections[current].append((fields[0], int(fields[1]), fields[3], fields[4]))
    return (status.group(1) if status else None, set(flags.group(1).split()) if flags else set(),
            sections["ANSWER"], sections["AUTHORITY"])
