"""The verdict of a run: was anything lost or doubled, and did each claim hold?

Pure: ``check(evidence)`` reads nothing but its argument; lab/evidence/records.py
reads a run's files into that evidence, tests build it by hand.

Counting, per (Message-ID, recipient):
- sent: the sender got a 250 for it (a ledger line);
- delivered: it is in at least one Maildir;
- queued: still a file in the relay queue when the run ended;
- lost: sent, in no Maildir and not queued - accepted, then gone;
- duplicates: copies beyond the first across all Maildirs;
- unexpected: in a Maildir but never in a ledger.
A run fails if lost > 0, duplicates > 0, or mail is still queued.

The ``claim_*`` checks are named after claims 1-19, which docs/design.md
states one by one with what the lab does for each and the evidence it uses.

Every check has a ``kind``: ``observed`` (PASS or FAIL, judged from what the
run saw) or ``info`` (a fact of the set-up, such as where the address plan
puts a host: shown, never counted as a PASS). It lists the ``evidence`` it
rests on (lab.evidence.records: wire, maildir, queue-disk, ledger, ...). A claim's
check whose evidence is only the event log of the component under test
(``OWN_WORDS``) fails: a component's word about itself proves nothing.
"""
import bisect
import ipaddress
import os

from lab.evidence.records import (DNS_CLIENT, DNS_LOG, EVENT_LOGS, FAULT_LOG, LEDGER, MAILDIR,
                                  PROVISIONER_LOG, QUEUE_DISK, RELAY_LOG, TOPOLOGY, WIRE,
                                  Evidence, Mail, fault_windows)
from lab.evidence import smtp_wire
from lab.evidence.provenance import CLAIMED, FAULT_SERVICE, SENDER_SERVICE, forged
from lab.evidence.queries import (PROVISIONER_SERVICE, RELAY_SERVICE, dc_of, host_of,
                                  select_events)
from lab.verdict.model import INFO, OBSERVED, Check, Verdict, not_applicable
from servers.common.endpoints import parse_host_port

TOLERANCE = 0.3       # seconds: how well the clocks of events, files and captures agree
EARLY = 0.1           # a retry may come this fraction of its delay early (timer slack)
FILE_TIME = 0.02      # seconds a file's mtime may lag the write: the kernel stamps files
                      # with its coarse clock, a tick (up to 10 ms here) behind

# The log each claim's component under test writes itself.
OWN_WORDS = dict({c: {RELAY_LOG} for c in ("1", "1a", "1b", "1c", "2", "3", "4", "5", "6",
                                             "7", "8", "10", "11", "12", "13", "14", "15",
                                             "16", "17")},
                 **{"9": {DNS_LOG, RELAY_LOG}, "18": {PROVISIONER_LOG, RELAY_LOG},
                    "19": {PROVISIONER_LOG, RELAY_LOG}})

# Claims only maillab's relay can show: with a real MTA as the relay (Postfix)
# they are NOT APPLICABLE, with the reason, never PASS or FAIL.
ASKS = "the relay asks the lab's provisioner for another messaging server"
RELAY_ONLY = dict(
    {c: ("relay asks for another messaging server", ASKS) for c in ("2", "6", "10", "14")},
    **{c: ("relay routes stored mail to the other server", ASKS + " and routes its mail there")
       for c in ("3", "8", "11", "16")},
    **{c: ("stored messages' server information changed", "the relay rewrites each stored "
           "message's next hop on disk (a real MTA's queue file holds no next hop)")
       for c in ("4", "12")},
    **{"18": ("the other server is in a remote data center", ASKS),
       "19": ("re-created with the same name, IP and MAC", ASKS)})

__all__ = ["Check", "Verdict", "Evidence", "Mail", "check", "timings"]


# -- small helpers over events -----------------------------------------------------

def _recipients(row):
    to = row.get("to") or row.get("rcpt") or []
    if isinstance(to, str):
        to = [to]
    return [t.lower() for t in to]


def _relay_hosts(evidence):
    return {h for h in evidence.topology if h.startswith("relay")}


def _relay_ip(ev):
    return next((ev.topology[h].get("ip") for h in sorted(_relay_hosts(ev))), "")


def _fmt_t(evidence, ts):
    return "t=%.2fs" % (ts - evidence.started) if evidence.started else "ts=%.2f" % ts


def _short(ids, n=3):
    ids = sorted(ids)
    return ", ".join(ids[:n]) + (" and %d more" % (len(ids) - n) if len(ids) > n else "")


def _ledger_server(ev, row):
    """The server a ledger row's message went to: the address the sender connected
    to (``server``), not the MX name the DNS under test gave it."""
    return host_of(ev, row.get("server") or row.get("mx"))


def _windows(ev):
    """The faults' windows, from the fault scripts' own log only."""
    return fault_windows(_fault_events(ev), ev.finished or float("inf"))


def _fault_events(ev):
    return [e for e in ev.events if e.get("service") == FAULT_SERVICE]


def _in_window(ev, ts):
    return any(a <= ts <= b for a, b, _ in _windows(ev))


# -- what the wire shows -------------------------------------------------------------

ARP_RETRANS = 1.0     # seconds between the kernel's ARP requests for one unresolved address
                      # (net.ipv4.neigh.*.retrans_time_ms): requests this far apart are
                      # the retries of one connect, not new attempts


def _relay_syns(ev, target_ip, point="relay"):
    """The relay's TCP connection attempts to ``target_ip``'s SMTP port: the first
    SYN of each source port from the relay's address ([Frame], time order). A
    retransmitted SYN (same port) is the same attempt."""
    relay = _relay_ip(ev)
    out, ports = [], set()
    for f in ev.frames:
        if f.point == point and f.proto == "tcp" and f.flags == "S" and f.dport == 25 \
                and f.src_ip == relay and f.dst_ip == target_ip and f.sport not in ports:
            ports.add(f.sport)
            out.append(f)
    return out


def _relay_arp_attempts(ev, target_ip, point="relay"):
    """The relay's attempts to reach an address with no MAC: its ARP requests for
    it, where a request ARP_RETRANS after the previous one is that one's retry
    (the kernel's, for the same connect) and not counted again."""
    relay = _relay_ip(ev)
    out, last = [], None
    for f in ev.frames:
        if f.point == point and f.proto == "arp" and f.arp_op == 1 and f.src_ip == relay \
                and f.dst_ip == target_ip:
            if last is None or abs(f.ts - last - ARP_RETRANS) > 0.1 and f.ts - last > 0.1:
                out.append(f.ts)
            last = f.ts
    return out


def _wire_attempts(ev, target_ip, point="relay"):
    """Times the relay set out to reach ``target_ip``: each TCP connection attempt
    (a SYN with its own source port) to port 25, or, for a target without a MAC,
    each ARP resolution it started (lab.verdict: not the kernel's ARP retries)."""
    return sorted([f.ts for f in _relay_syns(ev, target_ip, point)] +
                  _relay_arp_attempts(ev, target_ip, point))


def _wire_answers(ev, server_ip, point="relay"):
    """Times ``server_ip`` accepted a connection from the relay (SYN-ACK)."""
    relay = _relay_ip(ev)
    return [f.ts for f in ev.frames if f.point == point and f.proto == "tcp"
            and f.src_ip == server_ip and f.dst_ip == relay and f.flags == "SA"]


