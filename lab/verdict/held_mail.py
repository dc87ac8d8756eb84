"""The mail the relay held, followed: which messages the sender handed to it
(its ledger), which were still in no Maildir at a given time, when each reached
a Maildir, when the relay asked for another server and what the provisioner
created, and the proof a check asks of the wire: each message it counts went
from the relay to the right server (``_require_wire``)."""
from lab.evidence.records import WIRE
from lab.evidence.queries import PROVISIONER_SERVICE, RELAY_SERVICE, host_of, select_events
from lab.verdict.common import FILE_TIME, _short
from lab.verdict.wire import _relay_handed_over, _relay_hosts, _relay_ip


def _ledger_server(ev, row):
    """The server a ledger row's message went to: the address the sender connected
    to (``server``), not the MX name the DNS under test gave it."""
    return host_of(ev, row.get("server") or row.get("mx"))


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


def _held_at(ev, ts):
    """Held messages (the sender's 250 from the relay before ``ts``) in no Maildir by ``ts``."""
    given = {r.get("msgid"): r.get("ts", 0) for r in ev.ledger
             if r.get("msgid") in _held_ids(ev)}
    first = {}
    for m in ev.mails:
        first[m.msgid] = min(first.get(m.msgid, m.ts), m.ts)
    return {m for m, t in given.items() if t <= ts and first.get(m, float("inf")) > ts}


def _request_ts(ev):
    req = select_events(ev.events, "provision_requested", service=RELAY_SERVICE)
    return req[0]["ts"] if req else None


def _created(ev):
    return select_events(ev.events, "created", service=PROVISIONER_SERVICE)


def _new_server(ev):
    created = _created(ev)
    return created[-1] if created else None


def _ip_of(ev, host):
    if ev.topology.get(host, {}).get("ip"):
        return ev.topology[host]["ip"]
    made = [c for c in _created(ev) if c.get("name") == host]
    return made[-1].get("ip", "") if made else ""


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
