"""Events are attributed by the log file they came from, never by the line's own
"service" or "host": a component under test cannot speak for another one.

Each hole is shown twice: read as the lab read events before (every file, each
line trusted), the forged history passes the claim; read by file owner it fails,
and the forgery is an error of its own."""
import glob
import json
import os

from lab.evidence import provenance
from lab.verdict import claims as checker
from servers.common.events import read_events
from tests.unit.run_fixtures import T0, recreate_run, relay_failover_run, remote_run

ROLES = {"relay1": "relay", "mx1": "mx", "mx2": "mx", "dns1": "dns", "client1": "sender"}
DIRS = {"fault": "faults", "provisioner": "provisioner"}


def lay_out(events, rundir):
    """Write each event into the log of the service that wrote it, as a run does."""
    for e in events:
        d = DIRS.get(e["service"], e["host"])
        os.makedirs(os.path.join(rundir, d), exist_ok=True)
        with open(os.path.join(rundir, d, "events.jsonl"), "a") as f:
            f.write(json.dumps(e) + "\n")


def move(rundir, event, to, **change):
    """Take every ``event`` line out of its log and write it, changed, into ``to``'s."""
    for path in glob.glob(os.path.join(rundir, "*", "events.jsonl")):
        keep, moved = [], []
        for e in read_events(path):
            (moved if e["event"] == event else keep).append(e)
        with open(path, "w") as f:
            f.writelines(json.dumps(e) + "\n" for e in keep)
        with open(os.path.join(rundir, to, "events.jsonl"), "a") as f:
            f.writelines(json.dumps(dict(e, **change)) + "\n" for e in moved)


def trusting_read(rundir):
    """How events were read before: every file, each line's own fields believed."""
    events = []
    for path in glob.glob(os.path.join(rundir, "**", "*events.jsonl"), recursive=True):
        events += read_events(path)
    return sorted(events, key=lambda e: e.get("ts", 0))


def outcome(evidence, claim, name):
    return {(c.claim, c.name): c for c in checker.check(evidence).checks}[(claim, name)]


def test_a_line_is_stamped_with_its_files_owner():
    got = provenance.attribute([{"ts": 1, "host": "relay1", "service": "relay", "event": "queued"},
                                {"ts": 2, "host": "lab", "service": "provisioner",
                                 "event": "created"}], "relay1", "relay")
    assert [(e["host"], e["service"]) for e in got] == [("relay1", "relay")] * 2
    assert provenance.CLAIMED not in got[0]
    assert got[1][provenance.CLAIMED] == {"service": "provisioner", "host": "lab"}


def test_owners_of_the_run_directorys_logs():
    assert provenance.owner_of("relay1/events.jsonl", ROLES) == ("relay1", "relay")
    assert provenance.owner_of("mx1.gen2/events.jsonl", ROLES) == ("mx1", "mx")
    assert provenance.owner_of("faults/fault-events.jsonl", ROLES) == ("faults", "fault")
    assert provenance.owner_of("provisioner/events.jsonl", ROLES) == ("provisioner",
                                                                      "provisioner")
    assert provenance.owner_of("traffic-client1/events.jsonl", ROLES) == ("client1", "sender")
    assert provenance.owner_of("client1/send1/events.jsonl", ROLES) == ("client1", "sender")
    assert provenance.owner_of("stranger/events.jsonl", ROLES) == ("stranger", "?")


def test_an_honest_run_read_by_owner_still_passes(tmp_path):
    for make in (remote_run, recreate_run, relay_failover_run):
        evidence, _ = make(tmp_path / make.__name__)
        rundir = str(tmp_path / ("run-" + make.__name__))
        lay_out(evidence.events, rundir)
        evidence.events = provenance.read_run_events(rundir, ROLES)
        v = checker.check(evidence)
        assert [c.name for c in v.checks if not c.ok] == [], make.__name__
        assert outcome(evidence, "", "each log speaks only for its writer").ok


def test_a_created_forged_in_the_relays_log_no_longer_passes_2_and_14(tmp_path):
    evidence, _ = remote_run(tmp_path)
    rundir = str(tmp_path / "run")
    lay_out(evidence.events, rundir)
    move(rundir, "created", "relay1", host="lab")       # the relay writes the provisioner's line
    evidence.events = trusting_read(rundir)
    assert outcome(evidence, "2", "relay invokes another messaging server").ok   # the old hole
    evidence.events = provenance.read_run_events(rundir, ROLES)
    c = outcome(evidence, "2", "relay invokes another messaging server")
    assert not c.ok and "provisioner's log has no `created`" in c.detail
    forgery = outcome(evidence, "", "each log speaks only for its writer")
    assert not forgery.ok and "log of relay on relay1 claim to be provisioner on lab" \
        in forgery.detail and "created" in forgery.detail
    assert not checker.check(evidence).ok


def test_a_created_forged_in_the_relays_log_no_longer_passes_14_and_19(tmp_path):
    evidence, _ = recreate_run(tmp_path)
    rundir = str(tmp_path / "run")
    lay_out(evidence.events, rundir)
    move(rundir, "created", "relay1")
    evidence.events = trusting_read(rundir)
    for claim, name in (("14", "relay invokes another messaging server"),
                        ("19", "re-created with the same name, IP and MAC")):
        assert outcome(evidence, claim, name).ok                 # the old hole
    evidence.events = provenance.read_run_events(rundir, ROLES)
    for claim, name in (("14", "relay invokes another messaging server"),
                        ("19", "re-created with the same name, IP and MAC")):
        c = outcome(evidence, claim, name)
        assert not c.ok and "no `created`" in c.detail, claim


def test_a_fault_end_forged_by_the_relay_does_not_end_the_fault(tmp_path):
    """The relay delivers at t=7.2 while the black hole lasts until 7.0; a relay
    that wrote `fault_end` at 6.0 into its own log would make a delivery at 6.5
    look like one after the fault."""
    evidence, _ = relay_failover_run(tmp_path)
    for e in evidence.events:
        if e["event"] == "fault_end":
            e["ts"] = T0 + 9.0          # the real fault lasted until t=9
    rundir = str(tmp_path / "run")
    lay_out(evidence.events, rundir)
    with open(os.path.join(rundir, "relay1", "events.jsonl"), "a") as f:
        f.write(json.dumps({"ts": T0 + 6.0, "host": "mx1", "service": "fault",
                            "event": "fault_end", "fault": "blackhole"}) + "\n")
    name = ("15", "relay sends to the messaging server once it is back")
    evidence.events = trusting_read(rundir)
    assert outcome(evidence, *name).ok                           # the old hole
    evidence.events = provenance.read_run_events(rundir, ROLES)
    c = outcome(evidence, *name)
    assert not c.ok and "while a fault was in force" in c.detail
    assert not outcome(evidence, "", "each log speaks only for its writer").ok
