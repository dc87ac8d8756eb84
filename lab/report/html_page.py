"""report.html: one self-contained page a student opens in a browser.

Everything is in the one file (styles inline, plots embedded as data URIs,
the topology as inline SVG); only the pcaps and the raw files are links,
relative to the report's directory. Every text that comes from a run (events,
check details, fault summaries) is escaped.

Sections have stable ids, so that exercises and notes can link into a report
(``report.html#checks``):

    #summary    verdict, counts, timings, claims exercised
    #topology   data centers, hosts, routers, links; what the faults did to them
    #aggregate  the whole run on one plot (aggregate.png)
    #story      how the relay recovered, then every step, second by second
    #checks     the verdict check by check; row ids ``check-N`` (1-based, in
                report.json's order) and anchors ``claim-N`` (the first check
                of claim N). Claims that restate one another (5 and 13, 7 and
                15, ...) are judged by the same check on the same evidence: one
                row names them all (``judgements``), with every claim's anchor
    #messages   each message's path (timeline.png)
    #servers    what each server did
    #files      pcaps (open in Wireshark) and the raw evidence
"""
import base64
import json
import os
from html import escape

from lab.report import network_picture

KNOWN_CHECK_FIELDS = ("name", "claim", "ok", "detail")
NUMBERS = (("sent", "sent (250)"), ("delivered", "delivered"), ("lost", "lost"),
           ("duplicates", "duplicates"), ("queued", "still queued"), ("unexpected", "unknown"))
TIMINGS = (("failover", "failover: fault to the first message queued at the relay"),
           ("first_retry", "first retry: the relay's first failed attempt to the outcome "
                           "of its first retry of a message that had failed"),
           ("recovery_drain", "recovery drain: server back to the last relayed delivery"),
           ("recreate", "re-creation: provisioning asked to server created"),
           ("total", "total: first message to the last one stored"))
FILES = {"report.html": "this page", "report.json": "the verdict as data (the contract)",
         "report.md": "the same report as text", "aggregate.png": "the whole run at a glance",
         "timeline.png": "each message's path", "events.jsonl": "every event every server wrote",
         "ledger.jsonl": "every 250 the senders got",
         "queue.jsonl": "the relay's queue files as read from disk during the run"}
STORY_CLASSES = {"fault_start": "fault", "fault_end": "fault-end", "provision_requested": "recover",
                 "created": "recover", "updated": "dns", "answer_changed": "dns",
                 "rerouted": "recover", "recovery_decision": "recover", "bounced": "fault",
                 "send_failed": "fault"}


def _e(value):
    return escape(str(value), quote=True)


def verdict_word(report):
    if report.get("interrupted"):
        return "INTERRUPTED"
    if report.get("outcome") == "INCONCLUSIVE":
        return "INCONCLUSIVE"
    return "PASSED" if report.get("ok") else "FAILED"


def check_status(check):
    """PASS, FAIL, INCONCLUSIVE, NOT APPLICABLE, or what the check says it is (INFO
    for a fact of the set-up)."""
    if check.get("outcome"):
        return str(check["outcome"]).upper()
    if check.get("status"):
        return str(check["status"]).upper()
    if check.get("ok") is None or check.get("kind") == "info":
        return "INFO"
    return "PASS" if check.get("ok") else "FAIL"


def checks_line(counts):
    """"N of M checks hold" from {outcome: count}: M counts PASS and FAIL only,
    INCONCLUSIVE and INFO rows are counted apart."""
    line = "%d of %d checks hold" % (counts.get("PASS", 0),
                                     counts.get("PASS", 0) + counts.get("FAIL", 0))
    extra = ["%d inconclusive" % counts["INCONCLUSIVE"]] if counts.get("INCONCLUSIVE") else []
    extra += ["%d not applicable" % counts["NOT APPLICABLE"]] if counts.get("NOT APPLICABLE") \
        else []
    extra += ["%d for information" % counts["INFO"]] if counts.get("INFO") else []
    return line + (" (%s)" % ", ".join(extra) if extra else "")


