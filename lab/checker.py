"""The verdict of a run: was anything lost or doubled, and did each claim hold?

Pure: ``check(evidence)`` reads nothing but its argument. The ``read_*``
helpers turn the files of a run (sender ledgers, Maildirs, the relay queue,
event logs) into that evidence; the scenario run calls them, tests build evidence
by hand.

Counting, per (Message-ID, recipient):
- sent: the sender got a 250 for it (a ledger line);
- delivered: it is in at least one Maildir;
- queued: still a file in the relay queue when the run ended;
- lost: sent, in no Maildir and not queued - accepted, then gone;
- duplicates: copies beyond the first across all Maildirs;
- unexpected: in a Maildir but never in a ledger.
A run fails if lost > 0, duplicates > 0, or mail is still queued.

The ``claim_*`` checks are named after claims 1-19, which docs/design.md
states one by one with what the lab does for each.
"""
import dataclasses
import email.parser
import json
import os

from servers.common.endpoints import host_part
from servers.mx.maildir import messages_under
from servers.relay.queue import message_files

RELAY_SERVICE = "relay"


@dataclasses.dataclass
class Mail:
    """One message file in a Maildir."""
    host: str        # the messaging server whose Maildir holds it
    rcpt: str
    msgid: str
    path: str = ""
    size: int = 0
    ts: float = 0.0  # file mtime: when it was written


@dataclasses.dataclass
class Evidence:
    scenario: object                 # lab.scenario.Scenario
    ledger: list                     # sender ledger rows {ts, msgid, to, server, mx, code}
    mails: list                      # [Mail]
    queued: list                     # what is left in the relay queue: [{msgid, next_hop, file}]
    events: list                     # every event of every service, any order
    topology: dict                   # host -> {"ip": ..., "dc": ...}
    started: float = 0.0             # unix time the run began (traffic start)
    finished: float = 0.0
    queue_snapshots: list = dataclasses.field(default_factory=list)  # [{ts, entries: [{msgid, next_hop}]}]
    wan_bytes: object = None         # bytes that crossed the WAN link during the run, if measured
    expected_ids: object = None      # every Message-ID the senders were asked to send, if known


@dataclasses.dataclass
class Check:
    name: str
    claim: str
    ok: bool
    detail: str

    def as_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Verdict:
    ok: bool
    sent: int
    delivered: int
    lost: int
    duplicates: int
    queued: int
    unexpected: int
    timings: dict
    checks: list
    lost_ids: list
    duplicate_ids: list


# -- reading a run's files ---------------------------------------------------------

def read_ledger(path):
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        rows.append(json.loads(line))
                    except ValueError:
                        continue   # a torn last line of a killed sender
    except FileNotFoundError:
        pass
    return rows


def _message_id(path):
    with open(path, "rb") as f:
        head = f.read(65536)
    headers = email.parser.BytesHeaderParser().parsebytes(head.split(b"\r\n\r\n")[0]
                                                          .split(b"\n\n")[0])
    return (headers.get("Message-ID") or "").strip()


def read_maildir(root, host):
    """Every message under ROOT/<rcpt>/{new,cur}, as Mail records of ``host``."""
    mails = []
    for rcpt, path in messages_under(root):
        st = os.stat(path)
        mails.append(Mail(host, rcpt.lower(), _message_id(path), path, st.st_size, st.st_mtime))
    return mails


def read_queue(directory, parse=None):
    """What is left in a relay queue: one entry per message file
    (``servers.relay.queue.message_files``).

    ``parse(path) -> {msgid, next_hop}`` reads a queue file when the relay's
    queue module provides one; otherwise only the file is reported.
    """
    left = []
    for path in message_files(directory):
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


# -- small helpers over events -----------------------------------------------------

def _events(evidence, event, service=None, host=None):
    return sorted((e for e in evidence.events
                   if e.get("event") == event
                   and (service is None or e.get("service") == service)
                   and (host is None or e.get("host") == host)),
                  key=lambda e: e.get("ts", 0))


def _recipients(row):
    to = row.get("to") or row.get("rcpt") or []
    if isinstance(to, str):
        to = [to]
    return [t.lower() for t in to]


