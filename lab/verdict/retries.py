"""Claims 5/13 (the relay retries the messaging server periodically, on the
scenario's backoff: ``retry_bounds``) and 7/15 (it sends the held mail to the
server once that is back), each failure the relay logged matched with an attempt
of its own on the wire."""
import bisect

from lab.evidence.records import FAULT_LOG, LEDGER, MAILDIR, RELAY_LOG, WIRE
from lab.evidence.queries import RELAY_SERVICE, select_events
from lab.verdict.common import EARLY, FILE_TIME, TOLERANCE, _fmt_t, _ok, _short
from lab.verdict.fault_log import _fault_events, _in_window, _windows
from lab.verdict.held_mail import _delivered_to, _held_ids, _require_wire
from lab.verdict.wire import _relay_hosts, _relay_syns, _wire_answers, _wire_attempts

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


def _backed(times, ts, window):
    return any(ts - window - TOLERANCE <= t <= ts + TOLERANCE for t in times)


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
