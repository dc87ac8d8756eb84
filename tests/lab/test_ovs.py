"""Open vSwitch switches (``--switch ovs``): mail through DNS MX on one_dc and
two_dc, a host re-created on an OVS bridge (Mininet's attach), a fault scenario
to a passing verdict, and nothing left behind, OVS bridges and daemons included.

On a kernel without the openvswitch module this is the userspace datapath,
where hosts must compute their own checksums (lab/host/ovs.py)."""
import io
import shutil
import subprocess

import pytest

from lab.host import ovs
from lab.scenarios import model as scenario
from lab.host import cleanup_records as state
from lab.host.clean import clean_unlocked
from lab.testbed.mail_lab import Lab
from lab.scenarios.run import Run
from lab.host.waiting import wait_until

pytestmark = [pytest.mark.lab, pytest.mark.skipif(
    shutil.which("ovs-vswitchd") is None,
    reason="Open vSwitch is not installed (lab/provision.sh installs openvswitch-switch)")]


@pytest.fixture
def ovs_machine(clean_machine):
    """A clean machine where the OVS daemons can run (skip, saying why, where not);
    afterwards no daemon runs that did not run before (the lab stops what it started)."""
    before = {d: ovs.daemon_running(d) for d in ovs.DAEMONS}
    try:
        started = ovs.ensure_daemons()
    except ovs.OVSUnavailable as e:
        pytest.skip("Open vSwitch cannot run here: %s" % e)
    ovs.stop_daemons(started)
    yield
    started_by_lab = [d for d in ovs.DAEMONS if not before[d] and ovs.daemon_running(d)]
    assert not started_by_lab, "the lab left OVS daemons running: %s" % started_by_lab


@pytest.mark.parametrize("topology", ["one_dc", "two_dc"])
def test_mail_via_dns_mx_and_a_recreated_host_on_ovs(topology, ovs_machine):
    with Lab(topology, switch="ovs", provisioner=False) as lab:
        assert lab.switches == ovs.describe()
        assert all(type(lab.net.get(s)).__name__ == "OVSBridge" for s in lab.topo.switches())
        assert set(ovs.bridges()) >= set(lab.topo.switches())
        ledger = lab.send(5)
        assert {row["mx"] for row in ledger} == {"mx1.lab.example.org."} and len(ledger) == 5
        wait_until(lambda: len(lab.messages("mx1")) == 5, 10, "5 messages in mx1's Maildir")
        # the same name, IP and MAC on a new port of the same OVS bridge
        lab.recreate("mx1")
        ports = subprocess.run(["ovs-vsctl", "list-ports", lab.plan.switch_of("mx1")],
                               capture_output=True, text=True, check=True).stdout.split()
        on_switch = [h for h in lab.plan.hosts if lab.plan.switch_of(h) == lab.plan.switch_of("mx1")]
        assert len(ports) == len(on_switch) + 1     # its hosts and its router: no stale port
        ledger = lab.send(3)
        assert len(ledger) == 3
        wait_until(lambda: len(lab.messages("mx1")) == 3, 10,
                   "3 messages in the re-created mx1's Maildir")
    assert not set(lab.topo.switches()) & set(ovs.bridges())


def test_relay_failover_passes_on_ovs(ovs_machine, tmp_path):
    out = io.StringIO()
    verdict, _ = Run(scenario.load("relay-failover"), seed=1, report_dir=str(tmp_path),
                     out=out, switch="ovs").execute()
    print(out.getvalue())
    assert "on %s" % ovs.describe() in out.getvalue()
    assert verdict.ok, [c for c in verdict.checks if not c.ok]
    assert verdict.sent > 0 and verdict.delivered == verdict.sent


def test_clean_removes_the_ovs_bridges_and_daemons_a_crashed_run_left(ovs_machine):
    started = ovs.ensure_daemons()
    state.record("bridges", "s1")
    subprocess.run(["ovs-vsctl", "add-br", "s1", "--", "set", "bridge", "s1",
                    "datapath_type=netdev"], check=True, capture_output=True)
    counts = clean_unlocked()
    assert "s1" not in ovs.bridges()
    assert counts["bridges"] == 1 and counts["ovs daemons"] == len(started)
