"""Claims about the other messaging server: the relay invokes one (2, 10, 14;
after periodic retries failed: 6), routes its stored mail there (3, 11),
changes the stored messages' next hop on disk (4, 12), and the mail reaches it
(8, 16); and a server re-created with the same name, IP and MAC (19)."""
from lab.evidence.records import LEDGER, MAILDIR, PROVISIONER_LOG, QUEUE_DISK, RELAY_LOG, WIRE
from lab.evidence.queries import RELAY_SERVICE, host_of, select_events
from lab.verdict.common import EARLY, FILE_TIME, TOLERANCE, _fmt_t, _ok, _short
from lab.verdict.fault_log import _windows
from lab.verdict.held_mail import (_created, _delivered_to, _held_at, _new_server, _request_ts,
                                   _require_wire)
from lab.verdict.wire import _wire_answers, _wire_attempts
from servers.common.endpoints import parse_host_port


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
