"""The relay's recovery policy on a real network: when mx1 dies and DC1 has no
room for it, a server is created in DC2, DNS follows (a client's ``dig MX`` no
longer names mx1) and the senders stop trying mx1 (their ledger lists every
server each message was offered to)."""
import pytest

from lab.lab import Lab
from lab.wait import wait_until

pytestmark = pytest.mark.lab

MX1 = "10.0.1.10:25"
MX3 = "10.0.2.11:25"


def test_after_a_remote_failover_dns_and_senders_leave_the_dead_server(clean_machine):
    relay_args = ["--provision-after", "1", "--retry-interval", "0.5", "--connect-timeout", "1"]
    with Lab("two_dc", relay_args=relay_args, capacity={"dc1": 0}) as lab:
        assert lab.mx_records() == [(10, "mx1.lab.example.org."), (20, "relay1.lab.example.org.")]
        lab.kill_host("mx1")
        before = lab.send(3, extra=["--connect-timeout", "1"])
        assert [row["tried"] for row in before] == [[MX1, "10.0.1.3:25"]] * 3
        wait_until(lambda: len(lab.messages("mx3")) == 3, 30, "the held mail delivered to mx3")
        decisions = [e for e in lab.events() if e["event"] == "recovery_decision"]
        assert [(e["decision"], e.get("dc")) for e in decisions] == [("recreate", "dc1"),
                                                                     ("create", "dc2")]
        assert "dc1 has no capacity" in decisions[1]["story"]
        assert lab.mx_records() == [(10, "mx3.lab.example.org."), (20, "relay1.lab.example.org.")]
        after = lab.send(5, extra=["--connect-timeout", "1"])
        assert [row["tried"] for row in after] == [[MX3]] * 5
        wait_until(lambda: len(lab.messages("mx3")) == 8, 30, "all mail in mx3")
