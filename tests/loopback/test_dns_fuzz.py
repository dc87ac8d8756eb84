"""Hostile input: scapy-made random and mutated DNS packets (queries and
signed UPDATEs), truncated and oversized packets, compression loops, and TCP
streams whose length prefixes lie.

Afterwards the server must still be alive, still answer correctly (a query
over UDP and TCP, a signed UPDATE), have logged no traceback, and its zone
must hold exactly the changes of the validly signed UPDATEs: no mutated one
was applied. MAILLAB_FUZZ=full sends 10,000 packets and 1,000 TCP streams.
"""
import random
import socket
import struct
import time

import pytest

from servers.dns import tsig
from servers.dns.zone import load_zone, rr_text
from tests.dns_support import ZONE, dig, query
from tests.support import fuzz_inputs, fuzz_seed, running_server

pytestmark = pytest.mark.needs_cmd("dig")

scapy_all = pytest.importorskip("scapy.all")
DNS, DNSQR, DNSRR, fuzz = scapy_all.DNS, scapy_all.DNSQR, scapy_all.DNSRR, scapy_all.fuzz

EVERYDAY_PACKETS = 2000
KEY = tsig.TsigKey("maillab-key", "hmac-sha256", b"k" * 32)


def seeds():
    """Valid messages to mutate: queries of many kinds, with EDNS, signed, an UPDATE."""
    kinds = [("example.org", "SOA"), ("example.org", "MX"), ("www.example.org", "A"),
             ("big.example.org", "TXT"), ("nope.example.org", "AAAA"), ("example.org", "ANY")]
    out = [bytes(query(name, qtype).pack()) for name, qtype in kinds]
    out += [bytes(query(name, qtype, edns=4096).pack()) for name, qtype in kinds]
    out.append(tsig.sign(bytes(query("example.org", "SOA").pack()), KEY, time.time())[0])
    out.append(update("x.example.org.", "10.0.0.1"))
    out.append(signed_update("y.example.org.", "10.0.0.2", time.time()))
    return out


def update(name, address):
    """An RFC 2136 UPDATE adding ``name`` A ``address``, unsigned."""
    return bytes(DNS(id=7, opcode=5, qd=DNSQR(qname="example.org.", qtype="SOA"),
                     ns=DNSRR(rrname=name, type="A", rdata=address, ttl=60)))


def signed_update(name, address, when):
    return tsig.sign(update(name, address), KEY, when)[0]


def mutate(rng, packet):
    data = bytearray(packet)
    for _ in range(rng.randint(1, 8)):
        how = rng.random()
        if how < 0.5 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif how < 0.7:
            data = data[:rng.randrange(len(data) + 1)]
        elif how < 0.85:
            data[rng.randrange(len(data) + 1):0] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
        elif len(data) > 12:
            data[4:12] = struct.pack("!HHHH", *(rng.choice([0, 1, 2, 255, 65535]) for _ in range(4)))
    return bytes(data)


def generate(rng, count):
    valid = seeds()
    makers = [
        lambda: bytes(fuzz(DNS())),
        lambda: bytes(fuzz(DNS(qd=DNSQR(qname="example.org.")))),
        lambda: bytes(fuzz(DNS(qr=0, qd=DNSQR(qname=rng.choice(["example.org.", "mx1.example.org."]))))),
        lambda: bytes(fuzz(DNS(opcode=5, qd=DNSQR(qtype="SOA"), ns=DNSRR()))),
        lambda: mutate(rng, rng.choice(valid)),
        lambda: mutate(rng, rng.choice(valid)),
        lambda: mutate(rng, valid[-1]),             # the signed UPDATE
        lambda: bytes(rng.randrange(256) for _ in range(rng.randint(0, 600))),
        lambda: rng.choice(valid)[:rng.randrange(12)],                  # shorter than a header
        lambda: COMPRESSION_LOOPS[rng.randrange(len(COMPRESSION_LOOPS))],
        lambda: rng.choice(valid)[:12] + b"\x3f" + b"a" * 63 + b"\xc0\x0c" * 50,
        lambda: bytes(4000),    # oversized
        lambda: rng.choice(valid) + bytes(rng.randrange(256) for _ in range(rng.randint(1, 3000))),
    ]
    return [rng.choice(makers)() for _ in range(count)]


HEADER_ONE_QUESTION = b"\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"
COMPRESSION_LOOPS = [
    HEADER_ONE_QUESTION + b"\xc0\x0c\x00\x01\x00\x01",                      # points at itself
    HEADER_ONE_QUESTION + b"\x01a\xc0\x0e\x00\x01\x00\x01",                # a -> a -> ...
    HEADER_ONE_QUESTION + b"\xc0\x0e\xc0\x0c\x00\x01\x00\x01",          # two point at each other
    HEADER_ONE_QUESTION + b"\x01a" * 120 + b"\xc0\x0c\x00\x01\x00\x01",    # past 255 octets
    HEADER_ONE_QUESTION + b"\xc0\xff\x00\x01\x00\x01",                      # points past the end
]


