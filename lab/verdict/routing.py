"""Claim 1: mail is routed to the messaging server (1a), goes to the relay when
it cannot be delivered there (1b), and the relay sends it on to the messaging
server once that works again (1c)."""
from lab.evidence.records import LEDGER, MAILDIR
from lab.verdict.common import _fmt_t, _ok, _short
from lab.verdict.held_mail import _delivered_to, _held_ids, _ledger_server, _require_wire


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
