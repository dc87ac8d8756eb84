"""A run's history as data to draw: what happened when, counted.

Pure functions of a run's evidence (``lab.evidence.records.Evidence``): ``lab.report.plots``
draws what they return, the reports quote it, tests check it against the
events. Times are seconds from the start of traffic unless a name says
otherwise.

- ``aggregate(evidence)``: per server, messages stored over time; the
  senders' 250s; the relay's queue depth; its attempts and deferrals per
  second; fault windows; provisioning and DNS changes as marked moments.
  Its size does not depend on the number of messages.
- ``message_sample(paths)``: the messages the per-message view shows - all
  of them up to ``SAMPLE_SIZE``, otherwise every message that took a less
  common path plus an even sample of the common one.
"""
import dataclasses
import math

from lab.evidence.queries import message_paths
from lab.evidence.queries import RELAY_SERVICE
from lab.evidence.records import fault_windows

RELAY = RELAY_SERVICE
INSTANT = 0.05          # a fault shorter than this (destroy, kill) happened at one moment
SAMPLE_SIZE = 50        # the per-message view shows every message up to this many
MAX_ROWS = 120          # and never more rows than this, whatever the load
MAX_BINS = 300          # rates are counted in bins of 1 s, wider for long runs


def start_of(ev):
    """Unix time of second 0: the start of traffic, else the first event."""
    return ev.started or min((e.get("ts", 0) for e in ev.events), default=0.0)


def server_counts(ev):
    """({host: {event: count}}, {host: messages in its Maildirs at the end})."""
    per_host, held = {}, {}
    for e in ev.events:
        counts = per_host.setdefault(e.get("host", "?"), {})
        counts[e.get("event")] = counts.get(e.get("event"), 0) + 1
    for m in ev.mails:
        held[m.host] = held.get(m.host, 0) + 1
    return per_host, held


# -- faults ----------------------------------------------------------------------------

def short_fault(text):
    """"destroy mx1: delete mx1-eth0, kill 4 processes" -> "destroy mx1"."""
    return text.split(":", 1)[0].strip()


@dataclasses.dataclass
class Window:
    start: float        # seconds from the start of traffic
    stop: float
    label: str          # "destroy mx1"
    instant: bool       # a moment (kill), not a window: draw a line


def fault_spans(events, t0, end):
    """Fault windows for a plot. A destroyed host stays gone until a server is
    created (or the run ends); other instant faults are moments."""
    created = sorted(e["ts"] for e in events if e.get("event") == "created")
    spans = []
    for start, stop, text in fault_windows(events, end):
        label = short_fault(text)
        instant = stop - start < INSTANT
        if label.split()[:1] == ["destroy"]:
            later = [ts for ts in created if ts > start]
            stop, instant = (later[0] if later else end), False
        spans.append(Window(start - t0, stop - t0, label, instant))
    return spans


# -- marked moments --------------------------------------------------------------------

def _mark_text(e):
    kind = e.get("event")
    if kind == "provision_requested":
        return "relay asks for a new server"
    if kind == "created":
        return "created %s in %s" % (e.get("name", "?"), e.get("dc", "?"))
    if kind == "updated":
        return "DNS updated"
    if kind == "answer_changed":
        return "DNS answer changed"
    return None


def marks(events, t0):
    """[(t, text)]: provisioning, DNS changes and servers started again, the
    moments a plot marks."""
    out, started = [], set()
    created = {e.get("name") for e in events if e.get("event") == "created"}
    for e in sorted(events, key=lambda e: e.get("ts", 0)):
        text = _mark_text(e)
        if e.get("event") == "started":
            who = (e.get("host"), e.get("service"))
            if who in started and e.get("host") not in created:   # re-created: marked so
                text = "%s restarted" % (e.get("service") or e.get("host") or "?")
            started.add(who)
        if text:
            out.append((e["ts"] - t0, text))
    return out


# -- aggregate series ------------------------------------------------------------------

@dataclasses.dataclass
class Aggregate:
    start: float                 # first second shown (<= 0 when faults came before traffic)
    end: float                   # last second shown
    sent: list                   # [(t, cumulative 250s the senders got)]
    stored: dict                 # server -> [(t, cumulative messages in its Maildir)]
    queue: list                  # [(t, messages the relay holds)] after each change
    queue_on_disk: list          # [(t, queue files seen on disk)] sampled by the run itself
    bin_seconds: float           # width of one rate bin
    bins: list                   # [t] start of each bin
    attempts: list               # relay delivery attempts per second, one value per bin
    deferrals: list              # relay deferrals per second, one value per bin
    faults: list                 # [Window]
    marks: list                  # [(t, text)]


