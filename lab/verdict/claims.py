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

Where the checks are (lab/verdict/): this module is the entry point - the rules
every check goes through (``OWN_WORDS``, ``RELAY_ONLY``, INCONCLUSIVE), each
claim's checks (``CLAIM_CHECKS``), ``timings`` and ``check``. The checks:
counting.py (the counts above and the checks every run gets), routing.py
(claim 1), retries.py (5/13, 7/15), dns.py (9), recreation.py (2-4, 6, 8,
10-12, 14, 16, 19), datacenter.py (17, 18). What they share: common.py
(tolerances, an observed check, the words of a detail), wire.py (the relay's
frames), held_mail.py (the relay's held mail, where it went, the proof on the
wire), fault_log.py (the faults' windows).

How they import one another, so that no chain of imports grows past the limit
of tests/unit/test_layers.py: this module imports counting.py and the claim
modules; those import the shared ones; held_mail.py and fault_log.py import
only common.py, wire.py and lab.evidence; common.py and wire.py import nothing
of the verdict but model.py. A claim module never imports another.
"""
from lab.evidence.records import (DNS_LOG, LEDGER, PROVISIONER_LOG, QUEUE_DISK, RELAY_LOG, WIRE,
                                  Evidence, Mail)
from lab.evidence.provenance import FAULT_SERVICE
from lab.evidence.queries import PROVISIONER_SERVICE, RELAY_SERVICE, select_events
from lab.verdict.model import INFO, OBSERVED, Check, Verdict, not_applicable
from lab.verdict.common import ASKS, _ok
from lab.verdict.counting import _core_checks, _count, _expect_checks
from lab.verdict.datacenter import claim_17, claim_18
from lab.verdict.dns import claim_dns
from lab.verdict.recreation import (claim_19, claim_change_stored, claim_invoke, claim_route_other,
                                    claim_send_other)
from lab.verdict.retries import _cached, claim_periodic, claim_send_after_retry
from lab.verdict.routing import claim_1, claim_1a

# The log each claim's component under test writes itself.
OWN_WORDS = dict({c: {RELAY_LOG} for c in ("1", "1a", "1b", "1c", "2", "3", "4", "5", "6",
                                             "7", "8", "10", "11", "12", "13", "14", "15",
                                             "16", "17")},
                 **{"9": {DNS_LOG, RELAY_LOG}, "18": {PROVISIONER_LOG, RELAY_LOG},
                    "19": {PROVISIONER_LOG, RELAY_LOG}})

# Claims only maillab's relay can show: with a real MTA as the relay (Postfix)
# they are NOT APPLICABLE, with the reason, never PASS or FAIL.
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


def _own_words_only(check):
    """A PASS that rests only on the tested component's log becomes a FAIL."""
    own = OWN_WORDS.get(check.claim, set())
    if check.kind == OBSERVED and check.ok and own and set(check.evidence) <= own \
            and not check.not_applicable:
        check.ok = False
        check.detail += " - but this rests only on %s, the tested component's own " \
                        "words: not enough for a PASS" % ", ".join(sorted(check.evidence))
    return check


# -- the checks of each claim ---------------------------------------------------------

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
