"""Reports of a run: report.json (the contract), report.md (a timeline a student can
read), aggregate.png (the whole run at a glance, lab.report.plots), timeline.png
(each message's path over time, fault windows shaded) and report.html (all of
it on one page for a browser, lab.report.html_page)."""
import json
import os
import time

from lab.report import series as history
from lab.report import plots
from lab.report import html_page as report_html
from lab.evidence.records import describe_fault as _describe_fault

REPORTS = "reports"


def report_folder(name):
    """Where a run's report goes by default: ``reports/NAME-YYYYmmdd-HHMMSS``."""
    return os.path.join(REPORTS, "%s-%s" % (name, time.strftime("%Y%m%d-%H%M%S")))


BULK = {"sent", "send_failed", "delivered", "queued", "attempt", "deferred", "rerouted",
        "bounced", "answer_changed"}
SAY = {
    "sent": "the sender got a 250 for {n} message{s}",
    "send_failed": "the sender failed to hand over {n} message{s}",
    "queued": "queued {n} message{s} durably",
    "attempt": "tried to deliver {n} message{s}",
    "deferred": "deferred {n} message{s} (next hop unreachable)",
    "rerouted": "re-routed {n} stored message{s}",
    "bounced": "bounced {n} message{s}",
    "answer_changed": "changed its MX answer {n} time{s}",
}


VERDICT_WORDS = {"PASS": "PASSED", "FAIL": "FAILED", "INCONCLUSIVE": "INCONCLUSIVE"}


def tally(checks):
    """{outcome: how many} of the checks (lab.verdict.model: PASS, FAIL, INCONCLUSIVE,
    INFO, NOT APPLICABLE)."""
    out = {"PASS": 0, "FAIL": 0, "INCONCLUSIVE": 0, "INFO": 0, "NOT APPLICABLE": 0}
    for c in checks:
        out[c.outcome] += 1
    return out


def checks_line(checks):
    """"N of M checks hold": M counts PASS and FAIL only; INCONCLUSIVE and INFO apart."""
    return report_html.checks_line(tally(checks))


def report_dict(scenario, verdict, seed=None, extra=None, interrupted=None):
    d = {
        "scenario": scenario.name,
        "claims": list(scenario.claims),
        "ok": verdict.ok,
        "outcome": verdict.outcome,
        "tally": tally(verdict.checks),
        "interrupted": interrupted,
        "sent": verdict.sent,
        "delivered": verdict.delivered,
        "lost": verdict.lost,
        "duplicates": verdict.duplicates,
        "queued": verdict.queued,
        "unexpected": verdict.unexpected,
        "timings": dict(verdict.timings),
        "checks": [c.as_dict() for c in verdict.checks],
        "lost_ids": verdict.lost_ids,
        "duplicate_ids": verdict.duplicate_ids,
        "seed": seed,
        "relay_server": getattr(scenario.relay, "server", "maillab"),
    }
    d.update(extra or {})
    return d


def _group(events, gap=0.5):
    """Events merged into story lines: bursts of the same event on the same host."""
    lines, bursts = [], {}
    for e in sorted(events, key=lambda e: e.get("ts", 0)):
        kind = e.get("event", "")
        if kind in BULK:
            key = (e.get("host", ""), e.get("service", ""), kind)
            b = bursts.get(key)
            if b and e["ts"] - b["last"] <= gap:
                b["n"] += 1
                b["last"] = e["ts"]
                b["targets"].add(str(e.get("server") or e.get("new") or e.get("rcpt") or ""))
                continue
            b = {"first": e["ts"], "last": e["ts"], "n": 1, "key": key, "event": e,
                 "targets": {str(e.get("server") or e.get("new") or e.get("rcpt") or "")}}
            bursts[key] = b
            lines.append(b)
        else:
            lines.append({"first": e["ts"], "last": e["ts"], "n": 1, "event": e,
                          "key": (e.get("host", ""), e.get("service", ""), kind),
                          "targets": set()})
    return lines


