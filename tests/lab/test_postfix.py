"""A private Postfix as the lab's backup MX, sending MTA or messaging server, judged by
the same verdict.

relay-failover-postfix (Postfix as the relay) and relay-failover-postfix-sender
(Postfix sending from client1) must PASS on every claim they list; a Postfix
relay whose retries are switched off (a broken main.cf injected from here,
never through a command line) must FAIL claims 5 and 13. The machine's own Postfix
(/etc/postfix, /var/spool/postfix) must be byte for byte the same after each
run, and no Postfix process of the run may be left.
"""
import hashlib
import io
import json
import os
import stat

import pytest

from lab.host.clean import private_postfix_pids
from lab.scenarios import model as scenario
from lab.scenarios.run import Run
from lab.testbed.mta_postfix import missing_tools

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(missing_tools(), reason="Postfix is not installed")]

SYSTEM_POSTFIX = ("/etc/postfix", "/var/spool/postfix")
# a Postfix that never tries a deferred message again within the run
NO_RETRIES = ["minimal_backoff_time = 3600s", "maximal_backoff_time = 3600s",
              "queue_run_delay = 3600s"]


def tree_digest(roots=SYSTEM_POSTFIX):
    """{path: (mode, owner, content hash or link target)} of every entry under ``roots``."""
    out = {}
    for root in roots:
        for top, dirs, files in os.walk(root):
            for name in sorted(dirs + files):
                path = os.path.join(top, name)
                st = os.lstat(path)
                if stat.S_ISREG(st.st_mode):
                    with open(path, "rb") as f:
                        what = hashlib.sha256(f.read()).hexdigest()
                elif stat.S_ISLNK(st.st_mode):
                    what = os.readlink(path)
                else:
                    what = stat.S_IFMT(st.st_mode)
                out[path] = (st.st_mode, st.st_uid, st.st_gid, what)
    return out


@pytest.fixture
def system_postfix_untouched():
    before = tree_digest()
    yield
    after = tree_digest()
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    assert not changed, "the machine's Postfix changed: %s" % changed


def run(tmp_path, name, count=None, deadline=None, options=None,
        scenario_name="relay-failover-postfix", **servers):
    s = scenario.load(scenario_name)
    if count:
        s.traffic.count = count
    if deadline is not None:
        s.expect.deadline = deadline
    out = io.StringIO()
    verdict, paths = Run(s, seed=1, report_dir=str(tmp_path / name), out=out,
                         lab_options=options or {}, **servers).execute()
    print(out.getvalue())
    assert not private_postfix_pids(), "Postfix processes of the run are still running"
    with open(paths["report.json"]) as f:
        return verdict, json.load(f), paths


def test_relay_failover_with_a_postfix_relay_passes(clean_machine, system_postfix_untouched,
                                                    tmp_path):
    verdict, rep, paths = run(tmp_path, "postfix")
    assert rep["relay_server"] == "postfix"
    judged = {c["claim"] for c in rep["checks"] if c["claim"]}
    assert judged == {"1", "5", "7", "9", "13", "15", "17"}
    assert verdict.outcome == "PASS", open(paths["report.md"]).read()
    assert rep["sent"] == rep["delivered"] and not rep["lost"] and not rep["duplicates"]
    assert rep["timings"]["first_retry"] is not None
    with open(os.path.join(os.path.dirname(paths["report.md"]), "mta-relay1.log")) as f:
        kept = f.read()     # Postfix's own log beside the report, each line stamped
    assert "status=deferred" in kept and "status=sent" in kept, kept[-2000:]


def test_a_postfix_relay_without_retries_fails_claims_5_and_13(clean_machine,
                                                               system_postfix_untouched,
                                                               tmp_path):
    _, rep, paths = run(tmp_path, "no-retries", count=8, deadline=10.0,
                        options={"relay_mta_extra": NO_RETRIES})
    assert rep["ok"] is False
    for claim in ("5", "13"):
        failed = [c for c in rep["checks"] if c["claim"] == claim and c["outcome"] == "FAIL"]
        assert failed and "had fewer" in failed[0]["detail"], open(paths["report.md"]).read()


def test_relay_failover_with_a_postfix_sender_passes(clean_machine, system_postfix_untouched,
                                                     tmp_path):
    verdict, rep, paths = run(tmp_path, "sender", count=12,
                              scenario_name="relay-failover-postfix-sender")
    assert verdict.outcome == "PASS", open(paths["report.md"]).read()
    handover = [c for c in rep["checks"] if c["name"] == "the sending MTA handed on what it "
                                                         "accepted"]
    assert handover and handover[0]["outcome"] == "PASS"
    servers = {row["server"] for row in map(json.loads, open(
        os.path.join(os.path.dirname(paths["report.json"]), "ledger.jsonl")))}
    assert servers == {"10.0.1.10:25", "10.0.1.3:25"}     # mx1 first, then the relay


def test_relay_failover_with_postfix_messaging_servers_passes(clean_machine,
                                                             system_postfix_untouched, tmp_path):
    """mx1 a private Postfix delivering into its Maildir, which the checker reads."""
    verdict, rep, paths = run(tmp_path, "mx", count=12, scenario_name="relay-failover",
                              mx_server="postfix")
    assert verdict.outcome == "PASS", open(paths["report.md"]).read()
    assert rep["delivered"] == rep["sent"] == 12