def wire_messages(ev):
    """[WireMessage] of every DATA captured at the relay's port (lab.evidence.smtp_wire),
    read once per evidence."""
    cache = ev.__dict__.setdefault("_wire_messages", {})
    if id(ev.frames) not in cache:
        cache.clear()
        cache[id(ev.frames)] = smtp_wire.messages(ev.frames, "relay")
    return cache[id(ev.frames)]


def _relay_handed_over(ev, server_ips, since=None):
    """{msgid: when} of each message the relay's address handed to one of
    ``server_ips`` on the wire (a DATA carrying its Message-ID, answered 250)."""
    relay = _relay_ip(ev)
    got = {}
    for w in wire_messages(ev):
        if w.client == relay and w.server in server_ips and w.code == 250 \
                and (since is None or w.ts >= since):
            got.setdefault(w.msgid, w.ts)
    return got


def _require_wire(check, ev, ids, server_ips, since=None):
    """Each message a claim counts must have gone from the relay to the right server
    on the wire: the check says how many did (matched / claimed), and fails if one
    did not."""
    ids = sorted(ids)
    got = _relay_handed_over(ev, set(server_ips), since)
    missing = [m for m in ids if m not in got]
    check.wire_matched = [len(ids) - len(missing), len(ids)]
    check.detail += "; messages matched on the wire: %d/%d (a DATA from the relay to %s " \
                    "carrying the Message-ID, answered 250)" % (
                        len(ids) - len(missing), len(ids), ", ".join(sorted(server_ips)) or "?")
    if missing and ids:
        check.ok = False
        check.detail += "; not on the wire: %s" % _short(missing)
    # corroboration: the storing server's own trace header names the relay's address
    relay = _relay_ip(ev)
    copies = [m for m in ev.mails if m.msgid in set(ids) and m.ts >= (since or 0) - FILE_TIME
              and _ip_of(ev, m.host) in server_ips]
    if copies:
        check.detail += "; %d of %d Maildir copies there say in their Received: header " \
                        "(the storing server's) that they came from %s" % (
                            sum(1 for m in copies if m.received_from == relay), len(copies), relay)
    if WIRE not in check.evidence:
        check.evidence.append(WIRE)
    return check


def _ip_of(ev, host):
    if ev.topology.get(host, {}).get("ip"):
        return ev.topology[host]["ip"]
    made = [c for c in _created(ev) if c.get("name") == host]
    return made[-1].get("ip", "") if made else ""


def _backed(times, ts, window):
    return any(ts - window - TOLERANCE <= t <= ts + TOLERANCE for t in times)


# -- counting -----------------------------------------------------------------------

def _count(evidence):
    sent = {}
    for row in evidence.ledger:
        if int(row.get("code", 250)) != 250:
            continue
        for rcpt in _recipients(row):
            sent.setdefault((row.get("msgid", ""), rcpt), row)
    copies = copies_of(evidence)
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


def copies_of(ev):
    copies = {}
    for m in ev.mails:
        copies.setdefault((m.msgid, m.rcpt), []).append(m)
    return copies


def _ok(name, claim, ok, detail, evidence=(), kind=OBSERVED):
    return Check(name, claim, bool(ok), detail, kind, list(evidence))


def _info(name, claim, detail, evidence=(TOPOLOGY,)):
    return Check(name, claim, True, detail, INFO, list(evidence))


def _own_words_only(check):
    """A PASS that rests only on the tested component's log becomes a FAIL."""
    own = OWN_WORDS.get(check.claim, set())
    if check.kind == OBSERVED and check.ok and own and set(check.evidence) <= own \
            and not check.not_applicable:
        check.ok = False
        check.detail += " - but this rests only on %s, the tested component's own " \
                        "words: not enough for a PASS" % ", ".join(sorted(check.evidence))
    return check


# -- checks every run gets -----------------------------------------------------------

def _left_in_queue(entry):
    """A message still queued, named, with where a real MTA holds it when known."""
    name = entry.get("msgid") or os.path.basename(entry["file"])
    if entry.get("queue") == "deferred" and entry.get("next_try_in") is not None:
        return "%s (deferred, next attempt in %.1f s)" % (name, entry["next_try_in"])
    if entry.get("queue"):
        return "%s (in its %s queue)" % (name, entry["queue"])
    return name


def _core_checks(ev, sent, copies, lost, dups, unexpected):
    checks = [
        _ok("nothing lost", "", not lost,
            "every one of %d accepted messages is in a Maildir or the queue" % len(sent)
            if not lost else "%d accepted (250) but in no Maildir and not queued: %s"
            % (len(lost), _short(m for m, _ in lost)), (LEDGER, MAILDIR, QUEUE_DISK)),
        _ok("no duplicates", "", not dups,
            "each message is in exactly one Maildir once" if not dups else
            "%d messages stored more than once: %s" % (len(dups), _short(m for m, _ in dups)),
            (MAILDIR,)),
        _ok("queue drained", "", not ev.queued,
            "the relay queue is empty" if not ev.queued else
            "%d messages still queued at the end: %s"
            % (len(ev.queued), _short(_left_in_queue(q) for q in ev.queued)), (QUEUE_DISK,)),
    ]
    checks.append(_forgeries(ev))
    checks += _sender_handover(ev)
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
        % (len(strangers), _short(m for m, _ in strangers)), (MAILDIR, LEDGER)))
    return checks


def _sender_handover(ev):
    """A sending MTA (Postfix on a client) handed on, or still holds, every
    message it accepted: its log's accepted messages (``queued``, the MTA's
    own words, lab.evidence.postfix_log), its 250s (the ledger) and its queue
    on disk. maillab's sender accepts nothing from anyone: no check."""
    accepted = {e.get("msgid") for e in ev.events if e.get("service") == SENDER_SERVICE
                and e.get("event") == "queued" and e.get("msgid")}
    if not accepted:
        return []
    handed = {r.get("msgid") for r in ev.ledger if int(r.get("code", 250)) == 250}
    held = {q.get("msgid") for q in ev.queued}
    missing = sorted(accepted - handed - held)
    return [_ok("the sending MTA handed on what it accepted", "", not missing,
                "the sending MTA accepted %d messages; it got a 250 for %d and holds %d"
                % (len(accepted), len(accepted & handed), len(accepted & held - handed))
                + ("; %d accepted, then neither handed on nor held: %s"
                   % (len(missing), _short(missing)) if missing else ""),
                (LEDGER, QUEUE_DISK, EVENT_LOGS))]


def _forgeries(ev):
    """A line whose own fields name another writer than the owner of its log file
    (lab.evidence.provenance) is a forgery: counted as its file's owner speaking,
    and shown here as an error."""
    bad = forged(ev.events)
    by = {}
    for e in bad:
        said = e[CLAIMED]
        by.setdefault((e.get("service"), e.get("host"), said.get("service") or e.get("service"),
                       said.get("host") or e.get("host")), []).append(e.get("event"))
    return _ok("each log speaks only for its writer", "", not bad,
               "every event line names the service and host that own its log file"
               if not bad else "; ".join(
                   "%d lines in the log of %s on %s claim to be %s on %s (%s): counted as %s's"
                   % (len(names), svc, host, c_svc, c_host, _short(set(names)), svc)
                   for (svc, host, c_svc, c_host), names in sorted(by.items())),
               (EVENT_LOGS,))


