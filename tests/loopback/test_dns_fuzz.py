"""Hostile input: scapy-made random and mutated DNS packets, and garbage TCP streams.

Afterwards the server must still be alive, still answer correctly, and have
logged no traceback.
"""
import random
import socket
import struct
import time

import pytest

from servers.dns import tsig
from tests.dns_support import ZONE, dig, query
from tests.support import running_server

pytestmark = pytest.mark.needs_cmd("dig")

scapy_all = pytest.importorskip("scapy.all")
DNS, DNSQR, DNSRR, fuzz = scapy_all.DNS, scapy_all.DNSQR, scapy_all.DNSRR, scapy_all.fuzz

PACKETS = 2000
KEY = tsig.TsigKey("maillab-key", "hmac-sha256", b"k" * 32)


def seeds():
    """Valid messages to mutate: queries of many kinds, with EDNS, signed, an UPDATE."""
    kinds = [("example.org", "SOA"), ("example.org", "MX"), ("www.example.org", "A"),
             ("big.example.org", "TXT"), ("nope.example.org", "AAAA"), ("example.org", "ANY")]
    out = [bytes(query(name, qtype).pack()) for name, qtype in kinds]
    out += [bytes(query(name, qtype, edns=4096).pack()) for name, qtype in kinds]
    out.append(tsig.sign(bytes(query("example.org", "SOA").pack()), KEY, time.time())[0])
    out.append(bytes(DNS(id=7, opcode=5, qd=DNSQR(qname="example.org.", qtype="SOA"),
                         ns=DNSRR(rrname="x.example.org.", type="A", rdata="10.0.0.1", ttl=60))))
    return out


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


def generate(rng):
    valid = seeds()
    makers = [
        lambda: bytes(fuzz(DNS())),
        lambda: bytes(fuzz(DNS(qd=DNSQR(qname="example.org.")))),
        lambda: bytes(fuzz(DNS(qr=0, qd=DNSQR(qname=rng.choice(["example.org.", "mx1.example.org."]))))),
        lambda: bytes(fuzz(DNS(opcode=5, qd=DNSQR(qtype="SOA"), ns=DNSRR()))),
        lambda: mutate(rng, rng.choice(valid)),
        lambda: mutate(rng, rng.choice(valid)),
        lambda: bytes(rng.randrange(256) for _ in range(rng.randint(0, 600))),
        lambda: b"\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",  # self pointer
        lambda: rng.choice(valid)[:12] + b"\x3f" + b"a" * 63 + b"\xc0\x0c" * 50,
        lambda: bytes(4000),    # oversized
    ]
    return [rng.choice(makers)() for _ in range(PACKETS)]


def answers_correctly(port):
    status, _, answer, _ = dig(port, "example.org", "MX")
    return status == "NOERROR" and sorted(a[3] for a in answer) == [
        "10 mx1.example.org.", "20 relay.example.org."]


def test_random_and_mutated_packets_neither_kill_nor_wedge_the_server(tmp_path):
    zone = tmp_path / "example.org.zone"
    zone.write_text(ZONE)
    key = tmp_path / "k.key"
    key.write_text(tsig.key_file_text(KEY))
    rng = random.Random(20240101)
    random.seed(20240101)       # scapy's fuzz() draws from the random module
    packets = generate(rng)
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
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                c.sendall(bytes(rng.randrange(256) for _ in range(rng.randint(1, 3000))))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            # garbage framed as a message, then a real query on the same connection
            bad = bytes(rng.randrange(256) for _ in range(30))
            good = bytes(query("mx1.example.org", "A").pack())
            c.sendall(struct.pack("!H", len(bad)) + bad + struct.pack("!H", len(good)) + good)
            c.settimeout(5)
            data = c.recv(65535)
            assert data      # either FORMERR for the garbage, or the connection closed after
        assert server.proc.poll() is None
        assert answers_correctly(port)
        assert dig(port, "big.example.org", "TXT", "+tcp")[2]
    elapsed = time.monotonic() - started
    output = "".join(server.output)
    assert server.proc.returncode is not None
    assert "Traceback" not in output and "Unhandled" not in output, output[-3000:]
    assert replies > PACKETS // 4, replies        # it went on answering throughout
    print("dns fuzz: %d packets, %d replies in %.1f s" % (PACKETS, replies, elapsed))
