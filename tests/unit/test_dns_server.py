"""Dispatch (bytes in, bytes out) and the UDP/TCP protocols over fake transports."""
import struct

from dnslib import OPCODE, RCODE, DNSLabel, DNSRecord
from twisted.internet import task
from twisted.internet.testing import StringTransport

from servers.dns import tsig, wire_format
from servers.dns.server import (TCP_IDLE_TIMEOUT, DNSDatagramProtocol, DNSServer,
                                DNSStreamProtocol)
from tests.dns_support import query, zone

KEY = tsig.TsigKey("maillab-key", "hmac-sha256", b"k" * 32)
NOW = 1_800_000_000


def make_server():
    return DNSServer([zone()], {DNSLabel("maillab-key"): KEY}, now=lambda: NOW)


def rcode(reply):
    return DNSRecord.parse(reply).header.rcode


def test_malformed_queries_get_formerr_with_their_id():
    server = make_server()
    packet = bytearray(query("example.org", "A").pack())
    packet[5] = 3       # three questions, one present
    reply = server.handle(bytes(packet), "127.0.0.1")
    assert rcode(reply) == RCODE.FORMERR and reply[:2] == packet[:2]
    assert server.handle(b"\x12\x34\x00", "127.0.0.1") is None     # too short for a header


def test_responses_are_never_answered():
    server = make_server()
    reply = server.handle(query("example.org", "A").pack(), "127.0.0.1")
    assert server.handle(reply, "127.0.0.1") is None
    garbage_response = b"\x00\x01\x80\x00" + b"\xff" * 20
    assert server.handle(garbage_response, "127.0.0.1") is None


def test_unsupported_opcodes_are_notimp():
    q = query("example.org", "A")
    q.header.opcode = OPCODE.STATUS
    assert rcode(make_server().handle(q.pack(), "127.0.0.1")) == RCODE.NOTIMP


def test_a_signed_query_gets_a_signed_answer():
    packet, mac = tsig.sign(query("example.org", "SOA").pack(), KEY, NOW)
    reply = make_server().handle(packet, "127.0.0.1")
    parsed = wire_format.parse(reply)
    assert parsed.header.rcode == RCODE.NOERROR and parsed.rr
    tsig.verify(reply, parsed.tsig_offset, {DNSLabel("maillab-key"): KEY}, NOW, request_mac=mac)


def test_udp_replies_are_truncated_tcp_replies_whole():
    server = make_server()
    big = query("big.example.org", "TXT").pack()
    udp = DNSRecord.parse(server.handle(big, "127.0.0.1", tcp=False))
    tcp = DNSRecord.parse(server.handle(big, "127.0.0.1", tcp=True))
    assert udp.header.tc and not udp.rr
    assert not tcp.header.tc and len(tcp.rr[0].rdata.data) == 6


def test_axfr_is_allowed_only_to_listed_addresses():
    server = DNSServer([zone()], allow_axfr=["10.0.0.0/8"])
    axfr = query("example.org", "AXFR").pack()
    assert rcode(server.handle(axfr, "127.0.0.1", tcp=True)) == RCODE.REFUSED
    assert rcode(server.handle(axfr, "10.1.2.3", tcp=True)) == RCODE.NOERROR


class FakeUDPTransport:
    def __init__(self):
        self.sent = []

    def write(self, data, addr):
        self.sent.append((data, addr))


def test_udp_protocol_answers_the_sender_and_ignores_noise():
    proto = DNSDatagramProtocol(make_server())
    proto.transport = FakeUDPTransport()
    proto.datagramReceived(query("web.example.org", "A").pack(), ("127.0.0.1", 5353))
    proto.datagramReceived(b"\x01", ("127.0.0.1", 5353))
    [(data, addr)] = proto.transport.sent
    assert addr == ("127.0.0.1", 5353) and str(DNSRecord.parse(data).rr[0].rdata) == "10.0.0.80"


def framed(packet):
    return struct.pack("!H", len(packet)) + packet


def tcp_connection(clock=None):
    proto = DNSStreamProtocol(make_server(), clock or task.Clock())
    transport = StringTransport()
    proto.makeConnection(transport)
    return proto, transport


def read_framed(data):
    replies = []
    while data:
        (n,) = struct.unpack("!H", data[:2])
        replies.append(DNSRecord.parse(data[2:2 + n]))
        data = data[2 + n:]
    return replies


def test_tcp_framing_two_messages_in_one_write_and_one_split_in_pieces():
    proto, transport = tcp_connection()
    one, two = framed(query("web.example.org", "A").pack()), framed(query("example.org", "MX").pack())
    proto.dataReceived(one + two[:5])
    proto.dataReceived(two[5:9])
    proto.dataReceived(two[9:])
    replies = read_framed(transport.value())
    assert [str(r.q.qname) for r in replies] == ["web.example.org.", "example.org."]
    assert not transport.disconnecting


def test_tcp_garbage_is_answered_formerr_or_closed():
    proto, transport = tcp_connection()
    proto.dataReceived(framed(b"\x00\x07" + b"\x00" * 4 + b"\xff" * 20))
    assert read_framed(transport.value())[0].header.rcode == RCODE.FORMERR
    proto.dataReceived(framed(b"\x01\x02\x03"))
    assert transport.disconnecting


