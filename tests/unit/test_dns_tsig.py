"""TSIG signing and verification (RFC 8945, HMAC-SHA256) and BIND key files."""
import os

import pytest
from dnslib import DNSLabel

from servers.dns import tsig, wire_format
from tests.dns_support import query

NOW = 1_800_000_000
KEY = tsig.TsigKey("maillab-key", "hmac-sha256", b"k" * 32)
KEYS = {DNSLabel("maillab-key"): KEY}


def signed(key=KEY, now=NOW):
    return tsig.sign(query("example.org", "SOA").pack(), key, now)


def check(packet, keys=KEYS, now=NOW, request_mac=b""):
    return tsig.verify(packet, wire_format.parse(packet).tsig_offset, keys, now, request_mac)


def test_a_signed_message_verifies_and_carries_a_tsig_record():
    packet, mac = signed()
    key, record = check(packet)
    assert key is KEY and record.mac == mac and len(mac) == 32
    assert str(record.algorithm) == "hmac-sha256." and record.time_signed == NOW
    assert wire_format.parse(packet).header.ar == 1


def test_the_message_id_may_change_the_original_id_is_signed():
    packet = bytearray(signed()[0])
    packet[1] ^= 0x01
    assert check(bytes(packet))


def test_a_wrong_secret_is_badsig():
    packet, _ = signed(tsig.TsigKey("maillab-key", "hmac-sha256", b"x" * 32))
    with pytest.raises(tsig.TsigError) as e:
        check(packet)
    assert e.value.error == tsig.BADSIG


def test_an_unknown_key_name_is_badkey():
    packet, _ = signed(tsig.TsigKey("other-key", "hmac-sha256", b"k" * 32))
    with pytest.raises(tsig.TsigError) as e:
        check(packet)
    assert e.value.error == tsig.BADKEY


@pytest.mark.parametrize("offset", [2, 3, 14, 20, -5, -20])
def test_an_altered_message_is_badsig(offset):
    packet = bytearray(signed()[0])
    packet[offset] ^= 0x01
    with pytest.raises((tsig.TsigError, wire_format.MessageError)) as e:
        check(bytes(packet))
    if isinstance(e.value, tsig.TsigError):
        assert e.value.error in (tsig.BADSIG, tsig.BADKEY)


@pytest.mark.parametrize("skew", [-301, 301, 3600])
def test_an_old_or_future_time_is_badtime(skew):
    packet, _ = signed(now=NOW + skew)
    with pytest.raises(tsig.TsigError) as e:
        check(packet)
    assert e.value.error == tsig.BADTIME
    assert check(signed(now=NOW + (300 if skew > 0 else -300))[0])   # inside the fudge


def test_a_response_is_signed_over_the_request_mac():
    request, request_mac = signed()
    reply = wire_format.reply_to(wire_format.parse(request)).pack()
    response, _ = tsig.sign(reply, KEY, NOW, request_mac)
    assert check(response, request_mac=request_mac)
    with pytest.raises(tsig.TsigError):
        check(response, request_mac=b"\0" * 32)


def test_error_replies_badsig_unsigned_badtime_signed():
    request, _ = signed(now=NOW + 1000)
    with pytest.raises(tsig.TsigError) as e:
        check(request)
    reply = wire_format.reply_to(wire_format.parse(request)).pack()
    out = tsig.error_reply(reply, e.value, NOW)
    record = tsig.parse_record(out, wire_format.parse(out).tsig_offset)
    assert record.error == tsig.BADTIME and len(record.mac) == 32 and len(record.other) == 6

    request, _ = signed(tsig.TsigKey("maillab-key", "hmac-sha256", b"x" * 32))
    with pytest.raises(tsig.TsigError) as e:
        check(request)
    out = tsig.error_reply(reply, e.value, NOW)
    record = tsig.parse_record(out, wire_format.parse(out).tsig_offset)
    assert record.error == tsig.BADSIG and record.mac == b""


def test_key_files_round_trip_in_bind_format(tmp_path):
    path = str(tmp_path / "k.key")
    key = tsig.generate_key_file(path)
    text = open(path).read()
    assert text.startswith('key "maillab-key" {\n\talgorithm hmac-sha256;\n\tsecret "')
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert tsig.read_key_file(path) == key and len(key.secret) == 32


def test_a_tsig_keygen_file_is_read(tmp_path):
    path = tmp_path / "bind.key"
    path.write_text('key "ddns-key.example.org" {\n\talgorithm hmac-sha256;\n'
                    '\tsecret "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";\n};\n')
    key = tsig.read_key_file(str(path))
    assert key.name == "ddns-key.example.org" and key.secret.startswith(b"secretsecret")


def test_other_algorithms_are_refused(tmp_path):
    path = tmp_path / "md5.key"
    path.write_text('key "k" { algorithm hmac-md5; secret "AAAA"; };\n')
    with pytest.raises(ValueError, match="only hmac-sha256"):
        tsig.read_key_file(str(path))
