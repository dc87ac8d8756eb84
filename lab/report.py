"""Reports of a run: report.json (the contract), report.md (a timeline a student can
read) and timeline.png (each message's path over time, fault windows shaded)."""
import json
import os

from lab import checker

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


def _label(e):
    return e.get("fault") or e.get("name") or e.get("kind") or "fault"


def fault_windows(events, end):
    """[(start, stop, label)] from fault_start/fault_end pairs, in start order."""
    open_, windows = {}, []
    for e in sorted(events, key=lambda e: e.get("ts", 0)):
        key = (e.get("host"), _label(e), e.get("id"), str(e.get("args", "")))
        if e.get("event") == "fault_start":
            open_.setdefault(key, []).append(e)
        elif e.get("event") == "fault_end" and open_.get(key):
            s = open_[key].pop(0)
            windows.append((s["ts"], e["ts"], _describe_fault(s)))
    for starts in open_.values():
        for s in starts:
            windows.append((s["ts"], end, _describe_fault(s)))
    return sorted(windows)


def _describe_fault(e):
    if e.get("summary"):
        return e["summary"]
    args = e.get("args")
    if isinstance(args, list):
        args = " ".join(str(a) for a in args)
    return ("%s %s" % (_label(e), args or e.get("target", ""))).strip()


