"""Who wrote an event: the log file it came from, never the line's own fields.

Every service writes one log of its own, ``<run dir>/<host>[.genN]/events.jsonl``
(the fault scripts ``faults/events.jsonl``, the provisioner
``provisioner/events.jsonl``, a sender its traffic or send directory under its
client). The reader here stamps each line with the host and service that own
its file. A line that names another service or another host keeps what it
claimed in ``claimed`` and is counted as a forgery by the verdict
(``lab.verdict.counting``): a relay writing a ``created`` line into its own log is
the relay speaking, not the provisioner.
"""
import glob
import os

from lab.evidence import postfix_log
from lab.evidence.postfix_log import STAMPED_SUFFIX
from servers.common.events import read_events

CLAIMED = "claimed"         # what a line said about itself, where its file says otherwise
FAULT_SERVICE = "fault"     # the fault scripts (lab/faults/fault_process.py)
PROVISIONER_SERVICE = "provisioner"
SENDER_SERVICE = "sender"
# run-directory entries that are not a host's: their owner is the entry itself
NOT_HOSTS = {"faults": FAULT_SERVICE, "provisioner": PROVISIONER_SERVICE}
TRAFFIC_PREFIX = "traffic-"     # lab/scenarios/run.py: a scenario's sender on a client
UNKNOWN = "?"


def owner_of(relpath, roles):
    """(host, service) owning the log at ``relpath`` (relative to the run directory).

    ``roles``: {host: service} of the lab (its servers and its clients)."""
    top = relpath.replace(os.sep, "/").split("/")[0]
    if top in NOT_HOSTS:
        return top, NOT_HOSTS[top]
    if top.startswith(TRAFFIC_PREFIX):
        return top[len(TRAFFIC_PREFIX):], SENDER_SERVICE
    host = top.split(".gen")[0]
    return host, roles.get(host, UNKNOWN)


def attribute(events, host, service):
    """The events of one log, stamped with its owner; a line naming another
    service (or, for a lab host, another host) keeps that claim in ``claimed``."""
    out = []
    for e in events:
        e = dict(e)
        claimed = {}
        if e.get("service", service) != service:
            claimed["service"] = e.get("service")
        if host not in NOT_HOSTS and e.get("host", host) != host:
            claimed["host"] = e.get("host")
        if service == UNKNOWN:
            claimed.setdefault("service", e.get("service"))
        e["host"], e["service"] = host, service
        if claimed:
            e[CLAIMED] = claimed
        out.append(e)
    return out


EVENT_FILES = ("*events.jsonl", "maillog" + STAMPED_SUFFIX)   # what read_run_events reads


def read_run_events(rundir, roles, skip=()):
    """Every event under ``rundir``, each attributed by its file, in time order
    (a real MTA's log read as events: lab.evidence.postfix_log); the directories
    of the hosts named in ``skip`` (every generation) left out."""
    events = []
    for pattern, read in ((EVENT_FILES[0], lambda p, service: read_events(p)),
                          (EVENT_FILES[1], postfix_log.read_events)):
        for path in sorted(glob.glob(os.path.join(rundir, "**", pattern), recursive=True)):
            rel = os.path.relpath(path, rundir)
            if skip and rel.split(os.sep)[0].split(".gen")[0] in skip:
                continue
            host, service = owner_of(rel, roles)
            events += attribute(read(path, service), host, service)
    events.sort(key=lambda e: e.get("ts", 0))
    return events


def forged(events):
    """The lines whose own fields claim a writer other than the owner of their file."""
    return [e for e in events if e.get(CLAIMED)]
