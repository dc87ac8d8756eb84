"""The lab's topology as an SVG picture for the report, marked with what the run
did to it: destroyed and created hosts, cut, lossy and delayed links,
black-holed hosts, killed or paused services, each with when.

The layout is the live page's (``lab.netview.drawing.drawing``) and so is the
reading of which link or host a fault event touched (``lab.web.live_state``);
this module only turns a whole run's history into marks and marks into SVG.
Every text is escaped: fault events carry whatever their arguments said.
"""
from html import escape

from lab.netview.live_state import HOST_EFFECTS, LINK_EFFECTS, LiveState
from lab.netview.drawing import drawing

HOST_W, HOST_H = 112, 64
EFFECTS = dict(LINK_EFFECTS, **HOST_EFFECTS)     # fault name -> what it does


def _when(start, stop=None):
    if stop is None or stop - start < 0.05:
        return "at %.1f s" % start
    return "%.1f-%.1f s" % (start, stop)


def damage(plan, events, t0):
    """What the run did to the topology: ``{"links": {link id: [(kind, text)]},
    "hosts": {name: [(kind, text)]}}``, kind one of cut, lossy, delayed,
    destroyed, created, blackholed, killed, paused, resets, dns-outage."""
    state = LiveState(drawing(plan), started=t0)
    links, hosts, open_ = {}, {}, {}
    for e in sorted(events, key=lambda e: e.get("ts", 0)):
        kind, t = e.get("event"), e.get("ts", t0) - t0
        m = e.get("matched") or {}
        if kind == "fault_start":
            state.apply(e)
            fault = state.faults.get(e.get("id", ""))
            name = e.get("fault", "")
            if name == "destroy":
                hosts.setdefault(m.get("target", ""), []).append(("destroyed", "destroyed " +
                                                                  _when(t)))
            elif name in ("kill", "pause"):
                host = str(m.get("target", "")).partition("@")[2]
                effect = "killed" if name == "kill" else "paused"
                open_[e.get("id")] = ("hosts", [host], effect, "%s %s" % (
                    str(m.get("target", "")).partition("@")[0] or "service", effect), t)
            elif fault is not None:
                what = EFFECTS.get(name, name)
                if fault["links"]:
                    open_[e.get("id")] = ("links", fault["links"], what, name, t)
                elif fault["hosts"]:
                    open_[e.get("id")] = ("hosts", fault["hosts"], what, what, t)
        elif kind == "fault_end" and e.get("id") in open_:
            where, names, what, text, start = open_.pop(e.get("id"))
            target = links if where == "links" else hosts
            for n in names:
                target.setdefault(n, []).append((what, "%s %s" % (text, _when(start, t))))
        elif kind == "created" and e.get("name"):
            verb = "re-created" if e.get("action") == "recreate" else "created"
            hosts.setdefault(e["name"], []).append(("created", "%s %s" % (verb, _when(t))))
    for where, names, what, text, start in open_.values():   # still in force at the end
        target = links if where == "links" else hosts
        for n in names:
            target.setdefault(n, []).append((what, "%s from %.1f s" % (text, start)))
    return {"links": links, "hosts": hosts}


def _link_path(link):
    mx, my = (link["ax"] + link["bx"]) / 2, (link["ay"] + link["by"]) / 2 + 2 * link["bend"]
    return "M%g,%g Q%g,%g %g,%g" % (link["ax"], link["ay"], mx, my, link["bx"], link["by"])


def _link(link, marks, gone=False):
    kinds = {k for k, _ in marks} | ({"gone"} if gone else set())
    cls = "link" + "".join(" " + k for k in sorted(kinds))
    out = ['<g class="%s" data-link="%s"><path class="wire" d="%s"/>'
           % (escape(cls), escape(link["id"]), _link_path(link))]
    if marks:
        x = (link["ax"] + link["bx"]) / 2
        y = (link["ay"] + link["by"]) / 2 + link["bend"]
        if "cut" in kinds:
            out.append('<text class="cross" x="%g" y="%g">&#x2715;</text>' % (x, y + 10))
        for i, (_, text) in enumerate(marks):
            out.append('<text class="mark" x="%g" y="%g">%s</text>'
                       % (x + 16, y - 6 + 17 * i, escape(text)))
    out.append("</g>")
    return "".join(out)


