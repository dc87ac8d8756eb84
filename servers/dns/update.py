"""RFC 2136 dynamic UPDATE: prerequisites, then all-or-nothing changes.

Only TSIG-signed updates are applied (the caller says who signed). A change
bumps the SOA serial and is written to the zone file, durably, before the
reply goes out, so what a client was told survives a restart.
"""
import logging

from dnslib import QTYPE, RCODE, RD, RR

from servers.dns.answer import find_zone
from servers.dns.wire_format import reply_to
from servers.dns.zone import MAX_TTL, TYPES, rdata_text, rr_text

log = logging.getLogger("maillab.dns.update")

IN, NONE, ANY = 1, 254, 255
SERIAL_MOD = 2 ** 32
_TYPES = {getattr(QTYPE, t) for t in TYPES}


class UpdateFailed(Exception):
    def __init__(self, rcode, why):
        super().__init__(why)
        self.rcode = rcode


def _same(a, b):
    """Same type and data (names compare case-insensitively, TXT exactly)."""
    if a.rtype != b.rtype:
        return False
    x, y = rdata_text(a), rdata_text(b)
    return x == y if a.rtype == QTYPE.TXT else x.lower() == y.lower()


def _empty(rr):
    """No RDATA: the form of RFC 2136's "exists" checks and deletions."""
    return type(rr.rdata) is RD and not rr.rdata.data


def check_prerequisites(zone, prereqs):
    """RFC 2136 §3.2; raises UpdateFailed with the rcode the first failure calls for."""
    wanted = {}     # (name, type) -> [RR]: the value-dependent "RRset exists" checks
    for rr in prereqs:
        if rr.ttl != 0:
            raise UpdateFailed(RCODE.FORMERR, "prerequisite with a TTL")
        if not zone.contains(rr.rname):
            raise UpdateFailed(RCODE.NOTZONE, "%s is not in %s" % (rr.rname, zone.origin))
        empty = _empty(rr)
        present = zone.rrs(rr.rname, None if rr.rtype == QTYPE.ANY else rr.rtype)
        if rr.rclass == ANY and empty:
            if rr.rtype == QTYPE.ANY and not zone.rrs(rr.rname):
                raise UpdateFailed(RCODE.NXDOMAIN, "%s is not in use" % rr.rname)
            if rr.rtype != QTYPE.ANY and not present:
                raise UpdateFailed(RCODE.NXRRSET, "no %s %s" % (rr.rname, QTYPE.get(rr.rtype)))
        elif rr.rclass == NONE and empty:
            if rr.rtype == QTYPE.ANY and zone.rrs(rr.rname):
                raise UpdateFailed(RCODE.YXDOMAIN, "%s is in use" % rr.rname)
            if rr.rtype != QTYPE.ANY and present:
                raise UpdateFailed(RCODE.YXRRSET, "%s %s exists" % (rr.rname, QTYPE.get(rr.rtype)))
        elif rr.rclass == IN and rr.rtype in _TYPES:
            wanted.setdefault((rr.rname, rr.rtype), []).append(rr)
        else:
            raise UpdateFailed(RCODE.FORMERR, "bad prerequisite class %d" % rr.rclass)
    for (name, rtype), rrs in wanted.items():
        present = zone.rrs(name, rtype)
        if len(present) != len(rrs) or not all(any(_same(a, b) for b in present) for a in rrs):
            raise UpdateFailed(RCODE.NXRRSET, "%s %s differs" % (name, QTYPE.get(rtype)))


def _prescan(zone, updates):
    """RFC 2136 §3.4.1: refuse the whole update before anything changes."""
    for rr in updates:
        if not zone.contains(rr.rname):
            raise UpdateFailed(RCODE.NOTZONE, "%s is not in %s" % (rr.rname, zone.origin))
        if rr.rclass == IN:
            if rr.rtype not in _TYPES:
                raise UpdateFailed(RCODE.REFUSED, "type %s is not served" % QTYPE.get(rr.rtype))
            if _empty(rr):
                raise UpdateFailed(RCODE.FORMERR, "record to add has no data: %s" % rr.rname)
            # RFC 2181 §8: a TTL is at most 2^31 - 1; the zone file could not hold more
            timers = rr.rdata.times[1:] if rr.rtype == QTYPE.SOA else ()
            if rr.ttl > MAX_TTL or any(t > MAX_TTL for t in timers):
                raise UpdateFailed(RCODE.FORMERR, "TTL above %d for %s" % (MAX_TTL, rr.rname))
        elif rr.rclass in (ANY, NONE):
            if rr.ttl != 0 or rr.rclass == ANY and not _empty(rr):
                raise UpdateFailed(RCODE.FORMERR, "bad delete record for %s" % rr.rname)
        else:
            raise UpdateFailed(RCODE.FORMERR, "bad class %d" % rr.rclass)


