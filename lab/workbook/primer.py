"""The one-page primer each worksheet opens with, generated from the exercise's
own data (``exercise.toml`` and ``scenario.toml``), never drawn by hand:

- the concept, the claims it shows (named by concept) and the hosts taking part;
- ``primer-topology.svg``: the lab the scenario runs on (the report's picture,
  ``lab.report.network_picture``), with the hosts and links its faults target
  marked;
- ``primer-sequence.svg``: a sequence diagram of what will happen (sender,
  DNS, mx1 under its fault, the relay, a new server when the relay asks for
  one), also written into the worksheet as text.

The worksheet holds the primer between two markers; ``python -m
lab.workbook.primer`` rewrites that part of every worksheet and the two
pictures (``--check``: only say which are out of date). The values in it are
those of the class's shared lab, as in the rest of the worksheet: the
mechanism, never a run's outcome.
"""
import argparse
import os
import re
import sys
from html import escape

from lab.netview.drawing import link_id
from lab.report import html_page
from lab.report import network_picture
from lab.workbook import catalog
from topologies.addressing import MAIL_DOMAIN, build_plan

BEGIN = "<!-- primer: generated from exercise.toml and scenario.toml by " \
        "`python -m lab.workbook.primer`; edit those, not this -->"
END = "<!-- end of primer -->"
TOPOLOGY_SVG = "primer-topology.svg"
SEQUENCE_SVG = "primer-sequence.svg"
OUTAGES = ("blackhole", "destroy", "cut", "partition")   # the server does not answer at all
MARKS = {"blackhole": "blackholed", "destroy": "destroyed", "dns-outage": "dns-outage",
         "reset": "resets", "kill": "killed", "pause": "paused", "cut": "cut",
         "partition": "cut", "loss": "lossy", "delay": "delayed"}
ROLE_WORDS = {"client": "sends the mail", "dns": "answers the MX lookup",
              "relay": "the backup relay: holds mail on disk and retries",
              "mx": "a messaging server (stores mail in its Maildir)"}


def plan_for(scenario):
    """The address plan the scenario's lab is built from (the topologies' defaults)."""
    if scenario.topology == "one_dc":
        return build_plan(dcs=1, mx_per_dc=(1,), clients=2)
    if scenario.topology == "two_dc":
        return build_plan(dcs=2, mx_per_dc=(1, 1), clients=2)
    return build_plan(dcs=4, mx_per_dc=(4,) * 4, clients=2)


def _positional(args):
    out = []
    for a in args:
        if a.startswith("--"):
            break
        out.append(a)
    return out


def _option(args, name, default=None):
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) \
        else default


def fault_targets(fault):
    """(hosts, links) a fault of the scenario acts on, from its arguments:
    ``mx1``, ``mx1:25``, ``relay@relay1``, ``mx1 s1``, ``r1:r2``."""
    pos = _positional(fault.args)
    if fault.name in ("cut", "loss", "delay", "partition", "heal", "restore"):
        ends = pos[:2] if len(pos) >= 2 else (pos[0].split(":") if pos else [])
        return [], [link_id(*ends[:2])] if len(ends) >= 2 else []
    if fault.name in ("kill", "pause", "resume"):
        return [pos[0].partition("@")[2]] if pos else [], []
    if fault.name == "dns-outage":
        return [pos[0] if pos else "dns1"], []
    return [pos[0].split(":")[0]] if pos else [], []


def _when(fault):
    after = {"start": "", "first_sent": " after the first message",
             "traffic_done": " after the last message is sent", "created": " after the new "
             "server is created", "first_queued": " after the relay took a message",
             "provision_requested": " after the relay asked for a server"}.get(fault.after, "")
    text = "at %g s%s" % (fault.at, after)
    if fault.duration:
        text += ", for %g s" % fault.duration
        if fault.times > 1:
            text += ", %d times, every %g s" % (fault.times, fault.every)
    else:
        text += ", until the end"
    return text


def fault_line(fault):
    return "%s %s (%s)" % (fault.name, " ".join(fault.args), _when(fault))


def marks(scenario):
    """network_picture marks: the fault targets, each with its fault."""
    out = {"hosts": {}, "links": {}}
    for f in scenario.faults:
        hosts, links = fault_targets(f)
        for where, names in (("hosts", hosts), ("links", links)):
            for n in names:
                out[where].setdefault(n, []).append(
                    (MARKS.get(f.name, f.name), "%s %s" % (f.name, _when(f).split(",")[0])))
    return out