def _node(n, marks, counts):
    x, y = n["x"], n["y"]
    kinds = sorted({k for k, _ in marks})
    cls = "node role-%s%s" % (n["role"], "".join(" " + k for k in kinds))
    out = ['<g class="%s" data-node="%s">' % (escape(cls), escape(n["name"]))]
    if n["kind"] == "router":
        out.append('<circle class="shape" cx="%g" cy="%g" r="28"/>' % (x, y))
        out.append('<text class="name" x="%g" y="%g">%s</text>' % (x, y + 6, escape(n["name"])))
    elif n["kind"] == "switch":
        out.append('<rect class="shape" x="%g" y="%g" width="80" height="36" rx="6"/>'
                   % (x - 40, y - 18))
        out.append('<text class="name" x="%g" y="%g">%s</text>' % (x, y + 6, escape(n["name"])))
    else:
        out.append('<rect class="shape" x="%g" y="%g" width="%d" height="%d" rx="10"/>'
                   % (x - HOST_W / 2, y - HOST_H / 2, HOST_W, HOST_H))
        out.append('<text class="name" x="%g" y="%g">%s</text>' % (x, y - 4, escape(n["name"])))
        out.append('<text class="ip" x="%g" y="%g">%s</text>' % (x, y + 18, escape(n["ip"])))
        for i, line in enumerate(counts):
            out.append('<text class="count" x="%g" y="%g">%s</text>'
                       % (x, y + HOST_H / 2 + 20 + 17 * i, escape(line)))
        for i, (_, text) in enumerate(reversed(marks)):
            out.append('<text class="mark" x="%g" y="%g">%s</text>'
                       % (x, y - HOST_H / 2 - 10 - 17 * i, escape(text)))
        if "destroyed" in kinds and "created" not in kinds:
            out.append('<path class="cross" d="M%g,%g L%g,%g M%g,%g L%g,%g"/>' % (
                x - 30, y - 22, x + 30, y + 22, x + 30, y - 22, x - 30, y + 22))
    out.append("</g>")
    return "".join(out)


def counts_of(role, events):
    """The lines under a host: what it did, from its event counts."""
    if role == "mx":
        return ["stored %d" % events.get("delivered", 0)]
    if role == "relay":
        return ["queued %d" % events.get("queued", 0), "deferred %d" % events.get("deferred", 0)]
    if role == "client":
        return ["sent %d" % events.get("sent", 0)]
    return []


def svg(plan, events, t0, per_host=None, marks=None):
    """The picture, as an inline ``<svg>`` element (styled by the report's CSS);
    ``marks``: what to mark, as ``damage`` gives it (default: the run's damage)."""
    d = drawing(plan)
    marks = damage(plan, events, t0) if marks is None else marks
    per_host = per_host or {}
    top = 40    # room for marks above the first row of hosts
    out = ['<svg class="topology" role="img" aria-label="the lab\'s topology" '
           'viewBox="0 %d %d %d" xmlns="http://www.w3.org/2000/svg">'
           % (-top, d["width"], d["height"] + top + 20)]
    for g in d["groups"]:
        label = "senders" if g["name"] == "site" else g["name"].upper()
        out.append('<g class="group"><rect x="%g" y="%g" width="%g" height="%g" rx="16"/>'
                   '<text x="%g" y="%g">%s</text><text class="subnet" x="%g" y="%g">%s</text></g>'
                   % (g["x"], g["y"], g["w"], g["h"], g["x"] + 12, g["y"] + 26, escape(label),
                      g["x"] + 12, g["y"] + g["h"] - 12, escape(g["subnet"])))
    gone = {h for h, ms in marks["hosts"].items()
            if any(k == "destroyed" for k, _ in ms) and not any(k == "created" for k, _ in ms)}
    for link in d["links"]:
        out.append(_link(link, marks["links"].get(link["id"], []),
                         gone=bool({link["a"], link["b"]} & gone)))
    for n in d["nodes"]:
        out.append(_node(n, marks["hosts"].get(n["name"], []),
                         counts_of(n["role"], per_host.get(n["name"], {}))
                         if n["kind"] == "host" else []))
    out.append("</svg>")
    return "".join(out)
