"""Zone data: read from a master file (RFC 1035 §5), written back after an UPDATE.

Supported: $ORIGIN, $TTL, parentheses, comments, quoted strings, "@", blank
owners, relative names, escapes (\\X and \\DDD, in names and strings); record
types SOA, NS, A, AAAA, MX, TXT, CNAME in class IN. Anything else is refused
with the file, the line and the reason.
The file written back after an UPDATE holds the same records with absolute
names, one a line, in dnspython's master-file text (every byte a name or a
string may hold is escaped as RFC 1035 §5.1 says, so whatever an UPDATE put
in the zone reads back the same); comments and layout of the original are
not kept.
"""
import ipaddress
import re

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
from dnslib import AAAA, CNAME, MX, NS, QTYPE, RR, SOA, TXT, A, DNSBuffer, DNSLabel

from servers.common.durable import write_atomic

TYPES = ("SOA", "NS", "A", "AAAA", "MX", "TXT", "CNAME")
MAX_TTL = 2 ** 31 - 1
_TTL_RE = re.compile(r"^(\d+[wdhms]?)+$", re.IGNORECASE)
_TTL_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1, "": 1}


class ZoneError(ValueError):
    def __init__(self, filename, line, reason):
        super().__init__("%s:%d: %s" % (filename, line, reason))
        self.filename, self.line, self.reason = filename, line, reason


class Quoted(str):
    """A token that was a quoted string in the file."""


def in_domain(name, origin):
    """True if ``name`` is ``origin`` or below it (case-insensitive)."""
    name, origin = DNSLabel(name).label, DNSLabel(origin).label
    if len(origin) > len(name):
        return False
    tail = name[len(name) - len(origin):]
    return [l.lower() for l in tail] == [l.lower() for l in origin]


class Zone:
    """The records of one zone, by owner name, in the order they came."""

    def __init__(self, origin, path=None):
        self.origin = DNSLabel(origin)
        self.path = path
        self.names = {}     # DNSLabel -> [RR]

    def copy(self):
        other = Zone(self.origin, self.path)
        other.names = {name: list(rrs) for name, rrs in self.names.items()}
        return other

    def contains(self, name):
        return in_domain(name, self.origin)

    def rrs(self, name, rtype=None):
        found = self.names.get(DNSLabel(name), [])
        return [rr for rr in found if rtype is None or rr.rtype == rtype]

    def exists(self, name):
        """The name owns records, or is an empty non-terminal above one that does."""
        name = DNSLabel(name)
        return bool(self.names.get(name)) or any(
            owner != name and in_domain(owner, name) and rrs for owner, rrs in self.names.items())

    def add(self, rr):
        self.names.setdefault(rr.rname, []).append(rr)

    def set_rrs(self, name, rrs):
        if rrs:
            self.names[DNSLabel(name)] = rrs
        else:
            self.names.pop(DNSLabel(name), None)

    @property
    def soa(self):
        return self.rrs(self.origin, QTYPE.SOA)[0]

    @property
    def serial(self):
        return self.soa.rdata.times[0]

    def set_serial(self, serial):
        old = self.soa
        times = ((serial % 2 ** 32),) + tuple(old.rdata.times[1:])
        new = RR(old.rname, QTYPE.SOA, ttl=old.ttl, rdata=SOA(old.rdata.mname, old.rdata.rname, times))
        self.set_rrs(self.origin, [new if rr is old else rr for rr in self.names[self.origin]])

    def save(self):
        """Write the zone back to its file, atomically and durably."""
        write_atomic(self.path, zone_text(self).encode())


# ---- reading

def _tokens(text, filename):
    """Logical lines: (line number, starts indented, tokens); parentheses join lines."""
    depth, tokens, start, indented = 0, [], 0, False
    for lineno, line in enumerate(text.splitlines(), 1):
        if depth == 0:
            tokens, start, indented = [], lineno, line[:1] in (" ", "\t")
        i, n = 0, len(line)
        while i < n:
            c = line[i]
            if c in " \t":
                i += 1
            elif c == ";":
                break
            elif c == "(":
                depth, i = depth + 1, i + 1
            elif c == ")":
                if depth == 0:
                    raise ZoneError(filename, lineno, "')' without '('")
                depth, i = depth - 1, i + 1
            elif c == '"':
                j, buf = i + 1, []
                while j < n and line[j] != '"':
                    step = 2 if line[j] == "\\" and j + 1 < n else 1
                    buf.append(line[j:j + step])
                    j += step
                if j >= n:
                    raise ZoneError(filename, lineno, "unterminated quoted string")
                tokens.append(Quoted("".join(buf)))
                i = j + 1
            else:
                j = i
                while j < n and line[j] not in ' \t;()"':
                    j += 2 if line[j] == "\\" else 1    # \X: X is part of the token
                tokens.append(line[i:min(j, n)])
                i = j
        if depth == 0 and tokens:
            yield start, indented, tokens
    if depth:
        raise ZoneError(filename, start, "'(' without ')'")


