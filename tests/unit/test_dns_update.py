"""RFC 2136 UPDATE: prerequisites, changes, serials, authentication, write-back."""
import pytest
from dnslib import QTYPE, RCODE, RD, RR, DNSLabel

from servers.common.events import EventLog, read_events
from servers.dns import tsig, wire_format
from servers.dns.server import DNSServer
from servers.dns.update import Updater
from servers.dns.update_client import build_update
from servers.dns.zone import A, MX, load_zone, parse_rdata
from tests.dns_support import zone

ANY, NONE, IN = 255, 254, 1
KEY = tsig.TsigKey("maillab-key", "hmac-sha256", b"k" * 32)
NOW = 1_800_000_000


@pytest.fixture
def z(tmp_path):
    zz = zone()
    zz.path = str(tmp_path / "example.org.zone")
    return zz


def run(z, prereqs=(), adds=(), deletes=(), key="maillab-key"):
    request = build_update("example.org.", adds, deletes)
    for rr in prereqs:
        request.add_answer(rr)
    request = wire_format.parse(request.pack())
    return Updater([z]).handle(request, key).header.rcode


def exists(name, rtype="ANY"):
    return RR(name, getattr(QTYPE, rtype), ANY, 0, RD(b""))


def absent(name, rtype="ANY"):
    return RR(name, getattr(QTYPE, rtype), NONE, 0, RD(b""))


def mx_targets(z):
    return [str(rr.rdata.label) for rr in z.rrs("example.org.", QTYPE.MX)]


@pytest.mark.parametrize("prereq, rcode", [
    (exists("web.example.org."), RCODE.NOERROR),
    (exists("gone.example.org."), RCODE.NXDOMAIN),
    (exists("web.example.org.", "A"), RCODE.NOERROR),
    (exists("web.example.org.", "MX"), RCODE.NXRRSET),
    (absent("gone.example.org."), RCODE.NOERROR),
    (absent("web.example.org."), RCODE.YXDOMAIN),
    (absent("web.example.org.", "MX"), RCODE.NOERROR),
    (absent("web.example.org.", "A"), RCODE.YXRRSET),
    (RR("web.example.org.", QTYPE.A, IN, 0, A("10.0.0.80")), RCODE.NOERROR),
    (RR("web.example.org.", QTYPE.A, IN, 0, A("10.0.0.81")), RCODE.NXRRSET),
    (RR("web.example.org.", QTYPE.A, IN, 60, A("10.0.0.80")), RCODE.FORMERR),
    (exists("web.example.com."), RCODE.NOTZONE),
])
def test_prerequisites(z, prereq, rcode):
    serial = z.serial
    assert run(z, [prereq], adds=[("new.example.org.", 60, "A", "10.0.0.99")]) == rcode
    assert bool(z.rrs("new.example.org.")) == (rcode == RCODE.NOERROR)
    assert z.serial == serial + (rcode == RCODE.NOERROR)


def test_value_dependent_prerequisite_needs_the_whole_rrset(z):
    both = [RR("example.org.", QTYPE.MX, IN, 0, parse_rdata("MX", t.split(), None))
            for t in ("10 mx1.example.org.", "20 relay.example.org.")]
    assert run(z, both[:1], deletes=[("example.org.", "TXT")]) == RCODE.NXRRSET
    assert run(z, both, deletes=[("example.org.", "TXT")]) == RCODE.NOERROR


def test_replace_an_mx_set_bumps_the_serial_and_writes_the_file(z):
    assert run(z, deletes=[("example.org.", "MX")],
               adds=[("example.org.", 300, "MX", "10 mx2.example.org."),
                     ("mx2.example.org.", 300, "A", "10.0.2.25")]) == RCODE.NOERROR
    assert mx_targets(z) == ["mx2.example.org."]
    assert z.serial == 2024010102
    on_disk = load_zone(z.path)
    assert mx_targets(on_disk) == ["mx2.example.org."] and on_disk.serial == 2024010102


def test_delete_one_rr_and_a_whole_name(z):
    assert run(z, deletes=[("example.org.", "MX", "10 mx1.example.org.")]) == RCODE.NOERROR
    assert mx_targets(z) == ["relay.example.org."]
    request = build_update("example.org.")
    request.add_auth(RR("relay.example.org.", QTYPE.ANY, ANY, 0, RD(b"")))
    assert Updater([z]).handle(wire_format.parse(request.pack()), "k").header.rcode == RCODE.NOERROR
    assert not z.rrs("relay.example.org.")


