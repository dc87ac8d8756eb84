"""Reading a run's files into records the verdict judges (lab/verdict).

Every record says where it came from, because a check must rest on evidence
that the component under test does not write itself:

- sender ledgers (a line per 250 the sender got): the client's record;
- Maildirs, read here file by file: the messaging servers' disks;
- the relay queue, watched on disk by the run (``lab.queue_watch``);
- packet captures on switch ports (``lab.evidence.wire``), read with scapy;
- every service's event log (each component's own words), each line
  attributed to the service owning its file (``lab.evidence.provenance``);
- MX answers a client saw during the run (``dig``, health-checked DNS).
"""
import dataclasses
import email.parser
import os
import re

from servers.common.events import read_events

# Where a piece of evidence comes from: the ``evidence`` of a check names these.
WIRE = "wire"                   # packets captured on switch ports
MAILDIR = "maildir"             # message files in Maildirs, read by the checker
QUEUE_DISK = "queue-disk"       # relay queue files, watched on disk by the run
LEDGER = "ledger"               # the sender's record of each 250 it got
DNS_CLIENT = "dns-client"       # MX answers a client got during the run
PROVISIONER_LOG = "provisioner-log"
FAULT_LOG = "fault-log"         # the fault scripts' own start/end records
WAN_COUNTERS = "wan-counters"   # the WAN link's byte counters
RELAY_LOG = "relay-log"
DNS_LOG = "dns-log"
TOPOLOGY = "topology"           # the address plan: a fact of the set-up
EVENT_LOGS = "event-logs"       # every log file, each line attributed to the file's owner



@dataclasses.dataclass
class Mail:
    """One message file in a Maildir."""
    host: str        # the messaging server whose Maildir holds it
    rcpt: str
    msgid: str
    path: str = ""
    size: int = 0
    ts: float = 0.0  # file mtime: when it was written
    received_from: str = ""   # the peer address in the top Received: header (the storing server's)


@dataclasses.dataclass
class Frame:
    """One captured packet (ARP, and TCP of SMTP: whole segments; lab.evidence.wire)."""
    ts: float
    point: str                  # capture point: "relay" (relay's switch port), "router", ...
    src_mac: str
    dst_mac: str
    proto: str                  # "tcp" or "arp"
    src_ip: str
    dst_ip: str
    ttl: int = 0
    sport: int = 0
    dport: int = 0
    flags: str = ""             # TCP flags as scapy writes them: "S", "SA", "R", "FA" ...
    arp_op: int = 0             # 1 who-has, 2 is-at
    seq: int = 0                # TCP sequence number
    payload: bytes = b""        # TCP payload (SMTP), for reassembly (lab.evidence.smtp_wire)


@dataclasses.dataclass
class Evidence:
    scenario: object                 # lab.scenarios.model.Scenario
    ledger: list                     # sender ledger rows {ts, msgid, to, server, mx, code}
    mails: list                      # [Mail]
    queued: list                     # what is left in the relay queue: [{msgid, next_hop, file}]
    events: list                     # every event of every service, any order
    topology: dict                   # host -> {"ip": ..., "dc": ...}
    started: float = 0.0             # unix time the run began (traffic start)
    finished: float = 0.0
    # the relay's queue files as seen on disk during the run: [{ts, entries: [{msgid, next_hop}]}]
    queue_snapshots: list = dataclasses.field(default_factory=list)
    queue_watched: bool = False      # the run watched the queue directory (every write seen)
    relay_server: str = "maillab"    # what ran the relay host (lab.testbed.mta_role.SERVERS)
    slowness: float = 1.0            # the lab machine's, measured by the lab (lab/host/speed.py)
    wan_bytes: object = None         # bytes that crossed the WAN link during the run, if measured
    expected_ids: object = None      # every Message-ID the senders were asked to send, if known
    frames: list = dataclasses.field(default_factory=list)          # [Frame], time order
    capture_points: dict = dataclasses.field(default_factory=dict)  # point -> what it is
    dns_answers: list = dataclasses.field(default_factory=list)     # [{ts, answer: [names]}]
    subnets: dict = dataclasses.field(default_factory=dict)  # dc -> "10.0.N.0/24" (address plan)
    queue_missed: int = 0            # queue file versions gone before the watch read them
    capture_dropped: dict = dataclasses.field(default_factory=dict)  # point -> packets the
                                     # kernel dropped before tcpdump saw them (None: unknown)