def _ip_to_host(evidence):
    m = {}
    for name, info in evidence.topology.items():
        if info.get("ip"):
            m.setdefault(info["ip"], name)
    for e in _events(evidence, "created"):
        if e.get("ip") and e.get("name"):
            m[e["ip"]] = e["name"]
    return m


def host_of(evidence, value, ips=None):
    """The host a server reference names: "mx1", "mx1.lab.", "10.0.1.10:25", "10.0.1.10".
    ``ips``: ``_ip_to_host(evidence)`` when the caller asks about many values."""
    if not value:
        return ""
    value = str(value)
    if value.startswith("mx:"):
        return ""
    name = value.rstrip(".").split(".")[0]
    if name in evidence.topology:
        return name
    ip = host_part(value)
    return (_ip_to_host(evidence) if ips is None else ips).get(ip, "")


TARGET_FIELDS = ("server", "target", "next_hop", "mx", "to_host", "peer", "new")


def target_of(evidence, e, ips=None):
    for f in TARGET_FIELDS:
        h = host_of(evidence, e.get(f), ips)
        if h:
            return h
    return ""


def dc_of(evidence, host):
    info = evidence.topology.get(host, {})
    if info.get("dc"):
        return info["dc"]
    for e in _events(evidence, "created"):
        if e.get("name") == host:
            return e.get("dc", "")
    return ""


def _relay_hosts(evidence):
    return {h for h in evidence.topology if h.startswith("relay")}


def _fmt_t(evidence, ts):
    return "t=%.2fs" % (ts - evidence.started) if evidence.started else "ts=%.2f" % ts


def _short(ids, n=3):
    ids = sorted(ids)
    return ", ".join(ids[:n]) + (" and %d more" % (len(ids) - n) if len(ids) > n else "")


# -- counting -----------------------------------------------------------------------

def _count(evidence):
    sent = {}
    for row in evidence.ledger:
        if int(row.get("code", 250)) != 250:
            continue
        for rcpt in _recipients(row):
            sent.setdefault((row.get("msgid", ""), rcpt), row)
    copies = {}
    for m in evidence.mails:
        copies.setdefault((m.msgid, m.rcpt), []).append(m)
    queued_ids = {q.get("msgid") for q in evidence.queued if q.get("msgid")}
    unparsed_queue = sum(1 for q in evidence.queued if not q.get("msgid"))
    lost = sorted(k for k in sent if k not in copies and k[0] not in queued_ids)
    if unparsed_queue:
        # Queue files we cannot read may hold any of the missing ones: count them as
        # queued rather than lost (the drain check fails either way).
        lost = lost[unparsed_queue:]
    dups = sorted(k for k, v in copies.items() if len(v) > 1)
    n_dups = sum(len(copies[k]) - 1 for k in dups)
    unexpected = sorted(k for k in copies if k not in sent)
    return sent, copies, lost, dups, n_dups, unexpected


def _ok(name, claim, ok, detail):
    return Check(name, claim, bool(ok), detail)


# -- checks every run gets -----------------------------------------------------------

def _core_checks(ev, sent, copies, lost, dups, unexpected):
    checks = [
        _ok("nothing lost", "", not lost,
            "every one of %d accepted messages is in a Maildir or the queue" % len(sent)
            if not lost else "%d accepted (250) but in no Maildir and not queued: %s"
            % (len(lost), _short(m for m, _ in lost))),
        _ok("no duplicates", "", not dups,
            "each message is in exactly one Maildir once" if not dups else
            "%d messages stored more than once: %s" % (len(dups), _short(m for m, _ in dups))),
        _ok("queue drained", "", not ev.queued,
            "the relay queue is empty" if not ev.queued else
            "%d messages still queued at the end: %s"
            % (len(ev.queued), _short(q.get("msgid") or os.path.basename(q["file"])
                                      for q in ev.queued))),
    ]
    if ev.expected_ids is not None:
        ours = set(ev.expected_ids)
    else:
        ours = {e.get("msgid") for e in ev.events
                if e.get("event") in ("sent", "send_failed", "attempt_failed")}
    strangers = [k for k in unexpected if k[0] not in ours]
    checks.append(_ok(
        "no unknown mail", "", not strangers,
        ("%d delivered without a 250 at the sender (its session broke after the "
         "data went through); all were sent by our sender" % len(unexpected))
        if unexpected and not strangers else
        "every message in a Maildir came from the sender" if not strangers else
        "%d messages in Maildirs that the sender never sent: %s"
        % (len(strangers), _short(m for m, _ in strangers))))
    return checks


