"""Zone master files: what is read, what is refused (with file, line, reason), what is written."""
import pytest
from dnslib import QTYPE

from servers.dns.zone import ZoneError, load_zone, parse_zone, zone_text
from tests.dns_support import ZONE, zone


def test_a_good_zone_is_read_with_origin_ttl_parentheses_and_relative_names():
    z = zone()
    assert str(z.origin) == "example.org."
    assert z.serial == 2024010101
    assert z.soa.rdata.times == (2024010101, 3600, 600, 86400, 60)
    assert [str(r.rdata.label) for r in z.rrs("example.org.", QTYPE.NS)] == ["ns1.example.org."]
    assert [(r.rdata.preference, str(r.rdata.label)) for r in z.rrs("example.org", QTYPE.MX)] == \
        [(10, "mx1.example.org."), (20, "relay.example.org.")]
    assert str(z.rrs("relay.example.org.", QTYPE.AAAA)[0].rdata) == "2001:db8::26"
    assert str(z.rrs("WWW.Example.ORG.", QTYPE.CNAME)[0].rdata.label) == "web.example.org."
    assert z.rrs("ext.example.org.")[0].rdata.label == "www.example.com."
    assert z.rrs("big.example.org.", QTYPE.TXT)[0].rdata.data[5] == b"f" * 250
    assert all(r.ttl == 300 for rrs in z.names.values() for r in rrs)


def test_ttl_units_class_order_quotes_and_escapes():
    z = parse_zone('$ORIGIN x.\n@ 1h IN SOA ns h 1 2 3 4 5\n IN 2m NS ns.x.\n'
                   'ns A 10.0.0.1\nt TXT "a \\"b\\"; c" plain \\065\n')
    assert z.soa.ttl == 3600 and z.rrs("x.", QTYPE.NS)[0].ttl == 120
    assert z.rrs("ns.x.")[0].ttl == 120      # no $TTL: the last TTL given
    assert z.rrs("t.x.")[0].rdata.data == [b'a "b"; c', b"plain", b"A"]


@pytest.mark.parametrize("text, line, reason", [
    ("$ORIGIN x.\n@ 60 SOA ns h 1 2 3 4 5\n@ 60 NS ns\nns 60 A 10.0.0.300\n", 4, "Octet 300 (> 255) not permitted"),
    ("$ORIGIN x.\n@ 60 SOA ns h 1 2 3 4 5\n@ 60 NS ns\nns 60 SRV 0 0 25 mx\n", 4, "unsupported record type SRV"),
    ("$ORIGIN x.\n@ 60 SOA ns h 1 2 3 4 5\n@ 60 NS ns\nns 60 MX mx\n", 4, "MX needs 2 field(s)"),
    ("$ORIGIN x.\n@ 60 SOA ns h (1 2 3 4 5\n@ 60 NS ns\n", 2, "'(' without ')'"),
    ("$ORIGIN x.\n@ 60 SOA ns h 1 2 3 4 5\n@ 60 NS ns\nt 60 TXT \"open\n", 4, "unterminated quoted string"),
    ("$ORIGIN x.\n@ 60 SOA ns h 1 2 3 4 5\n@ 60 NS ns\nw.y. 60 A 10.0.0.1\n", 4, "outside the zone"),
    ("$ORIGIN x.\n@ 60 SOA ns h 1 2 3 4 5\n@ 60 NS ns\nw 60 CNAME a\nw 60 A 10.0.0.1\n", 5, "CNAME and other data"),
    ("$ORIGIN x.\n@ 60 NS ns\n", 2, "no SOA record"),
    ("$ORIGIN x.\n@ 60 SOA ns h 1 2 3 4 5\n", 2, "no NS record"),
    ("@ 60 SOA ns h 1 2 3 4 5\n", 1, "'@' used with no $ORIGIN"),
    ("$ORIGIN x.\n@ SOA ns h 1 2 3 4 5\n", 2, "no TTL given"),
    ("$ORIGIN x.\n$TTL 60\n@ CH SOA ns h 1 2 3 4 5\n", 3, "only class IN"),
    ("$ORIGIN x.\n$INCLUDE other\n", 2, "unsupported directive"),
    ("$ORIGIN x.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\n%s A 10.0.0.1\n" % ("a" * 64), 5, "name too long"),
])
def test_a_bad_zone_is_refused_naming_file_line_and_reason(text, line, reason):
    with pytest.raises(ZoneError) as e:
        parse_zone(text, "bad.zone")
    assert (e.value.filename, e.value.line) == ("bad.zone", line)
    assert reason in e.value.reason
    assert str(e.value).startswith("bad.zone:%d: " % line)


def test_written_zone_reads_back_the_same(tmp_path):
    z = zone()
    z.path = str(tmp_path / "example.org.zone")
    z.set_serial(z.serial + 1)
    z.save()
    again = load_zone(z.path)
    assert zone_text(again) == zone_text(z)
    assert again.serial == 2024010102
    assert not [p for p in tmp_path.iterdir() if p.name != "example.org.zone"]   # no temp left


def test_the_shared_zone_text_is_valid():
    assert "big" in ZONE and zone().rrs("big.example.org.")
