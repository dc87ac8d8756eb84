"""The DNS server on loopback, asked and updated by real clients: dig and nsupdate."""
import os
import subprocess
import sys

import pytest

from servers.common.events import read_events
from servers.dns.tsig import generate_key_file
from servers.dns.zone import parse_zone
from servers.dns.update_client import send_update
from tests.dns_support import ZONE, dig
from tests.support import ROOT, ServerProcess, running_server

pytestmark = pytest.mark.needs_cmd("dig", "nsupdate")


class DNS:
    """A running ``python -m servers.dns`` over files in ``directory``."""

    def __init__(self, directory):
        self.zone = directory / "example.org.zone"
        self.key = directory / "maillab.key"
        self.events = directory / "events.jsonl"
        self.process = None
        self.port = None

    def start(self):
        self.process = ServerProcess("servers.dns", [
            "--zone", self.zone, "--listen", "127.0.0.1", "--port", 0,
            "--tsig-key", self.key, "--events", self.events])
        self.port = self.process.wait_listening(count=2)
        assert {p for _, p in self.process.listening} == {self.port}    # UDP and TCP, one port
        return self

    def stop(self):
        return self.process.stop()


@pytest.fixture
def dns(tmp_path):
    server = DNS(tmp_path)
    server.zone.write_text(ZONE)
    generate_key_file(str(server.key))
    server.start()
    yield server
    server.stop()


def nsupdate(dns, commands, key=None, tcp=False):
    script = "server 127.0.0.1 %d\nzone example.org.\n%s\nsend\n" % (dns.port, commands)
    argv = ["nsupdate", "-t", "5"] + (["-v"] if tcp else []) + (["-k", str(key)] if key else [])
    return subprocess.run(argv, input=script, capture_output=True, text=True, timeout=30)


def serial(dns):
    return int(dig(dns.port, "example.org", "SOA")[2][0][3].split()[2])


def mx(dns, *options):
    return sorted(rr[3] for rr in dig(dns.port, "example.org", "MX", *options)[2])


REPLACE_MX = ("update delete example.org. MX\n"
              "update add example.org. 300 MX 10 mx2.example.org.\n"
              "update add mx2.example.org. 300 A 10.0.2.25")


def test_dig_gets_authoritative_answers_for_every_type(dns):
    status, flags, answer, _ = dig(dns.port, "example.org", "SOA")
    assert status == "NOERROR" and "aa" in flags
    assert answer[0][2:] == ("SOA", "ns1.example.org. hostmaster.example.org. 2024010101 3600 600 86400 60")
    assert [a[3] for a in dig(dns.port, "example.org", "NS")[2]] == ["ns1.example.org."]
    assert [a[3] for a in dig(dns.port, "mx1.example.org", "A")[2]] == ["10.0.1.25"]
    assert mx(dns) == ["10 mx1.example.org.", "20 relay.example.org."]
    assert [a[3] for a in dig(dns.port, "example.org", "TXT")[2]] == ['"v=spf1 -all"']
    assert [a[2:] for a in dig(dns.port, "www.example.org", "A")[2]] == [
        ("CNAME", "web.example.org."), ("A", "10.0.0.80")]
    assert [a[3] for a in dig(dns.port, "relay.example.org", "AAAA")[2]] == ["2001:db8::26"]


def test_nxdomain_nodata_refused(dns):
    status, flags, answer, authority = dig(dns.port, "nope.example.org", "A")
    assert (status, answer, authority[0][2]) == ("NXDOMAIN", [], "SOA") and "aa" in flags
    status, _, answer, authority = dig(dns.port, "web.example.org", "MX")
    assert (status, answer, authority[0][2]) == ("NOERROR", [], "SOA")
    status, flags, answer, _ = dig(dns.port, "example.com", "A")
    assert (status, answer) == ("REFUSED", []) and "aa" not in flags
    assert dig(dns.port, "example.org", "AXFR")[0] == "REFUSED"     # no --allow-axfr


def test_tcp_and_a_large_txt_that_truncates_over_udp(dns):
    assert mx(dns, "+tcp") == ["10 mx1.example.org.", "20 relay.example.org."]
    status, flags, answer, _ = dig(dns.port, "big.example.org", "TXT", "+ignore", "+notcp")
    assert status == "NOERROR" and "tc" in flags and answer == []
    status, flags, answer, _ = dig(dns.port, "big.example.org", "TXT", "+ignore", "+noedns")
    assert "tc" in flags and answer == []
    status, flags, answer, _ = dig(dns.port, "big.example.org", "TXT", "+tcp")
    assert "tc" not in flags and answer[0][3].count('"') == 12 and ("f" * 250) in answer[0][3]
    status, flags, answer, _ = dig(dns.port, "big.example.org", "TXT")   # dig retries over TCP
    assert len(answer) == 1


