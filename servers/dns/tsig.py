"""TSIG (RFC 8945) with HMAC-SHA256, and BIND key files as tsig-keygen writes them.

dnslib has no TSIG, so it is done here on the wire bytes: a signature
covers the message exactly as sent, which a re-packed DNSRecord would not be.

Why not dnspython's TSIG: the server parses and answers with dnslib, and
dnspython verifies a TSIG only while parsing a message into its own
``dns.message.Message``, so using it would mean two parsers for every signed
packet (or moving the whole server to dnspython). The HMAC itself is a few
lines over the standard library and is checked against BIND's nsupdate and
dig in tests/loopback. What a library would not give us is the policy,
which is where the risk is: the MAC truncation rules below and the replay
rule in servers/dns/replay.py.
"""
import base64
import collections
import hashlib
import hmac
import os
import re
import struct

from dnslib import QTYPE, DNSBuffer, DNSLabel

from servers.common.durable import write_atomic

ALGORITHM = "hmac-sha256"
FUDGE = 300
CLASS_ANY = 255
NOERROR, BADSIG, BADKEY, BADTIME, BADTRUNC = 0, 16, 17, 18, 22
ERROR_NAMES = {BADSIG: "BADSIG", BADKEY: "BADKEY", BADTIME: "BADTIME", BADTRUNC: "BADTRUNC"}
MAC_SIZE = hashlib.sha256().digest_size
# RFC 8945 §5.2.2.1: a MAC shorter than this is malformed whatever the policy.
SHORTEST_MAC = max(10, MAC_SIZE // 2)

TsigKey = collections.namedtuple("TsigKey", "name algorithm secret")
# One TSIG record as found in a message; ``offset`` is where it starts.
TsigRecord = collections.namedtuple(
    "TsigRecord", "name algorithm time_signed fudge mac original_id error other offset")


class TsigError(Exception):
    """Verification failed; ``error`` is the TSIG error code (BADSIG, BADKEY, BADTIME, BADTRUNC)."""

    def __init__(self, error, record, key=None):
        super().__init__(ERROR_NAMES.get(error, str(error)))
        self.error, self.record, self.key = error, record, key


class TsigFormError(ValueError):
    """A TSIG record no signer may send (RFC 8945 §5.2.2.1): the reply is FORMERR."""


# ---- key files

_KEY_RE = re.compile(r'key\s+"?([^"\s{]+)"?\s*\{(.*?)\}\s*;', re.DOTALL)


def read_keys(path):
    """Every key in a BIND key file, as {DNSLabel(name): TsigKey}."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    keys = {}
    for name, body in _KEY_RE.findall(text):
        algorithm = re.search(r"algorithm\s+([\w.-]+)\s*;", body)
        secret = re.search(r'secret\s+"([^"]+)"\s*;', body)
        if not algorithm or not secret:
            raise ValueError("%s: key %s lacks an algorithm or a secret" % (path, name))
        if algorithm.group(1).lower().rstrip(".") != ALGORITHM:
            raise ValueError("%s: key %s: only %s is supported, not %s"
                             % (path, name, ALGORITHM, algorithm.group(1)))
        keys[DNSLabel(name)] = TsigKey(name.rstrip("."), ALGORITHM,
                                       base64.b64decode(secret.group(1), validate=True))
    if not keys:
        raise ValueError("%s: no key found" % path)
    return keys


def read_key_file(path):
    """The (first) key in a BIND key file."""
    return next(iter(read_keys(path).values()))


def key_file_text(key):
    return 'key "%s" {\n\talgorithm %s;\n\tsecret "%s";\n};\n' % (
        key.name, key.algorithm, base64.b64encode(key.secret).decode())


def generate_key_file(path, name="maillab-key"):
    """A new random key in BIND format at ``path`` (mode 0600); returns it."""
    key = TsigKey(name, ALGORITHM, os.urandom(32))
    write_atomic(path, key_file_text(key).encode())
    return key


# ---- wire

def _name_wire(name):
    """Canonical (lower-case, uncompressed) wire form of a name."""
    return b"".join(bytes([len(l)]) + l.lower() for l in DNSLabel(name).label) + b"\0"


def parse_record(packet, offset):
    """The TSIG record that starts at ``offset`` in ``packet``."""
    buffer = DNSBuffer(packet)
    buffer.offset = offset
    name = buffer.decode_name()
    buffer.unpack("!HHIH")
    algorithm = buffer.decode_name()
    high, low, fudge, mac_len = buffer.unpack("!HIHH")
    mac = buffer.get(mac_len)
    original_id, error, other_len = buffer.unpack("!HHH")
    other = buffer.get(other_len)
    return TsigRecord(name, algorithm, (high << 32) | low, fudge, mac, original_id,
                      error, other, offset)


def _variables(key_name, algorithm, time_signed, fudge, error, other):
    return (_name_wire(key_name) + struct.pack("!HI", CLASS_ANY, 0) + _name_wire(algorithm)
            + struct.pack("!HIHHH", time_signed >> 32, time_signed & 0xFFFFFFFF, fudge,
                          error, len(other)) + other)


def _mac(key, message, variables, request_mac):
    prefix = struct.pack("!H", len(request_mac)) + request_mac if request_mac else b""
    return hmac.new(key.secret, prefix + message + variables, hashlib.sha256).digest()


def sign(message, key, now, request_mac=b"", error=NOERROR, other=b"", fudge=FUDGE,
         mac=True):
    """``message`` (packed, without TSIG) with a TSIG record appended.

    Returns (signed bytes, MAC). ``request_mac`` is given when signing a response.
    With mac=False the record carries no MAC (the unsigned BADKEY/BADSIG reply).
    """
    time_signed = int(now)
    algorithm = ALGORITHM + "."
    digest = _mac(key, message, _variables(key.name, algorithm, time_signed, fudge, error, other),
                  request_mac) if mac else b""
    original_id = struct.unpack("!H", message[:2])[0]
    rdata = (_name_wire(algorithm)
             + struct.pack("!HIHH", time_signed >> 32, time_signed & 0xFFFFFFFF, fudge, len(digest))
             + digest + struct.pack("!HHH", original_id, error, len(other)) + other)
    record = (_name_wire(key.name) + struct.pack("!HHIH", QTYPE.TSIG, CLASS_ANY, 0, len(rdata))
              + rdata)
    arcount = struct.unpack("!H", message[10:12])[0] + 1
    return bytes(message[:10]) + struct.pack("!H", arcount) + bytes(message[12:]) + record, digest


def verify(packet, offset, keys, now, request_mac=b"", min_mac_size=MAC_SIZE):
    """Check the TSIG at ``offset``; returns (key, record) or raises TsigError.

    ``keys`` maps DNSLabel(key name) to TsigKey; ``request_mac`` is given when
    verifying a response to a request we signed. ``min_mac_size`` is the local
    truncation policy: by default a MAC must be whole. The checks come in the
    order of RFC 8945 §5.2: key, MAC, time, truncation.
    """
    record = parse_record(packet, offset)
    key = keys.get(record.name)
    if key is None or DNSLabel(record.algorithm) != DNSLabel(key.algorithm):
        raise TsigError(BADKEY, record)
    if not SHORTEST_MAC <= len(record.mac) <= MAC_SIZE:
        raise TsigFormError("MAC of %d bytes" % len(record.mac))
    expected = full_mac(packet, record, key, request_mac)
    if not hmac.compare_digest(expected[:len(record.mac)], record.mac):
        raise TsigError(BADSIG, record, key)
    if abs(now - record.time_signed) > record.fudge:
        raise TsigError(BADTIME, record, key)
    if len(record.mac) < max(min_mac_size, SHORTEST_MAC):
        raise TsigError(BADTRUNC, record, key)
    return key, record


def full_mac(packet, record, key, request_mac=b""):
    """The whole MAC ``key`` gives the message that carries ``record``.

    Unlike the MAC field, it cannot be shortened or re-encoded by whoever
    relays the message: it is what identifies a signed message.
    """
    # The MAC covers the message as it was before the TSIG was added.
    arcount = struct.unpack("!H", packet[10:12])[0] - 1
    message = (struct.pack("!H", record.original_id) + packet[2:10] + struct.pack("!H", arcount)
               + packet[12:record.offset])
    return _mac(key, message, _variables(record.name, record.algorithm, record.time_signed,
                                         record.fudge, record.error, record.other),
                request_mac)


def error_reply(reply, err, now):
    """Append the TSIG record a failed verification calls for to ``reply`` (packed).

    BADKEY and BADSIG replies are unsigned; BADTIME and BADTRUNC replies are
    signed, and BADTIME carries the server's time (RFC 8945 §5.2.3, §5.3.2).
    """
    if err.error == BADTIME:
        other = struct.pack("!HI", int(now) >> 32, int(now) & 0xFFFFFFFF)
        return sign(reply, err.key, now, err.record.mac, BADTIME, other)[0]
    if err.error == BADTRUNC:
        return sign(reply, err.key, now, err.record.mac, BADTRUNC)[0]
    key = TsigKey(str(err.record.name), str(err.record.algorithm).rstrip("."), b"")
    return sign(reply, key, err.record.time_signed, error=err.error, mac=False)[0]
