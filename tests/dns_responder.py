"""A tiny authoritative DNS responder for loopback tests (dnslib, a thread).

``records`` is a list of zone-file lines; answers are whatever matches the
question's name and type, with A records of MX targets in the additional
section.  Used where the lab's own DNS server is not needed.
"""
import threading

from dnslib import QTYPE, RR, RCODE
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class ZoneResolver(BaseResolver):
    def __init__(self, zone_text):
        self.rrs = RR.fromZone(zone_text)

    def resolve(self, request, handler):
        reply = request.reply()
        qname, qtype = request.q.qname, request.q.qtype
        names = {rr.rname for rr in self.rrs}
        for rr in self.rrs:
            if rr.rname == qname and (rr.rtype == qtype or qtype == QTYPE.ANY):
                reply.add_answer(rr)
                if rr.rtype == QTYPE.MX:
                    for a in self.rrs:
                        if a.rname == rr.rdata.label and a.rtype == QTYPE.A:
                            reply.add_ar(a)
        if not reply.rr and qname not in names:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class Responder:
    def __init__(self, zone_text):
        self.server = DNSServer(ZoneResolver(zone_text), port=0, address="127.0.0.1",
                                logger=DNSLogger(logf=lambda s: None))

    @property
    def port(self):
        return self.server.server.server_address[1]

    def __enter__(self):
        self.server.start_thread()
        return self

    def __exit__(self, *exc):
        self.server.stop()