def _expect_checks(ev, sent, copies):
    s = ev.scenario
    checks = []
    relay_hosts = _relay_hosts(ev)
    queued_events = _events(ev, "queued", service=RELAY_SERVICE)
    via_relay = [r for r in ev.ledger if host_of(ev, r.get("mx") or r.get("server")) in relay_hosts]
    if s.expect.relay_involved is True:
        checks.append(_ok("relay took mail", "", queued_events or via_relay,
                          "the relay queued %d messages (%d 250s to senders)"
                          % (len({e.get('msgid') for e in queued_events}), len(via_relay))))
    elif s.expect.relay_involved is False:
        checks.append(_ok("relay not involved", "", not queued_events and not via_relay,
                          "no message went through the relay" if not queued_events
                          and not via_relay else "the relay queued %d messages"
                          % len(queued_events)))
    if s.expect.final_server:
        want = s.expect.final_server
        wrong = [k for k, v in copies.items() if k in sent
                 and not any(m.host == want or dc_of(ev, m.host) == want for m in v)]
        hosts = sorted({m.host for v in copies.values() for m in v})
        checks.append(_ok("final server is %s" % want, "", not wrong and copies,
                          "all %d delivered messages are in the Maildir of %s"
                          % (len(copies), ", ".join(hosts)) if not wrong and copies else
                          "nothing was delivered" if not copies else
                          "%d messages ended elsewhere: %s" % (len(wrong), _short(m for m, _ in wrong))))
    if s.expect.provision:
        # the relay's recovery policy chooses the action: it must be the expected one
        created = _events(ev, "created")
        done = [e for e in created if e.get("action", s.expect.provision) == s.expect.provision]
        checks.append(_ok("provisioner %s" % s.expect.provision, "", done,
                          "created %s" % ", ".join("%s (%s, %s, %s)" % (
                              e.get("name"), e.get("ip"), e.get("dc"), e.get("action"))
                              for e in created)
                          if created else "no `created` event from the provisioner"))
    return checks


# -- per-claim checks ------------------------------------------------------------------

def _relay_queued_ids(ev):
    return {e.get("msgid") for e in _events(ev, "queued", service=RELAY_SERVICE)}


def _in_maildir_of(copies, msgid, hosts):
    return any(m.host in hosts for (mid, _), v in copies.items() if mid == msgid for m in v)


def claim_1a(ev, sent, copies):
    to_mx1 = [r for r in ev.ledger if host_of(ev, r.get("mx") or r.get("server")) == "mx1"]
    in_mx1 = {m.msgid for m in ev.mails if m.host == "mx1"}
    return [_ok("routed to the messaging server", "1a", to_mx1 and in_mx1,
                "%d messages routed to mx1 by the sender, %d in mx1's Maildir"
                % (len(to_mx1), len(in_mx1)))]


def claim_1b(ev, sent, copies):
    queued = _relay_queued_ids(ev)
    first = _events(ev, "queued", service=RELAY_SERVICE)
    return [_ok("undeliverable mail goes to the relay", "1b", queued,
                "the relay queued %d messages, the first at %s"
                % (len(queued), _fmt_t(ev, first[0]["ts"])) if queued else
                "the relay queued nothing")]


def claim_1c(ev, sent, copies):
    queued = _relay_queued_ids(ev)
    missing = [m for m in queued if not _in_maildir_of(copies, m, {"mx1"})]
    return [_ok("relay re-routes to the messaging server", "1c", queued and not missing,
                "all %d messages the relay held reached mx1" % len(queued)
                if queued and not missing else "the relay held nothing" if not queued else
                "%d relay messages never reached mx1: %s" % (len(missing), _short(missing)))]


