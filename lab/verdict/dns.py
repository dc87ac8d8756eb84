"""Claim 9: the DNS server routes mail to the messaging server, and around it
while it is down (health-checked answers), or the senders fall back to the relay
by MX preference."""
from lab.evidence.records import DNS_CLIENT, LEDGER
from lab.evidence.queries import host_of
from lab.verdict.common import _fmt_t, _ok
from lab.verdict.fault_log import _windows
from lab.verdict.held_mail import _held_ids, _ledger_server


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
