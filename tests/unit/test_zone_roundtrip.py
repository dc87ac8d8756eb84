"""Whatever an UPDATE the server accepts puts in a zone, the zone file written
back reads again (a restart) with the same answers (RFC 1035 §5.1 escapes).

Hypothesis makes UPDATEs with names and strings of any bytes (dots, spaces,
parentheses, quotes, backslashes, semicolons, bytes above 127), any TTL,
additions and deletions; each goes through the server's own wire parser and
Updater, and each one accepted is followed by a reload of the file.
"""
import os

import pytest
from dnslib import (AAAA, CNAME, MX, NS, OPCODE, QTYPE, RCODE, RD, RR, TXT, A, DNSBuffer, DNSHeader,
                    DNSLabel, DNSQuestion, DNSRecord)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from servers.dns import wire_format
from servers.dns.answer import answer
from servers.dns.update import Updater
from servers.dns.zone import ZoneError, load_zone, parse_zone
from tests.dns_support import ZONE, query

ORIGIN = ("example", "org")
QUERIED = ("A", "AAAA", "MX", "TXT", "CNAME", "NS", "SOA", "ANY")
IN, NONE, ANY = 1, 254, 255

# Label bytes above 127 the server's wire parser refuses (FORMERR): not drawn.
labels = st.lists(st.integers(0, 127), min_size=1, max_size=12).map(bytes)
special = st.sampled_from([b"p(", b"a b;c", b'q"\\', b"a.b", b"@", b"$TTL", b"\x00\x7f",
                           b"x)", b"MX", b"10"])
inside = st.lists(st.one_of(labels, special), min_size=1, max_size=3).map(
    lambda ls: DNSLabel(list(ls) + [b"example", b"org"]))
anywhere = st.one_of(inside, st.lists(labels, min_size=1, max_size=3).map(DNSLabel))
ttls = st.integers(0, 2 ** 32 - 1)
rdatas = st.one_of(
    st.tuples(st.just(QTYPE.A), st.ip_addresses(v=4).map(lambda a: A(str(a)))),
    st.tuples(st.just(QTYPE.AAAA), st.ip_addresses(v=6).map(lambda a: AAAA(str(a)))),
    st.tuples(st.just(QTYPE.MX), st.builds(MX, anywhere, st.integers(0, 65535))),
    st.tuples(st.just(QTYPE.TXT), st.lists(st.binary(max_size=255), min_size=1,
                                           max_size=3).map(TXT)),
    st.tuples(st.just(QTYPE.CNAME), anywhere.map(CNAME)),
    st.tuples(st.just(QTYPE.NS), anywhere.map(NS)),
)


@st.composite
def changes(draw):
    """One update record: mostly an addition, sometimes a deletion (RFC 2136 §2.5)."""
    name = draw(st.one_of(inside, st.sampled_from(
        [DNSLabel("example.org."), DNSLabel("www.example.org."), DNSLabel("mx1.example.org.")])))
    rtype, rdata = draw(rdatas)
    how = draw(st.sampled_from(["add", "add", "add", "delete-rr", "delete-rrset"]))
    if how == "add":
        return RR(name, rtype, IN, draw(ttls), rdata)
    if how == "delete-rr":
        return RR(name, rtype, NONE, 0, rdata)
    return RR(name, rtype, ANY, 0, RD(b""))


def update_message(records):
    header = DNSHeader(id=1, opcode=OPCODE.UPDATE)
    return DNSRecord(header, questions=[DNSQuestion("example.org.", QTYPE.SOA)], auth=records)


def _wire(rr):
    buffer = DNSBuffer()
    rr.pack(buffer)
    return bytes(buffer.data)


def _ask(zone, name, qtype):
    q = DNSRecord(DNSHeader(id=2), questions=[DNSQuestion(DNSLabel(name), getattr(QTYPE, qtype))])
    return answer(q, [zone])


def everything(zone):
    return sorted(_wire(rr) for rrs in zone.names.values() for rr in rrs)


def same_answers(before, after, names):
    for name in names:
        for qtype in QUERIED:
            a, b = _ask(before, name, qtype), _ask(after, name, qtype)
            assert (a.header.rcode, a.header.aa) == (b.header.rcode, b.header.aa), (name, qtype)
            for x, y in ((a.rr, b.rr), (a.auth, b.auth), (a.ar, b.ar)):
                assert sorted(map(_wire, x)) == sorted(map(_wire, y)), (name, qtype)


@settings(max_examples=1000, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.lists(changes(), min_size=1, max_size=4), min_size=1, max_size=3))
def test_every_accepted_update_reloads_with_the_same_answers(ram_path, updates):
    path = str(ram_path / "example.org.zone")
    with open(path, "w") as f:
        f.write(ZONE)
    zone = load_zone(path)
    updater = Updater([zone])
    for records in updates:
        try:
            request = wire_format.parse(bytes(update_message(records).pack()))
        except wire_format.MessageError:
            event("FORMERR")
            continue        # the server answers FORMERR (say, a label byte above 127)
        serial = zone.serial
        reply = updater.handle(request, key_name="maillab-key")
        if reply.header.rcode != RCODE.NOERROR or zone.serial == serial:
            event("refused or no change (%s)" % RCODE.get(reply.header.rcode))
            continue        # nothing was written
        event("accepted and reloaded")
        again = load_zone(path)     # what a restart reads
        assert everything(again) == everything(zone)
        names = {rr.rname for rr in records} | {zone.origin}     # every record is compared above
        same_answers(zone, again, names)
    os.unlink(path)


@pytest.mark.parametrize("name", [b"p(", b"a b;c", b'q"\\', b"a.b", b"\x00\x7f", b"@", b"$TTL"])
def test_a_name_with_special_bytes_is_written_escaped_and_reads_back(ram_path, name):
    path = str(ram_path / "example.org.zone")
    with open(path, "w") as f:
        f.write(ZONE)
    zone = load_zone(path)
    owner = DNSLabel([name, b"example", b"org"])
    record = RR(owner, QTYPE.TXT, IN, 60, TXT([name]))
    reply = Updater([zone]).handle(wire_format.parse(bytes(update_message([record]).pack())),
                                   key_name="maillab-key")
    assert reply.header.rcode == RCODE.NOERROR
    again = load_zone(path)
    assert again.rrs(owner, QTYPE.TXT)[0].rdata.data == [name]


def test_a_zone_damaged_from_outside_is_refused_naming_the_line():
    # What the old writer left after `nsupdate` added p\(.example.org.
    damaged = ZONE + "p(.example.org.\t60\tIN\tA\t10.0.0.1\n"
    with pytest.raises(ZoneError) as e:
        parse_zone(damaged, "example.org.zone")
    assert str(e.value) == "example.org.zone:%d: '(' without ')'" % len(damaged.splitlines())
