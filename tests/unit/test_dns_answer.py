"""Answers to standard queries, one case each."""
from dnslib import QTYPE, RCODE, RR, DNSRecord

from servers.dns.answer import answer, fit, udp_limit
from tests.dns_support import query, zone

ZONES = [zone()]


def ask(name, qtype="A", **kwargs):
    return answer(query(name, qtype), ZONES, **kwargs)


def names(rrs):
    return [(str(rr.rname), QTYPE.get(rr.rtype), str(rr.rdata)) for rr in rrs]


def test_a_positive_answer_is_authoritative_and_echoes_the_question():
    assert answer(query("web.example.org", "A").pack(), ZONES).rr     # bytes will do too
    reply = ask("web.example.org", "A")
    assert reply.header.aa and reply.header.qr and reply.header.rcode == RCODE.NOERROR
    assert names(reply.rr) == [("web.example.org.", "A", "10.0.0.80")]
    assert str(reply.q.qname) == "web.example.org."


def test_an_unknown_name_is_nxdomain_with_the_soa_at_its_negative_ttl():
    reply = ask("nope.example.org", "A")
    assert reply.header.rcode == RCODE.NXDOMAIN and reply.header.aa and not reply.rr
    assert names(reply.auth)[0][:2] == ("example.org.", "SOA")
    assert reply.auth[0].ttl == 60      # min(SOA TTL, SOA minimum)


def test_a_known_name_without_the_type_is_nodata_not_nxdomain():
    reply = ask("web.example.org", "MX")
    assert reply.header.rcode == RCODE.NOERROR and not reply.rr
    assert QTYPE.get(reply.auth[0].rtype) == "SOA"


def test_an_empty_non_terminal_is_nodata():
    reply = ask("b.c.example.org", "A")
    assert reply.header.rcode == RCODE.NOERROR and not reply.rr and reply.auth


def test_an_unsupported_data_type_is_nodata():
    reply = ask("example.org", "SRV")
    assert reply.header.rcode == RCODE.NOERROR and not reply.rr and reply.auth


def test_a_meta_type_is_notimp():
    assert ask("example.org", "TYPE253").header.rcode == RCODE.NOTIMP   # MAILB
    assert ask("example.org", "TSIG").header.rcode == RCODE.NOTIMP


def test_mx_answers_carry_the_targets_addresses_in_additional():
    reply = ask("example.org", "MX")
    assert [str(rr.rdata.label) for rr in reply.rr] == ["mx1.example.org.", "relay.example.org."]
    assert names(reply.ar) == [("mx1.example.org.", "A", "10.0.1.25"),
                               ("relay.example.org.", "A", "10.0.1.26"),
                               ("relay.example.org.", "AAAA", "2001:db8::26")]


def test_ns_answers_carry_glue():
    reply = ask("example.org", "NS")
    assert names(reply.ar) == [("ns1.example.org.", "A", "10.0.0.53")]


def test_a_cname_is_chased_inside_the_zone():
    reply = ask("www.example.org", "A")
    assert names(reply.rr) == [("www.example.org.", "CNAME", "web.example.org."),
                               ("web.example.org.", "A", "10.0.0.80")]


def test_a_cname_out_of_our_zones_is_answered_alone():
    reply = ask("ext.example.org", "A")
    assert names(reply.rr) == [("ext.example.org.", "CNAME", "www.example.com.")]
    assert reply.header.rcode == RCODE.NOERROR


def test_a_cname_loop_ends_with_each_record_once():
    reply = ask("loop1.example.org", "A")
    assert names(reply.rr) == [("loop1.example.org.", "CNAME", "loop2.example.org."),
                               ("loop2.example.org.", "CNAME", "loop1.example.org.")]


def test_a_cname_query_gets_the_cname_itself():
    assert names(ask("www.example.org", "CNAME").rr) == [
        ("www.example.org.", "CNAME", "web.example.org.")]


def test_names_outside_our_zones_are_refused_without_aa():
    reply = ask("example.com", "A")
    assert reply.header.rcode == RCODE.REFUSED and not reply.header.aa and not reply.rr


def test_zone_transfers_are_refused_unless_allowed_and_over_tcp():
    assert ask("example.org", "AXFR").header.rcode == RCODE.REFUSED
    assert ask("example.org", "AXFR", axfr_allowed=True).header.rcode == RCODE.REFUSED  # UDP
    full = ask("example.org", "AXFR", axfr_allowed=True, tcp=True)
    assert full.header.rcode == RCODE.NOERROR
    assert QTYPE.get(full.rr[0].rtype) == QTYPE.get(full.rr[-1].rtype) == "SOA"
    assert len(full.rr) == sum(len(v) for v in ZONES[0].names.values()) + 1


def test_mx_filter_narrows_mx_sets():
    def only_relay(name, rrs):
        return [rr for rr in rrs if "relay" in str(rr.rdata.label)]
    reply = ask("example.org", "MX", mx_filter=only_relay)
    assert [str(rr.rdata.label) for rr in reply.rr] == ["relay.example.org."]


def test_an_answer_too_big_for_udp_is_truncated_and_whole_over_tcp():
    reply = ask("big.example.org", "TXT")
    assert len(reply.pack()) > 1232
    cut = fit(DNSRecord.parse(reply.pack()), udp_limit(query("x", "A")))
    assert cut.header.tc and not cut.rr and len(cut.pack()) <= 512
    whole = fit(reply, 65535)
    assert not whole.header.tc and len(whole.rr) == 1


def test_edns_size_is_honoured_and_capped():
    assert udp_limit(query("x", "A")) == 512
    assert udp_limit(query("x", "A", edns=1232)) == 1232
    assert udp_limit(query("x", "A", edns=100)) == 512
    assert udp_limit(query("x", "A", edns=65000)) == 1232    # what we advertise
    assert udp_limit(query("x", "A", edns=4096)) == 1232
    reply = answer(query("big.example.org", "TXT", edns=4096), ZONES)
    assert any(rr.rtype == QTYPE.OPT for rr in reply.ar)
    cut = fit(reply, udp_limit(query("x", "A", edns=4096)))
    assert cut.header.tc and len(cut.pack()) <= 1232


def test_additional_records_go_before_the_answer_is_truncated():
    reply = ask("example.org", "MX")
    size_without_glue = len(DNSRecord(reply.header, reply.questions, reply.rr).pack())
    cut = fit(reply, size_without_glue)
    assert not cut.header.tc and len(cut.rr) == 2 and not cut.ar


def test_more_than_one_question_is_formerr():
    q = query("example.org", "A")
    q.add_question(query("web.example.org", "A").q)
    assert answer(q, ZONES).header.rcode == RCODE.FORMERR


def test_the_deepest_zone_answers():
    sub = zone("$ORIGIN sub.example.org.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\n"
               "ns A 10.9.9.9\n", "sub.zone")
    reply = answer(query("ns.sub.example.org", "A"), ZONES + [sub])
    assert names(reply.rr) == [("ns.sub.example.org.", "A", "10.9.9.9")]
    assert isinstance(reply.rr[0], RR)