def _expect_checks(ev, sent, copies):
    s = ev.scenario
    checks = []
    queued_events = select_events(ev.events, "queued", service=RELAY_SERVICE)
    via_relay = _held_ids(ev)
    if s.expect.relay_involved is True:
        checks.append(_ok("relay took mail", "", via_relay,
                          "the sender handed %d messages to the relay (its 250s); the relay "
                          "logged %d as queued" % (len(via_relay), len(
                              {e.get("msgid") for e in queued_events})), (LEDGER, RELAY_LOG)))
    elif s.expect.relay_involved is False:
        checks.append(_ok("relay not involved", "", not queued_events and not via_relay,
                          "no message went through the relay" if not queued_events
                          and not via_relay else "the relay took %d messages"
                          % max(len(via_relay), len(queued_events)), (LEDGER, RELAY_LOG)))
    if s.expect.final_server:
        want = s.expect.final_server
        wrong = [k for k, v in copies.items() if k in sent
                 and not any(m.host == want or dc_of(ev, m.host) == want for m in v)]
        hosts = sorted({m.host for v in copies.values() for m in v})
        checks.append(_ok("final server is %s" % want, "", not wrong and copies,
                          "all %d delivered messages are in the Maildir of %s"
                          % (len(copies), ", ".join(hosts)) if not wrong and copies else
                          "nothing was delivered" if not copies else
                          "%d messages ended elsewhere: %s" % (len(wrong), _short(m for m, _ in wrong)),
                          (MAILDIR,)))
    if s.expect.provision and ev.relay_server != "maillab":
        checks.append(not_applicable("provisioner %s" % s.expect.provision, "", "%s: the "
                                     "relay host runs %s" % (ASKS, ev.relay_server)))
    elif s.expect.provision:
        # the relay's recovery policy chooses the action: it must be the expected one
        created = _created(ev)
        done = [e for e in created if e.get("action", s.expect.provision) == s.expect.provision]
        checks.append(_ok("provisioner %s" % s.expect.provision, "", done,
                          "created %s" % ", ".join("%s (%s, %s, %s)" % (
                              e.get("name"), e.get("ip"), e.get("dc"), e.get("action"))
                              for e in created)
                          if created else "no `created` event from the provisioner",
                          (PROVISIONER_LOG,)))
    return checks


# -- per-claim checks ------------------------------------------------------------------

def _held_ids(ev):
    """Messages the sender handed to the relay: its 250s from a relay (the sender's
    record, not the relay's)."""
    relays = _relay_hosts(ev)
    return {r.get("msgid") for r in ev.ledger
            if int(r.get("code", 250)) == 250 and _ledger_server(ev, r) in relays}


def _delivered_to(ev, msgid, hosts):
    """When ``msgid`` was written into a Maildir of one of ``hosts`` (first copy), or None."""
    times = [m.ts for m in ev.mails if m.msgid == msgid and m.host in hosts]
    return min(times) if times else None


def claim_1a(ev, sent, copies):
    to_mx1 = [r for r in ev.ledger if _ledger_server(ev, r) == "mx1"]
    in_mx1 = {m.msgid for m in ev.mails if m.host == "mx1"}
    both = {r.get("msgid") for r in to_mx1} & in_mx1
    return [_ok("routed to the messaging server", "1a", both,
                "the sender handed %d messages straight to mx1 (its ledger); %d of them are in "
                "mx1's Maildir" % (len(to_mx1), len(both)), (LEDGER, MAILDIR))]


def claim_1b(ev, sent, copies):
    held = _held_ids(ev)
    first = min((r["ts"] for r in ev.ledger if r.get("msgid") in held and r.get("ts")),
                default=None)
    return [_ok("undeliverable mail goes to the relay", "1b", held,
                "the sender got a 250 from the relay for %d messages, the first at %s"
                % (len(held), _fmt_t(ev, first)) if held and first else
                "the sender handed nothing to the relay", (LEDGER,))]


def claim_1c(ev, sent, copies):
    held = _held_ids(ev)
    missing = [m for m in held if _delivered_to(ev, m, {"mx1"}) is None]
    check = _ok("relay re-routes to the messaging server", "1c", held and not missing,
                "all %d messages the relay took are in mx1's Maildir" % len(held)
                if held and not missing else "the relay took nothing" if not held else
                "%d messages the relay took never reached mx1: %s"
                % (len(missing), _short(missing)), (LEDGER, MAILDIR))
    return [_require_wire(check, ev, held, {ev.topology.get("mx1", {}).get("ip", "")})]


def claim_1(ev, sent, copies):
    checks = claim_1a(ev, sent, copies) + claim_1b(ev, sent, copies) + claim_1c(ev, sent, copies)
    for c in checks:
        c.claim = "1"
    return checks


LATE = 0.5            # seconds a retry may come after its expected time, plus LATE_SHARE
LATE_SHARE = 0.5      # of its delay: timers, the event loop and a busy machine
# A lab machine this many times slower than an ordinary one (measured by the lab
# before the run, lab/host/speed.py: an emulated VM) cannot time a retry or a log
# line to LATE or TOLERANCE: lateness there is INCONCLUSIVE, not a FAIL. Too few
# attempts, early retries and attempts the log does not account for still FAIL.
SLOW_MACHINE = 3.0


def expected_delay(relay, k):
    """Seconds the scenario asks the relay to wait after a message's ``k``-th failed
    attempt (1-based): retry_interval * retry_multiplier^(k-1), at most
    max_retry_interval. Computed here from the scenario's numbers, never with
    the relay's own policy code (a bug there must not move the expectation)."""
    ceiling = max(relay.max_retry_interval, relay.retry_interval)
    return min(relay.retry_interval * relay.retry_multiplier ** max(k - 1, 0), ceiling)


# A real MTA's retry clock: Postfix sets a deferred message's next try to a whole
# second of its clock (now, truncated, plus the backoff) and its queue scan takes
# a file stamped up to a second ahead as due, so a retry due B s after a failure
# comes B-2 to B s after it: its retries may come this much earlier.
RETRY_CLOCK = {"postfix": 2.0}


def retry_bounds(relay, k, clock=0.0):
    """(earliest, latest) seconds between a message's failure ``k`` and failure
    k+1 (its next attempt failing too): at least the delay (less EARLY of it: timer
    slack, and less ``clock``, the relay's retry clock's tick: RETRY_CLOCK), at
    most the delay, a connect timeout (the next attempt's), and LATE plus
    LATE_SHARE of the delay."""
    want = expected_delay(relay, k)
    return (max(0.0, want * (1 - EARLY) - 0.05 - clock),
            want + relay.connect_timeout + LATE + LATE_SHARE * want)


def _failures_by_message(ev):
    """{msgid: [ts of each `deferred`]} in time order, read in one pass."""
    failures = {}
    for e in select_events(ev.events, "deferred", service=RELAY_SERVICE):
        failures.setdefault(e.get("msgid"), []).append(e["ts"])
    return failures


def _attempt_window(ev):
    """How long before its `deferred` event an attempt's packet can be: a connect
    timeout, plus the dead-destination cache (the relay defers without a new
    SYN while its last failed SYN is younger than the minimum retry delay)."""
    r = ev.scenario.relay
    return r.connect_timeout + r.retry_interval