def claim_1(ev, sent, copies):
    checks = claim_1a(ev, sent, copies) + claim_1b(ev, sent, copies) + claim_1c(ev, sent, copies)
    for c in checks:
        c.claim = "1"
    return checks


def _attempts_to(ev, host):
    """Relay delivery attempts towards ``host``: sessions opened (``attempt``) and
    connections that failed (``deferred``, which names no server: counted for any)."""
    out = []
    tries = _events(ev, "attempt", service=RELAY_SERVICE) + \
        _events(ev, "deferred", service=RELAY_SERVICE)
    for e in sorted(tries, key=lambda e: e["ts"]):
        t = target_of(ev, e)
        if t == host or not t:
            out.append(e)
    return out


def claim_periodic(ev, claim):
    interval = ev.scenario.relay.retry_interval
    by_msg = {}
    for e in _attempts_to(ev, "mx1"):
        by_msg.setdefault(e.get("msgid"), []).append(e["ts"])
    best = None
    for msgid, ts in by_msg.items():
        gaps = [b - a for a, b in zip(ts, ts[1:])]
        spaced = [g for g in gaps if g >= 0.9 * interval]
        if spaced and (best is None or len(ts) > len(best[1])):
            best = (msgid, ts, gaps)
    if best:
        msgid, ts, gaps = best
        detail = ("%s: %d attempts to mx1 at %s, spaced %s s (retry interval %.1f s)"
                  % (msgid, len(ts), ", ".join(_fmt_t(ev, t) for t in ts[:6]),
                     "/".join("%.1f" % g for g in gaps[:5]), interval))
    else:
        detail = ("no message had two relay attempts to mx1 spaced by at least %.1f s "
                  "(%d attempts in all)" % (interval, sum(len(v) for v in by_msg.values())))
    return [_ok("periodic retry to the messaging server", claim, best, detail)]


def claim_send_after_retry(ev, claim):
    queued = _relay_queued_ids(ev)
    delivered = {e.get("msgid"): e for e in _events(ev, "delivered", service=RELAY_SERVICE)}
    to_mx1 = [m for m in queued if m in delivered
              and target_of(ev, delivered[m]) in ("mx1", "")]
    missing = sorted(queued - set(to_mx1))
    late = [m for m in to_mx1 if len([a for a in _attempts_to(ev, "mx1")
                                       if a.get("msgid") == m]) < 1]
    ok = queued and not missing and not late
    return [_ok("relay sends to the messaging server once it is back", claim, ok,
                "the relay delivered all %d held messages to mx1 after retrying; last at %s"
                % (len(queued), _fmt_t(ev, max(delivered[m]["ts"] for m in to_mx1)))
                if ok else "the relay held nothing" if not queued else
                "%d held messages not delivered to mx1 by the relay: %s"
                % (len(missing), _short(missing)) if missing else
                "deliveries without a recorded attempt: %s" % _short(late))]


def claim_dns(ev, sent, copies):
    checks = []
    to_mx1 = [r for r in ev.ledger if host_of(ev, r.get("mx") or r.get("server")) == "mx1"]
    relay_hosts = _relay_hosts(ev)
    to_relay = [r for r in ev.ledger if host_of(ev, r.get("mx") or r.get("server")) in relay_hosts]
    if ev.scenario.dns.mode == "health-checked":
        fault = _events(ev, "fault_start")
        since = fault[0]["ts"] if fault else 0
        changes = [c for c in _events(ev, "answer_changed") if c["ts"] >= since]

        def has_mx1(c):
            return any(host_of(ev, a) == "mx1" for a in (c.get("answer") or []))
        dropped = next((c for c in changes if not has_mx1(c)), None)
        back = dropped and next((c for c in changes if c["ts"] > dropped["ts"] and has_mx1(c)),
                                None)
        ok = dropped and back and to_relay
        checks.append(_ok("DNS health check routes around the outage", "9", ok,
                          "after the fault the MX answer changed %d times (%s); %d messages "
                          "went to the relay, "
                          "%d to mx1" % (len(changes), "; ".join(
                              "%s %s" % (_fmt_t(ev, c["ts"]),
                                         c.get("answer") or c.get("targets") or c.get("mx") or "")
                              for c in changes[:4]), len(to_relay), len(to_mx1))))
    elif ev.scenario.expect.relay_involved:
        held = _relay_queued_ids(ev)
        checks.append(_ok("DNS routes to mx1, then the relay", "9", to_relay and held,
                          "by MX preference the sender reached mx1 %d times and the relay %d "
                          "times; the relay held %d messages for mx1"
                          % (len(to_mx1), len(to_relay), len(held))))
    else:
        checks.append(_ok("DNS routes mail to the messaging server", "9", to_mx1,
                          "by MX preference the sender reached mx1 for %d messages"
                          % len(to_mx1)))
    return checks


