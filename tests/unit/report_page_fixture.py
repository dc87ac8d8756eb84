"""A report directory made from synthetic evidence (no lab): remote failover with
mx1 destroyed, the WAN cut for two seconds, and text in events that tries to be HTML."""
import os

from lab.report import files as report
from lab.verdict import claims as checker
from tests.unit.run_fixtures import ev, remote_run
from topologies.addressing import build_plan

INJECTED = "<script>document.title='owned'</script><img src=x onerror=alert(1)>"


def remote_plan():
    plan = build_plan(dcs=2, mx_per_dc=(1, 1))
    plan.add_host("mx3", "mx", "dc2", 11)
    return plan


def report_dir(tmp_path, extra=None):
    """Write a whole report (report.html with it) into tmp_path/report; return its paths;
    ``extra``: more report.json keys (a workbook run's exercise section)."""
    evidence, _ = remote_run(tmp_path / "data")
    destroy = evidence.events[0]
    destroy.update(id="destroy-1", summary="destroy mx1: delete mx1-eth0",
                   matched={"target": "mx1", "interfaces": ["mx1-eth0"]})
    evidence.events += [
        ev(0.01, "lab", "fault", "fault_end", fault="destroy", id="destroy-1"),
        ev(0.5, "lab", "fault", "fault_start", fault="cut", id="cut-1",
           summary="cut r1-r2: down r1-eth1, r2-eth1 " + INJECTED,
           matched={"link": "r1-r2", "interfaces": ["r1-eth1", "r2-eth1"]}),
        ev(2.5, "lab", "fault", "fault_end", fault="cut", id="cut-1", error=INJECTED)]
    verdict = checker.check(evidence)
    directory = str(tmp_path / "report")
    pcap = os.path.join(directory, "pcaps", "cut-1-r1-eth1.pcap")
    os.makedirs(os.path.dirname(pcap))
    open(pcap, "wb").close()
    return report.write(directory, evidence.scenario, verdict, evidence, seed=1,
                        extra=dict({"messages": 4, "pcaps": [pcap]}, **(extra or {})),
                        plan=remote_plan())