def _unescape(text):
    """Master-file escapes (\\X and \\DDD) to bytes."""
    out, i = bytearray(), 0
    while i < len(text):
        if text[i] == "\\" and len(text[i + 1:i + 4]) == 3 and text[i + 1:i + 4].isdigit():
            out.append(int(text[i + 1:i + 4]) & 0xFF)
            i += 4
        elif text[i] == "\\" and i + 1 < len(text):
            out += text[i + 1].encode()
            i += 2
        else:
            out += text[i].encode()
            i += 1
    return bytes(out)


def parse_ttl(token):
    if not _TTL_RE.match(token):
        raise ValueError("bad TTL %r" % token)
    total = sum(int(num) * _TTL_UNITS[unit.lower()]
                for num, unit in re.findall(r"(\d+)([wdhmsWDHMS]?)", token))
    if total > MAX_TTL:
        raise ValueError("TTL %s is too large" % token)
    return total


def absolute_name(token, origin):
    """A name token (escapes allowed) made absolute against ``origin`` (None if there is none)."""
    if token == "@":
        if origin is None:
            raise ValueError("'@' used with no $ORIGIN")
        return DNSLabel(origin)
    try:
        name = dns.name.from_text(token, origin=None)
    except (dns.name.LabelTooLong, dns.name.NameTooLong):
        raise ValueError("name too long: %r" % token) from None
    except (dns.exception.DNSException, UnicodeError):
        raise ValueError("bad name %r" % token) from None
    if not name.is_absolute():
        if origin is None:
            raise ValueError("relative name %r with no $ORIGIN" % token)
        try:
            name = name.derelativize(_dnspython_name(origin))
        except dns.name.NameTooLong:
            raise ValueError("name too long: %r" % token) from None
    return DNSLabel(name.labels[:-1])


def _dnspython_name(label):
    return dns.name.Name(tuple(DNSLabel(label).label) + (b"",))


def _number(token, what, top):
    if not token.isdigit() or int(token) > top:
        raise ValueError("bad %s %r" % (what, token))
    return int(token)


def parse_rdata(rtype, args, origin):
    """The dnslib RD for ``rtype`` from its master-file tokens."""
    def count(n):
        if len(args) != n:
            raise ValueError("%s needs %d field(s), got %d" % (rtype, n, len(args)))
    if rtype == "A":
        count(1)
        return A(str(ipaddress.IPv4Address(args[0])))     # ValueError names the fault
    if rtype == "AAAA":
        count(1)
        return AAAA(str(ipaddress.IPv6Address(args[0])))
    if rtype in ("NS", "CNAME"):
        count(1)
        return (NS if rtype == "NS" else CNAME)(absolute_name(args[0], origin))
    if rtype == "MX":
        count(2)
        return MX(absolute_name(args[1], origin), _number(args[0], "MX preference", 65535))
    if rtype == "TXT":
        if not args:
            raise ValueError("TXT needs at least one string")
        strings = [_unescape(a) for a in args]
        if any(len(s) > 255 for s in strings):
            raise ValueError("TXT string longer than 255 bytes")
        return TXT(strings)
    if rtype == "SOA":
        count(7)
        times = tuple(parse_ttl(a) if i else _number(a, "serial", 2 ** 32 - 1)
                      for i, a in enumerate(args[2:]))
        return SOA(absolute_name(args[0], origin), absolute_name(args[1], origin), times)
    raise ValueError("unsupported record type %s" % rtype)