def _failed_at(ev, syns, server_ip):
    """When each of the relay's connection attempts failed or was answered: at
    the server's SYN-ACK or RST to its port within a connect timeout, else (a
    black hole) a connect timeout after it. (A later answer to the same port is
    another connection's: a client may use a port again once a connect failed.)"""
    ct = ev.scenario.relay.connect_timeout
    replies = {}
    for f in ev.frames:
        if f.proto == "tcp" and f.src_ip == server_ip and f.sport == 25 \
                and ("R" in f.flags or f.flags == "SA"):
            replies.setdefault(f.dport, []).append(f.ts)
    return [next((t for t in replies.get(f.sport, ()) if f.ts <= t <= f.ts + ct), f.ts + ct)
            for f in syns]


def _near(sorted_times, t, within):
    i = bisect.bisect_left(sorted_times, t - within)
    return i < len(sorted_times) and sorted_times[i] <= t + within


def _relay_fault_windows(ev):
    """[(start, stop)] of the faults aimed at the relay's own host (a kill): its
    attempts then end with no failure logged."""
    relays = _relay_hosts(ev)
    starts, out = {}, []
    for e in _fault_events(ev):
        words = " ".join(str(e.get(k, "")) for k in ("args", "target", "summary", "matched"))
        if not any(r in words for r in relays):
            continue
        key = e.get("id") or e.get("fault")
        if e.get("event") == "fault_start":
            starts[key] = e["ts"]
        elif e.get("event") == "fault_end" and key in starts:
            out.append((starts.pop(key), e["ts"]))
    out += [(a, ev.finished or float("inf")) for a in starts.values()]
    return out


def _cached(deferred):
    """A failure the relay logged without trying: maillab's relay's dead-server
    cache ("(cached)"), Postfix's "delivery temporarily suspended"
    (lab.evidence.postfix_log sets ``cached``)."""
    return bool(deferred.get("cached")) or "(cached)" in str(deferred.get("error", ""))


def claim_periodic(ev, claim):
    """Per held message, at least three attempts, each failure backed by a TCP
    connection attempt of the relay on the wire that failed then (its SYN timed
    out, or was refused, within a retry interval before the failure), and each
    spacing between failures within the bounds the scenario's backoff numbers
    give (``retry_bounds``: a lower AND an upper bound)."""
    relay = ev.scenario.relay
    ct = relay.connect_timeout
    mx1 = ev.topology.get("mx1", {}).get("ip", "")
    syns = _relay_syns(ev, mx1)
    failed = _failed_at(ev, syns, mx1)
    answered = _wire_answers(ev, mx1)
    windows = _windows(ev)
    eligible, short, unbacked, early, late, spacing = [], [], [], [], [], {}
    need = expected_delay(relay, 1) + ct + expected_delay(relay, 2) + TOLERANCE
    failures = _failures_by_message(ev)
    taken = {r.get("msgid"): r.get("ts", 0) for r in ev.ledger}
    # A failure of the relay's own attempt comes when its SYN failed (aligned within
    # TOLERANCE); one from its dead-server cache ("down (cached)") within a retry
    # interval after such an aligned failure. Which kind a line is, the log says:
    # a lie does not help, each kind needs its own attempt on the wire.
    cached = {(e.get("msgid"), e["ts"]) for e in select_events(ev.events, "deferred",
                                                                service=RELAY_SERVICE)
              if _cached(e)}
    own = sorted(e["ts"] for e in select_events(ev.events, "deferred", service=RELAY_SERVICE)
                 if (e.get("msgid"), e["ts"]) not in cached)
    aligned = [f for f in failed if _near(own, f, TOLERANCE)]

    def backed_failure(msgid, t):
        if (msgid, t) in cached:
            return any(t - relay.retry_interval - TOLERANCE <= f <= t + TOLERANCE
                       for f in aligned)
        return any(abs(t - f) <= TOLERANCE for f in failed)
    relay_down = _relay_fault_windows(ev)
    tick = RETRY_CLOCK.get(ev.relay_server, 0.0)
    for msgid in sorted(_held_ids(ev)):
        fails = failures.get(msgid, [])
        backed = [t for t in fails if backed_failure(msgid, t)]
        unbacked += [msgid] if len(backed) < len(fails) else []
        delivered = _delivered_to(ev, msgid, {"mx1"})
        attempts = len(backed) + (1 if delivered is not None else 0)
        for k, (a, b) in enumerate(zip(fails, fails[1:]), start=1):
            if any(a < t < b for t in answered):
                continue        # mx1 answered meanwhile: the relay flushes at once
            if any(a < stop and start < b for start, stop in relay_down):
                continue        # the relay was killed meanwhile: a restart tries on its own time
            lo, hi = retry_bounds(relay, k, tick)
            spacing.setdefault(msgid, []).append((b - a, expected_delay(relay, k)))
            if b - a < lo:
                early.append("%s retried %.2f s after failure %d (at least %.2f s)"
                             % (msgid, b - a, k, lo))
            elif b - a > hi:
                late.append("%s failed again %.2f s after failure %d (at most %.2f s)"
                            % (msgid, b - a, k, hi))
        # the outage it lived through, from when the relay took it (the sender's
        # ledger) or failed first: not from the relay's word alone
        # (from the relay's 250 its first attempt is one connect timeout further)
        begin, lead = (fails[0], 0.0) if fails else (taken.get(msgid, float("inf")), ct)
        end = next((w[1] for w in windows if w[0] <= begin <= w[1]), None)
        if end is not None and begin + lead + need <= end:
            (eligible if attempts >= 3 else short).append((msgid, attempts))
    # the other way round: each failed connection attempt on the wire is a failure
    # the log tells of then (a process other than the relay's delivery making the
    # SYNs - a heartbeat - leaves attempts no failure accounts for)
    all_fails = sorted(t for ts in failures.values() for t in ts)
    unaccounted = [f for syn, f in zip(syns, failed)
                   if _in_window(ev, f) and not any(a <= t <= b for t in answered for a, b in
                                                    [(syn.ts, f)])
                   and not any(a - ct <= syn.ts <= b for a, b in relay_down)
                   and not _near(all_fails, f, TOLERANCE + 0.2)]
    shown = max(spacing.items(), key=lambda kv: len(kv[1]), default=None)
    detail = ("%d held messages stayed long enough for three attempts (%.1f s of outage "
              "after the first failure); %s" % (
                  len(eligible) + len(short), need,
                  "each had at least three, seen on the wire" if not short else
                  "%d had fewer: %s" % (len(short), _short("%s (%d)" % s for s in short))))
    if shown:
        detail += "; %s waited %s s (scenario: %s s, each within [-%d%%, +%.1f s + %d%%] " \
                  "and a connect timeout)" % (
                      shown[0], "/".join("%.2f" % g for g, _ in shown[1][:5]),
                      "/".join("%.2f" % w for _, w in shown[1][:5]), EARLY * 100, LATE,
                      LATE_SHARE * 100)
        if tick:
            detail += " (%s sets its retries to whole seconds and takes one due within a " \
                      "second as due: each may come up to %.0f s early)" % (ev.relay_server, tick)
    problems = "; %d connection attempts of the relay to mx1 on the wire" % len(syns)
    if unbacked:
        problems += "; %d messages have `deferred` failures with no failed connection attempt " \
                  "of the relay on the wire then (its own attempt's failure within %.1f s, a " \
                  "cached one within a retry interval after one): %s" % (
                      len(unbacked), TOLERANCE, _short(unbacked))
    if unaccounted:
        problems += "; %d failed connection attempts of the relay's address to mx1 match no " \
                  "failure in its log (first at %s): not its deliveries" % (
                      len(unaccounted), _fmt_t(ev, unaccounted[0]))
    if early:
        problems += "; retries earlier than the scenario's backoff: %s" % "; ".join(early[:3])
    if late:
        problems += "; retries later than the scenario's backoff allows: %s" % "; ".join(late[:3])
    detail += problems
    idle = ""
    if not eligible and not short:
        detail = ("no held message stayed %.1f s in an outage after the relay took it: too "
                  "short to see three attempts" % need) + problems
        idle = "the outage was too short for three attempts of any held message"
    ok = eligible and not short and not unbacked and not early and not late and not unaccounted
    check = _ok("periodic retry to the messaging server", claim, ok, detail,
                (WIRE, RELAY_LOG, LEDGER, FAULT_LOG))
    if idle and not unbacked and not early and not late and not unaccounted:
        check.make_inconclusive(idle)
    elif (late or unbacked) and ev.slowness >= SLOW_MACHINE and eligible and not short \
            and not early and not unaccounted:
        check.make_inconclusive(
            "this machine runs Python %.0fx slower than an ordinary one (measured before the "
            "run): a retry or a log line later than %.1f s cannot be told from the machine's "
            "slowness" % (ev.slowness, LATE))
    return [check]


