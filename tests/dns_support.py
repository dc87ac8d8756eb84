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