def test_apex_soa_and_ns_survive_deletion_and_nothing_changed_keeps_the_serial(z):
    assert run(z, deletes=[("example.org.", "NS"), ("example.org.", "SOA"),
                           ("example.org.", "NS", "ns1.example.org.")]) == RCODE.NOERROR
    assert z.rrs("example.org.", QTYPE.NS) and z.rrs("example.org.", QTYPE.SOA)
    assert z.serial == 2024010101
    assert run(z, adds=[("web.example.org.", 300, "A", "10.0.0.80")]) == RCODE.NOERROR
    assert z.serial == 2024010101 and len(z.rrs("web.example.org.")) == 1   # a duplicate


def test_cname_and_other_data_do_not_mix(z):
    assert run(z, adds=[("web.example.org.", 300, "CNAME", "x.example.org.")]) == RCODE.NOERROR
    assert QTYPE.get(z.rrs("web.example.org.")[0].rtype) == "A"
    assert run(z, adds=[("www.example.org.", 300, "A", "10.1.1.1")]) == RCODE.NOERROR
    assert [QTYPE.get(r.rtype) for r in z.rrs("www.example.org.")] == ["CNAME"]


def test_names_outside_the_zone_and_unserved_types_change_nothing(z):
    assert run(z, adds=[("new.example.org.", 60, "A", "10.0.0.9"),
                        ("x.example.com.", 60, "A", "10.0.0.9")]) == RCODE.NOTZONE
    assert not z.rrs("new.example.org.")
    request = build_update("example.org.")
    request.add_auth(RR("s.example.org.", QTYPE.SRV, IN, 60, RD(b"\0\0\0\0\0\x19\0")))
    assert Updater([z]).handle(wire_format.parse(request.pack()), "k").header.rcode == RCODE.REFUSED
    assert z.serial == 2024010101


def test_unsigned_updates_are_refused_and_unknown_zones_are_notauth(z):
    assert run(z, adds=[("new.example.org.", 60, "A", "10.0.0.9")], key=None) == RCODE.REFUSED
    request = wire_format.parse(build_update("example.net.", [("a.example.net.", 60, "A", "10.0.0.9")]).pack())
    assert Updater([z]).handle(request, "k").header.rcode == RCODE.NOTAUTH
    assert not z.rrs("new.example.org.") and z.serial == 2024010101


def test_a_newer_soa_serial_from_the_client_is_kept(z):
    assert run(z, adds=[("example.org.", 300, "SOA",
                         "ns1.example.org. hostmaster.example.org. 2030000000 1 2 3 4")]) == RCODE.NOERROR
    assert z.serial == 2030000000


def signed_update(key, now=NOW, **kwargs):
    return tsig.sign(build_update("example.org.", **kwargs).pack(), key, now)


def test_through_the_server_signed_applies_bad_key_changes_nothing_replay_is_not_reapplied(z, tmp_path):
    events = EventLog(str(tmp_path / "ev.jsonl"), service="dns")
    server = DNSServer([z], {DNSLabel("maillab-key"): KEY}, events=events, now=lambda: NOW)
    add = dict(adds=[("new.example.org.", 60, "A", "10.0.0.9")])

    bad = tsig.TsigKey("maillab-key", "hmac-sha256", b"x" * 32)
    reply = wire_format.parse(server.handle(signed_update(bad, **add)[0], "127.0.0.1"))
    assert reply.header.rcode == RCODE.NOTAUTH and not z.rrs("new.example.org.")

    stale = wire_format.parse(server.handle(signed_update(KEY, now=NOW - 1000, **add)[0], "127.0.0.1"))
    assert stale.header.rcode == RCODE.NOTAUTH and not z.rrs("new.example.org.")

    packet, mac = signed_update(KEY, **add)
    first = server.handle(packet, "127.0.0.1")
    assert wire_format.parse(first).header.rcode == RCODE.NOERROR and z.rrs("new.example.org.")
    tsig.verify(first, wire_format.parse(first).tsig_offset, server.keys, NOW, request_mac=mac)
    assert z.serial == 2024010102

    z.set_rrs("new.example.org.", [])           # someone else removed it since
    assert server.handle(packet, "127.0.0.1") == first      # the replay gets the same reply
    assert not z.rrs("new.example.org.") and z.serial == 2024010102

    assert [e["event"] for e in read_events(str(tmp_path / "ev.jsonl"))] == ["updated"]


def test_mx_rdata_in_update_is_parsed(z):
    assert isinstance(parse_rdata("MX", ["5", "mx9.example.org."], None), MX)