def claim_send_after_retry(ev, claim):
    """Each held message reached mx1 only after a failed attempt (on the wire) and
    only once no fault was in force."""
    mx1 = ev.topology.get("mx1", {}).get("ip", "")
    wire = _wire_attempts(ev, mx1)
    window = _attempt_window(ev)
    windows = _windows(ev)
    # the messages the claim counts: those the relay took while a fault was in force
    held_ids = _held_ids(ev)
    taken = {r.get("msgid"): r.get("ts", 0) for r in ev.ledger if r.get("msgid") in held_ids}
    held = sorted(m for m, t in taken.items() if any(a <= t <= b for a, b, _ in windows))
    late = len(taken) - len(held)
    missing, untried, during, last = [], [], [], None
    failures = _failures_by_message(ev)
    for msgid in held:
        at = _delivered_to(ev, msgid, {"mx1"})
        if at is None:
            missing.append(msgid)
            continue
        last = max(last or at, at)
        if not any(t < at and _backed(wire, t, window) for t in failures.get(msgid, [])):
            untried.append(msgid)
        # a file's time may lag its write by FILE_TIME; a fault's end is logged
        # just after the fault is undone
        ended = [b for _, b, _ in windows if b - FILE_TIME <= at]
        if any(a <= at < b - FILE_TIME for a, b, _ in windows) or not ended:
            during.append(msgid)
    ok = held and not missing and not untried and not during
    if ok:
        detail = ("all %d messages the relay took during the fault reached mx1 (its Maildir) "
                  "after at least one failed attempt on the wire and after the fault ended; "
                  "the last at %s" % (len(held), _fmt_t(ev, last)))
        if late:
            detail += " (%d more came to the relay after the fault ended)" % late
    elif not held:
        detail = "the relay took nothing while the fault was in force"
    else:
        detail = "; ".join(x for x in (
            missing and "%d held messages never reached mx1: %s" % (len(missing), _short(missing)),
            untried and "%d delivered with no failed attempt before: %s" % (len(untried),
                                                                            _short(untried)),
            during and "%d delivered while a fault was in force (or before any ended): %s"
            % (len(during), _short(during))) if x)
    check = _ok("relay sends to the messaging server once it is back", claim, ok, detail,
                (MAILDIR, WIRE, FAULT_LOG, LEDGER, RELAY_LOG))
    return [_require_wire(check, ev, held, {mx1})]


def _observed(ev):
    """The MX answers a client got: an empty answer (a timeout, SERVFAIL, no
    records) is no observation at all, never "mx1 left"."""
    return [a for a in ev.dns_answers if a.get("answer") and a.get("status", "answered")
            == "answered"]


def claim_dns(ev, sent, copies):
    to_mx1 = [r for r in ev.ledger if _ledger_server(ev, r) == "mx1"]
    held = _held_ids(ev)
    seen = _observed(ev)
    blind = len(ev.dns_answers) - len(seen)

    def has_mx1(a):
        return any(host_of(ev, name) == "mx1" for name in a.get("answer", []))
    if ev.scenario.dns.mode == "health-checked":
        windows = _windows(ev)
        # inside a fault window an answer without mx1, after that window's end one with it
        dropped = next(((a, w) for a in seen for w in windows
                        if w[0] <= a["ts"] <= w[1] and not has_mx1(a)), None)
        back = dropped and next((a for a in seen if a["ts"] >= dropped[1][1] and has_mx1(a)),
                                None)
        ok = dropped and back and held
        detail = ("mode: the DNS server's answer changes (health-checked). A client asked "
                  "%d times during the run (%d without an answer: no observation): %s; %d "
                  "messages went to the relay, %d to mx1"
                  % (len(ev.dns_answers), blind,
                     "mx1 left the MX answer at %s, inside the fault (%s), and was back at %s, "
                     "after it" % (_fmt_t(ev, dropped[0]["ts"]), dropped[1][2],
                                   _fmt_t(ev, back["ts"])) if ok else
                     "no answer without mx1 inside a fault window" if not dropped else
                     "mx1 left the answer at %s and no answer listed it after the fault"
                     % _fmt_t(ev, dropped[0]["ts"]) if not back else "the answer changed",
                     len(held), len(to_mx1)))
        check = _ok("DNS health check routes around the outage", "9", ok, detail,
                    (DNS_CLIENT, LEDGER))
        if not ok and not seen:
            check.make_inconclusive("no client got an MX answer during the run")
        return [check]
    # MX preference: what the client saw DNS answer, alongside the sender's fallback
    ordered = [a for a in seen if has_mx1(a) and len(a["answer"]) > 1
               and host_of(ev, a["answer"][0]) == "mx1"]
    saw = ("a client saw DNS answer %s (%d answers, %d without: no observation)"
           % (" then ".join(seen[0]["answer"]) if seen else "nothing", len(seen), blind))
    if ev.scenario.expect.relay_involved:
        ok = to_mx1 and held and ordered
        check = _ok("DNS routes to mx1, then the relay", "9", ok,
                    "mode: the sender's MX fallback (mx-preference; the DNS answer never "
                    "changes): %s; by MX preference the sender reached mx1 for %d messages and "
                    "the relay for %d (its ledger)" % (saw, len(to_mx1), len(held)),
                    (DNS_CLIENT, LEDGER))
    else:
        ok = to_mx1 and ordered
        check = _ok("DNS routes mail to the messaging server", "9", ok,
                    "mode: mx-preference: %s; the sender reached mx1 for %d messages (its "
                    "ledger)" % (saw, len(to_mx1)), (DNS_CLIENT, LEDGER))
    if not seen and (to_mx1 and (held or not ev.scenario.expect.relay_involved)):
        check.make_inconclusive("no client got an MX answer during the run")
    return [check]