def _svg_style():
    """The report's picture styles (``svg ...`` rules and the colours), for a
    picture that stands on its own."""
    rules = [r.strip() + " }" for r in html_page.CSS.split("}") if r.strip()]
    return "\n".join(r for r in rules if r.startswith(("svg", ":root")))


def topology_svg(exercise):
    s = exercise.scenario
    body = network_picture.svg(plan_for(s), [], 0.0, marks=marks(s))
    body = re.sub(r'<text class="count"[^>]*>[^<]*</text>', "", body)   # no run: no counts
    title = "Exercise %d: the lab (%s)%s" % (exercise.number, s.topology, "".join(
        "; fault " + fault_line(f) for f in s.faults))
    body = body.replace('aria-label="the lab\'s topology"',
                        'aria-label="%s"' % escape(title, quote=True), 1)
    head, _, rest = body.partition(">")
    return '%s><title>%s</title><style>\n%s\n</style>%s\n' % (head, escape(title),
                                                            _svg_style(), rest)


# -- the sequence of what will happen ---------------------------------------------------

def participants(exercise):
    """The hosts taking part, left to right: sender, DNS, the MX servers, the
    relay, and the provisioner and new server when the relay may ask for one."""
    s = exercise.scenario
    plan = plan_for(s)
    out = [s.traffic.clients[0], plan.dns.name] + list(s.dns.mx) + [plan.relay.name]
    if s.relay.provision_after:
        out.append("provisioner")
        if s.expect.provision != "recreate":
            out.append(new_server(s))
    return out


def new_server(scenario):
    final = scenario.expect.final_server
    return "new mx (%s)" % final if final.startswith("dc") else final


def sequence(exercise):
    """[(kind, from, to, text)]: kind "msg" (an arrow), "fail" (an arrow that does
    not arrive) or "note" (over ``from``, to ``to`` when it spans)."""
    s = exercise.scenario
    plan = plan_for(s)
    client, dns, relay = s.traffic.clients[0], plan.dns.name, plan.relay.name
    mx = s.dns.mx[0]
    steps = []
    if s.dns.mode == "health-checked":
        answer = "the servers that pass its health check (%s, %s)" % (mx, relay)
    else:
        answer = ", ".join("%s (10)" % m for m in s.dns.mx) + ", %s (20)" % relay
    steps.append(("msg", client, dns, "MX %s?" % MAIL_DOMAIN))
    steps.append(("msg", dns, client, answer))
    faults = [f for f in s.faults if f.name != "kill"]
    kills = [f for f in s.faults if f.name == "kill"]
    if not faults or any(f.after == "first_sent" for f in faults):
        steps.append(("msg", client, mx, "SMTP: MAIL, RCPT, DATA (%d messages at %g/s)"
                      % (s.traffic.count, s.traffic.rate)))
        steps.append(("msg", mx, client, "250 (stored in its Maildir)"))
    people = participants(exercise)
    for f in faults:
        hosts, links = fault_targets(f)
        ends = [h for h in hosts + [e for link in links for e in link.split("|")]
                if h in people]
        if ends:    # over the host, or the link's end that takes part
            steps.append(("note", ends[0], ends[0], "FAULT: " + fault_line(f)))
        else:       # a link between routers: the note spans the lab
            steps.append(("note", people[0], people[-1], "FAULT: " + fault_line(f)))
    kinds = {f.name for f in faults}
    outage = kinds & set(OUTAGES)
    if "reset" in kinds:
        f = next(f for f in faults if f.name == "reset")
        steps.append(("msg", client, mx, "SMTP: MAIL, RCPT, DATA, %s bytes..."
                      % _option(f.args, "--after-bytes", "0")))
        steps.append(("fail", mx, client, "RST mid-DATA (injected): no 250"))
    elif "loss" in kinds:
        f = next(f for f in faults if f.name == "loss")
        steps.append(("fail", client, mx, "SYN lost (%g %% of them)"
                      % (100 * float(_option(f.args, "--rate", "0")))))
        steps.append(("note", client, client, "no answer in %g s: next MX"
                      % s.traffic.connect_timeout))
    elif outage and s.dns.mode == "health-checked":
        steps.append(("note", dns, dns, "health check of %s fails: the answer drops it" % mx))
        steps.append(("msg", client, dns, "MX %s?" % MAIL_DOMAIN))
        steps.append(("msg", dns, client, relay + " only"))
    elif outage:
        for server in s.dns.mx:
            steps.append(("fail", client, server, "SYN: no answer in %g s (connect timeout)"
                          % s.traffic.connect_timeout))
    if faults:
        steps.append(("msg", client, relay, "the same message (next MX)"))
        steps.append(("msg", relay, client, "250 (queued on disk first)"))
    if outage:
        r = s.relay
        every = "every %g s" % r.retry_interval + (
            ", backing off to %g s" % r.max_retry_interval
            if r.max_retry_interval > r.retry_interval else "")
        steps.append(("fail", relay, mx, "retry %s: no answer" % every))
    for f in kills:
        host = fault_targets(f)[0][0]
        steps.append(("note", host, host, "FAULT: %s; restarted: the queue is read back from "
                      "disk" % fault_line(f)))
    if s.relay.provision_after:
        steps.append(("msg", relay, "provisioner", "after %g s of failures: a server, please"
                      % s.relay.provision_after))
        if s.expect.provision == "recreate":
            steps.append(("note", "provisioner", mx, "%s re-created: same name, IP and MAC"
                          % mx))
            target = mx
        else:
            target = new_server(s)
            steps.append(("msg", "provisioner", target, "created; DNS lists it"))
            steps.append(("note", relay, relay, "stored messages: next hop rewritten"))
        steps.append(("msg", relay, target, "SMTP: the held messages"))
        steps.append(("msg", target, relay, "250"))
    elif faults:
        back = "when %s answers again" % mx if outage else "at once"
        steps.append(("msg", relay, mx, "SMTP: the held messages, %s" % back))
        steps.append(("msg", mx, relay, "250 (stored once)"))
    return steps


