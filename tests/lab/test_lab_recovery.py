"""The relay's recovery policy on a real network. mx1 vanishes (black-holed)
and DC1 has no room for another server: the relay's re-creation in place is
refused and it has a server created in DC2. DNS follows (a client's ``dig
MX`` no longer names mx1) and the senders stop trying mx1 (their ledger lists
every server each message was offered to). When mx1 answers again, the relay
undoes its learned route and DNS lists mx1 again."""
import pytest

from lab.faults.api import start_fault
from lab.testbed.mail_lab import Lab
from lab.host.waiting import wait_until

pytestmark = pytest.mark.lab

MX1 = "10.0.1.10:25"
MX3 = "10.0.2.11:25"
RELAY = "10.0.1.3:25"


def named(lab, event):
    return [e for e in lab.events() if e["event"] == event]


def test_after_a_remote_failover_dns_and_senders_leave_the_dead_server(clean_machine):
    relay_args = ["--provision-after", "1", "--retry-interval", "0.5", "--connect-timeout", "1"]
    with Lab("two_dc", relay_args=relay_args, capacity={"dc1": 0}) as lab:
        assert lab.mx_records() == [(10, "mx1.lab.example.org."), (20, "relay1.lab.example.org.")]
        blackhole = start_fault(lab.net, "blackhole", ["mx1"], lab.rundir,
                                lab.events_path("faults"))
        before = lab.send(3, extra=["--connect-timeout", "1"])
        assert [row["tried"] for row in before] == [[MX1, RELAY]] * 3
        wait_until(lambda: len(lab.messages("mx3")) == 3, 30, "the held mail delivered to mx3")
        decisions = named(lab, "recovery_decision")
        assert [(e["decision"], e.get("dc")) for e in decisions] == [("recreate", "dc1"),
                                                                     ("create", "dc2")]
        assert "dc1 has no capacity" in decisions[1]["story"]
        assert lab.mx_records() == [(10, "mx3.lab.example.org."), (20, "relay1.lab.example.org.")]
        after = lab.send(5, extra=["--connect-timeout", "1"])
        assert [row["tried"] for row in after] == [[MX3]] * 5
        wait_until(lambda: len(lab.messages("mx3")) == 8, 30, "all mail in mx3")

        blackhole.stop()                # mx1 was never dead, only unreachable: it is back
        wait_until(lambda: (10, "mx1.lab.example.org.") in lab.mx_records(), 30,
                   "mx1 listed in DNS again")
        # the lab logs mx_restored once its DNS UPDATE has been answered: just after
        wait_until(lambda: named(lab, "mx_restored"), 10, "the lab's mx_restored event")
        assert [e["old"] for e in named(lab, "route_restored")] == ["mx:example.org"]
        assert [e["why"] for e in named(lab, "mx_restored")] == ["returned"]