def _sentence(line, starts):
    e, n = line["event"], line["n"]
    host, service, kind = line["key"]
    targets = ", ".join(sorted(t for t in line["targets"] if t))
    plural = {"n": n, "s": "" if n == 1 else "s"}
    if kind == "delivered" and service == "relay":
        text = "relayed {n} message{s} to ".format(**plural) + (targets or "the next hop")
    elif kind == "delivered":
        text = "stored {n} message{s} in its Maildir".format(**plural)
    elif kind in SAY:
        text = SAY[kind].format(**plural)
        if kind in ("attempt", "rerouted") and targets:
            text += " (to %s)" % targets
    elif kind == "fault_start":
        text = "FAULT STARTS: %s" % _describe_fault(e)
        if e.get("evidence"):
            text += " (%s)" % e["evidence"]
    elif kind == "fault_end":
        start = starts.get(e.get("id"), {})
        text = "fault ends: %s" % (_describe_fault(start) if start else _describe_fault(e))
        facts = []
        if e.get("dropped_packets") is not None:
            facts.append("%s packets dropped" % e["dropped_packets"])
        resets = e.get("resets")
        if resets is not None:
            facts.append("%d RSTs injected" % (len(resets) if isinstance(resets, list) else resets))
        if e.get("error"):
            facts.append("error: %s" % e["error"])
        captured = e.get("captured")
        if isinstance(captured, dict) and captured:
            facts.append("captured " + ", ".join("%s packets in %s" % (n, os.path.basename(p))
                                                 for p, n in sorted(captured.items())))
        if facts:
            text += " (%s)" % "; ".join(facts)
    elif kind == "provision_requested":
        if e.get("action") == "recreate":
            what = "to re-create %s in place in %s" % (e.get("name"), e.get("dc"))
        elif e.get("action") == "create":
            what = "for a new messaging server in %s" % e.get("dc")
            if e.get("replaces"):
                what += " to replace %s" % e["replaces"]
        else:
            what = "for a new messaging server"
        text = "asks the provisioner %s (%s messages waiting for %s, unreachable for %s s)" % (
            what, e.get("messages", "?"), e.get("next_hop", "?"), e.get("outage_seconds", "?"))
    elif kind == "recovery_decision":
        text = "decides: %s" % e.get("story", e.get("decision"))
    elif kind == "server_down":
        text = "first failed connection to %s (%s): its outage begins" % (
            e.get("name") or e.get("server"), e.get("server"))
    elif kind == "recovered":
        text = "%s is back (%s) after %s s" % (e.get("name") or e.get("server"), e.get("how"),
                                             e.get("down_seconds"))
    elif kind == "replaced":
        text = "%s replaced by %s (%s, in %s): %s stored messages re-routed" % (
            e.get("name") or e.get("server"), e.get("new_name"), e.get("new"), e.get("dc"),
            e.get("messages"))
    elif kind == "provision_received":
        text = "request from %s: %s %s" % (e.get("requester", "?"), e.get("action"),
                                          e.get("name") or e.get("dc"))
    elif kind == "provision_refused":
        text = "refused: %s" % e.get("error")
    elif kind == "provision_failed":
        text = "the provisioner did not help: %s" % e.get("error")
    elif kind in ("route_pinned", "route_expired", "route_restored"):
        text = "%s: mail for %s %s %s" % (
            {"route_pinned": "learned a route", "route_expired": "route expired",
             "route_restored": "route undone"}[kind], e.get("old"),
            "goes to" if kind == "route_pinned" else "no longer goes to", e.get("new"))
    elif kind == "created":
        text = "created messaging server %s, IP %s, in %s (%.2f s)" % (
            e.get("name"), e.get("ip"), e.get("dc"), float(e.get("seconds") or 0))
        if e.get("replaces"):
            text += ", replacing %s (its MX record removed from DNS)" % e["replaces"]
    elif kind == "updated":
        text = "DNS zone %s updated by RFC 2136 UPDATE (serial %s, %s changes)" % (
            e.get("zone", ""), e.get("serial", "?"), e.get("changes", "?"))
    elif kind == "started":
        text = "started" + (" (port %s)" % e["port"] if e.get("port") else "")
    else:
        text = kind + (" " + e["msgid"] if e.get("msgid") else "")
    who = host if not service or service == host else "%s (%s)" % (host, service)
    return who, text


def timeline_lines(evidence):
    """The timeline's lines: [(first, last, event, who, text)], seconds from the
    start of traffic."""
    t0 = history.start_of(evidence)
    starts = {e.get("id"): e for e in evidence.events
              if e.get("event") == "fault_start" and e.get("id")}
    return [(line["first"] - t0, line["last"] - t0, line["key"][2]) + _sentence(line, starts)
            for line in _group(evidence.events)]


def recovery_story(events):
    """One sentence per recovery: the relay's last decision for each outage and
    what came of it, e.g. "mx1 down 3.0 s -> dc1 healthy -> re-create in place
    -> mx1 re-created in dc1"."""
    lines, open_ = [], {}
    for e in sorted(events, key=lambda e: e.get("ts", 0)):
        kind, server = e.get("event"), e.get("server")
        if kind == "recovery_decision" and e.get("decision") != "restore":
            open_[server] = e.get("story", "")
        elif kind == "recovery_decision":
            lines.append(e.get("story", ""))
        elif kind == "recovered" and server in open_:
            if e.get("how") == "recreated":
                lines.append("%s -> %s re-created in place, back after %s s" % (
                    open_.pop(server), e.get("name"), e.get("down_seconds")))
            else:
                lines.append("%s -> %s" % (open_.pop(server), e.get("how")))
        elif kind == "replaced" and server in open_:
            lines.append("%s -> %s created in %s, %s stored messages re-routed to it" % (
                open_.pop(server), e.get("new_name"), e.get("dc"), e.get("messages")))
    return lines + [s for s in open_.values() if s]


