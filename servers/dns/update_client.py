"""A small TSIG-signed RFC 2136 client: what nsupdate does, callable from Python.

    send_update("10.0.0.53", 53, "example.org.", key,
                adds=[("mx2.example.org.", 300, "A", "10.0.2.25")],
                deletes=[("example.org.", "MX"), ("example.org.", "MX", "10 mx1.example.org.")])
    -> "NOERROR"

Deletions are applied before additions, as listed. Blocking; raises
TimeoutError if no reply comes, ValueError if the reply is not signed by ``key``.
"""
import socket
import struct
import time

from dnslib import OPCODE, QTYPE, RCODE, RD, RR, DNSHeader, DNSQuestion, DNSRecord

from servers.dns import tsig, wire_format
from servers.dns.zone import absolute_name, parse_rdata

ANY, NONE = 255, 254


def build_update(zone, adds=(), deletes=()):
    """The UPDATE message (a DNSRecord) for ``adds`` and ``deletes``."""
    update = DNSRecord(DNSHeader(opcode=OPCODE.UPDATE),
                       q=DNSQuestion(zone, QTYPE.SOA))
    for item in deletes:
        name, rtype = absolute_name(item[0], None), item[1].upper()
        if len(item) == 2:
            update.add_auth(RR(name, getattr(QTYPE, rtype), ANY, 0, RD(b"")))
        else:
            update.add_auth(RR(name, getattr(QTYPE, rtype), NONE, 0,
                               parse_rdata(rtype, item[2].split(), None)))
    for name, ttl, rtype, text in adds:
        rtype = rtype.upper()
        update.add_auth(RR(absolute_name(name, None), getattr(QTYPE, rtype), ttl=int(ttl),
                           rdata=parse_rdata(rtype, _fields(rtype, text), None)))
    return update


def _fields(rtype, text):
    if rtype == "TXT":
        return [text]       # one string, as given
    return text.split()


def send_update(server_ip, port, zone, key, adds=(), deletes=(), timeout=5):
    """Send one signed UPDATE over UDP (TCP if the reply is truncated); the rcode name."""
    if isinstance(key, str):
        key = tsig.read_key_file(key)
    wire, mac = tsig.sign(build_update(zone, adds, deletes).pack(), key, time.time())
    msg_id = struct.unpack("!H", wire[:2])[0]
    reply = _exchange_udp(server_ip, port, wire, msg_id, timeout)
    if reply is None or wire_format.parse(reply).header.tc:
        reply = _exchange_tcp(server_ip, port, wire, timeout)
    parsed = wire_format.parse(reply)
    if parsed.tsig_offset is None:
        if parsed.header.rcode == RCODE.NOERROR:
            raise ValueError("unsigned NOERROR reply from %s:%d" % (server_ip, port))
        return RCODE.get(parsed.header.rcode)
    record = tsig.parse_record(reply, parsed.tsig_offset)
    if record.error:
        return "%s(%s)" % (RCODE.get(parsed.header.rcode), tsig.ERROR_NAMES.get(record.error))
    try:
        tsig.verify(reply, parsed.tsig_offset, {record.name: key}, time.time(), request_mac=mac)
    except tsig.TsigError as e:
        raise ValueError("reply from %s:%d fails TSIG: %s" % (server_ip, port, e)) from None
    return RCODE.get(parsed.header.rcode)


def _exchange_udp(ip, port, wire, msg_id, timeout):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(wire, (ip, port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data, _ = s.recvfrom(65535)
            except socket.timeout:
                return None
            if len(data) >= 2 and struct.unpack("!H", data[:2])[0] == msg_id:
                return data
    return None


def _exchange_tcp(ip, port, wire, timeout):
    with socket.create_connection((ip, port), timeout=timeout) as s:
        s.sendall(struct.pack("!H", len(wire)) + wire)
        length = struct.unpack("!H", _recv_exactly(s, 2))[0]
        return _recv_exactly(s, length)


def _recv_exactly(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise TimeoutError("connection closed before the reply was complete")
        data += chunk
    return data
