"""Authoritative answers to standard queries: a pure function of query and zones."""
from dnslib import EDNS0, QTYPE, RCODE, RR, DNSLabel

from servers.dns.wire_format import parse, reply_to

UDP_MIN = 512
EDNS_SIZE = 1232            # what we offer, and the most we send over UDP: fits any path
                            # MTU (DNS flag day 2020); a bigger answer is truncated (TC)
BADVERS = 16                # RFC 6891 §6.1.3: an extended rcode, carried in the OPT record
MAX_CHAIN = 8               # CNAMEs followed inside our zones
# Types that name no data in a zone: a query for one gets NOTIMP.
META_TYPES = {QTYPE.OPT, QTYPE.TSIG, 249, 253, 254}  # OPT, TSIG, TKEY, MAILB, MAILA
TRANSFERS = {QTYPE.AXFR, QTYPE.IXFR}


def find_zone(zones, name):
    """The zone (deepest origin) that holds ``name``, or None."""
    holding = [z for z in zones if z.contains(name)]
    return max(holding, key=lambda z: len(z.origin.label)) if holding else None


def negative_soa(zone):
    """The SOA for the authority section of a negative answer (RFC 2308 §3)."""
    soa = zone.soa
    return RR(soa.rname, QTYPE.SOA, ttl=min(soa.ttl, soa.rdata.times[4]), rdata=soa.rdata)


def edns_option(request):
    """The request's OPT record, or None."""
    opts = [rr for rr in request.ar if rr.rtype == QTYPE.OPT]
    return opts[0] if opts else None


def udp_limit(request):
    """The largest UDP reply we send: 512 without EDNS, else the client's EDNS
    size capped at the 1,232 we advertise."""
    opt = edns_option(request)
    if opt is None:
        return UDP_MIN
    return max(UDP_MIN, min(opt.rclass, EDNS_SIZE))


def edns_refusal(request):
    """The reply a request's EDNS calls for before anything else, or None:
    FORMERR for more than one OPT record, BADVERS for a version above 0
    (RFC 6891 §6.1.1, §6.1.3)."""
    opts = [rr for rr in request.ar if rr.rtype == QTYPE.OPT]
    if len(opts) > 1:
        return reply_to(request, RCODE.FORMERR)
    if opts and (opts[0].ttl >> 16) & 0xFF:
        reply = reply_to(request, BADVERS & 0xF)
        reply.add_ar(EDNS0(udp_len=EDNS_SIZE, ext_rcode=BADVERS >> 4, version=0))
        return reply
    return None


def answer(request, zones, mx_filter=None, axfr_allowed=False, tcp=False):
    """The reply (a DNSRecord) to a standard QUERY (a DNSRecord, or its bytes).

    ``zones`` is a list of Zone; ``mx_filter(name, rrs) -> rrs`` may narrow
    MX sets (health checks); ``axfr_allowed`` says whether the asker may
    transfer a zone. Truncation for UDP is left to fit().
    """
    if isinstance(request, (bytes, bytearray)):
        request = parse(request)
    reply = reply_to(request)
    if edns_option(request) is not None:
        reply.add_ar(EDNS0(udp_len=EDNS_SIZE))
    if len(request.questions) != 1:
        reply.header.rcode = RCODE.FORMERR
        return reply
    q = request.q
    zone = find_zone(zones, q.qname)
    if q.qclass not in (1, 255) or zone is None:
        reply.header.rcode = RCODE.REFUSED
        return reply
    if q.qtype in TRANSFERS:
        if not (axfr_allowed and tcp and zone.origin == q.qname):
            reply.header.rcode = RCODE.REFUSED
            return reply
        reply.header.aa = 1
        everything = [rr for rrs in zone.names.values() for rr in rrs if rr.rtype != QTYPE.SOA]
        for rr in [zone.soa] + everything + [zone.soa]:
            reply.add_answer(rr)
        return reply
    if q.qtype in META_TYPES:
        reply.header.rcode = RCODE.NOTIMP
        return reply

    reply.header.aa = 1
    name, rcode = q.qname, RCODE.NOERROR
    followed = set()
    for _ in range(MAX_CHAIN + 1):
        here = zone.rrs(name)
        cname = [rr for rr in here if rr.rtype == QTYPE.CNAME]
        if cname and q.qtype not in (QTYPE.CNAME, QTYPE.ANY):
            if DNSLabel(name) in followed:
                break           # a loop: each of its records is in the answer once
            followed.add(DNSLabel(name))
            reply.add_answer(*cname)
            name = cname[0].rdata.label
            zone = find_zone(zones, name)
            if zone is None:
                break           # the target is someone else's: the asker resolves it
            continue
        found = [rr for rr in here if q.qtype in (rr.rtype, QTYPE.ANY)]
        if found and q.qtype == QTYPE.MX and mx_filter is not None:
            found = mx_filter(name, found)
        if found:
            reply.add_answer(*found)
        else:
            if not zone.exists(name):
                rcode = RCODE.NXDOMAIN
            reply.add_auth(negative_soa(zone))
        break
    reply.header.rcode = rcode
    _add_glue(reply, zones)
    return reply


def _add_glue(reply, zones):
    """A and AAAA records of MX and NS targets we hold, in the additional section."""
    seen = set()
    for rr in reply.rr:
        if rr.rtype not in (QTYPE.MX, QTYPE.NS):
            continue
        target = DNSLabel(rr.rdata.label)
        zone = find_zone(zones, target)
        if zone is None or target in seen:
            continue
        seen.add(target)
        for glue in zone.rrs(target):
            if glue.rtype in (QTYPE.A, QTYPE.AAAA):
                reply.add_ar(glue)


def fit(reply, limit):
    """``reply`` cut to ``limit`` bytes: the additional section goes first;
    if the answer still does not fit, only the question is kept and TC is set."""
    if len(reply.pack()) <= limit:
        return reply
    reply.ar = [rr for rr in reply.ar if rr.rtype == QTYPE.OPT]
    if len(reply.pack()) <= limit:
        return reply
    reply.rr, reply.auth = [], []
    reply.header.tc = 1
    return reply
