"""The real relay asks the lab's provisioner (claims 2, 4, 10, 14, 18, 19):
mx1 is dead, the relay queues, asks for a server, re-routes, delivers."""
import pytest

from lab.testbed.mail_lab import Lab
from lab.host.waiting import wait_until

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("action, server, ip", [
    ("create:dc2", "mx3", "10.0.2.11"),
    ("recreate:mx1", "mx1", "10.0.1.10"),
])
def test_relay_provisions_a_server_and_delivers_there(clean_machine, action, server, ip):
    relay_args = ["--provision-after", "1", "--provision-action", action,
                  "--retry-interval", "0.5", "--connect-timeout", "1"]
    with Lab("two_dc", relay_args=relay_args) as lab:
        lab.kill_host("mx1")
        ledger = lab.send(5, extra=["--connect-timeout", "1"])
        assert {row["mx"] for row in ledger} == {"relay1.lab.example.org."}
        wait_until(lambda: len(lab.messages(server)) == 5, 30, "5 messages in " + server)
        events = lab.events()
        created = [e for e in events if e["event"] == "created"]
        assert [(e["name"], e["ip"]) for e in created] == [(server, ip)]
        assert any(e["event"] == "provision_requested" for e in events)
        rerouted = [e for e in events if e["event"] == "rerouted"]
        assert {e["new"] for e in rerouted} == {"%s:25" % ip}
