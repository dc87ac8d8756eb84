"""lab.testbed.dns_update (what the provisioner runs in a new host) against the real
DNS server, with the lab's own zone and per-run TSIG key."""
import subprocess

import pytest

from lab.testbed import dns_update as dnsupdate
from lab.testbed.zone import generate_key_file, write_zone
from tests.support import free_port, running_server
from topologies.addressing import build_plan

pytestmark = pytest.mark.needs_cmd("dig")


def dig_short(port, name, rtype):
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+short", "+time=2",
                          "+tries=1", name, rtype], capture_output=True, text=True).stdout
    return sorted(out.split("\n")[:-1])


def test_a_signed_update_adds_a_server_and_an_unsigned_key_is_refused(tmp_path, capsys):
    zone = write_zone(build_plan(dcs=2, mx_per_dc=(1, 1)), str(tmp_path / "zone.db"))
    key = generate_key_file(str(tmp_path / "tsig.key"))
    port = free_port()
    with running_server("servers.dns", ["--zone", zone, "--listen", "127.0.0.1",
                                        "--port", port, "--tsig-key", key]):
        server = "127.0.0.1:%d" % port
        adds = ["--add", "mx3.lab.example.org. 60 A 10.0.2.11",
                "--add", "example.org. 60 MX 10 mx3.lab.example.org."]
        other = generate_key_file(str(tmp_path / "other.key"))
        assert dnsupdate.main(["--server", server, "--key", other,
                               "--zone", "example.org."] + adds) == 1
        assert dig_short(port, "mx3.lab.example.org", "A") == []

        assert dnsupdate.main(["--server", server, "--key", key,
                               "--zone", "example.org."] + adds) == 0
        assert "NOERROR" in capsys.readouterr().out
        assert dig_short(port, "mx3.lab.example.org", "A") == ["10.0.2.11"]
        assert dig_short(port, "example.org", "MX") == [
            "10 mx1.lab.example.org.", "10 mx3.lab.example.org.", "20 relay1.lab.example.org."]
