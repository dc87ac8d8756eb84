"""The report's plots, drawn from lab.history's series (matplotlib, Agg).

- ``aggregate_png``: the whole run on one screen at any load - messages
  stored per server and the senders' 250s (cumulative), the relay's queue
  depth, its attempts and deferrals per second; faults shaded and labelled,
  provisioning and DNS changes marked.
- ``timeline_png``: one row per message (all of them, or a labelled sample).

Both have a fixed size whatever the number of messages (``MAX_HEIGHT_PX``).
"""
from lab import checker, history

DPI = 100
WIDTH_IN = 12
AGGREGATE_HEIGHT_IN = 9
MAX_HEIGHT_PX = 1600
ROW_IN = 0.2               # one message row of the per-message view
FAULT_COLOUR = "#d62728"
MARK_COLOUR = "#1f5fa8"
CHAR_PX = 6.2              # mean width of one character of a strip label (8 pt at DPI)
STRIP_ROWS = 4


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def stagger(labels, px_per_second, rows=STRIP_ROWS, char_px=CHAR_PX, gap_px=8):
    """A row for each (t, text) label so that none overlaps the one before it in
    its row, or None when no row has room (the line is still drawn)."""
    ends = [float("-inf")] * rows
    placed = []
    for t, text in labels:
        x = t * px_per_second
        for row in range(rows):
            if x >= ends[row] + gap_px:
                ends[row] = x + len(text) * char_px
                placed.append(row)
                break
        else:
            placed.append(None)
    return placed


def _shade(ax, agg):
    for w in agg.faults:
        if w.instant:
            ax.axvline(w.start, color=FAULT_COLOUR, ls="--", lw=1)
        else:
            ax.axvspan(w.start, w.stop, color=FAULT_COLOUR, alpha=0.12, lw=0)
    for t, _ in agg.marks:
        ax.axvline(t, color=MARK_COLOUR, ls=":", lw=1.2)


def _strip(ax, agg, px_per_second):
    """Labels of faults (red) and marked moments (blue) above the panels."""
    labels = [(w.start, w.label, FAULT_COLOUR) for w in agg.faults] + [(t, text, MARK_COLOUR) for t, text in agg.marks]
    labels.sort(key=lambda l: l[0])
    rows = stagger([(t - agg.start, text) for t, text, _ in labels], px_per_second)
    for (t, text, colour), row in zip(labels, rows):
        if row is None:
            continue
        ax.text(t, STRIP_ROWS - 0.5 - row, " " + text, color=colour, fontsize=8,
                va="center", ha="left", clip_on=False,
                fontweight="bold" if colour == FAULT_COLOUR else "normal")
        ax.plot([t, t], [STRIP_ROWS - 0.5 - row, 0], color=colour, lw=0.6,
                ls="--" if colour == FAULT_COLOUR else ":")
    ax.set_ylim(0, STRIP_ROWS)
    ax.axis("off")


def _steps(ax, points, start, end, **kw):
    """A cumulative or level series as a step line from ``start`` to ``end``."""
    xs = [start] + [t for t, _ in points] + [end]
    ys = [0] + [v for _, v in points] + [points[-1][1] if points else 0]
    return ax.step(xs, ys, where="post", **kw)