@pytest.mark.parametrize("tcp", [False, True])
def test_nsupdate_with_the_key_changes_the_mx_and_the_serial(dns, tcp):
    before = serial(dns)
    result = nsupdate(dns, REPLACE_MX, key=dns.key, tcp=tcp)
    assert result.returncode == 0, result.stderr
    assert mx(dns) == ["10 mx2.example.org."]
    assert serial(dns) == before + 1
    assert [a[3] for a in dig(dns.port, "mx2.example.org", "A")[2]] == ["10.0.2.25"]
    updated = [e for e in read_events(str(dns.events)) if e["event"] == "updated"]
    assert updated[-1]["serial"] == before + 1 and updated[-1]["key"] == "maillab-key"
    assert updated[-1]["changes"] == ["delete example.org. MX",
                                      "add example.org. 300 IN MX 10 mx2.example.org.",
                                      "add mx2.example.org. 300 IN A 10.0.2.25"]


def test_nsupdate_with_a_wrong_key_or_none_changes_nothing(dns, tmp_path):
    before = serial(dns)
    wrong = generate_key_file(str(tmp_path / "wrong.key"))
    assert wrong.name == "maillab-key"      # same name, other secret
    result = nsupdate(dns, REPLACE_MX, key=tmp_path / "wrong.key")
    assert result.returncode != 0 and "NOTAUTH" in result.stdout + result.stderr
    result = nsupdate(dns, REPLACE_MX)
    assert result.returncode != 0 and "REFUSED" in result.stdout + result.stderr
    assert mx(dns) == ["10 mx1.example.org.", "20 relay.example.org."]
    assert serial(dns) == before
    assert "mx2" not in dns.zone.read_text()


def test_an_update_survives_a_restart(dns):
    assert nsupdate(dns, REPLACE_MX, key=dns.key).returncode == 0
    updated_serial = serial(dns)
    output = dns.stop()
    assert "Traceback" not in output
    dns.start()
    assert mx(dns) == ["10 mx2.example.org."]
    assert serial(dns) == updated_serial
    events = [e["event"] for e in read_events(str(dns.events))]
    assert events == ["started", "updated", "stopped", "started"]


def test_the_python_update_client(dns):
    rcode = send_update("127.0.0.1", dns.port, "example.org.", str(dns.key),
                        adds=[("example.org.", 300, "MX", "30 mx3.example.org.")],
                        deletes=[("example.org.", "MX", "10 mx1.example.org.")])
    assert rcode == "NOERROR"
    assert mx(dns) == ["20 relay.example.org.", "30 mx3.example.org."]


def test_a_bad_zone_file_is_refused_at_start(tmp_path):
    path = tmp_path / "bad.zone"
    path.write_text(ZONE + "oops IN A 10.0.0.256\n")
    proc = subprocess.run([sys.executable, "-m", "servers.dns", "--zone", str(path), "--port", "0"],
                          capture_output=True, text=True, timeout=20,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 2
    assert "bad.zone:%d: Octet 256" % (ZONE.count("\n") + 1) in proc.stderr


def test_axfr_to_an_allowed_address_signed_or_not(tmp_path):
    zone, key = tmp_path / "z.zone", tmp_path / "k.key"
    zone.write_text(ZONE)
    generate_key_file(str(key))
    with running_server("servers.dns", ["--zone", zone, "--port", 0, "--tsig-key", key,
                                        "--allow-axfr", "127.0.0.0/8"]) as server:
        port = server.listening[0][1]
        for extra in ([], ["-k", str(key)]):     # dig checks the TSIG of the transfer
            out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "example.org", "AXFR",
                                  "+time=2"] + extra, capture_output=True, text=True, timeout=20).stdout
            records = [l for l in out.splitlines() if l and not l.startswith(";")
                       and l.split()[3] != "TSIG"]
            assert len(records) == sum(map(len, parse_zone(ZONE).names.values())) + 1, out
            assert records[0].split()[3] == "SOA" and "Transfer failed" not in out


def test_help_and_bad_options():
    out = subprocess.run([sys.executable, "-m", "servers.dns", "--help"], capture_output=True,
                         text=True, timeout=20, env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.returncode == 0
    for option in ("--zone", "--listen", "--port", "--tsig-key", "--events", "--health",
                   "--allow-axfr", "-v"):
        assert option in out.stdout


def test_names_nsupdate_adds_with_special_characters_survive_a_restart(dns):
    # Names that master-file syntax must escape (RFC 1035 §5.1): before, the
    # zone file written back could not be read, and the server did not start.
    adds = ["p\\(.example.org.", "a\\032b\\;c.example.org.", 'q\\"\\\\.example.org.']
    script = "".join("update add %s 300 TXT \"x(y;z\\\"\"\n" % name for name in adds)
    result = nsupdate(dns, script, key=dns.key)
    assert result.returncode == 0, result.stderr
    dns.stop()
    dns.start()                  # reads the zone file the UPDATE wrote
    for name in adds:
        status, _, answer, _ = dig(dns.port, name, "TXT")
        assert status == "NOERROR" and answer[0][3] == '"x(y;z\\""', (name, answer)