def report_dict(scenario, verdict, seed=None, extra=None, interrupted=None):
    d = {
        "scenario": scenario.name,
        "claims": list(scenario.claims),
        "ok": verdict.ok,
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


def markdown(scenario, verdict, evidence, seed=None, files=(), interrupted=None):
    t0 = evidence.started or min((e.get("ts", 0) for e in evidence.events), default=0)
    out = ["# %s: %s" % (scenario.name, "INTERRUPTED" if interrupted else
                         "PASSED" if verdict.ok else "FAILED"), ""]
    if interrupted:
        out += ["**Stopped by %s.** The run did not finish: what follows is what "
                "happened until then." % interrupted, ""]
    out += [scenario.description, ""]
    out += ["Claims exercised: %s. Topology: %s. DNS mode: %s. Seed: %s."
            % (", ".join(scenario.claims) or "none (a reliability exercise)",
               scenario.topology, scenario.dns.mode, seed), ""]
    out += ["| sent (250) | delivered | lost | duplicates | still queued | unknown |",
            "|---|---|---|---|---|---|",
            "| %d | %d | %d | %d | %d | %d |" % (verdict.sent, verdict.delivered, verdict.lost,
                                              verdict.duplicates, verdict.queued,
                                              verdict.unexpected), ""]
    t = verdict.timings
    out += ["Timings: " + ", ".join("%s %s" % (k, "%.2f s" % t[k] if t.get(k) is not None
                                                else "n/a")
                                     for k in ("failover", "recovery_drain", "recreate",
                                               "total")), ""]
    story = recovery_story(evidence.events)
    if story:
        out += ["## How the relay recovered", ""] + ["- %s" % line for line in story] + [""]
    out += ["## Timeline", "", "Seconds from the start of traffic.", "", "```"]
    starts = {e.get("id"): e for e in evidence.events
              if e.get("event") == "fault_start" and e.get("id")}
    for line in _group(evidence.events):
        who, text = _sentence(line, starts)
        span = ("%7.2f" % (line["first"] - t0)) + (
            "-%-7.2f" % (line["last"] - t0) if line["last"] - line["first"] >= 0.01 else " " * 8)
        out.append("%s  %-20s %s" % (span, who, text))
    out += ["```", "", "## What each server did", ""]
    per_host = {}
    for e in evidence.events:
        per_host.setdefault(e.get("host", "?"), {}).setdefault(e.get("event"), 0)
        per_host[e.get("host", "?")][e.get("event")] += 1
    for host in sorted(per_host):
        counts = per_host[host]
        out.append("- **%s**: %s" % (host, ", ".join("%s %d" % (k, v) for k, v in
                                                    sorted(counts.items()))))
    held = {}
    for m in evidence.mails:
        held[m.host] = held.get(m.host, 0) + 1
    if held:
        out.append("- Maildirs at the end: " + ", ".join("%s holds %d" % kv
                                                         for kv in sorted(held.items())))
    out += ["", "## Verdict, check by check", ""]
    for c in verdict.checks:
        out.append("- %s **%s%s**: %s" % ("PASS" if c.ok else "FAIL",
                                          "claim %s, " % c.claim if c.claim else "",
                                          c.name, c.detail))
    if verdict.lost_ids:
        out += ["", "Lost: " + ", ".join(verdict.lost_ids)]
    if verdict.duplicate_ids:
        out += ["", "Stored twice: " + ", ".join(verdict.duplicate_ids)]
    if files:
        out += ["", "## Files", ""] + ["- `%s`" % f for f in files]
    return "\n".join(out) + "\n"


def timeline_png(path, scenario, evidence):
    """Each message a row: from its first step to where it was stored, coloured by
    the server that finally took it; relay attempts as ticks; faults shaded."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = checker.message_paths(evidence)
    t0 = evidence.started or min((s[0] for p in paths.values() for s in p), default=0)
    end = evidence.finished or max((s[0] for p in paths.values() for s in p), default=t0 + 1)
    order = sorted(paths, key=lambda m: paths[m][0][0])
    finals = {}
    for m in order:
        stored = [h for _, w, h in paths[m] if w == "stored"]
        finals[m] = stored[-1] if stored else "not stored"
    hosts = sorted(set(finals.values()))
    palette = plt.get_cmap("tab10")
    colour = {h: ("black" if h == "not stored" else palette(i % 10)) for i, h in enumerate(hosts)}
    fig, ax = plt.subplots(figsize=(12, max(3, 0.22 * len(order) + 1.5)))
    created = [e for e in evidence.events if e.get("event") == "created"]
    for start, stop, label in fault_windows(evidence.events, end):
        if stop - start < 0.05:
            # an instant fault (destroy, kill): a host stays gone until one is created
            back = [e["ts"] for e in created if e["ts"] > start]
            if label.startswith("destroy"):
                stop = back[0] if back else end
            else:
                ax.axvline(start - t0, color="red", ls="--", lw=1)
        if stop - start >= 0.05:
            ax.axvspan(start - t0, stop - t0, color="red", alpha=0.12)
        ax.text(start - t0, len(order) - 0.3, label, fontsize=7, color="darkred",
                va="bottom")
    for y, m in enumerate(order):
        steps = paths[m]
        xs = [s[0] - t0 for s in steps]
        ax.plot([min(xs), max(xs)], [y, y], color=colour[finals[m]], lw=2)
        for ts, what, host in steps:
            marker = {"accepted": "o", "relay_queued": "s", "relay_attempt": "|",
                      "relay_deferred": "|",
                      "relay_rerouted": "D", "stored": "*", "send_failed": "x"}.get(what)
            if marker:
                ax.plot(ts - t0, y, marker, color=colour[finals[m]], ms=6 if marker != "|" else 9)
    for h in hosts:
        ax.plot([], [], color=colour[h], lw=3, label="stored by %s" % h)
    for marker, what in (("o", "250 to sender"), ("s", "queued at relay"),
                         ("|", "relay attempt (or deferral)"), ("D", "re-routed"), ("*", "stored")):
        ax.plot([], [], marker, color="grey", label=what)
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels([m.strip("<>").split("@")[0] for m in order], fontsize=6)
    ax.set_xlabel("seconds from the start of traffic")
    ax.set_title("%s: each message's path (red: fault windows)" % scenario.name)
    ax.set_ylim(-1, max(1, len(order)) + 0.5)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write(directory, scenario, verdict, evidence, seed=None, extra=None, files=(),
          interrupted=None):
    """Write report.json, report.md and timeline.png into DIRECTORY; return their paths.

    ``interrupted``: how a run stopped early ("SIGTERM 3.2 s into the run"), or None."""
    os.makedirs(directory, exist_ok=True)
    paths = {name: os.path.join(directory, name)
             for name in ("report.json", "report.md", "timeline.png")}
    with open(paths["report.json"], "w", encoding="utf-8") as f:
        json.dump(report_dict(scenario, verdict, seed, extra, interrupted), f, indent=2)
        f.write("\n")
    with open(paths["report.md"], "w", encoding="utf-8") as f:
        f.write(markdown(scenario, verdict, evidence, seed, files, interrupted))
    timeline_png(paths["timeline.png"], scenario, evidence)
    return paths