def aggregate_png(path, title, agg):
    """Draw ``agg`` (a history.Aggregate) into PATH at a fixed size."""
    plt = _pyplot()
    fig = plt.figure(figsize=(WIDTH_IN, AGGREGATE_HEIGHT_IN), dpi=DPI)
    grid = fig.add_gridspec(4, 1, height_ratios=[0.9, 3.2, 1.6, 1.6], hspace=0.12,
                            left=0.07, right=0.8, top=0.93, bottom=0.07)
    strip = fig.add_subplot(grid[0])
    msgs = fig.add_subplot(grid[1], sharex=strip)
    queue = fig.add_subplot(grid[2], sharex=strip)
    rates = fig.add_subplot(grid[3], sharex=strip)
    span = max(agg.end - agg.start, 1e-6)
    px_per_second = (0.8 - 0.07) * WIDTH_IN * DPI / span
    _strip(strip, agg, px_per_second)
    for ax in (msgs, queue, rates):
        _shade(ax, agg)
        ax.grid(True, axis="y", alpha=0.3)
        ax.margins(x=0)

    palette = plt.get_cmap("tab10")
    for i, (host, points) in enumerate(agg.stored.items()):
        _steps(msgs, points, agg.start, agg.end, color=palette(i % 10), lw=2.4,
               label="stored by %s (%d)" % (host, len(points)))
    _steps(msgs, agg.sent, agg.start, agg.end, color="black", ls="--", lw=1.2, zorder=3,
           label="accepted: senders' 250s (%d)" % len(agg.sent))
    msgs.set_ylabel("messages (total so far)")
    msgs.set_ylim(bottom=0)
    msgs.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)

    if agg.queue:
        xs = [agg.start] + [t for t, _ in agg.queue] + [agg.end]
        ys = [0] + [d for _, d in agg.queue] + [agg.queue[-1][1]]
        queue.fill_between(xs, ys, step="post", color="#ff7f0e", alpha=0.35, lw=0)
        queue.step(xs, ys, where="post", color="#d9690b", lw=1.5, label="held by the relay")
    else:
        queue.plot([], [], color="#d9690b", label="held by the relay (it held nothing)")
    if agg.queue_on_disk:
        queue.plot([t for t, _ in agg.queue_on_disk], [n for _, n in agg.queue_on_disk], ".",
                   color="#555555", ms=3, label="queue files on disk (seen by the run)")
    queue.set_ylabel("relay queue")
    queue.set_ylim(bottom=0)
    queue.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)

    edges = agg.bins + [agg.bins[-1] + agg.bin_seconds] if agg.bins else []
    if edges:
        rates.stairs(agg.attempts, edges, color="#1f77b4", lw=1.5, label="relay attempts")
        rates.stairs(agg.deferrals, edges, color=FAULT_COLOUR, lw=1.5, label="relay deferrals")
    rates.set_ylabel("per second" if agg.bin_seconds == 1 else
                     "per second\n(%g s bins)" % agg.bin_seconds)
    rates.set_ylim(bottom=0)
    rates.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    rates.set_xlabel("seconds from the start of traffic")
    rates.set_xlim(agg.start, agg.end)
    for ax in (strip, msgs, queue):
        ax.tick_params(labelbottom=False)
    key = fig.text(0.81, 0.07, "red: fault windows\n(dashed: a moment)\nblue dotted: "
                   "provisioning\nand DNS changes", fontsize=8, va="bottom", color="#333333")
    key.set_linespacing(1.4)
    fig.suptitle(title, fontsize=13, x=0.07, ha="left")
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


STEP_MARKERS = {"accepted": "o", "relay_queued": "s", "relay_attempt": "|",
                "relay_deferred": "|", "relay_rerouted": "D", "stored": "*",
                "send_failed": "x", "relay_bounced": "X"}


def timeline_png(path, scenario, evidence):
    """Each message a row, from its first step to where it was stored, coloured
    by the server that finally took it; relay attempts as ticks; faults shaded.
    Past history.SAMPLE_SIZE messages, a sample (said so in the title)."""
    plt = _pyplot()
    paths = checker.message_paths(evidence)
    sample = history.message_sample(paths)
    order = sample.ids
    t0 = history.start_of(evidence)
    end = evidence.finished or max((s[0] for p in paths.values() for s in p), default=t0 + 1)
    finals = {}
    for m in order:
        stored = [h for _, w, h in paths[m] if w == "stored"]
        finals[m] = stored[-1] if stored else "not stored"
    hosts = sorted(set(finals.values()))
    palette = plt.get_cmap("tab10")
    colour = {h: ("black" if h == "not stored" else palette(i % 10)) for i, h in enumerate(hosts)}
    height = min(MAX_HEIGHT_PX / DPI, max(3.5, ROW_IN * len(order) + 2.2))
    fig, ax = plt.subplots(figsize=(WIDTH_IN, height), dpi=DPI)
    for w in history.fault_spans(evidence.events, t0, end):
        if w.instant:
            ax.axvline(w.start, color=FAULT_COLOUR, ls="--", lw=1)
        else:
            ax.axvspan(w.start, w.stop, color=FAULT_COLOUR, alpha=0.12, lw=0)
        ax.text(w.start, len(order) - 0.3, w.label, fontsize=7, color="darkred", va="bottom")
    for y, m in enumerate(order):
        steps = paths[m]
        xs = [s[0] - t0 for s in steps]
        ax.plot([min(xs), max(xs)], [y, y], color=colour[finals[m]], lw=2)
        for ts, what, host in steps:
            marker = STEP_MARKERS.get(what)
            if marker:
                ax.plot(ts - t0, y, marker, color=colour[finals[m]],
                        ms=6 if marker != "|" else 9)
    for h in hosts:
        ax.plot([], [], color=colour[h], lw=3, label="stored by %s" % h)
    for marker, what in (("o", "250 to sender"), ("s", "queued at relay"),
                         ("|", "relay attempt (or deferral)"), ("D", "re-routed"), ("*", "stored")):
        ax.plot([], [], marker, color="grey", label=what)
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels([m.strip("<>").split("@")[0] for m in order], fontsize=6)
    ax.set_xlabel("seconds from the start of traffic")
    ax.set_title("%s: each message's path (red: fault windows)\n%s"
                 % (scenario.name, sample.caption()), fontsize=10, loc="left")
    ax.set_ylim(-1, max(1, len(order)) + 0.5)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