def claim_17(ev, sent, copies):
    """Relay <-> mx1 traffic stays on the data center's switch: seen at the relay's
    port, never at the router's, never with a decremented TTL."""
    mx1 = ev.topology.get("mx1", {}).get("ip", "")
    relay = _relay_ip(ev)
    pair = {(relay, mx1), (mx1, relay)}
    tcp = [f for f in ev.frames if f.proto == "tcp" and (f.src_ip, f.dst_ip) in pair]
    at_relay = [f for f in tcp if f.point == "relay"]
    at_router = [f for f in tcp if f.point == "router"]
    routed = [f for f in at_relay if f.ttl != 64]
    ok = at_relay and not at_router and not routed and "router" in ev.capture_points
    if not ev.capture_points:
        detail = "no capture on the wire"
    else:
        detail = ("%d relay<->mx1 segments at the relay's port, all with TTL 64 (no router "
                  "forwarded them); %d at the router's port" % (len(at_relay), len(at_router))
                  if not routed else "%d relay<->mx1 segments with a TTL below 64: routed"
                  % len(routed))
    dcs = {h: dc_of(ev, h) for h in ("mx1", "relay1")}
    return [_ok("relay-mx1 traffic stays on the data center's switch", "17", ok, detail,
                (WIRE,)),
            _info("mx1 and the relay share a data center", "17",
                  "the address plan puts mx1 in %s and relay1 in %s"
                  % (dcs["mx1"] or "?", dcs["relay1"] or "?"))]


def _created(ev):
    return select_events(ev.events, "created", service=PROVISIONER_SERVICE)


def _held_at(ev, ts):
    """Held messages (the sender's 250 from the relay before ``ts``) in no Maildir by ``ts``."""
    given = {r.get("msgid"): r.get("ts", 0) for r in ev.ledger
             if r.get("msgid") in _held_ids(ev)}
    first = {}
    for m in ev.mails:
        first[m.msgid] = min(first.get(m.msgid, m.ts), m.ts)
    return {m for m, t in given.items() if t <= ts and first.get(m, float("inf")) > ts}


def _outages(ev):
    """{server "IP:PORT": [its provision_requested events]}: one outage per server
    the relay asked a replacement for (requests that name none are about mx1)."""
    mx1 = "%s:%d" % (ev.topology.get("mx1", {}).get("ip", ""), 25)
    out = {}
    for r in select_events(ev.events, "provision_requested", service=RELAY_SERVICE):
        server = r.get("server") or r.get("next_hop") or ""
        try:
            parse_host_port(server)
        except ValueError:
            server = mx1
        out.setdefault(server, []).append(r)
    return out


def _first_failure(ev, server_ip, before):
    """When the relay's attempts towards ``server_ip`` began to go unanswered, on
    the wire: its first attempt after the last answer from the server before
    ``before``."""
    answers = [t for t in _wire_answers(ev, server_ip) if t < before]
    since = max(answers) if answers else float("-inf")
    return next((t for t in _wire_attempts(ev, server_ip) if since < t < before), None)


def _chain(ev, server, requests):
    """The causal chain of one outage: (steps, broken or "")."""
    ip = parse_host_port(server)[0]
    req = requests[0]
    name = host_of(ev, server) or server
    first = _first_failure(ev, ip, req["ts"])
    after = ev.scenario.relay.provision_after
    if first is None:
        return [], "no unanswered attempt of the relay towards %s on the wire" % name
    steps = ["%s unanswered on the wire from %s" % (name, _fmt_t(ev, first))]
    if req["ts"] < first + after - TOLERANCE:
        return steps, ("the relay asked at %s, %.2f s after its first unanswered attempt: "
                       "sooner than provision_after (%.1f s)"
                       % (_fmt_t(ev, req["ts"]), req["ts"] - first, after))
    steps.append("request at %s" % _fmt_t(ev, req["ts"]))
    actions = {r.get("action") for r in requests}
    made = next((c for c in _created(ev) if c["ts"] >= req["ts"]
                 and (None in actions or c.get("action") in actions)), None)
    if made is None:
        return steps, "the provisioner's log has no `created` after the request"
    steps.append("%s created (%s, %s) at %s" % (made.get("name"), made.get("ip"),
                                                 made.get("dc"), _fmt_t(ev, made["ts"])))
    held = _held_at(ev, req["ts"])
    if not held:
        # two servers down: a server created for the other outage may already
        # have taken every held message, so none is left for this one to receive;
        # the chain then shows no delivery (claim_invoke: INCONCLUSIVE unless
        # another outage's chain carried mail)
        steps.append("no held message was left undelivered when the relay asked")
        return steps, ""
    # the held mail may go to a server created for another outage (two servers down)
    new = {c.get("name"): c["ts"] for c in _created(ev)}
    firsts = sorted((m.ts, m.host) for m in ev.mails if m.msgid in held
                    and m.host in new and m.ts >= new[m.host] - FILE_TIME
                    and m.ts >= req["ts"])
    if not firsts:
        return steps, "none of the messages held when the relay asked reached a new server"
    steps.append("first held message delivered to %s at %s" % (firsts[0][1],
                                                                _fmt_t(ev, firsts[0][0])))
    return steps, ""


def _retried_before(ev, server, ts):
    """The relay set out to reach ``server`` at least twice, a retry interval
    apart, on the wire (its connection attempts, or one ARP request per connect),
    between its first unanswered attempt and its threshold (that attempt's
    connect timeout plus provision_after) or ``ts``, whichever is sooner: past
    the threshold the relay's recovery policy probes the server from the same
    address, and those probes are not retries."""
    relay = ev.scenario.relay
    ip = parse_host_port(server)[0]
    first = _first_failure(ev, ip, ts)
    if first is None:
        return False
    until = min(ts, first + relay.connect_timeout + relay.provision_after - TOLERANCE)
    tries = [t for t in _wire_attempts(ev, ip) if first <= t < until]
    return bool(tries) and tries[-1] - tries[0] >= relay.retry_interval * (1 - EARLY)


def claim_invoke(ev, claim):
    """Per outage, the causal chain in order: unanswered attempts on the wire ->
    provision_requested (not before provision_after) -> created in the
    provisioner's log -> the first held message delivered to a new server."""
    outages = _outages(ev)
    chains = {server: _chain(ev, server, reqs) for server, reqs in outages.items()}
    broken = {s: why for s, (_, why) in chains.items() if why}
    detail = "; ".join("%s: %s" % (host_of(ev, s) or s, " -> ".join(steps))
                       for s, (steps, why) in chains.items() if not why)
    if broken:
        detail = "; ".join("chain broken for %s: %s" % (host_of(ev, s) or s, why)
                           for s, why in broken.items()) + ("; " + detail if detail else "")
    checks = [_ok("relay invokes another messaging server", claim, outages and not broken,
                  detail or "the relay never asked the provisioner (no provision_requested)",
                  (WIRE, RELAY_LOG, PROVISIONER_LOG, MAILDIR))]
    carried = any("first held message delivered" in " ".join(steps)
                  for steps, why in chains.values() if not why)
    if outages and not broken and not carried:
        checks[0].make_inconclusive("no chain carried mail: nothing was held when the relay "
                                    "asked, so no delivery to a new server could follow")
    if claim == "6":
        retried = [server for server, reqs in outages.items() if _retried_before(ev, server,
                                                                                 reqs[0]["ts"])]
        ok = outages and len(retried) == len(outages)
        checks.append(_ok("invoked after periodic retries failed", "6", ok,
                          "before each of the %d requests the relay had tried the server at "
                          "least twice, a retry interval apart (on the wire)" % len(outages)
                          if ok else "no request" if not outages else
                          "%d of %d requests came before the relay had retried the server"
                          % (len(outages) - len(retried), len(outages)), (WIRE, RELAY_LOG)))
    return checks