def _apply(zone, rr):
    """One update record (RFC 2136 §3.4.2.2-4) applied to ``zone``; True if it changed."""
    here = zone.rrs(rr.rname)
    apex_kept = (QTYPE.SOA, QTYPE.NS) if rr.rname == zone.origin else ()
    if rr.rclass == IN:
        if rr.rtype == QTYPE.SOA:
            ahead = (rr.rdata.times[0] - zone.serial) % SERIAL_MOD
            if rr.rname != zone.origin or not 0 < ahead < 2 ** 31:
                return False    # only a newer serial replaces the SOA (RFC 1982)
            zone.set_rrs(rr.rname, [rr if r.rtype == QTYPE.SOA else r for r in here])
            return True
        if rr.rtype == QTYPE.CNAME and any(r.rtype != QTYPE.CNAME for r in here):
            return False
        if rr.rtype != QTYPE.CNAME and any(r.rtype == QTYPE.CNAME for r in here):
            return False
        if rr.rtype == QTYPE.CNAME:
            here = []       # a name holds one CNAME: the new one replaces it
        same_type = [r for r in here if r.rtype == rr.rtype]
        if any(_same(r, rr) for r in same_type) and all(r.ttl == rr.ttl for r in same_type):
            return False
        # The RRset takes the new TTL; a duplicate is replaced, not doubled.
        kept = [r if r.rtype != rr.rtype else RR(r.rname, r.rtype, ttl=rr.ttl, rdata=r.rdata)
                for r in here if not _same(r, rr)]
        zone.set_rrs(rr.rname, kept + [RR(rr.rname, rr.rtype, ttl=rr.ttl, rdata=rr.rdata)])
        return True
    if rr.rclass == ANY:
        kept = [r for r in here if r.rtype in apex_kept
                or rr.rtype != QTYPE.ANY and r.rtype != rr.rtype]
    else:   # NONE: delete one RR, never the SOA nor the last apex NS
        kept = [r for r in here if not _same(r, rr) or r.rtype == QTYPE.SOA]
        if QTYPE.NS in apex_kept and not any(r.rtype == QTYPE.NS for r in kept):
            kept = here
    zone.set_rrs(rr.rname, kept)
    return len(kept) != len(here)


def describe(rr):
    """One update record as text, for the event log: "add ...", "delete ..."."""
    if rr.rclass == IN:
        return "add " + rr_text(rr).replace("\t", " ")
    what = "%s %s" % (rr.rname, QTYPE.get(rr.rtype))
    return "delete " + (what if _empty(rr) else what + " " + rdata_text(rr))


class Updater:
    """Applies UPDATE messages to a list of zones, saving what changed."""

    def __init__(self, zones, events=None):
        self.zones = zones
        self.events = events

    def handle(self, request, key_name=None):
        """The reply (a DNSRecord) to an UPDATE; ``key_name`` is who signed it, if anyone."""
        reply = reply_to(request)
        try:
            zone = self._update(request, key_name)
        except UpdateFailed as e:
            log.info("update refused (%s): %s", RCODE.get(e.rcode), e)
            reply.header.rcode = e.rcode
            return reply
        if zone is not None and self.events is not None:
            self.events.emit("updated", zone=str(zone.origin), serial=zone.serial,
                             key=str(key_name), changes=[describe(rr) for rr in request.auth])
        return reply

    def _update(self, request, key_name):
        if len(request.questions) != 1 or request.q.qtype != QTYPE.SOA:
            raise UpdateFailed(RCODE.FORMERR, "the zone section needs one SOA question")
        zone = find_zone(self.zones, request.q.qname)
        if zone is None or zone.origin != request.q.qname:
            raise UpdateFailed(RCODE.NOTAUTH, "not authoritative for %s" % request.q.qname)
        if key_name is None:
            raise UpdateFailed(RCODE.REFUSED, "unsigned update")
        check_prerequisites(zone, request.rr)
        _prescan(zone, request.auth)
        new = zone.copy()
        changed = [_apply(new, rr) for rr in request.auth]
        if not any(changed):
            return None
        if not any(rr.rclass == IN and rr.rtype == QTYPE.SOA for rr, c in zip(request.auth, changed) if c):
            new.set_serial(zone.serial + 1)
        if zone.path:
            try:
                new.save()
            except OSError as e:
                raise UpdateFailed(RCODE.SERVFAIL, "cannot write %s: %s" % (zone.path, e))
        zone.names = new.names
        log.info("zone %s updated by %s, serial %d", zone.origin, key_name, zone.serial)
        return zone