def _value(value):
    """Any JSON value as HTML: lists as lists, objects as definition lists."""
    if isinstance(value, dict):
        return "<dl>%s</dl>" % "".join("<dt>%s</dt><dd>%s</dd>" % (_e(k), _value(v))
                                       for k, v in value.items())
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value) and len(value) <= 6:
            return _e(", ".join(str(v) for v in value))
        return "<ul>%s</ul>" % "".join("<li>%s</li>" % _value(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return _e(value)


def _data_uri(path):
    with open(path, "rb") as f:
        return "data:image/png;base64," + base64.b64encode(f.read()).decode("ascii")


def _summary(report, about):
    word = verdict_word(report)
    out = ['<section id="summary">']
    if report.get("interrupted"):
        how = report["interrupted"]
        out.append('<p class="banner"><b>Stopped by %s.</b> The run did not finish: this '
                   'report shows what happened until then.</p>'
                   % _e(how if isinstance(how, str) else "a signal"))
    for paragraph in str(about.get("description", "")).strip().split("\n\n"):
        out.append('<p class="about">%s</p>' % _e(" ".join(paragraph.split())))
    tiles = []
    for key, label in NUMBERS:
        n = report.get(key)
        if n is None:
            continue
        bad = key in ("lost", "duplicates", "queued", "unexpected") and n
        tiles.append('<div class="tile%s" id="n-%s"><b>%s</b><span>%s</span></div>'
                     % (" bad" if bad else "", _e(key), _e(n), _e(label)))
    out.append('<div class="tiles">%s</div>' % "".join(tiles))
    checks = report.get("checks") or []
    failed = [c for c in checks if check_status(c) == "FAIL"]
    counts = {}
    for c in checks:
        counts[check_status(c)] = counts.get(check_status(c), 0) + 1
    out.append('<p class="checkline">%s: %s%s. <a href="#checks">The '
               'verdict, check by check</a>.</p>'
               % (_e(word), _e(checks_line(counts)),
                  ("; failed: " + _e(", ".join(c.get("name", "?") for c in failed)))
                  if failed else ""))
    claims = report.get("claims") or []
    out.append("<p>Claims exercised: %s. Topology %s, DNS mode %s, seed %s, %s messages.</p>"
               % (", ".join('<a href="#claim-%s">%s</a>' % (_e(c), _e(c)) for c in claims)
                  or "none (a reliability exercise)", _e(about.get("topology", "?")),
                  _e(about.get("dns_mode", "?")), _e(report.get("seed")),
                  _e(report.get("messages", report.get("sent", "?")))))
    timings = report.get("timings") or {}
    rows = ["<tr><th>%s</th><td>%s</td></tr>" % (
        _e(label), "%.2f s" % timings[key] if isinstance(timings.get(key), (int, float))
        else "n/a") for key, label in TIMINGS]
    rows += ["<tr><th>%s</th><td>%s</td></tr>" % (_e(k), _value(v)) for k, v in timings.items()
             if k not in dict(TIMINGS)]
    out.append('<table class="timings">%s</table>' % "".join(rows))
    out.append("</section>")
    return "".join(out)


def _figure(section, title, src, alt, caption):
    if not src:
        return '<section id="%s"><h2>%s</h2><p>(no plot)</p></section>' % (section, _e(title))
    return ('<section id="%s"><h2>%s</h2><figure><img src="%s" alt="%s">'
            '<figcaption>%s</figcaption></figure></section>'
            % (section, _e(title), src, _e(alt), caption))


def _story(recovery, lines):
    out = ['<section id="story"><h2>What happened</h2>']
    if recovery:
        out.append('<h3>How the relay recovered</h3><ul class="recovery">%s</ul>'
                   % "".join("<li>%s</li>" % _e(s) for s in recovery))
    out.append('<p>Seconds from the start of traffic. Bursts of the same step on one server '
               'are one line.</p><div class="scroll"><table class="story"><thead><tr>'
               '<th>time (s)</th><th>who</th><th>what</th></tr></thead><tbody>')
    for first, last, kind, who, text in lines:
        span = "%.2f" % first + ("&ndash;%.2f" % last if last - first >= 0.01 else "")
        out.append('<tr class="%s"><td class="t">%s</td><td>%s</td><td>%s</td></tr>'
                   % (STORY_CLASSES.get(kind, "step"), span, _e(who), _e(text)))
    out.append("</tbody></table></div></section>")
    return "".join(out)


def judgements(checks):
    """The rows of the verdict's table: [(check numbers, claims, check)], one per
    judgement. Claims that restate one another for the network (13 for 5, 15 for
    7, ...) are judged by the same check on the same evidence, so the verdict
    holds two checks that differ in their claim only: one row names both claims
    (report.json keeps a check per claim)."""
    rows, seen = [], {}
    for i, c in enumerate(checks, start=1):
        claim = str(c.get("claim") or "")
        same = json.dumps({k: v for k, v in c.items() if k != "claim"}, sort_keys=True,
                          default=str)
        if claim and same in seen:
            numbers, claims, _ = rows[seen[same]]
            numbers.append(i)
            if claim not in claims:
                claims.append(claim)
            continue
        if claim:
            seen[same] = len(rows)
        rows.append(([i], [claim] if claim else [], c))
    return rows


def _checks(report):
    out = ['<section id="checks"><h2>The verdict, check by check</h2>'
           '<p>Each check names the claim it judges and the evidence it read; claims '
           'judged by one check on the same evidence share its row.</p>'
           '<table class="checks"><thead><tr><th>verdict</th><th>claim</th><th>check</th>'
           '<th>evidence</th></tr></thead><tbody>']
    anchored = set()
    for numbers, claims, c in judgements(report.get("checks") or []):
        status = check_status(c)
        anchor = "".join('<a id="check-%d"></a>' % n for n in numbers[1:])
        for claim in claims:
            if claim not in anchored:
                anchored.add(claim)
                anchor += '<a id="claim-%s"></a>' % _e(claim)
        extra = {k: v for k, v in c.items() if k not in KNOWN_CHECK_FIELDS
                 and k not in ("status", "outcome", "not_applicable")
                 and (v or k != "inconclusive")}
        more = "".join('<div class="field"><span>%s:</span> %s</div>' % (_e(k), _value(v))
                       for k, v in extra.items())
        out.append('<tr id="check-%d" class="%s"><td class="verdict">%s</td><td>%s%s</td>'
                   '<td>%s</td><td>%s%s</td></tr>'
                   % (numbers[0], status.lower().replace(" ", "-"), _e(status), anchor,
                      _e(", ".join(claims) or "-"),
                      _e(c.get("name", "")), _e(c.get("detail", "")), more))
    out.append("</tbody></table>")
    for key, label in (("lost_ids", "Lost"), ("duplicate_ids", "Stored twice")):
        if report.get(key):
            out.append('<p class="bad">%s: %s</p>' % (label, _e(", ".join(report[key]))))
    out.append("</section>")
    return "".join(out)


def _servers(per_host, held):
    rows = "".join("<tr><th>%s</th><td>%s</td><td>%s</td></tr>" % (
        _e(h), _e(", ".join("%s %d" % kv for kv in sorted(per_host[h].items(), key=str))),
        _e(held.get(h, "")) if held.get(h) is not None else "") for h in sorted(per_host))
    return ('<section id="servers"><h2>What each server did</h2><table class="servers"><thead>'
            '<tr><th>host</th><th>events it wrote</th><th>messages in its Maildir at the end'
            '</th></tr></thead><tbody>%s</tbody></table></section>' % rows)


def _files(files):
    pcaps = [f for f in files if f.endswith((".pcap", ".pcapng"))]
    others = [f for f in files if f not in pcaps]
    out = ['<section id="files"><h2>Files</h2>']
    if pcaps:
        out.append("<h3>Packet captures</h3><p>Open them in Wireshark (or <code>tcpdump -r"
                   "</code>): every fault captured the interfaces it touched.</p><ul>%s</ul>"
                   % "".join('<li><a class="pcap" href="%s">%s</a></li>' % (_e(f), _e(f))
                             for f in pcaps))
    else:
        out.append("<p>No packet captures in this run.</p>")
    if others:
        out.append("<h3>The report and its evidence</h3><ul>%s</ul>" % "".join(
            '<li><a href="%s">%s</a>%s</li>' % (_e(f), _e(f), (": " + _e(FILES[f]))
                                                if f in FILES else "") for f in others))
    out.append("</section>")
    return "".join(out)


def _exercise(report):
    """A workbook run: the student's lab (its varied values) and the predictions
    made before the run against what the run showed."""
    about = report.get("exercise")
    if not isinstance(about, dict):
        return ""
    out = ['<section id="exercise"><h2>Exercise %s: your lab</h2>' % _e(about.get("number", "?"))]
    who = about.get("student")
    out.append("<p>%s, seed %s.</p>" % (
        "Student <b>%s</b>" % _e(who) if who else "The class's shared lab", _e(about.get("seed"))))
    if about.get("your_lab"):
        out.append('<ul class="your-lab">%s</ul>' % "".join(
            "<li>%s</li>" % _e(line) for line in about["your_lab"]))
    rows = about.get("predictions") or []
    if rows:
        out.append('<h3>Predicted before the run, observed in it</h3><table class="predictions">'
                   '<thead><tr><th>question</th><th>predicted</th><th>observed</th><th></th>'
                   '</tr></thead><tbody>')
        for r in rows:
            predicted = "(no prediction)" if r.get("predicted") is None else _value(r["predicted"])
            observed = "(not in the evidence)" if r.get("observed") is None \
                else _value(r["observed"])
            mark = "as predicted" if r.get("matches") else "different"
            out.append('<tr data-key="%s"><td>%s</td><td class="predicted">%s</td>'
                       '<td class="observed">%s</td><td class="%s">%s</td></tr>'
                       % (_e(r.get("key")), _e(r.get("question")), predicted, observed,
                          "pass" if r.get("matches") else "fail", mark))
        out.append("</tbody></table>")
    out.append("</section>")
    return "".join(out)


def page(report, about, lines, per_host, held, images, topology_svg, files):
    """The page as a string. ``report``: report.json's dict; ``about``: the
    scenario's description, topology and DNS mode; ``lines``: the timeline's
    (first, last, event, who, text); ``images``: {"aggregate", "timeline"} data
    URIs (or None); ``topology_svg``: an <svg> element (or None)."""
    word = verdict_word(report)
    name = report.get("scenario", "?")
    nav = "".join('<a href="#%s">%s</a>' % (i, t) for i, t in (
        ("summary", "Summary"), ("topology", "Topology"), ("aggregate", "The whole run"),
        ("story", "What happened"), ("checks", "Checks"), ("messages", "Each message"),
        ("servers", "Servers"), ("files", "Files")))
    body = [
        '<header><h1>%s <span class="verdict %s" id="verdict">%s</span></h1>'
        '<p>maillab scenario report</p><nav>%s</nav></header><main>'
        % (_e(name), word.lower(), word, nav),
        _summary(report, about),
        _exercise(report),
        '<section id="topology"><h2>The lab</h2>%s<p class="legend">'
        '<span class="k cut">red, dashed: a link that was cut</span> '
        '<span class="k lossy">orange: lossy or delayed</span> '
        '<span class="k destroyed">&#x2715;: a destroyed host</span> '
        '<span class="k blackholed">black: a black-holed host (or DNS outage)</span> '
        '<span class="k created">green: created during the run</span></p></section>'
        % (topology_svg or "<p>(the address plan was not recorded with this run)</p>"),
        _figure("aggregate", "The whole run at a glance", images.get("aggregate"),
                "messages stored per server, the relay's queue, its retries, the faults",
                "Top: messages the senders handed over (dashed) and the messages each server "
                "stored, counted since the start. Middle: messages the relay holds. Bottom: "
                "the relay's delivery attempts and deferrals per second. Red: fault windows; "
                "blue dotted lines: provisioning and DNS changes."),
        _story(report.get("recovery") or [], lines),
        _checks(report),
        _figure("messages", "Each message's path", images.get("timeline"),
                "one row per message: when it was accepted, queued, retried, stored",
                "One row per message (its title says whether this is every message or a "
                "sample): a circle when a server said 250 to the sender, a square when the "
                "relay queued it, ticks for its attempts, a diamond when it was re-routed, a "
                "star when it was stored."),
        _servers(per_host, held),
        _files(files),
        "</main>",
    ]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<title>%s: %s - maillab report</title><style>%s</style></head><body>%s</body></html>\n"
            % (_e(name), word, CSS, "".join(body)))


def write(path, report, scenario, evidence, lines, counts, start, files=(), plan=None):
    """Write report.html at PATH; the plots are read from beside it. ``counts``:
    (per host, held) as ``series.server_counts`` gives them; ``start``: the run's t=0."""
    directory = os.path.dirname(path)
    images = {}
    for key in ("aggregate", "timeline"):
        png = os.path.join(directory, key + ".png")
        images[key] = _data_uri(png) if os.path.exists(png) else None
    per_host, held = counts
    picture = network_picture.svg(plan, evidence.events, start, per_host) \
        if plan is not None else None
    files = list(files) or sorted(os.path.relpath(p, directory)
                                  for p in report.get("pcaps") or [])
    about = {"description": scenario.description, "topology": scenario.topology,
             "dns_mode": scenario.dns.mode}
    with open(path, "w", encoding="utf-8") as f:
        f.write(page(json.loads(json.dumps(report)), about, lines, per_host, held, images,
                     picture, files))
    return path


CSS = """
:root { --ink: #1d2430; --muted: #5b6675; --line: #8a96a6; --pass: #1b7f3b; --fail: #c62828;
        --cut: #d62728; --lossy: #e08a00; --created: #1b7f3b; --router: #41566f;
        --client: #6b7b8c; --dns: #7b4fb3; --relay: #d9690b; --mx: #1f77b4; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans",
       sans-serif; color: var(--ink); background: #f3f5f8; }
header { background: #fff; border-bottom: 1px solid #d8dee6; padding: 18px 32px 0;
         position: sticky; top: 0; z-index: 2; }
header h1 { margin: 0; font-size: 28px; }
header p { margin: 0; color: var(--muted); }
nav { display: flex; gap: 20px; flex-wrap: wrap; padding: 8px 0 10px; }
nav a { color: var(--ink); text-decoration: none; font-weight: 600; font-size: 15px; }
nav a:hover { text-decoration: underline; }
main { max-width: 1280px; margin: 0 auto; padding: 8px 32px 48px; }
section { background: #fff; border: 1px solid #d8dee6; border-radius: 10px;
          padding: 8px 24px 18px; margin: 18px 0; scroll-margin-top: 120px; }
h2 { font-size: 21px; margin: 14px 0 8px; }
h3 { font-size: 17px; margin: 14px 0 6px; }
.verdict { font-size: 20px; padding: 3px 14px; border-radius: 6px; color: #fff;
           vertical-align: middle; margin-left: 10px; }
.verdict.passed { background: var(--pass); }
.verdict.failed { background: var(--fail); }
.verdict.inconclusive { background: #8a6d00; }
.verdict.interrupted { background: #8a6d00; }
.banner { background: #fff3c4; border: 1px solid #e0c55a; padding: 8px 12px; border-radius: 6px; }
.about { font-size: 17px; max-width: 900px; }
.tiles { display: flex; gap: 12px; flex-wrap: wrap; margin: 12px 0; }
.tile { border: 1px solid #d8dee6; border-radius: 8px; padding: 8px 18px; min-width: 120px;
        text-align: center; background: #f9fafc; }
.tile b { display: block; font-size: 30px; }
.tile span { color: var(--muted); font-size: 14px; }
.tile.bad { border-color: var(--fail); background: #fdecea; }
.tile.bad b { color: var(--fail); }
.checkline { font-size: 17px; font-weight: 600; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e6eaef;
         vertical-align: top; }
thead th { background: #f3f5f8; font-size: 14px; color: var(--muted); }
table.timings { width: auto; }
table.timings th { font-weight: normal; color: var(--muted); }
td.verdict { font-weight: 700; white-space: nowrap; }
tr.pass td.verdict { color: var(--pass); }
tr.fail td.verdict { color: var(--fail); }
tr.inconclusive td.verdict { color: #8a6d00; }
tr.fail { background: #fdecea; }
tr.info td.verdict { color: var(--muted); }
tr.not-applicable td.verdict { color: var(--muted); font-style: italic; }
.field { font-size: 14px; color: var(--muted); margin-top: 4px; }
.field span { font-weight: 600; }
.field dl { margin: 2px 0 0 12px; } .field dt { font-weight: 600; } .field dd { margin: 0 0 0 14px; }
.field ul { margin: 2px 0; padding-left: 20px; }
.scroll { max-height: 520px; overflow: auto; border: 1px solid #e6eaef; border-radius: 6px; }
@media print { .scroll { max-height: none; overflow: visible; } header { position: static; } }
table.story td { font-size: 14px; padding: 3px 10px; }
table.story td:nth-child(2) { white-space: nowrap; }
table.story td.t { font-family: ui-monospace, "DejaVu Sans Mono", monospace; white-space: nowrap; }
table.story tr.fault td { color: var(--fail); font-weight: 600; }
table.story tr.fault-end td { color: #8a2a2a; }
table.story tr.recover td { color: var(--created); font-weight: 600; }
table.story tr.dns td { color: var(--dns); }
ul.recovery li { font-weight: 600; }
figure { margin: 0; }
figure img { width: 100%; height: auto; display: block; border: 1px solid #e6eaef; }
figcaption { color: var(--muted); font-size: 14px; margin-top: 6px; }
.bad { color: var(--fail); font-weight: 600; }
svg.topology { width: 100%; height: auto; max-height: 560px; display: block; }
svg .group rect { fill: #f6f8fb; stroke: #c5cdd8; stroke-width: 2; }
svg .group text { font-size: 20px; font-weight: 700; fill: var(--muted); }
svg .group text.subnet { font-size: 14px; font-weight: normal; }
svg .link path.wire { fill: none; stroke: var(--line); stroke-width: 5; stroke-linecap: round; }
svg .link.cut path.wire { stroke: var(--cut); stroke-dasharray: 10 9; stroke-width: 6; }
svg .link.gone path.wire { stroke: #c0c6cf; stroke-dasharray: 3 8; }
svg .link.lossy path.wire, svg .link.delayed path.wire { stroke: var(--lossy); stroke-width: 7; }
svg .link .cross { font-size: 28px; font-weight: 900; fill: var(--cut); text-anchor: middle; }
svg text.mark { font-size: 13px; font-weight: 700; fill: var(--fail); paint-order: stroke;
                stroke: #fff; stroke-width: 4px; }
svg .link text.mark { text-anchor: start; }
svg .node text { text-anchor: middle; }
svg .node .shape { fill: #fff; stroke: var(--router); stroke-width: 3; }
svg .node .name { font-size: 19px; font-weight: 700; fill: var(--ink); }
svg .node .ip { font-size: 14px; fill: var(--muted); }
svg .node .count { font-size: 14px; font-weight: 700; fill: var(--ink); }
svg .node.role-router .shape { fill: var(--router); }
svg .node.role-router .name { fill: #fff; font-size: 16px; }
svg .node.role-switch .shape { fill: #dfe4ea; stroke: #7d8794; }
svg .node.role-client .shape { stroke: var(--client); }
svg .node.role-dns .shape { stroke: var(--dns); }
svg .node.role-relay .shape { stroke: var(--relay); }
svg .node.role-mx .shape { stroke: var(--mx); }
svg .node.destroyed .shape { stroke-dasharray: 6 5; fill: #fdecea; }
svg .node.destroyed .name, svg .node.destroyed .ip { fill: #9aa3ad; }
svg .node.created .shape { stroke: var(--created); stroke-width: 4; fill: #e9f6ec; }
svg .node.created text.mark { fill: var(--created); }
svg .node.blackholed .shape, svg .node.dns-outage .shape { fill: #222; }
svg .node.blackholed .name, svg .node.blackholed .ip { fill: #fff; }
svg .node.killed .shape, svg .node.paused .shape { fill: #fff3c4; }
svg .node .cross { stroke: var(--cut); stroke-width: 6; stroke-linecap: round; fill: none;
                  opacity: .7; }
.legend { font-size: 14px; color: var(--muted); }
.legend .k { margin-right: 14px; }
.legend .cut { color: var(--cut); } .legend .lossy { color: var(--lossy); }
.legend .destroyed { color: var(--fail); } .legend .created { color: var(--created); }
"""
