"""Signed UPDATEs cannot be replayed: not with a cut MAC, not after a restart."""
import struct

from dnslib import QTYPE, RCODE, DNSLabel

from servers.dns import tsig, wire_format
from servers.dns.server import DNSServer
from servers.dns.update_client import build_update
from servers.dns.zone import load_zone
from tests.dns_support import zone

KEY = tsig.TsigKey("maillab-key", "hmac-sha256", b"k" * 32)
KEYS = {DNSLabel("maillab-key"): KEY}
NOW = 1_800_000_000
EVIL = ("example.org.", "MX", "5 evil.example.org.")


def zone_file(tmp_path):
    z = zone()
    z.path = str(tmp_path / "example.org.zone")
    z.save()
    return z.path


def server_on(path, now=NOW, **kwargs):
    return DNSServer([load_zone(path)], KEYS, now=lambda: now, **kwargs)


def update(now, adds=(), deletes=()):
    return tsig.sign(build_update("example.org.", adds, deletes).pack(), KEY, now)[0]


def add_evil(now):
    return update(now, adds=[("example.org.", 300, "MX", "5 evil.example.org.")])


def delete_evil(now):
    return update(now, deletes=[EVIL])


def truncate_mac(packet, size):
    """``packet`` with its TSIG MAC cut to ``size`` bytes (MAC size and RDLENGTH fixed up)."""
    offset = wire_format.parse(packet).tsig_offset
    r = tsig.parse_record(packet, offset)
    algorithm = tsig._name_wire(r.algorithm)
    rdata = (algorithm + struct.pack("!HIHH", r.time_signed >> 32, r.time_signed & 0xFFFFFFFF,
                                     r.fudge, size)
             + r.mac[:size] + struct.pack("!HHH", r.original_id, r.error, len(r.other)) + r.other)
    return (packet[:offset] + tsig._name_wire(r.name)
            + struct.pack("!HHIH", QTYPE.TSIG, 255, 0, len(rdata)) + rdata)


def outcome(reply):
    """(rcode name, TSIG error name or None) of a reply."""
    parsed = wire_format.parse(reply)
    error = None
    if parsed.tsig_offset is not None:
        code = tsig.parse_record(reply, parsed.tsig_offset).error
        error = tsig.ERROR_NAMES.get(code, code) if code else None
    return RCODE.get(parsed.header.rcode), error


def mx_targets(server):
    return sorted(str(rr.rdata.label) for rr in server.zones[0].rrs("example.org.", QTYPE.MX))


def test_a_replayed_update_with_its_mac_cut_to_16_bytes_is_badtrunc_and_changes_nothing(tmp_path):
    server = server_on(zone_file(tmp_path))
    captured = add_evil(NOW)
    assert outcome(server.handle(captured, "127.0.0.1")) == ("NOERROR", None)
    assert outcome(server.handle(delete_evil(NOW + 1), "127.0.0.1")) == ("NOERROR", None)
    assert "evil.example.org." not in mx_targets(server)

    replay = truncate_mac(captured, 16)
    assert outcome(server.handle(replay, "127.0.0.1")) == ("NOTAUTH", "BADTRUNC")
    assert "evil.example.org." not in mx_targets(server)


def test_a_replay_after_a_restart_is_refused_and_changes_nothing(tmp_path):
    path = zone_file(tmp_path)
    captured = add_evil(NOW)
    first = server_on(path)
    assert outcome(first.handle(captured, "127.0.0.1")) == ("NOERROR", None)
    assert outcome(first.handle(delete_evil(NOW + 1), "127.0.0.1")) == ("NOERROR", None)

    restarted = server_on(path, now=NOW + 2)     # a new process: nothing in memory
    assert outcome(restarted.handle(captured, "127.0.0.1")) == ("NOTAUTH", "BADTIME")
    assert "evil.example.org." not in mx_targets(restarted)
    assert "evil.example.org." not in mx_targets(server_on(path))     # nor in the file


def test_an_update_signed_before_the_last_accepted_one_is_refused(tmp_path):
    server = server_on(zone_file(tmp_path), now=NOW + 10)
    assert outcome(server.handle(delete_evil(NOW + 5), "127.0.0.1")) == ("NOERROR", None)
    assert outcome(server.handle(add_evil(NOW + 2), "127.0.0.1")) == ("NOTAUTH", "BADTIME")
    assert "evil.example.org." not in mx_targets(server)


def test_distinct_updates_signed_in_the_same_second_are_all_applied(tmp_path):
    server = server_on(zone_file(tmp_path))
    assert outcome(server.handle(add_evil(NOW), "127.0.0.1")) == ("NOERROR", None)
    assert outcome(server.handle(delete_evil(NOW), "127.0.0.1")) == ("NOERROR", None)
    assert "evil.example.org." not in mx_targets(server)


def test_a_retransmitted_update_gets_the_first_reply_and_is_not_applied_twice(tmp_path):
    server = server_on(zone_file(tmp_path))
    captured = add_evil(NOW)
    first = server.handle(captured, "127.0.0.1")
    server.zones[0].set_rrs("evil.example.org.", [])
    assert server.handle(captured, "127.0.0.1") == first


def test_truncated_macs_follow_rfc8945_when_the_policy_allows_them(tmp_path):
    server = server_on(zone_file(tmp_path), min_mac_size=16)
    assert outcome(server.handle(truncate_mac(add_evil(NOW), 16), "127.0.0.1")) == ("NOERROR", None)
    assert "evil.example.org." in mx_targets(server)
    too_short = truncate_mac(delete_evil(NOW + 1), 12)      # below max(10, 32 / 2)
    assert outcome(server.handle(too_short, "127.0.0.1"))[0] == "FORMERR"
    wrong = bytearray(truncate_mac(delete_evil(NOW + 1), 20))
    wrong[-7] ^= 1      # the last MAC byte
    assert outcome(server.handle(bytes(wrong), "127.0.0.1")) == ("NOTAUTH", "BADSIG")
    assert "evil.example.org." in mx_targets(server)


def test_a_replay_state_that_cannot_be_written_answers_signed_servfail_and_remembers_nothing(
        tmp_path, monkeypatch):
    from servers.dns import replay
    server = server_on(zone_file(tmp_path))
    real_write = replay.write_atomic

    def disk_full(path, data):
        raise OSError(28, "No space left on device", path)
    monkeypatch.setattr(replay, "write_atomic", disk_full)
    captured = add_evil(NOW)
    reply = server.handle(captured, "127.0.0.1")
    assert outcome(reply) == ("SERVFAIL", None)
    request_mac = tsig.parse_record(captured, wire_format.parse(captured).tsig_offset).mac
    tsig.verify(reply, wire_format.parse(reply).tsig_offset, KEYS, NOW, request_mac)  # signed
    assert server.replay_guard.last == {}
    assert "evil.example.org." not in mx_targets(server)

    monkeypatch.setattr(replay, "write_atomic", real_write)     # the disk has room again
    assert outcome(server.handle(captured, "127.0.0.1")) == ("NOERROR", None)   # the resend
    assert "evil.example.org." in mx_targets(server)