def real_mtas(scenario):
    """"the relay host runs postfix, ..." for the hosts a real MTA ran on, or ""."""
    said = [("the relay host", getattr(scenario.relay, "server", "maillab")),
            ("the senders", getattr(scenario.traffic, "server", "maillab"))]
    return ", ".join("%s runs %s" % (who, what) for who, what in said if what != "maillab")


def markdown(scenario, verdict, evidence, seed=None, files=(), interrupted=None):
    out = ["# %s: %s" % (scenario.name, "INTERRUPTED" if interrupted else
                         VERDICT_WORDS[verdict.outcome]), ""]
    if interrupted:
        out += ["**Stopped by %s.** The run did not finish: what follows is what "
                "happened until then." % interrupted, ""]
    out += [scenario.description, ""]
    out += ["Claims exercised: %s. Topology: %s. DNS mode: %s. Seed: %s."
            % (", ".join(scenario.claims) or "none (a reliability exercise)",
               scenario.topology, scenario.dns.mode, seed), ""]
    mtas = real_mtas(scenario)
    if mtas:
        out += ["Real MTAs: %s." % mtas, ""]
    out += ["| sent (250) | delivered | lost | duplicates | still queued | unknown |",
            "|---|---|---|---|---|---|",
            "| %d | %d | %d | %d | %d | %d |" % (verdict.sent, verdict.delivered, verdict.lost,
                                              verdict.duplicates, verdict.queued,
                                              verdict.unexpected), ""]
    t = verdict.timings
    out += ["Timings: " + ", ".join("%s %s" % (k, "%.2f s" % t[k] if t.get(k) is not None
                                                else "n/a")
                                     for k in ("failover", "first_retry", "recovery_drain",
                                               "recreate", "total")), ""]
    out += ["![The whole run: messages stored per server, the relay's queue, its retries, "
            "the faults](aggregate.png)", ""]
    story = recovery_story(evidence.events)
    if story:
        out += ["## How the relay recovered", ""] + ["- %s" % line for line in story] + [""]
    out += ["## Timeline", "", "Seconds from the start of traffic.", "", "```"]
    for first, last, _, who, text in timeline_lines(evidence):
        span = ("%7.2f" % first) + ("-%-7.2f" % last if last - first >= 0.01 else " " * 8)
        out.append("%s  %-20s %s" % (span, who, text))
    out += ["```", "", "## What each server did", ""]
    per_host, held = history.server_counts(evidence)
    for host in sorted(per_host):
        counts = per_host[host]
        out.append("- **%s**: %s" % (host, ", ".join("%s %d" % (k, v) for k, v in
                                                    sorted(counts.items()))))
    if held:
        out.append("- Maildirs at the end: " + ", ".join("%s holds %d" % kv
                                                         for kv in sorted(held.items())))
    out += ["", "## Verdict, check by check", "", checks_line(verdict.checks), ""]
    for numbers, claims, _ in report_html.judgements([c.as_dict() for c in verdict.checks]):
        c = verdict.checks[numbers[0] - 1]
        out.append("- %s **%s%s**: %s%s%s" % (
            c.outcome, "claim%s %s, " % ("s" if len(claims) > 1 else "", ", ".join(claims))
            if claims else "", c.name, c.detail,
            " - **inconclusive**: %s" % c.inconclusive if c.inconclusive else "",
            " _(evidence: %s)_" % ", ".join(c.evidence) if c.evidence else ""))
    if verdict.lost_ids:
        out += ["", "Lost: " + ", ".join(verdict.lost_ids)]
    if verdict.duplicate_ids:
        out += ["", "Stored twice: " + ", ".join(verdict.duplicate_ids)]
    if files:
        out += ["", "## Files", ""] + ["- `%s`" % f for f in files]
    return "\n".join(out) + "\n"


def write(directory, scenario, verdict, evidence, seed=None, extra=None, files=(), plan=None,
          interrupted=None):
    """Write report.json, report.md, aggregate.png, timeline.png and report.html
    into DIRECTORY; return their paths. ``plan``: the lab's address plan, for
    the topology picture. ``interrupted``: how a run stopped early ("SIGTERM
    3.2 s into the run"), or None."""
    os.makedirs(directory, exist_ok=True)
    paths = {name: os.path.join(directory, name) for name in
             ("report.json", "report.md", "aggregate.png", "timeline.png", "report.html")}
    d = report_dict(scenario, verdict, seed,
                    dict(extra or {}, recovery=recovery_story(evidence.events)), interrupted)
    with open(paths["report.json"], "w", encoding="utf-8") as f:
        json.dump(d, f, indent=2)
        f.write("\n")
    with open(paths["report.md"], "w", encoding="utf-8") as f:
        f.write(markdown(scenario, verdict, evidence, seed, files, interrupted))
    plots.aggregate_png(paths["aggregate.png"], "%s: %d messages sent"
                        % (scenario.name, verdict.sent), history.aggregate(evidence))
    plots.timeline_png(paths["timeline.png"], scenario, evidence)
    report_html.write(paths["report.html"], d, scenario, evidence, timeline_lines(evidence),
                      history.server_counts(evidence), history.start_of(evidence), files, plan)
    return paths
