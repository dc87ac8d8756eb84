"""two_dc with the real servers: mail routed through DNS MX, the provisioner
re-creating and creating messaging servers, nothing left behind.

One lab for the module (bringing it up takes about a second, but every test
would otherwise pay it again); the tests run in file order and the later
ones build on the earlier ones' state where said.
"""
import json
import re
import subprocess
import time

import pytest

from lab.host import iproute
from lab.host.clean import clean_unlocked, leftovers
from lab.testbed.mail_lab import Lab
from lab.host.lock import lab_lock
from lab.testbed.provisioner import raw_request, request
from lab.host.waiting import wait_until
from tests.smtp_clients import swaks_argv
from tests.support import require_cmd
from topologies.addressing import mac_for

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab():
    """clean_machine's promise for a whole module: lock, clean start, clean end."""
    with lab_lock(timeout=900):
        clean_unlocked()
        with Lab("two_dc") as running:
            yield running
        left = leftovers()
        clean_unlocked()
        assert not left, "the lab left these behind: %s" % left


def swaks(host, server, msgid, to="user@example.org", timeout=5):
    """One message by SMTP from ``host`` to ``server``; swaks' exit status and output."""
    require_cmd("swaks")
    p = host.popen(swaks_argv(server, 25, to, "test@client.lab", msgid, timeout,
                              extra=["--suppress-data"]),
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = p.communicate(timeout=timeout + 10)
    return p.returncode, out


def has_msgid(lab, name, msgid):
    return any(msgid.encode() in open(path, "rb").read() for path in lab.messages(name))


def test_dig_from_a_client_answers_with_the_lab_zone(lab):
    assert lab.dig("example.org", "MX", client="client2") == [
        "10 mx1.lab.example.org.", "20 relay1.lab.example.org."]
    assert lab.dig("mx2.lab.example.org", "A") == ["10.0.2.10"]
    assert lab.dig("example.org", "SOA")[0].startswith("dns1.lab.example.org. ")


def test_50_messages_via_dns_mx_all_land_in_mx1(lab):
    before = len(lab.messages("mx1"))
    ledger = lab.send(50, client="client1")
    assert len(ledger) == 50
    assert {row["mx"] for row in ledger} == {"mx1.lab.example.org."}
    wait_until(lambda: len(lab.messages("mx1")) == before + 50, 10, "50 messages in mx1")
    delivered = {e.get("msgid") for e in lab.events() if e["event"] == "delivered"
                 and e["host"] == "mx1"}
    assert {row["msgid"] for row in ledger} <= delivered


def test_routes_cross_the_routers(lab):
    relay, client = lab.host("relay1"), lab.host("client1")
    # TTL 64 minus one per router: relay1 -> mx2 crosses r1 and r2 (the WAN)
    assert "ttl=62" in relay.cmd("ping -c1 -W2 10.0.2.10")
    assert "ttl=62" in client.cmd("ping -c1 -W2 10.0.1.10")


def test_relay_reaches_mx1_and_mx2(lab):
    relay = lab.host("relay1")
    for name, ip in (("mx1", "10.0.1.10"), ("mx2", "10.0.2.10")):
        msgid = "<reach-%s@test>" % name
        code, out = swaks(relay, ip, msgid)
        assert code == 0, out
        wait_until(lambda: has_msgid(lab, name, msgid), 5, "%s in %s" % (msgid, name))
    # and the relay service itself delivers what it queued to mx1 (MX lookup, then SMTP)
    code, out = swaks(lab.host("client2"), "10.0.1.3", "<via-relay@test>")
    assert code == 0, out
    wait_until(lambda: has_msgid(lab, "mx1", "<via-relay@test>"), 10, "relay delivery to mx1")


def test_an_unauthenticated_request_is_refused_and_changes_nothing(lab):
    hosts = sorted(h.name for h in lab.net.hosts)
    mx = lab.mx_records()
    plan = sorted(lab.plan.hosts)
    sock = lab.provisioner.socket_path
    body = json.dumps({"action": "create", "dc": "dc2", "requester": "relay1",
                       "ts": time.time(), "nonce": "ab"}).encode()
    assert raw_request(sock, body) == {"ok": False, "error": "missing mac"}
    assert request(sock, b"not the secret", "recreate", name="mx1") == {
        "ok": False, "error": "bad mac"}
    assert raw_request(sock, b"garbage")["ok"] is False
    assert sorted(h.name for h in lab.net.hosts) == hosts
    assert sorted(lab.plan.hosts) == plan
    assert lab.mx_records() == mx
    assert not [e for e in lab.events() if e["event"] == "created"]


def test_recreate_mx1_after_killing_its_host(lab):
    old_pid = lab.host("mx1").pid
    lab.kill_host("mx1")
    assert swaks(lab.host("client1"), "10.0.1.10", "<while-dead@test>", timeout=2)[0] != 0

    reply = request(lab.provisioner.socket_path, lab.provisioner.gate.secret,
                    "recreate", name="mx1", requester="relay1")
    assert reply["ok"] is True, reply
    assert (reply["name"], reply["ip"], reply["port"], reply["dc"]) == (
        "mx1", "10.0.1.10", 25, "dc1")
    code, out = swaks(lab.host("client1"), "10.0.1.10", "<after-recreate@test>")
    assert code == 0, out

    host = lab.host("mx1")
    assert host.pid != old_pid
    assert host.IP() == "10.0.1.10"
    assert host.cmd("cat /sys/class/net/mx1-eth0/address").strip() == mac_for("10.0.1.10")
    wait_until(lambda: has_msgid(lab, "mx1", "<after-recreate@test>"), 5, "mail in new mx1")
    created = [e for e in lab.events() if e["event"] == "created"]
    assert created[-1]["name"] == "mx1" and created[-1]["ip"] == "10.0.1.10"
    assert created[-1]["dc"] == "dc1" and created[-1]["seconds"] == reply["seconds"]


def test_create_dc2_gives_a_server_dig_mx_shows(lab):
    reply = request(lab.provisioner.socket_path, lab.provisioner.gate.secret,
                    "create", dc="dc2", requester="relay1")
    assert reply["ok"] is True, reply
    name, ip = reply["name"], reply["ip"]
    assert (name, ip, reply["dc"]) == ("mx3", "10.0.2.11", "dc2")
    assert "10 %s.lab.example.org." % name in lab.dig("example.org", "MX", client="client2")
    assert lab.dig("%s.lab.example.org" % name, "A", client="client2") == [ip]
    code, out = swaks(lab.host("client2"), ip, "<to-created@test>")
    assert code == 0, out
    wait_until(lambda: has_msgid(lab, name, "<to-created@test>"), 5, "mail in " + name)
    created = [e for e in lab.events() if e["event"] == "created"][-1]
    assert (created["name"], created["ip"], created["dc"]) == (name, ip, "dc2")
    assert re.fullmatch(r"[0-9.]+", str(created["seconds"]))


def test_status_reports_every_service_up(lab):
    st = lab.status()
    assert set(st["services"].values()) == {"up"}
    assert {"dns1/dns", "relay1/relay", "mx1/mx", "mx2/mx"} <= set(st["services"])


def test_every_node_reaches_every_other(lab):
    # routers included: a router answers from its link addresses too
    assert lab.net.pingAll(timeout=1) == 0


def test_routes_come_back_when_a_cut_link_is_restored(lab):
    r1, r2, relay = lab.host("r1"), lab.host("r2"), lab.host("relay1")
    wan = [l for l in lab.net.linksBetween(r1, r2)][0]
    for intf in (wan.intf1, wan.intf2):
        intf.node.cmd("ip link set %s down" % intf.name)
    assert "100% packet loss" in relay.cmd("ping -c1 -W1 10.0.2.10")
    for intf in (wan.intf1, wan.intf2):
        intf.node.cmd("ip link set %s up" % intf.name)
    wait_until(lambda: "ttl=62" in relay.cmd("ping -c1 -W1 10.0.2.10"), 5,
               "relay1 reaching mx2 after the WAN came back")
    mx2 = lab.host("mx2")
    mx2.cmd("ip link set mx2-eth0 down")
    mx2.cmd("ip link set mx2-eth0 up")
    wait_until(lambda: "default via 10.0.2.1" in iproute.route_texts(
        iproute.on_host(mx2, "route", "show")), 5, "mx2's default route")
