"""The lab zone is generated from the topology."""
import re

from lab.testbed.zone import generate_key_file, zone_text
from topologies.addressing import build_plan


def records(text):
    out = []
    for line in text.splitlines():
        if line.startswith("$"):
            continue
        name, ttl, cls, rtype, rdata = line.split(None, 4)
        out.append((name, rtype, rdata))
    return out


def test_zone_has_soa_ns_mx_and_an_a_record_per_server():
    plan = build_plan(dcs=2, mx_per_dc=(1, 1))
    rr = records(zone_text(plan))
    assert rr[0][:2] == ("example.org.", "SOA")
    assert rr[0][2].startswith("dns1.lab.example.org. hostmaster.example.org. 1 ")
    assert ("example.org.", "NS", "dns1.lab.example.org.") in rr
    mx = [r[2] for r in rr if r[1] == "MX"]
    assert mx == ["10 mx1.lab.example.org.", "20 relay1.lab.example.org."]
    a = {r[0]: r[2] for r in rr if r[1] == "A"}
    assert a == {"dns1.lab.example.org.": "10.0.1.2", "relay1.lab.example.org.": "10.0.1.3",
                 "mx1.lab.example.org.": "10.0.1.10", "mx2.lab.example.org.": "10.0.2.10"}


def test_zone_starts_with_origin_and_soa():
    text = zone_text(build_plan(), serial=7)
    assert text.splitlines()[0] == "$ORIGIN example.org."
    assert records(text)[0] == ("example.org.", "SOA",
                                "dns1.lab.example.org. hostmaster.example.org. 7 60 30 600 60")


def test_the_best_mx_is_the_plans_primary_not_a_fixed_name():
    plan = build_plan(dcs=2, mx_per_dc=(0, 2))
    assert plan.primary_mx == "mx1" and plan.host("mx1").dc == "dc2"
    assert [r[2] for r in records(zone_text(plan)) if r[1] == "MX"] == [
        "10 mx1.lab.example.org.", "20 relay1.lab.example.org."]
    plan.primary_mx = "mx2"
    assert "10 mx2.lab.example.org." in zone_text(plan)


def test_tsig_key_file_is_bind_format(tmp_path):
    path = generate_key_file(str(tmp_path / "k"))
    text = open(path).read()
    assert re.fullmatch(r'key "maillab-key" \{\n\talgorithm hmac-sha256;\n'
                        r'\tsecret "[A-Za-z0-9+/]+=*";\n\};\n', text)
    assert open(generate_key_file(str(tmp_path / "k2"))).read() != text   # fresh per run


def test_the_dns_server_accepts_the_generated_zone():
    from dnslib import QTYPE

    from servers.dns.zone import parse_zone, rdata_text
    z = parse_zone(zone_text(build_plan(dcs=2, mx_per_dc=(1, 1))), "lab.lab_zone")
    assert str(z.origin) == "example.org."
    assert sorted(rdata_text(rr) for rr in z.rrs("example.org.", QTYPE.MX)) == [
        "10 mx1.lab.example.org.", "20 relay1.lab.example.org."]
    assert [rdata_text(rr) for rr in z.rrs("mx2.lab.example.org.", QTYPE.A)] == ["10.0.2.10"]
