"""``maillab clean``: remove what a crashed lab run left behind, like ``mn -c``.

It removes, in order: what a lab spread over several servers made on them
(through SSH, that lab's things only: lab/host/cluster_net.py), maillab's own processes (servers, fault scripts,
captures, Postfix peers), Mininet's host shells (which takes their network
namespaces with them), veth links named like Mininet's (``foo-eth0``), the
bridges a lab recorded (Linux bridges and Open vSwitch bridges), the OVS
daemons a lab started, and the temporary directories it recorded.
Unlike ``mn -c`` it leaves unrelated files in /tmp alone.
"""
import logging
import os
import re
import shutil
import signal
import subprocess
import time

from lab.host import iproute
from lab.host import ovs
from lab.host import cleanup_records as state
from lab.host.lock import LabBusy, lab_lock

log = logging.getLogger(__name__)

# Command lines that only a maillab lab starts. Lab servers are found by their
# run directory (maillab-run-*) and the recorded pids, not by module name, so
# that loopback tests of the servers running beside a lab are left alone.
PROCESS_PATTERNS = (
    r"-m lab\.(faults|provisioner)\b",
    # servers, route keepers (sh scripts) and captures keep their files under such dirs; only
    # those programs are matched, so a student's `less /tmp/maillab-run-*/...` is not
    r"^(\S*/)?(python[0-9.]*|tcpdump|nsenter|sh|bash) .*maillab-(run|bench|test)",
    r"mininet:",                    # Mininet's host shells
)
LINK_RE = re.compile(r"[-_.A-Za-z0-9]+-eth\d+")


def _pids_matching(pattern):
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    me = os.getpid()
    return [int(p) for p in out.split() if int(p) != me]


def private_postfix_pids():
    """Processes of a lab's private Postfix (lab.testbed.mta_postfix): their
    command lines name no run directory, their environment does (MAIL_CONFIG,
    which Postfix passes on to every daemon it starts)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % entry, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if any(v.startswith(b"MAIL_CONFIG=") and b"maillab-run-" in v for v in env):
            found.append(int(entry))
    return found


def _maillab_pids():
    pids = set(private_postfix_pids())
    for pattern in PROCESS_PATTERNS:
        pids.update(_pids_matching(pattern))
    for pid in state.recorded("pids"):
        if pid.isdigit():
            pids.add(int(pid))
    pids.discard(os.getpid())
    return {p for p in pids if _is_alive(p)}


def kill_processes():
    """SIGKILL every maillab process; returns how many there were.

    Looked for again after each round: a shell (a route keeper's loop) can fork
    once more between the look and its SIGKILL."""
    killed = set()
    for _ in range(5):
        pids = _maillab_pids()
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while any(_is_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)  # reaping after SIGKILL
        killed |= pids
    state.forget("pids")
    return len(killed)


def _is_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def mininet_links():
    names = iproute.interface_names(iproute.run(iproute.ip_argv("link", "show")))
    return sorted({n for n in names if LINK_RE.fullmatch(n)})


def delete_links():
    links = mininet_links()
    for link in links:
        subprocess.run(["ip", "link", "del", link], capture_output=True)
    return len(links)


def existing_bridges():
    try:
        return sorted(os.listdir("/sys/class/net"))
    except FileNotFoundError:
        return []


def delete_bridges():
    recorded = state.recorded("bridges")
    removed = ovs.delete_bridges(recorded)
    present = set(existing_bridges())
    for br in recorded:
        if br in present and os.path.isdir("/sys/class/net/%s/bridge" % br):
            subprocess.run(["ip", "link", "set", br, "down"], capture_output=True)
            subprocess.run(["ip", "link", "del", br], capture_output=True)
            removed += 1
    state.forget("bridges")
    return removed


def stop_ovs_daemons():
    """The OVS daemons a lab started and could not stop; how many."""
    recorded = state.recorded("ovs")
    if not recorded:
        return 0
    stopped = ovs.stop_daemons(recorded)
    if not ovs.bridges():       # left running only while someone else's bridges need them
        state.forget("ovs")
    return len(stopped)


def delete_dirs():
    removed = 0
    for d in state.recorded("dirs"):
        if os.path.isdir(d):
            shutil.rmtree(d, ignore_errors=True)
            removed += 1
    state.forget("dirs")
    return removed


def clean(wait=0.0):
    """Remove every leftover; returns counts. Refuses while a lab holds the lock."""
    with lab_lock(timeout=wait):
        return clean_unlocked()


def clean_servers():
    """What a lab spread over servers made on them (and its tunnel taps here),
    removed through SSH with the run's own key: only that lab's, never `mn -c`."""
    if not state.recorded("remote"):
        return 0
    from lab.host.cluster_net import clean_servers as clean_remote
    return sum(clean_remote().values())


def clean_unlocked():
    """The work of clean(), for callers that already hold the lab lock."""
    counts = {
        "remote things": clean_servers(),
        "processes": kill_processes(),
        "links": delete_links(),
        "bridges": delete_bridges(),
        "ovs daemons": stop_ovs_daemons(),
        "dirs": delete_dirs(),
    }
    log.info("clean: %s", counts)
    return counts


def leftovers():
    """What a lab could have left that is still here (empty when clean)."""
    found = {}
    procs = set(private_postfix_pids())
    for pattern in PROCESS_PATTERNS:
        procs.update(_pids_matching(pattern))
    if procs:
        found["processes"] = sorted(procs)
    links = mininet_links()
    if links:
        found["links"] = links
    recorded = state.recorded("bridges")
    bridges = sorted(set(b for b in recorded if b in existing_bridges())
                     | set(b for b in ovs.bridges() if b in recorded))
    if bridges:
        found["bridges"] = bridges
    daemons = [d for d in state.recorded("ovs") if ovs.daemon_running(d)]
    if daemons:
        found["ovs daemons"] = daemons
    remote = state.recorded("remote")
    if remote:
        found["things on other servers"] = len(remote)
    return found


__all__ = ["clean", "clean_unlocked", "leftovers", "LabBusy"]
