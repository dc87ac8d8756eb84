"""The report's plots, drawn from lab.report.series's series (matplotlib, Agg).

- ``aggregate_png``: the whole run on one screen at any load - messages
  stored per server and the senders' 250s (cumulative), the relay's queue
  depth, its attempts and deferrals per second; faults shaded and labelled,
  provisioning and DNS changes marked.
- ``timeline_png``: one row per message (all of them, or a labelled sample).

Both have a fixed size whatever the number of messages (``MAX_HEIGHT_PX``).
"""
from lab.report import series as history
from lab.evidence.queries import message_paths

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


def stagger(labels, px_per_second, width_px=None, rows=STRIP_ROWS, char_px=CHAR_PX, gap_px=8):
    """Where to put each (t, text) label so that none overlaps another in its row:
    (row, "left") starts the label at its moment, (row, "right") ends it there
    (near the right edge of ``width_px``); (None, None) when no row has room
    (the moment's line is still drawn)."""
    ends = [float("-inf")] * rows
    placed = []
    for t, text in labels:
        x, w = t * px_per_second, len(text) * char_px
        align = "right" if width_px is not None and x + w > width_px else "left"
        left, right = (x - w, x) if align == "right" else (x, x + w)
        for row in range(rows):
            if left >= ends[row] + gap_px:
                ends[row] = right
                placed.append((row, align))
                break
        else:
            placed.append((None, None))
    return placed


def _shade(ax, agg):
    for w in agg.faults:
        if w.instant:
            ax.axvline(w.start, color=FAULT_COLOUR, ls="--", lw=1)
        else:
            ax.axvspan(w.start, w.stop, color=FAULT_COLOUR, alpha=0.12, lw=0)
    for t, _ in agg.marks:
        ax.axvline(t, color=MARK_COLOUR, ls=":", lw=1.2)


