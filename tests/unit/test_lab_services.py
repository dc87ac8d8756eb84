"""The service command lines are docs/design.md's, built from the address plan."""
from lab.testbed import services as svc
from topologies.addressing import build_plan


class FakeHost:
    name = "h"


def test_command_lines(tmp_path):
    plan = build_plan(dcs=2, mx_per_dc=(1, 1))
    d = str(tmp_path)
    dns = svc.dns_service(FakeHost(), plan.dns, d, "Z", "K", health="H")
    assert dns.argv[1:] == ["-m", "servers.dns", "--zone", "Z", "--listen", "10.0.1.2",
                            "--port", "53", "--tsig-key", "K", "--events", d + "/events.jsonl",
                            "--health", "H"]
    mx = svc.mx_service(FakeHost(), plan.host("mx2"), d)
    assert mx.argv[1:] == ["-m", "servers.mx", "--domain", "example.org", "--maildir",
                           d + "/Maildir", "--listen", "10.0.2.10", "--port", "25",
                           "--events", d + "/events.jsonl"]
    assert (mx.ready_ip, mx.ready_port) == ("10.0.2.10", 25)
    sender = svc.sender_service(FakeHost(), d, "10.0.1.2:53", "user@example.org", 7)
    assert sender.argv[3:9] == ["--dns", "10.0.1.2:53", "--to", "user@example.org",
                                "--count", "7"]
    assert sender.ready_port is None


def test_the_relay_gets_the_provisioner_only_with_a_provisioning_policy(tmp_path):
    relay = build_plan().relay
    prov = ("unix:/run/p.sock", "/run/p.secret")
    plain = svc.relay_service(FakeHost(), relay, str(tmp_path), "10.0.1.2:53", provisioner=prov)
    assert "--provisioner" not in plain.argv
    assert plain.argv[plain.argv.index("--dns") + 1] == "10.0.1.2:53"
    assert plain.argv[plain.argv.index("--self-name") + 1] == "relay1.lab.example.org"
    policy = ["--provision-after", "5", "--provision-action", "create:dc2"]
    asking = svc.relay_service(FakeHost(), relay, str(tmp_path), "10.0.1.2:53",
                               provisioner=prov, extra=policy)
    i = asking.argv.index("--provisioner")
    assert asking.argv[i:i + 4] == ["--provisioner", "unix:/run/p.sock",
                                    "--provisioner-secret", "/run/p.secret"]
    assert asking.argv[-4:] == policy


def test_a_recreated_host_gets_a_fresh_directory(tmp_path):
    assert svc.host_dir(str(tmp_path), "mx1").endswith("/mx1")
    assert svc.host_dir(str(tmp_path), "mx1", 2).endswith("/mx1.gen2")


def test_a_service_that_exited_is_reported_with_its_stderr(tmp_path):
    s = svc.Service("mx", FakeHost(), ["x"], str(tmp_path))
    with open(s.stderr_path, "w") as f:
        f.write("Traceback...\nValueError: bad option\n")

    class Exited:
        returncode = 2
        pid = 1

        def poll(self):
            return 2
    s.proc = Exited()
    try:
        s.check_alive()
    except svc.ServiceFailed as e:
        assert "h/mx exited with status 2" in str(e) and "bad option" in str(e)
    else:
        raise AssertionError("not reported")


def test_route_keeper_reapplies_configured_routes():
    from lab.testbed.route_keeper import keeper_script, route_commands

    class Node:
        params = {"routes": [("10.0.2.0/24", "10.255.0.6")], "defaultRoute": "via 10.0.1.1"}
    cmds = route_commands(Node())
    assert cmds == ["ip route replace 10.0.2.0/24 via 10.255.0.6",
                    "ip route replace default via 10.0.1.1"]
    script = keeper_script(cmds)
    assert "ip monitor link | while read -r _; do apply; done" in script
    assert "ip route replace 10.0.2.0/24 via 10.255.0.6 2>/dev/null" in script