def parse_zone(text, filename="<zone>"):
    """A Zone from master-file text; ZoneError names the line and the reason."""
    origin, default_ttl, last_ttl, owner = None, None, None, None
    records = []    # (line, RR)
    for lineno, indented, tokens in _tokens(text, filename):
        try:
            head = tokens[0].upper()
            if head == "$ORIGIN":
                if len(tokens) != 2 or not tokens[1].endswith("."):
                    raise ValueError("$ORIGIN needs one absolute name")
                origin = absolute_name(tokens[1], None)
                continue
            if head == "$TTL":
                if len(tokens) != 2:
                    raise ValueError("$TTL needs one value")
                default_ttl = parse_ttl(tokens[1])
                continue
            if head.startswith("$"):
                raise ValueError("unsupported directive %s" % tokens[0])
            if not indented:
                owner, tokens = absolute_name(tokens[0], origin), tokens[1:]
            elif owner is None:
                raise ValueError("record with no owner name")
            ttl = None
            while tokens and not isinstance(tokens[0], Quoted):
                word = tokens[0].upper()
                if word == "IN":
                    tokens = tokens[1:]
                elif word in ("CH", "HS", "CS", "ANY", "NONE"):
                    raise ValueError("only class IN is served, not %s" % tokens[0])
                elif tokens[0][:1].isdigit() and ttl is None:
                    ttl, tokens = parse_ttl(tokens[0]), tokens[1:]
                else:
                    break
            if not tokens:
                raise ValueError("no record type")
            rtype, args = tokens[0].upper(), tokens[1:]
            if rtype not in TYPES:
                raise ValueError("unsupported record type %s" % tokens[0])
            rdata = parse_rdata(rtype, args, origin)
            if ttl is None:
                ttl = default_ttl if default_ttl is not None else last_ttl
                if ttl is None:
                    raise ValueError("no TTL given and no $TTL before this line")
            last_ttl = ttl
            records.append((lineno, RR(owner, getattr(QTYPE, rtype), ttl=ttl, rdata=rdata)))
        except ValueError as e:
            raise ZoneError(filename, lineno, str(e)) from None
    return _check(records, filename)


def _check(records, filename):
    soas = [(line, rr) for line, rr in records if rr.rtype == QTYPE.SOA]
    if not soas:
        raise ZoneError(filename, records[-1][0] if records else 1, "no SOA record")
    if len(soas) > 1:
        raise ZoneError(filename, soas[1][0], "a second SOA record")
    zone = Zone(soas[0][1].rname, filename)
    for line, rr in records:
        if not zone.contains(rr.rname):
            raise ZoneError(filename, line, "%s is outside the zone %s" % (rr.rname, zone.origin))
        same = zone.rrs(rr.rname)
        if rr.rtype == QTYPE.CNAME and same or any(r.rtype == QTYPE.CNAME for r in same):
            raise ZoneError(filename, line, "%s has a CNAME and other data" % rr.rname)
        if any(r.rtype == rr.rtype and rdata_text(r) == rdata_text(rr) for r in same):
            continue    # a duplicate record is one record
        zone.add(rr)
    if not zone.rrs(zone.origin, QTYPE.NS):
        raise ZoneError(filename, soas[0][0], "no NS record at the zone apex %s" % zone.origin)
    return zone


def load_zone(path):
    with open(path, encoding="utf-8") as f:
        return parse_zone(f.read(), path)


# ---- writing

def name_text(name):
    """A name in master-file syntax: absolute, special bytes escaped."""
    return _dnspython_name(name).to_text()


def rdata_text(rr):
    """The RDATA of a dnslib RR in master-file syntax, as dnspython writes it."""
    buffer = DNSBuffer()
    rr.rdata.pack(buffer)
    wire = bytes(buffer.data)
    try:
        return dns.rdata.from_wire(dns.rdataclass.IN, rr.rtype, wire, 0, len(wire)).to_text()
    except dns.exception.DNSException:      # no data (a deletion), or not this type's form
        return dns.rdata.GenericRdata(dns.rdataclass.IN, rr.rtype, wire).to_text()


def rr_text(rr):
    return "%s\t%d\tIN\t%s\t%s" % (name_text(rr.rname), rr.ttl, QTYPE.get(rr.rtype),
                                   rdata_text(rr))


def zone_text(zone):
    """Master-file text for ``zone``: absolute names, SOA first."""
    lines = ["$ORIGIN %s" % name_text(zone.origin), rr_text(zone.soa)]
    lines += [rr_text(rr) for rrs in zone.names.values() for rr in rrs if rr.rtype != QTYPE.SOA]
    return "\n".join(lines) + "\n"