def _cumulative(times):
    return [(t, i) for i, t in enumerate(sorted(times), start=1)]


def queue_depth(events, t0):
    """[(t, depth)] from the relay's own events: +1 queued, -1 delivered or
    bounced; a ``queue_loaded`` (a relay starting) says how many it found."""
    depth, out = 0, []
    for e in sorted(events, key=lambda e: e.get("ts", 0)):
        if e.get("service") != RELAY:
            continue
        kind = e.get("event")
        if kind == "queued":
            depth += 1
        elif kind in ("delivered", "bounced"):
            depth = max(0, depth - 1)
        elif kind == "queue_loaded" and isinstance(e.get("messages"), int):
            depth = e["messages"]
        else:
            continue
        out.append((e["ts"] - t0, depth))
    return out


def bin_width(duration):
    """1 s, or a whole number of seconds so that a long run has at most MAX_BINS bins."""
    return float(max(1, math.ceil(duration / MAX_BINS)))


def rate(times, start, width, count):
    """Events per second in ``count`` bins of ``width`` seconds from ``start``."""
    counts = [0] * count
    for t in times:
        i = int((t - start) // width)
        if 0 <= i < count:
            counts[i] += 1
    return [c / width for c in counts]


def aggregate(ev):
    """The whole run in a few series whose size does not grow with the load."""
    paths = message_paths(ev)
    all_ts = [e.get("ts", 0) for e in ev.events] + [r.get("ts", 0) for r in ev.ledger]
    t0 = start_of(ev)
    last = max(all_ts + [ev.finished or 0], default=t0)
    stored = {}
    for steps in paths.values():
        for ts, what, host in steps:
            if what == "stored":
                stored.setdefault(host, []).append(ts - t0)
    faults = fault_spans(ev.events, t0, ev.finished or last)
    start = min([0.0] + [w.start for w in faults])
    end = max(last - t0, 1.0)
    width = bin_width(end - start)
    count = int(math.ceil((end - start) / width)) or 1
    relay = [e for e in ev.events if e.get("service") == RELAY]
    return Aggregate(
        start=start, end=end,
        sent=_cumulative(r.get("ts", 0) - t0 for r in ev.ledger),
        stored={h: _cumulative(ts) for h, ts in sorted(stored.items())},
        queue=queue_depth(ev.events, t0),
        queue_on_disk=[(s["ts"] - t0, s.get("files", len(s.get("entries", ()))))
                       for s in ev.queue_snapshots],
        bin_seconds=width,
        bins=[start + i * width for i in range(count)],
        attempts=rate([ts - t0 for ts in attempt_times(relay)], start, width, count),
        deferrals=rate([e["ts"] - t0 for e in relay if e.get("event") == "deferred"],
                       start, width, count),
        faults=faults,
        marks=marks(ev.events, t0))


def attempt_times(relay_events):
    """When the relay tried to deliver: each ``attempt`` (a session opened and the
    message offered), and each ``deferred`` that no attempt of its message came
    before since the last one: a connection that never opened (a black hole's
    SYNs), which is an attempt too."""
    times, offered = [], set()
    for e in relay_events:
        kind, msgid = e.get("event"), e.get("msgid")
        if kind == "attempt":
            times.append(e["ts"])
            offered.add(msgid)
        elif kind == "deferred":
            if msgid not in offered:
                times.append(e["ts"])
            offered.discard(msgid)
    return times


FOCUS_SHARE = 0.4      # zoom in when the faults and the recovery take less of the run than this
FOCUS_PAD = 0.08       # around them, as a share of their own length (at least 1 s)


def focus(agg):
    """(start, stop) of the part of the run where things happened - faults,
    marked moments, the relay holding mail, deferrals - when it is a small
    part of the whole run (so a plot of the whole run shows it too narrow);
    else None."""
    moments = [w.start for w in agg.faults] + [t for t, _ in agg.marks]
    moments += [w.stop for w in agg.faults if w.stop < agg.end]
    moments += [t for t, _ in agg.queue]
    moments += [t + agg.bin_seconds for t, r in zip(agg.bins, agg.deferrals) if r]
    if not moments:
        return None
    a, b = min(moments), max(moments)
    pad = max(1.0, FOCUS_PAD * (b - a))
    a, b = max(agg.start, a - pad), min(agg.end, b + pad)
    return (a, b) if b - a < FOCUS_SHARE * (agg.end - agg.start) else None


# -- which messages the per-message view shows -------------------------------------------

def route(steps):
    """What kind of path a message took, in words: "sender -> relay1 -> mx3 (re-routed)"."""
    accepted = [h for _, w, h in steps if w == "accepted"]
    stored = [h for _, w, h in steps if w == "stored"]
    hops = ["sender"] + accepted[:1] + stored
    hops = [h or "?" for i, h in enumerate(hops) if i == 0 or h != hops[i - 1]]
    notes = [note for what, note in (("relay_deferred", "retried"),
                                     ("relay_rerouted", "re-routed"),
                                     ("send_failed", "a send failed"),
                                     ("relay_bounced", "bounced"))
             if any(w == what for _, w, _ in steps)]
    if not accepted:
        notes.append("never accepted")
    if not stored:
        notes.append("NOT STORED")
    elif len(stored) > 1:
        notes.append("STORED %d TIMES" % len(stored))
    return " -> ".join(hops) + (" (%s)" % ", ".join(notes) if notes else "")


@dataclasses.dataclass
class Sample:
    ids: list            # the messages shown, in order of their first step
    total: int           # messages in the run
    routes: dict         # route -> (shown, of) for every route
    common: str          # the most common route ("" when every message is shown)

    @property
    def complete(self):
        return len(self.ids) == self.total

    def caption(self):
        if self.complete:
            return "every message (%d)" % self.total
        unusual = sum(of for r, (_, of) in self.routes.items() if r != self.common)
        shown_unusual = sum(n for r, (n, _) in self.routes.items() if r != self.common)
        shown_common = self.routes.get(self.common, (0, 0))[0]
        head = "a SAMPLE of %d of %d messages: " % (len(self.ids), self.total)
        if shown_unusual == unusual:
            head += "all %d that took a less common path, " % unusual
        else:
            head += "%d of the %d that took a less common path, " % (shown_unusual, unusual)
        return head + "and %d of the %d that went %s" % (
            shown_common, self.routes.get(self.common, (0, 0))[1], self.common)


def _even(items, n):
    """``n`` items spread evenly over ``items`` (first and last included)."""
    if n >= len(items):
        return list(items)
    if n <= 0:
        return []
    if n == 1:
        return [items[0]]
    step = (len(items) - 1) / (n - 1)
    return [items[round(i * step)] for i in range(n)]


def message_sample(paths, size=SAMPLE_SIZE, max_rows=MAX_ROWS):
    """Which messages to draw one row each for. Up to ``size`` messages: all.
    Beyond: every message whose route is not the most common one (up to
    ``max_rows``; when there are more, the rarest routes whole and an even
    sample of the others), then an even sample of the common route up to
    ``size`` rows."""
    order = sorted(paths, key=lambda m: paths[m][0][0])
    by_route = {}
    for m in order:
        by_route.setdefault(route(paths[m]), []).append(m)
    if len(order) <= size:
        return Sample(order, len(order), {r: (len(ms), len(ms)) for r, ms in by_route.items()},
                      "")
    common = max(by_route, key=lambda r: (len(by_route[r]), r))
    others = sorted((r for r in by_route if r != common), key=lambda r: len(by_route[r]))
    chosen = {}
    room = max_rows - min(10, len(by_route[common]))   # the common path is always seen
    for i, r in enumerate(others):   # the rarest first: they are shown whole
        fair = max(1, room // (len(others) - i))
        chosen[r] = _even(by_route[r], min(len(by_route[r]), fair))
        room -= len(chosen[r])
    shown = sum(len(v) for v in chosen.values())
    chosen[common] = _even(by_route[common], max(min(10, len(by_route[common])), size - shown))
    ids = sorted((m for ms in chosen.values() for m in ms), key=lambda m: paths[m][0][0])
    return Sample(ids, len(order), {r: (len(chosen[r]), len(by_route[r])) for r in by_route},
                  common)