def claim_19(ev, sent, copies):
    """The re-created host answers with the IP and MAC the destroyed one had on the wire."""
    mx1 = ev.topology.get("mx1", {}).get("ip", "")
    made = next((c for c in _created(ev) if c.get("name") == "mx1"), None)
    windows = _windows(ev)
    if made is None:
        return [_ok("re-created with the same name, IP and MAC", "19", False,
                    "the provisioner's log has no `created` for mx1", (PROVISIONER_LOG,))]
    fault = windows[0][0] if windows else made["ts"]   # the run greets mx1 before any fault
    from_mx1 = [f for f in ev.frames if f.src_ip == mx1 and (f.proto == "tcp" or f.arp_op == 2)]
    before = sorted({f.src_mac for f in from_mx1 if f.ts < fault})
    after = sorted({f.src_mac for f in from_mx1 if f.ts > made["ts"]})
    ok = before and after and before == after
    detail = ("before the fault %s answered from MAC %s; after its re-creation at %s from %s"
              % (mx1, ", ".join(before) or "(nothing seen)", _fmt_t(ev, made["ts"]),
                 ", ".join(after) or "(nothing seen: no frame from %s)" % mx1))
    return [_ok("re-created with the same name, IP and MAC", "19", ok, detail,
                (WIRE, PROVISIONER_LOG))]


def _new_server(ev):
    created = _created(ev)
    return created[-1] if created else None


def _request_ts(ev):
    req = select_events(ev.events, "provision_requested", service=RELAY_SERVICE)
    return req[0]["ts"] if req else None


def _asked_and_created(ev, claim, name):
    """(the created server, the time the relay asked, None), or (None, None, [the
    failed check ``name``]) when either is missing."""
    new, t = _new_server(ev), _request_ts(ev)
    if new and t is not None:
        return new, t, None
    return None, None, [_ok(name, claim, False, "no server was created" if not new else
                            "the relay never asked for one", (PROVISIONER_LOG, RELAY_LOG))]


def claim_route_other(ev, claim):
    """The relay opened connections to the new server after it was created, and
    everything it held when it asked went there."""
    new, t, failed = _asked_and_created(ev, claim, "relay routes stored mail to the other server")
    if failed:
        return failed
    name = new.get("name")
    answers = [a for a in _wire_answers(ev, new.get("ip")) if a >= new["ts"] - 0.01]
    attempts = [a for a in _wire_attempts(ev, new.get("ip")) if a >= new["ts"] - 0.01]
    held = _held_at(ev, t)
    missing = sorted(m for m in held if _delivered_to(ev, m, {name}) is None)
    ok = held and attempts and answers and not missing
    check = _ok("relay routes stored mail to the other server", claim, ok,
                "the relay connected %d times to %s (%s) after it was created; all %d messages "
                "it held are in its Maildir" % (len(attempts), name, new.get("ip"), len(held))
                if ok else "the relay held nothing when it asked" if not held else
                "no connection from the relay to %s on the wire" % new.get("ip")
                if not answers else "%d held messages not in %s's Maildir: %s"
                % (len(missing), name, _short(missing)), (WIRE, MAILDIR, LEDGER))
    return [_require_wire(check, ev, held, {new.get("ip")}, since=new["ts"] - 0.01)]


def claim_change_stored(ev, claim):
    """Each held message's file was seen on disk with the old next hop, then with
    the new server's address, before that message reached the new server."""
    name = "stored messages' server information changed"
    if not ev.queue_watched:
        return [_ok(name, claim, False, "the queue directory was not watched: no evidence "
                    "from the disk", (QUEUE_DISK,))]
    new, t, failed = _asked_and_created(ev, claim, name)
    if failed:
        return failed
    hop = "%s:%d" % (new.get("ip"), int(new.get("port", 25)))
    seen = {}
    for snap in ev.queue_snapshots:
        for q in snap.get("entries", []):
            seen.setdefault(q.get("msgid"), []).append((snap["ts"], q.get("next_hop")))
    held = sorted(_held_at(ev, t))
    unchanged, late, old_hops = [], [], set()
    for msgid in held:
        versions = sorted(seen.get(msgid, []))
        first_new = next((ts for ts, h in versions if h == hop), None)
        olds = [h for ts, h in versions if h != hop and (first_new is None or ts < first_new)]
        old_hops.update(olds)
        delivered = _delivered_to(ev, msgid, {new.get("name")})
        if first_new is None or not olds:
            unchanged.append(msgid)
        elif delivered is not None and first_new > delivered + FILE_TIME:
            late.append(msgid)
    ok = held and not unchanged and not late
    detail = ("each of the %d held messages was seen on disk with %s, then with %s, before "
              "its delivery" % (len(held), " or ".join(sorted(old_hops)) or "?", hop)
              if ok else "the relay held nothing when it asked" if not held else "; ".join(
                  x for x in (unchanged and "%d held messages never seen on disk changing to %s: %s"
                              % (len(unchanged), hop, _short(unchanged)),
                              late and "%d delivered before their file said %s: %s"
                              % (len(late), hop, _short(late))) if x))
    return [_ok(name, claim, ok, detail, (QUEUE_DISK, MAILDIR, PROVISIONER_LOG))]


def claim_send_other(ev, claim):
    """Every message held when the relay asked is in the new server's Maildir,
    written after the server was created."""
    new, t, failed = _asked_and_created(ev, claim, "relay delivers to the other server")
    if failed:
        return failed
    name = new.get("name")
    held = _held_at(ev, t)
    missing = sorted(m for m in held if _delivered_to(ev, m, {name}) is None)
    early = sorted(m for m in held if m not in missing
                   and _delivered_to(ev, m, {name}) < new["ts"] - FILE_TIME)
    ok = held and not missing and not early
    return [_require_wire(_ok("relay delivers to the other server", claim, ok,
                "all %d messages held when the relay asked are in %s's Maildir, written "
                "after it was created" % (len(held), name) if ok else
                "the relay held nothing when it asked" if not held else
                "%d held messages not in %s's Maildir: %s" % (len(missing), name, _short(missing))
                if missing else "%d written before %s was created: %s"
                % (len(early), name, _short(early)), (MAILDIR, LEDGER, PROVISIONER_LOG)),
                          ev, held, {new.get("ip")}, since=new["ts"] - 0.01)]