# -- reading a run's files ---------------------------------------------------------

# a sender ledger is a JSON-lines log like any event log (a torn last line is skipped)
read_ledger = read_events


RECEIVED_PEER = re.compile(r"\(\[([0-9.]+)\]\)")


def _headers(path):
    """(Message-ID, the peer address of the top Received: header) of a message file."""
    with open(path, "rb") as f:
        head = f.read(65536)
    headers = email.parser.BytesHeaderParser().parsebytes(head.split(b"\r\n\r\n")[0]
                                                          .split(b"\n\n")[0])
    peer = RECEIVED_PEER.search(" ".join(str(headers.get("Received") or "").split()))
    return (headers.get("Message-ID") or "").strip(), peer.group(1) if peer else ""


# The checker lists Maildirs and the relay's queue with its own code, from the
# formats alone (docs/design.md), not with the servers' code it judges.
QUEUE_SUFFIX = ".q"             # a queued message's file; temporaries are dot-files


def maildir_messages(root):
    """[(recipient, path)] of every message under ROOT/<rcpt>/{new,cur}; dot-entries
    (the mx's dedupe record, temporaries) are not messages."""
    found = []
    if not os.path.isdir(root):
        return found
    for rcpt in sorted(os.listdir(root)):
        for sub in ("new", "cur"):
            d = os.path.join(root, rcpt, sub)
            if rcpt.startswith(".") or not os.path.isdir(d):
                continue
            found.extend((rcpt, os.path.join(d, n)) for n in sorted(os.listdir(d))
                         if not n.startswith(".") and os.path.isfile(os.path.join(d, n)))
    return found


def queue_files(directory):
    """The message files of a relay queue, sorted by name."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return [os.path.join(directory, n) for n in sorted(names)
            if n.endswith(QUEUE_SUFFIX) and not n.startswith(".")]


def read_maildir(root, host):
    """Every message under ROOT/<rcpt>/{new,cur}, as Mail records of ``host``."""
    mails = []
    for rcpt, path in maildir_messages(root):
        st = os.stat(path)
        msgid, peer = _headers(path)
        mails.append(Mail(host, rcpt.lower(), msgid, path, st.st_size, st.st_mtime, peer))
    return mails


def read_queue(directory, parse=None):
    """What is left in a relay queue: one entry per message file

    ``parse(path) -> {msgid, next_hop}`` reads a queue file when the relay's
    queue module provides one; otherwise only the file is reported.
    """
    left = []
    for path in queue_files(directory):
        entry = {"file": path, "msgid": "", "next_hop": ""}
        if parse is not None:
            try:
                entry.update(parse(path))
            except FileNotFoundError:
                continue       # delivered and removed while we looked
            except Exception as e:  # a half-written file still counts as queued
                entry["error"] = str(e)
        left.append(entry)
    return left


# -- faults, from the fault scripts' own start and end records -------------------------

def _fault_label(e):
    return e.get("fault") or e.get("name") or e.get("kind") or "fault"


def describe_fault(e):
    """One line for a fault event: its own summary, else its name and arguments."""
    if e.get("summary"):
        return e["summary"]
    args = e.get("args")
    if isinstance(args, list):
        args = " ".join(str(a) for a in args)
    return ("%s %s" % (_fault_label(e), args or e.get("target", ""))).strip()


def fault_windows(events, end):
    """[(start, stop, label)] from fault_start/fault_end pairs, in start order
    (unix seconds; a fault still in force at ``end`` stops there)."""
    open_, windows = {}, []
    for e in sorted(events, key=lambda e: e.get("ts", 0)):
        key = (e.get("host"), _fault_label(e), e.get("id"), str(e.get("args", "")))
        if e.get("event") == "fault_start":
            open_.setdefault(key, []).append(e)
        elif e.get("event") == "fault_end" and open_.get(key):
            s = open_[key].pop(0)
            windows.append((s["ts"], e["ts"], describe_fault(s)))
    for starts in open_.values():
        for s in starts:
            windows.append((s["ts"], end, describe_fault(s)))
    return sorted(windows)