def sequence_text(exercise):
    steps = sequence(exercise)
    width = max(len(a) + len(b) for _, a, b, _ in steps) + 5
    out = []
    for kind, a, b, text in steps:
        if kind == "note":
            who = a if a == b else "%s..%s" % (a, b)
            out.append("%-*s  [%s]" % (width, who, text))
        else:
            arrow = " -x " if kind == "fail" else " -> "
            out.append("%-*s  %s" % (width, a + arrow + b, text))
    return "\n".join(out)


COL, ROW, TOP, LEFT = 190, 46, 70, 20


def sequence_svg(exercise):
    people = participants(exercise)
    x = {p: LEFT + COL / 2 + i * COL for i, p in enumerate(people)}
    steps = sequence(exercise)
    width = LEFT * 2 + COL * len(people)
    height = TOP + ROW * (len(steps) + 1)
    title = "Exercise %d: what will happen (%s)" % (exercise.number, ", ".join(people))
    out = ['<svg class="sequence" role="img" aria-label="%s" viewBox="0 0 %d %d" '
           'xmlns="http://www.w3.org/2000/svg"><title>%s</title>'
           % (escape(title, quote=True), width, height, escape(title)),
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
           'fill="#1d2430"/></marker></defs>',
           '<style>text { font: 13px system-ui, "DejaVu Sans", sans-serif; fill: #1d2430; }'
           ' .who rect { fill: #fff; stroke: #41566f; stroke-width: 2; }'
           ' .who text { font-weight: 700; text-anchor: middle; }'
           ' .life { stroke: #8a96a6; stroke-dasharray: 4 4; }'
           ' .msg line { stroke: #1d2430; stroke-width: 1.6; }'
           ' .fail line { stroke: #c62828; stroke-width: 1.6; stroke-dasharray: 6 4; }'
           ' .fail text.x { fill: #c62828; font-weight: 900; }'
           ' .note rect { fill: #fff3c4; stroke: #e08a00; }'
           ' .msg text, .fail text { text-anchor: middle; } .note text { text-anchor: middle; }'
           '</style>']
    for p in people:
        out.append('<g class="who" data-host="%s"><rect x="%g" y="14" width="%d" height="32" '
                   'rx="6"/><text x="%g" y="35">%s</text></g>'
                   % (escape(p, quote=True), x[p] - (COL - 30) / 2, COL - 30, x[p], escape(p)))
        out.append('<line class="life" x1="%g" y1="46" x2="%g" y2="%g"/>'
                   % (x[p], x[p], height - 10))
    for i, (kind, a, b, text) in enumerate(steps):
        y = TOP + ROW * (i + 1) - 10
        if kind == "note":
            left, right = min(x[a], x[b]) - COL / 2 + 8, max(x[a], x[b]) + COL / 2 - 8
            need = 7.2 * len(text) + 16
            w = min(max(right - left, need), width - 8)
            cx = (left + right) / 2
            left = min(max(4, cx - w / 2), width - w - 4)
            squeeze = ' textLength="%g" lengthAdjust="spacingAndGlyphs"' % (w - 12) \
                if need > w else ""
            out.append('<g class="note"><rect x="%g" y="%g" width="%g" height="26" rx="4"/>'
                       '<text x="%g" y="%g"%s>%s</text></g>'
                       % (left, y - 18, w, left + w / 2, y, squeeze, escape(text)))
            continue
        x1, x2 = x[a], x[b]
        end = x2 if kind == "msg" else x1 + (x2 - x1) * 0.8
        out.append('<g class="%s" data-from="%s" data-to="%s"><line x1="%g" y1="%g" x2="%g" '
                   'y2="%g"%s/><text x="%g" y="%g">%s</text>%s</g>'
                   % (kind, escape(a, quote=True), escape(b, quote=True), x1, y + 6, end, y + 6,
                      ' marker-end="url(#arrow)"' if kind == "msg" else "",
                      (x1 + x2) / 2, y, escape(text),
                      '<text class="x" x="%g" y="%g">&#x2715;</text>' % (end, y + 11)
                      if kind == "fail" else ""))
    out.append("</svg>")
    return "".join(out) + "\n"


