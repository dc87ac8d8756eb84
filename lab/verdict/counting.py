"""Counting the mail per (Message-ID, recipient): sent, delivered, queued,
lost, doubled, unexpected (lab/verdict/claims.py says how each is counted); and
the checks every run gets: nothing lost, no duplicates, queue drained, no
unknown mail, each log speaks only for its writer, the sending MTA handed on
what it accepted, and the scenario's expectations (the relay took mail or not,
the final server, the provisioner's action)."""
import os

from lab.evidence.records import EVENT_LOGS, LEDGER, MAILDIR, PROVISIONER_LOG, QUEUE_DISK, RELAY_LOG
from lab.evidence.provenance import CLAIMED, SENDER_SERVICE, forged
from lab.evidence.queries import RELAY_SERVICE, dc_of, select_events
from lab.verdict.model import not_applicable
from lab.verdict.common import ASKS, _ok, _short
from lab.verdict.held_mail import _created, _held_ids


def _recipients(row):
    to = row.get("to") or row.get("rcpt") or []
    if isinstance(to, str):
        to = [to]
    return [t.lower() for t in to]


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