def dc_of_ip(ev, ip):
    """The data center whose subnet holds ``ip``, from the address plan."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    return next((dc for dc, net in sorted(ev.subnets.items())
                 if addr in ipaddress.ip_network(net)), "")


def claim_18(ev, sent, copies):
    """The servers the relay reached after it asked for a new one (their SYN-ACKs at
    the relay's port) are in another data center's subnet (the address plan), and
    their answers came through routers (TTL below 64: across the WAN)."""
    new = _new_server(ev)
    t = _request_ts(ev)
    mx1 = ev.topology.get("mx1", {}).get("ip", "")
    relay = _relay_ip(ev)
    home = dc_of_ip(ev, mx1) or ev.topology.get("mx1", {}).get("dc", "")
    answers = [f for f in ev.frames if f.point == "relay" and f.proto == "tcp"
               and f.flags == "SA" and f.sport == 25 and f.dst_ip == relay and f.src_ip != mx1
               and t is not None and f.ts >= t]
    peers = {}
    for f in answers:
        peers.setdefault(f.src_ip, []).append(f)
    where = {ip: dc_of_ip(ev, ip) for ip in peers}
    same = sorted(ip for ip, dc in where.items() if not dc or dc == home)
    said = new.get("dc") if new else None
    observed = sorted(set(where.values()) - {""})
    ok = peers and not same and (said is None or said in observed)
    detail = ("mx1 is in %s (%s); after its request the relay reached %s" % (
        home or "?", mx1, ", ".join("%s (%s by the address plan)" % (ip, where[ip] or "no DC")
                                    for ip in sorted(peers)) or "no other server (no SYN-ACK "
        "at its port)"))
    if new:
        detail += "; the provisioner said it created %s in %s" % (new.get("name"), said)
        if peers and said not in observed:
            detail += ", which is not where its address is"
    checks = [_ok("the other server is in a remote data center", "18", ok, detail,
                  (WIRE, TOPOLOGY, PROVISIONER_LOG))]
    routed = [f for f in answers if f.ttl < 64]
    crossed = answers and len(routed) == len(answers)
    wan = "" if ev.wan_bytes is None else "; %d bytes crossed the WAN link" % ev.wan_bytes
    check = _ok("mail crossed the WAN", "18", crossed,
                "%d of %d answers of the new server(s) reached the relay with a TTL "
                "below 64 (routed: %s)%s" % (len(routed), len(answers), ", ".join(
                    sorted({str(f.ttl) for f in answers})) or "none", wan)
                if answers else "no answer of a new server at the relay's port", (WIRE,))
    remote = set(peers) - set(same)
    checks.append(_require_wire(check, ev, _held_at(ev, t) if t is not None else set(),
                                remote, since=t))
    return checks


def _per_claim(judge, claim):
    return lambda ev, sent, copies: judge(ev, claim)


CLAIM_CHECKS = {"1a": claim_1a, "1": claim_1, "9": claim_dns, "17": claim_17, "18": claim_18,
                "19": claim_19}
for _judge, _claims in ((claim_invoke, "2 6 10 14"), (claim_route_other, "3 11"),
                        (claim_change_stored, "4 12"), (claim_periodic, "5 13"),
                        (claim_send_after_retry, "7 15"), (claim_send_other, "8 16")):
    CLAIM_CHECKS.update((c, _per_claim(_judge, c)) for c in _claims.split())


# -- timings ---------------------------------------------------------------------------

def timings(ev):
    def first(name, after=0.0, service=None):
        for e in select_events(ev.events, name, service=service):
            if e["ts"] >= after:
                return e["ts"]
        return None

    t = {"failover": None, "first_retry": None, "recovery_drain": None, "recreate": None,
         "total": None}
    fault = first("fault_start", service=FAULT_SERVICE)
    if fault is not None:
        q = first("queued", fault, RELAY_SERVICE)
        if q is not None:
            t["failover"] = round(q - fault, 3)
    t["first_retry"] = first_retry(ev)
    relay_done = select_events(ev.events, "delivered", service=RELAY_SERVICE)
    created = first("created", service=PROVISIONER_SERVICE)
    last = relay_done[-1]["ts"] if relay_done else None
    # the server is reachable again when the last fault before the drain ended
    ends = [e["ts"] for e in select_events(ev.events, "fault_end", service=FAULT_SERVICE)
            if last is None or e["ts"] <= last]
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


def first_retry(ev):
    """Seconds from the relay's first failed delivery attempt to the outcome of
    its first retry: the first attempt (failed or delivered, not one its
    dead-server cache answered) of a message that had failed before; or None."""
    relay = sorted((e for e in ev.events if e.get("service") == RELAY_SERVICE
                    and e.get("event") in ("deferred", "delivered")), key=lambda e: e["ts"])
    first, failed = None, set()
    for e in relay:
        if first is not None and e.get("msgid") in failed and not _cached(e):
            return round(e["ts"] - first, 3)
        if e["event"] == "deferred":
            failed.add(e.get("msgid"))
            if first is None and not _cached(e):
                first = e["ts"]
    return None


# -- runs that prove nothing: INCONCLUSIVE --------------------------------------------------

# checks every run gets: they judge the mail itself, whatever the faults did
CORE = {"nothing lost", "no duplicates", "queue drained", "no unknown mail",
        "each log speaks only for its writer", "mail was sent",
        "the sending MTA handed on what it accepted"}


def idle_faults(ev):
    """Faults whose own evidence shows they did nothing: a black hole that dropped
    0 packets, a reset storm that injected no RST (the fault scripts' fault_end)."""
    idle = []
    for e in select_events(ev.events, "fault_end", service=FAULT_SERVICE):
        for field, what in (("dropped_packets", "0 packets dropped"),
                            ("rsts_injected", "no RST sent")):
            if field in e and not e.get(field):
                idle.append("%s had no effect (%s)" % (e.get("summary") or
                                                       e.get("fault", "a fault"), what))
    return idle


def _inconclusive(ev, checks):
    """Mark the checks the run could not judge, each with its reason."""
    idle = idle_faults(ev)
    dropped = {p: n for p, n in (ev.capture_dropped or {}).items() if n}
    for c in checks:
        if c.kind == INFO or c.name in CORE or c.not_applicable:
            continue
        if idle:
            # nothing was broken, so nothing the system did can be judged against
            # the fault: neither its PASS nor its FAIL means anything
            c.make_inconclusive("; ".join(idle))
        if dropped and WIRE in c.evidence and (not c.ok or c.claim == "17"):
            # a missing frame may be a dropped one (claim 17 rests on an absence)
            c.make_inconclusive("the capture lost packets (%s)" % ", ".join(
                "%d at %s" % (n, p) for p, n in sorted(dropped.items())))
        if ev.queue_missed and QUEUE_DISK in c.evidence and c.claim and not c.ok:
            c.make_inconclusive("the queue watch missed %d file versions (gone before it "
                                "read them)" % ev.queue_missed)
    return checks


# -- the verdict -------------------------------------------------------------------------

def check(ev):
    sent, copies, lost, dups, n_dups, unexpected = _count(ev)
    checks = _core_checks(ev, sent, copies, lost, dups, unexpected)
    checks += _expect_checks(ev, sent, copies)
    for claim in ev.scenario.claims:
        if ev.relay_server != "maillab" and claim in RELAY_ONLY:
            name, why = RELAY_ONLY[claim]
            checks.append(not_applicable(name, claim, "%s; the relay host runs %s" % (
                why, ev.relay_server)))
            continue
        checks += [_own_words_only(c) for c in CLAIM_CHECKS[claim](ev, sent, copies)]
    _inconclusive(ev, checks)
    delivered = sum(1 for k in sent if k in copies)
    ok = not lost and not n_dups and not ev.queued and bool(sent) and all(c.ok for c in checks)
    if not sent:
        checks.append(_ok("mail was sent", "", False, "the sender got no 250 at all", (LEDGER,)))
    return Verdict(ok=ok, sent=len(sent), delivered=delivered, lost=len(lost),
                   duplicates=n_dups, queued=len(ev.queued), unexpected=len(unexpected),
                   timings=timings(ev), checks=checks,
                   lost_ids=[m for m, _ in lost], duplicate_ids=[m for m, _ in dups])


# -- each message's path, for reports ----------------------------------------------------
