"""The DNS server on a Mininet host: health-checked MX across a cut link, nsupdate across the net."""
import os
import sys

import pytest
from mininet.topo import Topo

from lab.host.net import running_net
from lab.host.waiting import tcp_open_from, wait_until
from servers.dns.tsig import generate_key_file
from tests.support import ROOT

pytestmark = [pytest.mark.lab, pytest.mark.needs_cmd("dig", "nsupdate")]
ECHO = os.path.join(os.path.dirname(__file__), "echo_server.py")

ZONE = """\
$ORIGIN lab.
$TTL 300
@      SOA ns1 hostmaster 1 3600 600 86400 60
       NS  ns1
       MX  10 mx1
       MX  20 relay1
ns1    A   10.0.0.53
mx1    A   10.0.0.25
relay1 A   10.0.0.26
"""
HEALTH = 'interval = 0.5\ntimeout = 0.3\nttl = 5\n[[mx]]\nname = "lab."\nport = 25\n'


class OneDC(Topo):
    def build(self):
        s1 = self.addSwitch("s1")
        for name, ip in (("dns1", "10.0.0.53"), ("mx1", "10.0.0.25"),
                         ("relay1", "10.0.0.26"), ("h1", "10.0.0.1")):
            self.addLink(self.addHost(name, ip=ip + "/24"), s1)


def mx_from(host):
    out = host.cmd("dig @10.0.0.53 lab. MX +short +time=1 +tries=1")
    return sorted(line.split()[1] for line in out.splitlines() if line.strip()[:1].isdigit())


def test_health_checked_mx_and_nsupdate_across_the_lab(clean_machine, tmp_path):
    (tmp_path / "lab.lab_zone").write_text(ZONE)
    (tmp_path / "health.toml").write_text(HEALTH)
    generate_key_file(str(tmp_path / "key"))
    env = dict(os.environ, PYTHONPATH=ROOT, MAILLAB_HOST="dns1")
    with running_net(OneDC()) as net:
        dns1, mx1, relay1, h1 = net.get("dns1", "mx1", "relay1", "h1")
        procs = [mx1.popen([sys.executable, ECHO, "10.0.0.25", "25"]),
                 relay1.popen([sys.executable, ECHO, "10.0.0.26", "25"])]
        try:
            wait_until(lambda: tcp_open_from(h1, "10.0.0.25", 25)
                       and tcp_open_from(h1, "10.0.0.26", 25), 10, "smtp ports")
            procs.append(dns1.popen(
                [sys.executable, "-m", "servers.dns", "--zone", str(tmp_path / "lab.lab_zone"),
                 "--listen", "10.0.0.53", "--port", "53", "--tsig-key", str(tmp_path / "key"),
                 "--health", str(tmp_path / "health.toml"), "--events", str(tmp_path / "ev.jsonl")],
                env=env))
            both = ["mx1.lab.", "relay1.lab."]
            wait_until(lambda: mx_from(h1) == both, 10, "dns answering")

            net.configLinkStatus("mx1", "s1", "down")
            wait_until(lambda: mx_from(h1) == ["relay1.lab."], 5, "mx1 left the MX answer")

            net.configLinkStatus("mx1", "s1", "up")
            wait_until(lambda: mx_from(h1) == both, 5, "mx1 back in the MX answer")

            script = ("server 10.0.0.53 53\nzone lab.\nupdate add mx2.lab. 60 A 10.0.0.27\n"
                      "update add lab. 300 MX 30 mx2.lab.\nsend\n")
            (tmp_path / "update.txt").write_text(script)
            out = h1.cmd("nsupdate -t 5 -k %s %s; echo rc=$?" % (tmp_path / "key", tmp_path / "update.txt"))
            assert "rc=0" in out, out
            assert "10 mx1.lab." in h1.cmd("dig @10.0.0.53 lab. MX +short")
            assert "mx2.lab." in (tmp_path / "lab.lab_zone").read_text()
        finally:
            for p in procs:
                p.terminate()
                p.wait()