def claim_17(ev, sent, copies):
    dcs = {h: dc_of(ev, h) for h in ("mx1", "relay1")}
    ok = dcs["mx1"] and dcs["mx1"] == dcs["relay1"]
    return [_ok("mx1 and the relay share a data center", "17", ok,
                "mx1 in %s, relay1 in %s (topology)" % (dcs["mx1"] or "?", dcs["relay1"] or "?"))]


def claim_invoke(ev, claim):
    req = _events(ev, "provision_requested")
    created = _events(ev, "created")
    ok = req and created
    if ok:
        detail = ("the relay asked at %s (%s, %s messages held), the provisioner created "
                  "%s (%s in %s) at %s"
                  % (_fmt_t(ev, req[0]["ts"]), ev.scenario.relay.provision_action,
                     req[0].get("messages", "?"),
                     created[0].get("name"), created[0].get("ip"), created[0].get("dc"),
                     _fmt_t(ev, created[0]["ts"])))
    else:
        detail = "no provision_requested event" if not req else "no created event"
    checks = [_ok("relay invokes another messaging server", claim, ok, detail)]
    if claim == "6" and req:
        before = [a for a in _attempts_to(ev, "mx1") if a["ts"] <= req[0]["ts"]]
        checks.append(_ok("invoked after periodic retries failed", "6", len(before) >= 2,
                          "%d attempts to mx1 before the provision request" % len(before)))
    return checks


def claim_19(ev, sent, copies):
    created = [e for e in _events(ev, "created") if e.get("name") == "mx1"]
    want = ev.topology.get("mx1", {}).get("ip")
    ok = created and created[0].get("ip") == want
    return [_ok("re-created with the same name and IP", "19", ok,
                "mx1 re-created at %s with IP %s (the topology's mx1 is %s)"
                % (_fmt_t(ev, created[0]["ts"]), created[0].get("ip"), want)
                if created else "no `created` event for mx1")]


def _new_server(ev):
    created = _events(ev, "created")
    return created[-1] if created else None


def _held_at_provision(ev):
    """Messages the relay held when it asked for a new server."""
    req = _events(ev, "provision_requested")
    if not req:
        return set()
    t = req[0]["ts"]
    queued = {e.get("msgid"): e["ts"] for e in _events(ev, "queued", service=RELAY_SERVICE)}
    done = {e.get("msgid"): e["ts"] for e in _events(ev, "delivered", service=RELAY_SERVICE)}
    return {m for m, qt in queued.items() if qt <= t and done.get(m, float("inf")) > t}


def claim_route_other(ev, claim):
    new = _new_server(ev)
    if not new:
        return [_ok("relay routes to the other server", claim, False, "no server was created")]
    rer = _events(ev, "rerouted")
    to_new = {e.get("msgid") for e in rer if host_of(ev, e.get("new")) == new.get("name")}
    held = _held_at_provision(ev)
    missing = sorted(held - to_new)
    ok = to_new and not missing
    return [_ok("relay routes stored mail to the other server", claim, ok,
                "%d messages re-routed to %s (%s)" % (len(to_new), new.get("name"),
                                                       rer[0].get("new") if rer else "")
                if ok else "no message re-routed to %s" % new.get("name") if not to_new else
                "%d held messages never re-routed: %s" % (len(missing), _short(missing)))]