def _strip(ax, agg, px_per_second, xlim):
    """Labels of faults (red) and marked moments (blue) above the panels."""
    labels = [(w.start, w.label, FAULT_COLOUR) for w in agg.faults] + \
        [(t, text, MARK_COLOUR) for t, text in agg.marks]
    labels = sorted(l for l in labels if xlim[0] <= l[0] <= xlim[1])
    rows = stagger([(t - xlim[0], text) for t, text, _ in labels], px_per_second,
                   (xlim[1] - xlim[0]) * px_per_second)
    for (t, text, colour), (row, align) in zip(labels, rows):
        if row is None:
            continue
        ax.text(t, STRIP_ROWS - 0.5 - row, " %s " % text, color=colour, fontsize=8,
                va="center", ha=align, clip_on=True,
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


def _panels(fig, cells, agg, xlim, legends, title):
    """The strip and the three panels of one column, showing ``xlim``."""
    strip = fig.add_subplot(cells[0])
    msgs, queue, rates = (fig.add_subplot(c, sharex=strip) for c in cells[1:])
    bbox = strip.get_position()
    span = max(xlim[1] - xlim[0], 1e-6)
    _strip(strip, agg, bbox.width * WIDTH_IN * DPI / span, xlim)
    strip.set_title(title, fontsize=10, loc="left", color="#333333")
    for ax in (msgs, queue, rates):
        _shade(ax, agg)
        ax.grid(True, axis="y", alpha=0.3)

    palette = _pyplot().get_cmap("tab10")
    for i, (host, points) in enumerate(agg.stored.items()):
        _steps(msgs, points, agg.start, agg.end, color=palette(i % 10), lw=2.4,
               label="stored by %s (%d)" % (host, len(points)))
    _steps(msgs, agg.sent, agg.start, agg.end, color="black", ls="--", lw=1.2, zorder=3,
           label="handed over (250s): %d" % len(agg.sent))
    shown = [v for series in [agg.sent] + list(agg.stored.values()) for t, v in series
             if t <= xlim[1]]
    msgs.set_ylim(0, max(shown + [1]) * 1.08)

    if agg.queue:
        xs = [agg.start] + [t for t, _ in agg.queue] + [agg.end]
        ys = [0] + [d for _, d in agg.queue] + [agg.queue[-1][1]]
        queue.fill_between(xs, ys, step="post", color="#ff7f0e", alpha=0.35, lw=0)
        queue.step(xs, ys, where="post", color="#d9690b", lw=1.5, label="held by the relay")
    else:
        queue.plot([], [], color="#d9690b", label="held by the relay (none)")
    if agg.queue_on_disk:
        queue.plot([t for t, _ in agg.queue_on_disk], [n for _, n in agg.queue_on_disk], ".",
                   color="#555555", ms=3, label="queue files seen on disk")
    queue.set_ylim(bottom=0)

    edges = agg.bins + [agg.bins[-1] + agg.bin_seconds] if agg.bins else []
    if edges:
        rates.stairs(agg.attempts, edges, color="#1f77b4", lw=3, label="relay attempts")
        rates.stairs(agg.deferrals, edges, color=FAULT_COLOUR, lw=1.5, label="relay deferrals")
    rates.set_ylim(bottom=0)
    rates.set_xlabel("seconds from the start of traffic")
    rates.set_xlim(*xlim)
    for ax in (strip, msgs, queue):
        ax.tick_params(labelbottom=False)
    if legends:
        msgs.set_ylabel("messages (total so far)")
        queue.set_ylabel("relay queue")
        rates.set_ylabel("per second" if agg.bin_seconds == 1 else
                         "per second\n(%g s bins)" % agg.bin_seconds)
        msgs.legend(fontsize=8.5, loc="upper left", framealpha=0.9)
        for ax in (queue, rates):
            ax.legend(fontsize=8.5, loc="best", framealpha=0.9)
    return msgs, queue, rates


def aggregate_png(path, title, agg):
    """Draw ``agg`` (a history.Aggregate) into PATH at a fixed size. When the
    faults and the recovery take a small part of the run, a second column
    zooms in on them (history.focus)."""
    plt = _pyplot()
    fig = plt.figure(figsize=(WIDTH_IN, AGGREGATE_HEIGHT_IN), dpi=DPI)
    zoom = history.focus(agg)
    ratios = [0.9, 3.2, 1.6, 1.6]
    if zoom is None:
        grid = fig.add_gridspec(4, 1, height_ratios=ratios, hspace=0.12,
                                left=0.07, right=0.98, top=0.92, bottom=0.07)
        _panels(fig, [grid[i, 0] for i in range(4)], agg, (agg.start, agg.end), True, "")
    else:
        grid = fig.add_gridspec(4, 2, height_ratios=ratios, width_ratios=[1.25, 1],
                                hspace=0.12, wspace=0.12, left=0.07, right=0.98, top=0.92,
                                bottom=0.07)
        whole = _panels(fig, [grid[i, 0] for i in range(4)], agg, (agg.start, agg.end), True,
                        "the whole run")
        _panels(fig, [grid[i, 1] for i in range(4)], agg, zoom, False,
                "zoom: %.1f-%.1f s, the faults and the recovery" % zoom)
        for ax in whole:
            ax.axvline(zoom[1], ls=":", lw=1.2, color="#666666")
        whole[0].annotate("zoomed in at right", (zoom[1], 0.5), xycoords=("data", "axes fraction"),
                          xytext=(4, 0), textcoords="offset points", fontsize=8, color="#666666",
                          rotation=90, va="center")
    fig.text(0.98, 0.965, "red: faults (dashed: a moment)   blue dotted: provisioning and "
             "DNS changes", fontsize=8.5, ha="right", color="#333333")
    fig.suptitle(title, fontsize=13, x=0.07, ha="left")
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


STEP_MARKERS = {"accepted": "o", "relay_queued": "s", "relay_attempt": "|",
                "relay_deferred": "|", "relay_rerouted": "D", "stored": "*",
                "send_failed": "x", "relay_bounced": "X"}


def timeline_png(path, scenario, evidence):
    """Each message a row (the first sent on top), from its first step to where
    it was stored, coloured by the kind of path it took; relay attempts as
    ticks; faults shaded. Past history.SAMPLE_SIZE messages, a sample (said so
    in the title)."""
    plt = _pyplot()
    paths = message_paths(evidence)
    sample = history.message_sample(paths)
    order = sample.ids
    t0 = history.start_of(evidence)
    end = evidence.finished or max((s[0] for p in paths.values() for s in p), default=t0 + 1)
    routes = {m: history.route(paths[m]) for m in order}
    kinds = sorted(set(routes.values()), key=lambda r: -sample.routes[r][1])
    palette = plt.get_cmap("tab10")
    colour = {r: ("black" if "NOT STORED" in r else palette(i % 10)) for i, r in enumerate(kinds)}
    height = min(MAX_HEIGHT_PX / DPI, max(3.5, ROW_IN * len(order) + 2.2))
    fig, ax = plt.subplots(figsize=(WIDTH_IN, height), dpi=DPI)
    for w in history.fault_spans(evidence.events, t0, end):
        if w.instant:
            ax.axvline(w.start, color=FAULT_COLOUR, ls="--", lw=1)
        else:
            ax.axvspan(w.start, w.stop, color=FAULT_COLOUR, alpha=0.12, lw=0)
        ax.text(w.start, -1.0, " " + w.label, fontsize=8, color="darkred", va="center")
    for y, m in enumerate(order):
        steps, c = paths[m], colour[routes[m]]
        xs = [s[0] - t0 for s in steps]
        ax.plot([min(xs), max(xs)], [y, y], color=c, lw=2)
        for ts, what, host in steps:
            marker = STEP_MARKERS.get(what)
            if marker:
                ax.plot(ts - t0, y, marker, color=c, ms=6 if marker != "|" else 9)
    lines = [ax.plot([], [], color=colour[r], lw=3)[0] for r in kinds]
    ax.add_artist(ax.legend(lines, ["%s: %d of %d" % ((r,) + sample.routes[r]) if
                                    not sample.complete else "%s: %d" % (r, sample.routes[r][1])
                                    for r in kinds], fontsize=8, loc="best",
                            title="path taken", title_fontsize=8, framealpha=0.9))
    markers = [ax.plot([], [], marker, color="grey")[0] for marker in "os|D*"]
    ax.legend(markers, ["250 to the sender", "queued at the relay",
                        "relay attempt (or deferral)", "re-routed", "stored"],
              fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels([m.strip("<>").split("@")[0] for m in order], fontsize=6)
    ax.set_xlabel("seconds from the start of traffic")
    ax.set_title("%s: each message's path (red: fault windows)\n%s"
                 % (scenario.name, sample.caption()), fontsize=10, loc="left")
    ax.set_ylim(max(1, len(order)) - 0.5, -1.6)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
