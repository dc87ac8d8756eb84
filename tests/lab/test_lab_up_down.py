"""A lab comes up with every service ready and leaves nothing behind."""
import os

import pytest

from lab.testbed.mail_lab import Lab
from lab.testbed.services import ServiceFailed
from lab.host.waiting import wait_until

pytestmark = pytest.mark.lab


def test_one_dc_up_and_down(clean_machine):
    with Lab("one_dc") as lab:
        assert lab.mx_records() == [(10, "mx1.lab.example.org."),
                                    (20, "relay1.lab.example.org.")]
        rundir = lab.rundir
    assert not os.path.exists(rundir)


def test_a_service_that_fails_to_start_is_reported_with_its_stderr(clean_machine):
    # its configuration is fine (--check passes), but the address is not the host's
    with pytest.raises(ServiceFailed) as failed:
        with Lab("one_dc", mx_args=["--listen", "10.9.9.9"]):
            pass
    assert "mx1/mx exited" in str(failed.value)
    assert "10.9.9.9" in str(failed.value)


def test_a_bad_zone_is_reported_before_any_namespace_exists(clean_machine, tmp_path,
                                                             monkeypatch):
    """Every server's --check runs before Mininet builds anything: a zone with a bad
    address stops the lab with the DNS server's own message, and no namespace, link,
    bridge or process ever existed (the network builder is never called)."""
    from lab.testbed import mail_lab as lab_module
    built = []
    monkeypatch.setattr(lab_module, "running_net", lambda *a, **k: built.append(a))
    bad = tmp_path / "extra.db"
    bad.write_text("$ORIGIN example.net.\n$TTL 60\n@ SOA ns hostmaster 1 60 30 600 60\n"
                   "@ NS ns\nns A 10.0.1.300\n")
    with pytest.raises(ServiceFailed) as failed:
        with Lab("one_dc", dns_args=["--zone", str(bad)]):
            pass
    message = str(failed.value)
    assert "configuration check failed, nothing started" in message
    assert "dns1: servers.dns: configuration check failed: %s:5:" % bad in message
    assert "10.0.1.300" in message and built == []


def test_n_dc_every_dc_reachable_and_create_in_the_last(clean_machine):
    with Lab("n_dc", dcs=3, mx_per_dc=2) as lab:
        assert len(lab.plan.by_role("mx")) == 6
        st = lab.status()
        assert set(st["services"].values()) == {"up"} and len(st["services"]) == 8
        assert lab.dig("mx6.lab.example.org") == ["10.0.3.11"]
        # relay1 (dc1) to mx6 (dc3): r1 then r3
        assert "ttl=62" in lab.host("relay1").cmd("ping -c1 -W2 10.0.3.11")
        created = lab.create("dc3")
        assert (created["name"], created["ip"]) == ("mx7", "10.0.3.12")
        assert "10 mx7.lab.example.org." in lab.dig("example.org", "MX")


def test_health_checked_dns_leaves_a_dead_mx_out(clean_machine):
    with Lab("one_dc", dns_health=True) as lab:
        assert lab.mx_records() == [(10, "mx1.lab.example.org."), (20, "relay1.lab.example.org.")]
        lab.kill_host("mx1")
        wait_until(lambda: lab.mx_records() == [(20, "relay1.lab.example.org.")], 10,
                   "MX answer without the dead mx1")
        lab.recreate("mx1")
        wait_until(lambda: len(lab.mx_records()) == 2, 10, "mx1 back in the MX answer")