def test_an_idle_or_stalled_tcp_connection_is_dropped():
    clock = task.Clock()
    proto, transport = tcp_connection(clock)
    proto.dataReceived(b"\xff\xff\x00")      # promises 65535 bytes, sends one
    clock.advance(TCP_IDLE_TIMEOUT - 1)
    assert not transport.disconnecting
    clock.advance(2)
    assert transport.disconnected


def test_an_rdata_length_that_lies_is_formerr():
    from dnslib import RR, A
    q = query("example.org", "A")
    q.add_ar(RR("x.example.org.", rdata=A("10.0.0.1")))
    packet = bytearray(q.pack())
    packet[-6] = 3     # RDLENGTH 4 -> 3: the A record now overruns by one byte
    assert rcode(make_server().handle(bytes(packet) + b"\0", "127.0.0.1")) == RCODE.FORMERR


def limited_factory(clock, max_total=3, per_client=2, deadline=60):
    from servers.common.session_limits import SessionTable
    from servers.dns.server import DNSStreamFactory
    return DNSStreamFactory(make_server(), clock, SessionTable(max_total, per_client, clock, "dns",
                                                               per_client_room=True),
                            deadline=deadline)


def tcp_client(factory, host):
    from twisted.internet.address import IPv4Address
    address = IPv4Address("TCP", host, 40000)
    proto = factory.buildProtocol(address)
    transport = StringTransport(peerAddress=address)
    proto.makeConnection(transport)
    return proto, transport


def test_a_client_at_its_tcp_limit_replaces_its_own_idlest_connection():
    clock = task.Clock()
    f = limited_factory(clock, max_total=10)
    held = [tcp_client(f, "127.0.0.2") for _ in range(2)]
    other = tcp_client(f, "127.0.0.3")
    clock.advance(1)
    held[1][0].dataReceived(framed(query("example.org", "MX").pack()))
    proto, transport = tcp_client(f, "127.0.0.2")      # a third from the same address
    assert held[0][1].disconnected and not held[1][1].disconnecting    # its idlest went
    assert not other[1].disconnecting                                   # nobody else's
    assert f.sessions.per_client["127.0.0.2"] == 2
    proto.dataReceived(framed(query("web.example.org", "A").pack()))
    assert str(read_framed(transport.value())[0].rr[0].rdata) == "10.0.0.80"


def test_at_the_tcp_limit_the_idlest_connection_makes_room_for_a_query():
    clock = task.Clock()
    f = limited_factory(clock, max_total=2, per_client=2)
    idle = [tcp_client(f, "127.0.0.%d" % i) for i in (2, 3)]
    clock.advance(2)
    idle[1][0].dataReceived(framed(query("example.org", "MX").pack()))     # active again
    clock.advance(2)
    proto, transport = tcp_client(f, "127.0.0.1")
    assert idle[0][1].disconnected and not idle[1][1].disconnecting
    proto.dataReceived(framed(query("web.example.org", "A").pack()))
    assert read_framed(transport.value())[0].rr
    clock.advance(1)
    idle[1][0].dataReceived(framed(query("example.org", "MX").pack()))
    _, late = tcp_client(f, "127.0.0.4")       # the asker of the A query is the idlest now
    assert transport.disconnected and not late.disconnecting


def test_a_byte_drip_neither_resets_the_idle_timer_nor_outlives_the_deadline():
    clock = task.Clock()
    f = limited_factory(clock, deadline=60)
    proto, transport = tcp_client(f, "127.0.0.2")
    proto.dataReceived(b"\xff")
    for _ in range(TCP_IDLE_TIMEOUT - 1):
        clock.advance(1)
        proto.dataReceived(b"\xff")     # a byte a second, never a whole message
    clock.advance(1.5)
    assert transport.disconnected       # the idle timer ran from the last whole message

    proto, transport = tcp_client(f, "127.0.0.2")
    one = framed(query("example.org", "SOA").pack())
    for _ in range(59):                 # a whole message every second: not idle
        clock.advance(1)
        proto.dataReceived(one)
        assert not transport.disconnected
    clock.advance(1)
    assert transport.disconnected       # the deadline


def test_two_opt_records_get_formerr():
    from dnslib import EDNS0
    q = query("web.example.org", "A", edns=1232)
    q.add_ar(EDNS0(udp_len=1232))
    assert rcode(make_server().handle(bytes(q.pack()), "127.0.0.1")) == RCODE.FORMERR


def test_edns_version_1_gets_badvers_in_an_opt_record():
    from dnslib import EDNS0
    q = query("web.example.org", "A")
    q.add_ar(EDNS0(udp_len=1232, version=1))
    reply = DNSRecord.parse(make_server().handle(bytes(q.pack()), "127.0.0.1"))
    [opt] = [rr for rr in reply.ar if rr.rtype == 41]
    extended = (opt.ttl >> 24) << 4 | reply.header.rcode
    assert extended == 16 and (opt.ttl >> 16) & 0xFF == 0      # BADVERS; we speak version 0
    assert not reply.rr


def test_udp_replies_stay_within_1232_bytes_whatever_the_client_advertises():
    for size in (4096, 65000):
        packet = make_server().handle(bytes(query("big.example.org", "TXT", edns=size).pack()),
                                      "127.0.0.1")
        assert len(packet) <= 1232 and DNSRecord.parse(packet).header.tc
    whole = make_server().handle(bytes(query("big.example.org", "TXT", edns=4096).pack()),
                                 "127.0.0.1", tcp=True)
    assert len(whole) > 1232 and not DNSRecord.parse(whole).header.tc