def claim_change_stored(ev, claim):
    """A `rerouted` event (emitted by the queue after it rewrote the file) for every
    stored message; queue snapshots taken during the run must agree with them:
    a file seen after its re-routing with the old next hop is a contradiction."""
    rer = _events(ev, "rerouted")
    held = _held_at_provision(ev)
    when = {e.get("msgid"): e for e in rer}
    missing = sorted(held - set(when))
    on_disk, stale = set(), set()
    for snap in ev.queue_snapshots:
        for q in snap.get("entries", []):
            r = when.get(q.get("msgid"))
            if r is None or snap["ts"] < r["ts"]:
                continue
            if q.get("next_hop") == r.get("new"):
                on_disk.add(q.get("msgid"))
            else:
                stale.add(q.get("msgid"))
    ok = rer and not missing and not stale
    detail = ("a `rerouted` event for each of %d stored messages (%s -> %s)"
              % (len(when), rer[0].get("old"), rer[0].get("new")) if rer else
              "no `rerouted` event")
    if missing:
        detail += "; never re-routed: %s" % _short(missing)
    if on_disk:
        detail += "; %d queue files read back from disk with the new next hop" % len(on_disk)
    if stale:
        detail += "; queue files still had the old next hop after re-routing: %s" % _short(stale)
    return [_ok("stored messages' server information changed", claim, ok, detail)]


def claim_send_other(ev, claim):
    new = _new_server(ev)
    if not new:
        return [_ok("relay sends to the other server", claim, False, "no server was created")]
    name = new.get("name")
    rerouted = {e.get("msgid") for e in _events(ev, "rerouted")}
    missing = sorted(m for m in rerouted if not _in_maildir_of(copies_of(ev), m, {name}))
    ok = rerouted and not missing
    return [_ok("relay delivers to the other server", claim, ok,
                "all %d re-routed messages are in %s's Maildir" % (len(rerouted), name)
                if ok else "nothing was re-routed" if not rerouted else
                "%d re-routed messages not in %s's Maildir: %s" % (len(missing), name,
                                                                  _short(missing)))]


def copies_of(ev):
    copies = {}
    for m in ev.mails:
        copies.setdefault((m.msgid, m.rcpt), []).append(m)
    return copies


def claim_18(ev, sent, copies):
    new = _new_server(ev)
    checks = []
    dc1 = dc_of(ev, "mx1")
    ok = new and new.get("dc") and new.get("dc") != dc1
    checks.append(_ok("the other server is in a remote data center", "18", ok,
                      "mx1 in %s, %s created in %s" % (dc1, new.get("name"), new.get("dc"))
                      if new else "no server was created"))
    in_new = [m for m in ev.mails if new and m.host == new.get("name")]
    need = sum(m.size for m in in_new)
    if ev.wan_bytes is None:
        checks.append(_ok("mail crossed the WAN", "18", False,
                          "the WAN link's byte counters were not measured"))
    else:
        checks.append(_ok("mail crossed the WAN", "18", in_new and ev.wan_bytes >= need,
                          "%d bytes crossed the WAN link; the %d messages in %s's Maildir "
                          "hold %d bytes" % (ev.wan_bytes, len(in_new),
                                             new.get("name") if new else "?", need)))
    return checks


CLAIM_CHECKS = {
    "1a": claim_1a,
    "1": claim_1,
    "2": lambda ev, s, c: claim_invoke(ev, "2"),
    "3": lambda ev, s, c: claim_route_other(ev, "3"),
    "4": lambda ev, s, c: claim_change_stored(ev, "4"),
    "5": lambda ev, s, c: claim_periodic(ev, "5"),
    "6": lambda ev, s, c: claim_invoke(ev, "6"),
    "7": lambda ev, s, c: claim_send_after_retry(ev, "7"),
    "8": lambda ev, s, c: claim_send_other(ev, "8"),
    "9": claim_dns,
    "10": lambda ev, s, c: claim_invoke(ev, "10"),
    "11": lambda ev, s, c: claim_route_other(ev, "11"),
    "12": lambda ev, s, c: claim_change_stored(ev, "12"),
    "13": lambda ev, s, c: claim_periodic(ev, "13"),
    "14": lambda ev, s, c: claim_invoke(ev, "14"),
    "15": lambda ev, s, c: claim_send_after_retry(ev, "15"),
    "16": lambda ev, s, c: claim_send_other(ev, "16"),
    "17": claim_17,
    "18": claim_18,
    "19": claim_19,
}