# -- the worksheet's primer ------------------------------------------------------------------

def hosts(exercise):
    """The lab's hosts that take part in the exercise (in the primer's words)."""
    return [p for p in participants(exercise) if p in plan_for(exercise.scenario).hosts]


def primer_markdown(exercise):
    s = exercise.scenario
    plan = plan_for(s)
    lines = [BEGIN, "", "## Primer", ""]
    concept = exercise.concept or exercise.title
    shows = catalog.claims_by_concept(s.claims) if s.claims else \
        "no claim: nothing may be lost, nothing stored twice"
    lines += ["**The concept: %s.** What the run shows: %s." % (concept, shows), ""]
    who = ["`%s` (%s) %s" % (h, plan.hosts[h].ip, ROLE_WORDS.get(plan.hosts[h].role, ""))
           for h in hosts(exercise)]
    lines += ["**The lab** (topology `%s`): %s." % (s.topology, "; ".join(who))]
    if s.faults:
        lines += ["The fault%s: %s." % ("s" if len(s.faults) > 1 else "", "; ".join(
            "`%s`" % fault_line(f) for f in s.faults))]
    if exercise.varied:
        lines += ["The values are the class's shared lab's; your own lab (`--student ID`) has "
                  "its own %s." % ", ".join(v.name for v in exercise.varied)]
    lines += ["", "![The lab of exercise %d, its fault targets marked](%s)"
              % (exercise.number, TOPOLOGY_SVG), "",
              "**What will happen** (`-x`: does not arrive; `[...]`: what happens there):", "",
              "![What will happen in exercise %d](%s)" % (exercise.number, SEQUENCE_SVG), "",
              "```text", sequence_text(exercise), "```", "", END]
    return "\n".join(lines)


def with_primer(text, primer):
    """The worksheet ``text`` with its primer replaced (or put after its opening
    paragraphs, before the first section)."""
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        return head + primer + rest.partition(END)[2]
    m = re.search(r"^## ", text, re.M)
    at = m.start() if m else len(text)
    return text[:at] + primer + "\n\n" + text[at:]


def generated(exercise):
    """{path: the text it should hold} for one exercise."""
    with open(exercise.readme, encoding="utf-8") as f:
        readme = f.read()
    return {exercise.readme: with_primer(readme, primer_markdown(exercise)),
            os.path.join(exercise.directory, TOPOLOGY_SVG): topology_svg(exercise),
            os.path.join(exercise.directory, SEQUENCE_SVG): sequence_svg(exercise)}


def stale(exercises):
    """The files whose text differs from what the primer generator writes."""
    out = []
    for e in exercises:
        for path, text in generated(e).items():
            try:
                with open(path, encoding="utf-8") as f:
                    current = f.read()
            except FileNotFoundError:
                current = None
            if current != text:
                out.append(path)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m lab.workbook.primer", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="only list what is out of date")
    args = p.parse_args(argv)
    exercises = catalog.load_all()
    if args.check:
        old = stale(exercises)
        for path in old:
            print("out of date: %s" % os.path.relpath(path, catalog.ROOT))
        return 1 if old else 0
    for e in exercises:
        for path, text in generated(e).items():
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    print("primers written for %d exercises" % len(exercises))
    return 0


if __name__ == "__main__":
    sys.exit(main())