def tcp_streams(rng, count):
    """(bytes, replies expected) for TCP: honest frames, and frames whose
    two-byte length says more or less than follows, zero, or 65535."""
    valid = seeds()[:-2]         # queries: each has an answer
    frame = lambda m: struct.pack("!H", len(m)) + m  # noqa: E731
    makers = [
        lambda: (frame(rng.choice(valid)), 1),
        lambda: (b"".join(frame(rng.choice(valid)) for _ in range(5)), 5),     # pipelined
        lambda: (struct.pack("!H", len(rng.choice(valid)) + rng.randint(1, 500))
                 + rng.choice(valid), 0),                               # says more, then EOF
        lambda: (struct.pack("!H", rng.randint(1, 11)) + rng.choice(valid), 0),  # says less
        lambda: (struct.pack("!H", 0) + frame(rng.choice(valid)), 0),          # empty message
        lambda: (struct.pack("!H", 65535) + bytes(rng.randrange(256) for _ in range(65535)), 0),
        lambda: (frame(mutate(rng, rng.choice(seeds()))), 0),
        lambda: (frame(rng.choice(COMPRESSION_LOOPS)), 0),
        lambda: (bytes([rng.randrange(256)]), 0),                              # half a length
        lambda: (bytes(rng.randrange(256) for _ in range(rng.randint(1, 3000))), 0),
    ]
    return [rng.choice(makers)() for _ in range(count)]


def play_tcp(port, data, replies):
    """Send one stream; read the replies it must get (an honest one), then hang up."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(data)
        received = b""
        while replies:
            chunk = c.recv(65535)
            assert chunk, "the server closed an honest TCP stream"
            received += chunk
            while len(received) >= 2 and len(received) >= 2 + struct.unpack("!H", received[:2])[0]:
                received = received[2 + struct.unpack("!H", received[:2])[0]:]
                replies -= 1


def zone_records(path):
    """Every record of the zone file but the SOA (whose serial UPDATEs bump)."""
    zone = load_zone(str(path))
    return sorted(rr_text(rr) for rrs in zone.names.values() for rr in rrs
                  if rr.rtype != 6)


def answers_correctly(port):
    status, _, answer, _ = dig(port, "example.org", "MX")
    return status == "NOERROR" and sorted(a[3] for a in answer) == [
        "10 mx1.example.org.", "20 relay.example.org."]


def test_random_and_mutated_packets_neither_kill_nor_wedge_the_server(tmp_path):
    packets_wanted = fuzz_inputs(EVERYDAY_PACKETS)
    zone = tmp_path / "example.org.zone"
    zone.write_text(ZONE)
    original = zone_records(zone)
    key = tmp_path / "k.key"
    key.write_text(tsig.key_file_text(KEY))
    rng = random.Random(fuzz_seed())
    random.seed(fuzz_seed())    # scapy's fuzz() draws from the random module
    packets = generate(rng, packets_wanted)
    streams = tcp_streams(rng, max(50, packets_wanted // 10))
    started = time.monotonic()
    with running_server("servers.dns", ["--zone", zone, "--port", 0, "--tsig-key", key]) as server:
        port = server.listening[0][1]
        replies = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setblocking(False)
            for i, packet in enumerate(packets):
                s.sendto(packet, ("127.0.0.1", port))
                if i % 50 == 0:
                    time.sleep(0.005)  # wait: pace the flood so the kernel keeps most of it
                while True:
                    try:
                        reply = s.recv(65535)
                    except BlockingIOError:
                        break
                    replies += 1
                    assert len(reply) <= 4096 + 200     # never more than the size rules allow
        for data, expected in streams:
            play_tcp(port, data, expected)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            # garbage framed as a message, then a real query on the same connection;
            # the garbage has QR clear (the server never answers a response, by design)
            bad = bytearray(rng.randrange(256) for _ in range(30))
            bad[2] &= 0x7F
            bad = bytes(bad)
            good = bytes(query("mx1.example.org", "A").pack())
            c.sendall(struct.pack("!H", len(bad)) + bad + struct.pack("!H", len(good)) + good)
            c.settimeout(5)
            data = c.recv(65535)
            assert data      # FORMERR (or another error) for the garbage
        assert server.proc.poll() is None
        assert answers_correctly(port)
        assert dig(port, "big.example.org", "TXT", "+tcp")[2]
        # a signed UPDATE, later than any the fuzz carried, is still applied
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(signed_update("after.example.org.", "10.0.0.3", time.time() + 2),
                     ("127.0.0.1", port))
            assert s.recv(65535)[3] & 0x0F == 0          # NOERROR
        assert dig(port, "after.example.org", "A")[2][0][3] == "10.0.0.3"
    elapsed = time.monotonic() - started
    output = "".join(server.output)
    assert server.proc.returncode is not None
    assert "Traceback" not in output and "Unhandled" not in output, output[-3000:]
    assert replies > len(packets) // 4, replies       # it went on answering throughout
    # Only validly signed UPDATEs changed the zone: the last one, and the
    # seed's, which a mutation of its header ID alone leaves validly signed.
    after = zone_records(zone)
    assert set(original) <= set(after)
    assert {rr.split()[0] for rr in set(after) - set(original)} <= {
        "after.example.org.", "y.example.org."}, sorted(set(after) - set(original))
    assert "after.example.org." in {rr.split()[0] for rr in after}
    print("fuzz dns: %d UDP packets, %d TCP streams (%d inputs), %d replies, 0 crashes, "
          "%.1f s" % (len(packets), len(streams), len(packets) + len(streams), replies, elapsed))