# -- timings ---------------------------------------------------------------------------

def timings(ev):
    def first(name, after=0.0, service=None):
        for e in _events(ev, name, service=service):
            if e["ts"] >= after:
                return e["ts"]
        return None

    t = {"failover": None, "recovery_drain": None, "recreate": None, "total": None}
    fault = first("fault_start")
    if fault is not None:
        q = first("queued", fault, RELAY_SERVICE)
        if q is not None:
            t["failover"] = round(q - fault, 3)
    relay_done = _events(ev, "delivered", service=RELAY_SERVICE)
    created = first("created")
    last = relay_done[-1]["ts"] if relay_done else None
    # the server is reachable again when the last fault before the drain ended
    ends = [e["ts"] for e in _events(ev, "fault_end") if last is None or e["ts"] <= last]
    back = created if created is not None else (max(ends) if ends else None)
    if back is not None and relay_done:
        t["recovery_drain"] = round(max(0.0, relay_done[-1]["ts"] - back), 3)
    req = first("provision_requested")
    if req is not None and created is not None:
        t["recreate"] = round(created - req, 3)
    done = [e["ts"] for e in ev.events if e.get("event") == "delivered"] + \
        [m.ts for m in ev.mails if m.ts]
    start = ev.started or min((r.get("ts", 0) for r in ev.ledger), default=None)
    if start is not None and done:
        t["total"] = round(max(done) - start, 3)
    return t


# -- the verdict -------------------------------------------------------------------------

def check(ev):
    sent, copies, lost, dups, n_dups, unexpected = _count(ev)
    checks = _core_checks(ev, sent, copies, lost, dups, unexpected)
    checks += _expect_checks(ev, sent, copies)
    for claim in ev.scenario.claims:
        checks += CLAIM_CHECKS[claim](ev, sent, copies)
    delivered = sum(1 for k in sent if k in copies)
    ok = not lost and not n_dups and not ev.queued and bool(sent) and all(c.ok for c in checks)
    if not sent:
        checks.append(_ok("mail was sent", "", False, "the sender got no 250 at all"))
    return Verdict(ok=ok, sent=len(sent), delivered=delivered, lost=len(lost),
                   duplicates=n_dups, queued=len(ev.queued), unexpected=len(unexpected),
                   timings=timings(ev), checks=checks,
                   lost_ids=[m for m, _ in lost], duplicate_ids=[m for m, _ in dups])


# -- each message's path, for reports ----------------------------------------------------

def message_paths(ev):
    """msgid -> ordered steps [(ts, what, host)] from the ledger, events and Maildirs."""
    paths = {}
    ips = _ip_to_host(ev)

    def add(msgid, ts, what, host):
        if msgid:
            paths.setdefault(msgid, []).append((ts, what, host))

    for r in ev.ledger:
        add(r.get("msgid"), r.get("ts", 0), "accepted",
            host_of(ev, r.get("mx") or r.get("server"), ips))
    for e in ev.events:
        kind = e.get("event")
        if kind == "send_failed":
            add(e.get("msgid"), e["ts"], "send_failed", "")
        elif e.get("service") == RELAY_SERVICE and kind in ("queued", "attempt", "deferred",
                                                            "rerouted", "delivered", "bounced"):
            add(e.get("msgid"), e["ts"], "relay_" + kind, target_of(ev, e, ips) or e.get("host", ""))
        elif kind == "delivered":
            add(e.get("msgid"), e["ts"], "stored", e.get("host", ""))
    for m in ev.mails:
        if not any(w == "stored" and h == m.host for _, w, h in paths.get(m.msgid, [])):
            add(m.msgid, m.ts, "stored", m.host)
    for steps in paths.values():
        steps.sort(key=lambda s: s[0])
    return paths
